// Package cap writes and reads OASIS Common Alerting Protocol 1.2 messages
// (namespace urn:oasis:names:tc:emergency:cap:1.2), the format public-alert
// aggregators, broadcasters and cell-broadcast gateways take.
//
// The structs follow the schema's element order (CAP-v1.2.xsd), so what
// Marshal writes validates against it; Validate checks the rules the
// schema cannot (references of an Update or Cancel, a circle's syntax) and
// the extras aggregators require (expires, description, area).
package cap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Namespace is the CAP 1.2 XML namespace.
const Namespace = "urn:oasis:names:tc:emergency:cap:1.2"

// TimeLayout is CAP's dateTime form: seconds and a numeric zone, never "Z"
// (the schema's pattern refuses it).
const TimeLayout = "2006-01-02T15:04:05-07:00"

// Status values.
const (
	StatusActual   = "Actual"
	StatusExercise = "Exercise"
	StatusTest     = "Test"
)

// MsgType values.
const (
	MsgAlert  = "Alert"
	MsgUpdate = "Update"
	MsgCancel = "Cancel"
)

// ErrInvalid is returned by Validate and Parse for a message that breaks
// the standard's rules.
var ErrInvalid = errors.New("invalid CAP message")

// Time is a CAP dateTime.
type Time struct{ time.Time }

// MarshalText implements encoding.TextMarshaler.
func (t Time) MarshalText() ([]byte, error) {
	return []byte(t.Truncate(time.Second).Format(TimeLayout)), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *Time) UnmarshalText(b []byte) error {
	v, err := time.Parse(TimeLayout, strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("%w: time %q: %v", ErrInvalid, b, err)
	}
	t.Time = v
	return nil
}

// Alert is a CAP <alert>.
type Alert struct {
	XMLName     xml.Name `xml:"urn:oasis:names:tc:emergency:cap:1.2 alert"`
	Identifier  string   `xml:"identifier"`
	Sender      string   `xml:"sender"`
	Sent        Time     `xml:"sent"`
	Status      string   `xml:"status"`
	MsgType     string   `xml:"msgType"`
	Source      string   `xml:"source,omitempty"`
	Scope       string   `xml:"scope"`
	Restriction string   `xml:"restriction,omitempty"`
	Code        []string `xml:"code,omitempty"`
	Note        string   `xml:"note,omitempty"`
	// References lists earlier messages as "sender,identifier,sent"
	// triples separated by spaces.
	References string `xml:"references,omitempty"`
	Incidents  string `xml:"incidents,omitempty"`
	Info       []Info `xml:"info"`
}

// Info is a CAP <info>: the alert in one language.
type Info struct {
	Language     string      `xml:"language,omitempty"`
	Category     []string    `xml:"category"`
	Event        string      `xml:"event"`
	ResponseType []string    `xml:"responseType,omitempty"`
	Urgency      string      `xml:"urgency"`
	Severity     string      `xml:"severity"`
	Certainty    string      `xml:"certainty"`
	Audience     string      `xml:"audience,omitempty"`
	EventCode    []NameValue `xml:"eventCode,omitempty"`
	Effective    *Time       `xml:"effective,omitempty"`
	Onset        *Time       `xml:"onset,omitempty"`
	Expires      *Time       `xml:"expires,omitempty"`
	SenderName   string      `xml:"senderName,omitempty"`
	Headline     string      `xml:"headline,omitempty"`
	Description  string      `xml:"description,omitempty"`
	Instruction  string      `xml:"instruction,omitempty"`
	Web          string      `xml:"web,omitempty"`
	Contact      string      `xml:"contact,omitempty"`
	Parameter    []NameValue `xml:"parameter,omitempty"`
	Resource     []Resource  `xml:"resource,omitempty"`
	Area         []Area      `xml:"area,omitempty"`
}

// NameValue is an eventCode, parameter or geocode.
type NameValue struct {
	ValueName string `xml:"valueName"`
	Value     string `xml:"value"`
}

// Resource is a CAP <resource> (the child's photo).
type Resource struct {
	ResourceDesc string `xml:"resourceDesc"`
	MimeType     string `xml:"mimeType"`
	Size         int64  `xml:"size,omitempty"`
	URI          string `xml:"uri,omitempty"`
	Digest       string `xml:"digest,omitempty"`
}

// Area is a CAP <area>.
type Area struct {
	AreaDesc string      `xml:"areaDesc"`
	Polygon  []string    `xml:"polygon,omitempty"`
	Circle   []string    `xml:"circle,omitempty"`
	Geocode  []NameValue `xml:"geocode,omitempty"`
}

// Circle returns a CAP circle: "lat,lon radius" in WGS 84 degrees and
// kilometres.
func Circle(lat, lon, radiusKM float64) string {
	return strconv.FormatFloat(lat, 'f', 5, 64) + "," + strconv.FormatFloat(lon, 'f', 5, 64) + " " +
		strconv.FormatFloat(radiusKM, 'f', -1, 64)
}

// Reference returns the "sender,identifier,sent" triple that a later
// Update or Cancel puts in its references.
func (a Alert) Reference() string {
	t, _ := a.Sent.MarshalText()
	return a.Sender + "," + a.Identifier + "," + string(t)
}

// Marshal returns a's XML document (with the XML declaration).
func Marshal(a Alert) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(a); err != nil {
		return nil, fmt.Errorf("encode CAP: %w", err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// Parse reads a CAP 1.2 document.
func Parse(data []byte) (Alert, error) {
	var a Alert
	if err := xml.Unmarshal(data, &a); err != nil {
		return a, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if a.XMLName.Space != Namespace {
		return a, fmt.Errorf("%w: namespace %q, want %q", ErrInvalid, a.XMLName.Space, Namespace)
	}
	return a, nil
}

// Validate checks what the schema cannot: the required fields are set, an
// Update or Cancel references an earlier message, each circle parses, and
// (public-alert aggregators' extras) each info has expires, a description
// and an area.
func Validate(a Alert) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if a.Identifier == "" || a.Sender == "" || a.Sent.IsZero() {
		bad("identifier, sender and sent are required")
	}
	if strings.ContainsAny(a.Identifier+a.Sender, " ,<&") {
		bad("identifier and sender may not contain spaces, commas, < or &")
	}
	switch a.Status {
	case StatusActual, StatusExercise, "System", StatusTest, "Draft":
	default:
		bad("status %q", a.Status)
	}
	switch a.MsgType {
	case MsgAlert:
		if a.References != "" {
			bad("an Alert references nothing")
		}
	case MsgUpdate, MsgCancel:
		if a.References == "" {
			bad("an %s must reference the message it changes", a.MsgType)
		}
		for _, r := range strings.Fields(a.References) {
			if len(strings.Split(r, ",")) != 3 {
				bad("reference %q is not sender,identifier,sent", r)
			}
		}
	default:
		bad("msgType %q", a.MsgType)
	}
	if len(a.Info) == 0 {
		bad("no info")
	}
	for i, in := range a.Info {
		if len(in.Category) == 0 || in.Event == "" || in.Urgency == "" || in.Severity == "" || in.Certainty == "" {
			bad("info %d: category, event, urgency, severity and certainty are required", i)
		}
		if in.Expires == nil || in.Description == "" || len(in.Area) == 0 {
			bad("info %d (%s): expires, description and area are required", i, in.Language)
		}
		for _, ar := range in.Area {
			for _, c := range ar.Circle {
				if err := checkCircle(c); err != nil {
					bad("info %d: %v", i, err)
				}
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

func checkCircle(c string) error {
	pt, r, ok := strings.Cut(c, " ")
	lat, lon, ok2 := strings.Cut(pt, ",")
	if !ok || !ok2 {
		return fmt.Errorf("circle %q is not \"lat,lon radius\"", c)
	}
	var v [3]float64
	for i, s := range []string{lat, lon, r} {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("circle %q: %v", c, err)
		}
		v[i] = f
	}
	if v[0] < -90 || v[0] > 90 || v[1] < -180 || v[1] > 180 || v[2] < 0 {
		return fmt.Errorf("circle %q out of range", c)
	}
	return nil
}
