package cybertip

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrInvalid wraps every refusal of Check: the XML would not validate
// against the schema (a required element missing, an element out of
// order, repeated or unknown, a value outside its enumeration).
var ErrInvalid = errors.New("cybertip: invalid XML")

// enums are the schema's enumerations that typed fields refer to.
var enums = map[string][]string{
	"incidentType":       IncidentTypes,
	"emailType":          {"Home", "Work", "Business", "Recovery"},
	"phoneType":          {"Mobile", "Home", "Business", "Work", "Fax", "Internet", "Recovery"},
	"addressType":        {"Home", "Business", "Billing", "Shipping", "Technical"},
	"ipCaptureType":      {"Login", "Registration", "Purchase", "Upload", "Other", "Unknown"},
	"fileRelevance":      {"Reported", "Supplemental Reported"},
	"fileClassification": {"A1", "A2", "B1", "B2"},
	"metadataTypes":      {"EXIF", "HASH"},
}

// spec is what an element may hold, derived from its Go type.
type spec struct {
	children []child
	attrs    map[string]string // attribute → enum name ("" for any)
	required []string          // required attributes
	text     bool              // character data allowed (simple content)
}

type child struct {
	name     string
	required bool
	multiple bool
	choice   bool
	enum     string
	dateTime bool
	sub      *spec // nil for simple content
}

var (
	specMu    sync.Mutex
	specCache = map[reflect.Type]*spec{}
)

var dateTimeType = reflect.TypeFor[DateTime]()

func specOf(t reflect.Type) *spec {
	specMu.Lock()
	defer specMu.Unlock()
	return buildSpec(t)
}

func buildSpec(t reflect.Type) *spec {
	if s, ok := specCache[t]; ok {
		return s
	}
	s := &spec{attrs: map[string]string{}}
	specCache[t] = s
	for f := range t.Fields() {
		tag := f.Tag.Get("xml")
		if f.Name == "XMLName" || tag == "" || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ct := parseCT(f.Tag.Get("ct"))
		switch {
		case strings.Contains(opts, "chardata"):
			s.text = true
			continue
		case strings.Contains(opts, "attr"):
			s.attrs[name] = ct.enum
			if ct.required {
				s.required = append(s.required, name)
			}
			continue
		}
		c := child{name: name, required: ct.required, choice: ct.choice, enum: ct.enum}
		ft := f.Type
		if strings.Contains(name, ">") {
			// a>b: a wrapper element holding repeated b.
			outer, inner, _ := strings.Cut(name, ">")
			c.name = outer
			c.sub = &spec{attrs: map[string]string{}, children: []child{{name: inner, multiple: true}}}
			s.children = append(s.children, c)
			continue
		}
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.Uint8 {
			c.multiple, ft = true, ft.Elem()
		}
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft == dateTimeType:
			c.dateTime = true
		case ft.Kind() == reflect.Struct:
			c.sub = buildSpec(ft)
		}
		s.children = append(s.children, c)
	}
	return s
}

type ctTag struct {
	required, choice bool
	enum             string
}

func parseCT(tag string) ctTag {
	var c ctTag
	for p := range strings.SplitSeq(tag, ",") {
		switch {
		case p == "required":
			c.required = true
		case p == "choice":
			c.choice = true
		case strings.HasPrefix(p, "enum="):
			c.enum = strings.TrimPrefix(p, "enum=")
		}
	}
	return c
}

// Check refuses XML that would not validate against the schema, naming
// the element: raw must be one element of v's type (a *Report or
// *FileDetails), its children present when required, in the schema's
// order, each at most once unless repeatable, values in their
// enumerations and times well-formed.
func Check(raw []byte, v any) error {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	f, ok := t.FieldByName("XMLName")
	if !ok {
		return fmt.Errorf("cybertip: Check: %s is not a document type", t)
	}
	root, _, _ := strings.Cut(f.Tag.Get("xml"), ",")
	sp := specOf(t)
	dec := xml.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return fmt.Errorf("%w: no <%s> element", ErrInvalid, root)
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != root {
				return fmt.Errorf("%w: the document is <%s>, not <%s>", ErrInvalid, se.Name.Local, root)
			}
			if err := checkElem(dec, se, sp, root); err != nil {
				return err
			}
			break
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			return fmt.Errorf("%w: <%s> after the end of <%s>", ErrInvalid, se.Name.Local, root)
		}
	}
}

func checkAttrs(se xml.StartElement, sp *spec, path string) error {
	seen := map[string]bool{}
	for _, a := range se.Attr {
		if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
			continue
		}
		enum, ok := sp.attrs[a.Name.Local]
		if !ok {
			return fmt.Errorf("%w: %s: unknown attribute %q", ErrInvalid, path, a.Name.Local)
		}
		if enum != "" && !slices.Contains(enums[enum], a.Value) {
			return fmt.Errorf("%w: %s: attribute %s=%q is not one of %s", ErrInvalid, path, a.Name.Local, a.Value, strings.Join(enums[enum], ", "))
		}
		seen[a.Name.Local] = true
	}
	for _, r := range sp.required {
		if !seen[r] {
			return fmt.Errorf("%w: %s: required attribute %s missing", ErrInvalid, path, r)
		}
	}
	return nil
}

func checkElem(dec *xml.Decoder, se xml.StartElement, sp *spec, path string) error {
	if err := checkAttrs(se, sp, path); err != nil {
		return err
	}
	last := -1
	seen := make([]bool, len(sp.children))
	for {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalid, path, err)
		}
		switch tk := tok.(type) {
		case xml.CharData:
			if !sp.text && len(bytes.TrimSpace(tk)) > 0 {
				return fmt.Errorf("%w: %s: text %q where only elements are allowed", ErrInvalid, path, bytes.TrimSpace(tk))
			}
		case xml.StartElement:
			name := tk.Name.Local
			i := slices.IndexFunc(sp.children, func(c child) bool { return c.name == name })
			if i < 0 {
				return fmt.Errorf("%w: %s: unexpected element <%s>", ErrInvalid, path, name)
			}
			c := sp.children[i]
			switch {
			case i < last:
				return fmt.Errorf("%w: %s: <%s> is out of order: it must come before <%s>", ErrInvalid, path, name, sp.children[last].name)
			case i == last && !c.multiple:
				return fmt.Errorf("%w: %s: <%s> may appear only once", ErrInvalid, path, name)
			}
			last, seen[i] = i, true
			p := path + "/" + name
			if c.sub != nil {
				if err := checkElem(dec, tk, c.sub, p); err != nil {
					return err
				}
				continue
			}
			if err := checkAttrs(tk, &spec{}, p); err != nil {
				return err
			}
			var text string
			if err := dec.DecodeElement(&text, &tk); err != nil {
				return fmt.Errorf("%w: %s: %w", ErrInvalid, p, err)
			}
			if err := checkValue(c, strings.TrimSpace(text), p); err != nil {
				return err
			}
		case xml.EndElement:
			return checkPresence(sp, seen, path)
		}
	}
}

func checkValue(c child, v, path string) error {
	switch {
	case c.required && v == "":
		return fmt.Errorf("%w: %s: required element is empty", ErrInvalid, path)
	case c.enum != "" && !slices.Contains(enums[c.enum], v):
		return fmt.Errorf("%w: %s: %q is not one of: %s", ErrInvalid, path, v, strings.Join(enums[c.enum], "; "))
	case c.dateTime:
		if _, err := time.Parse(time.RFC3339, v); err != nil {
			return fmt.Errorf("%w: %s: %q is not a date and time (RFC 3339)", ErrInvalid, path, v)
		}
	}
	return nil
}

func checkPresence(sp *spec, seen []bool, path string) error {
	var choices []string
	chosen := 0
	for i, c := range sp.children {
		if c.choice {
			choices = append(choices, c.name)
			if seen[i] {
				chosen++
			}
			continue
		}
		if c.required && !seen[i] {
			return fmt.Errorf("%w: %s: required element <%s> missing", ErrInvalid, path, c.name)
		}
	}
	if len(choices) > 0 && chosen != 1 {
		return fmt.Errorf("%w: %s: exactly one of <%s> is required, found %d", ErrInvalid, path, strings.Join(choices, ">, <"), chosen)
	}
	return nil
}

// Marshal encodes v (a *Report or *FileDetails) and checks the result: the
// one way reports are encoded before they are sent.
func Marshal(v any) ([]byte, error) {
	b, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("cybertip: encode: %w", err)
	}
	b = append([]byte(xml.Header), b...)
	if err := Check(b, v); err != nil {
		return nil, err
	}
	return b, nil
}
