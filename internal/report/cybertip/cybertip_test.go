package cybertip_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/testtool"

	"github.com/nigehban/nigehban/internal/report/cybertip"
	"github.com/nigehban/nigehban/internal/report/cybertip/cybertiptest"
)

// XSD is the schema NCMEC serves, kept in the shared test data.
const XSD = "../../../../shared/testdata/ncmec/cyber_tipline.xsd"

// xmllint validates doc against the XSD; it fails the test when xmllint
// or the schema is missing under CI=true, else skips.
func xmllint(t *testing.T, doc []byte) error {
	t.Helper()
	xmllint := testtool.Path(t, "xmllint")
	if _, err := os.Stat(XSD); err != nil {
		t.Fatalf("schema: %v", err)
	}
	f := filepath.Join(t.TempDir(), "doc.xml")
	if err := os.WriteFile(f, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(xmllint, "--noout", "--schema", XSD, f).CombinedOutput()
	if err != nil {
		return errors.New(string(out))
	}
	return nil
}

func fullReport() *cybertip.Report {
	at := time.Date(2026, 11, 3, 14, 5, 9, 0, time.UTC)
	return &cybertip.Report{
		IncidentSummary: cybertip.IncidentSummary{
			IncidentType:           cybertip.IncidentChildPornography,
			Platform:               "Example Photos",
			EscalateToHighPriority: "Reviewer marked the case urgent",
			ReportAnnotations:      &cybertip.Annotations{Sextortion: cybertip.True()},
			IncidentDateTime:       cybertip.DateTime{Time: at},
		},
		InternetDetails: []cybertip.InternetDetails{{WebPage: &cybertip.WebPageIncident{URLs: []string{"https://photos.example/u/42"}}}},
		LawEnforcement:  &cybertip.LawEnforcement{AgencyName: "FIA Cyber Crime Wing", CaseNumber: "FIR 12/2026"},
		Reporter: cybertip.Reporter{
			ReportingPerson: cybertip.Person{FirstName: "Trust", LastName: "Safety",
				Emails: []cybertip.Email{{Value: "safety@photos.example", Type: "Business"}}},
			ContactPerson: &cybertip.ContactPerson{FirstName: "Legal",
				Phones: []cybertip.Phone{{Value: "5550100", CountryCallingCode: "+92", Type: "Business"}}},
		},
		Reported: []cybertip.PersonOrUserReported{{
			Person:        &cybertip.Person{Emails: []cybertip.Email{{Value: "user@mail.example"}}},
			ESPIdentifier: "acct-42", ESPService: "Example Photos", ScreenName: "sunny42",
			IPCaptureEvents: []cybertip.IPCaptureEvent{{IPAddress: "203.0.113.7", EventName: "Upload",
				DateTime: cybertip.At(at), Port: 51234}},
			DeviceIDs: []cybertip.DeviceID{{IDType: "device", IDValue: "dev-1", EventName: "Upload"}},
		}},
		Victims:        []cybertip.Victim{{Person: cybertip.Person{Age: 12}}},
		AdditionalInfo: "Matched by hash against bank ncmec-hashes.",
	}
}

func fullFile() *cybertip.FileDetails {
	return &cybertip.FileDetails{
		ReportID: 1001, FileID: "f1", FileName: "upload.jpg", OriginalFileName: "IMG_0001.jpg",
		UploadedToESPTimestamp: cybertip.At(time.Date(2026, 11, 3, 14, 5, 9, 0, time.UTC)),
		FileViewedByESP:        cybertip.True(), PubliclyAvailable: new(bool), FileRelevance: "Reported",
		IndustryClassification: "A1",
		OriginalFileHashes:     []cybertip.Hash{{HashType: "MD5", Value: "0123456789abcdef0123456789abcdef"}},
		IPCaptureEvent:         &cybertip.IPCaptureEvent{IPAddress: "203.0.113.7", Port: 51234},
		Details:                []cybertip.Details{{Type: "HASH", Pairs: []cybertip.NameValue{{Name: "PDQ", Value: "f8f8"}}}},
	}
}

func TestGeneratedXMLValidates(t *testing.T) {
	for name, v := range map[string]any{"report": fullReport(), "fileDetails": fullFile(),
		"minimal report": &cybertip.Report{IncidentSummary: cybertip.IncidentSummary{IncidentType: cybertip.IncidentUnsolicited,
			IncidentDateTime: cybertip.DateTime{Time: time.Now()}}}} {
		t.Run(name, func(t *testing.T) {
			b, err := cybertip.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if err := xmllint(t, b); err != nil {
				t.Fatalf("the XSD refuses generated XML:\n%s\n%s", err, b)
			}
		})
	}
}

// TestCheckRefuses: each broken document is refused by Check with a
// message naming the element, and the XSD refuses it too (Check does not
// invent rules).
func TestCheckRefuses(t *testing.T) {
	good, err := cybertip.Marshal(fullReport())
	if err != nil {
		t.Fatal(err)
	}
	swap := func(a, b string) []byte { // swap the first elements named a and b
		s := string(good)
		i, j := strings.Index(s, "<"+a+">"), strings.Index(s, "<"+b+">")
		ie := strings.Index(s, "</"+a+">") + len("</"+a+">")
		je := strings.Index(s, "</"+b+">") + len("</"+b+">")
		if i < 0 || j < 0 || ie > j {
			t.Fatalf("cannot swap %s and %s", a, b)
		}
		return []byte(s[:i] + s[j:je] + s[ie:j] + s[i:ie] + s[je:])
	}
	noType := fullReport()
	noType.IncidentSummary.IncidentType = ""
	noTime := fullReport()
	noTime.IncidentSummary.IncidentDateTime = cybertip.DateTime{}
	badEnum := fullReport()
	badEnum.Reported[0].IPCaptureEvents[0].EventName = "Download"
	noIP := fullReport()
	noIP.Reported[0].IPCaptureEvents[0].IPAddress = ""
	twoKinds := fullReport()
	twoKinds.InternetDetails[0].Email = &cybertip.EmailIncident{Content: "x"}
	enc := func(v any) []byte {
		b, err := xmlMarshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name, want string
		doc        []byte
	}{
		{"reporter before incidentSummary", "report: <internetDetails> is out of order: it must come before <reporter>", swap("incidentSummary", "reporter")},
		{"ipAddress after port", "ipCaptureEvent: <port> is out of order", []byte(strings.Replace(string(good),
			"<ipAddress>203.0.113.7</ipAddress>", "", 1)[:0])},
		{"incidentType missing", "report/incidentSummary/incidentType: required element is empty", enc(noType)},
		{"incidentDateTime empty", "report/incidentSummary/incidentDateTime: required element is empty", enc(noTime)},
		{"eventName not in enumeration", `report/personOrUserReported/ipCaptureEvent/eventName: "Download" is not one of`, enc(badEnum)},
		{"ipAddress missing", "report/personOrUserReported/ipCaptureEvent/ipAddress: required element is empty", enc(noIP)},
		{"two incident kinds", "report/internetDetails: exactly one of", enc(twoKinds)},
		{"reporter missing", "report: required element <reporter> missing", []byte(`<report><incidentSummary><incidentType>` +
			cybertip.IncidentUnsolicited + `</incidentType><incidentDateTime>2026-01-02T03:04:05Z</incidentDateTime></incidentSummary></report>`)},
		{"unknown element", "report/incidentSummary: unexpected element <colour>", []byte(strings.Replace(string(good),
			"<platform>", "<colour>red</colour><platform>", 1))},
		{"platform twice", "report/incidentSummary: <platform> may appear only once", []byte(strings.Replace(string(good),
			"<platform>", "<platform>again</platform><platform>", 1))},
	} {
		if tc.name == "ipAddress after port" {
			s := string(good)
			s = strings.Replace(s, "<ipAddress>203.0.113.7</ipAddress>", "", 1)
			s = strings.Replace(s, "<port>51234</port>", "<port>51234</port><ipAddress>203.0.113.7</ipAddress>", 1)
			tc.doc, tc.want = []byte(s), "report/personOrUserReported/ipCaptureEvent: <ipAddress> is out of order: it must come before <port>"
		}
		t.Run(tc.name, func(t *testing.T) {
			err := cybertip.Check(tc.doc, &cybertip.Report{})
			if !errors.Is(err, cybertip.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check = %v, want an ErrInvalid naming %q", err, tc.want)
			}
			// An empty required string passes the XSD (xs:string) but is
			// refused by Check: NCMEC cannot act on an empty address.
			stricter := tc.name == "ipAddress missing"
			if xmllint(t, tc.doc) == nil && !stricter {
				t.Fatalf("the XSD accepts what Check refuses:\n%s", tc.doc)
			}
		})
	}
}

func xmlMarshal(v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	enc := newEncoder(&b)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func TestClientRefusesBeforeSending(t *testing.T) {
	srv := cybertiptest.New("esp", "secret")
	defer srv.Close()
	c := &cybertip.Client{BaseURL: srv.URL, Username: "esp", Password: "secret"}
	bad := fullReport()
	bad.IncidentSummary.IncidentType = "Something else"
	_, err := c.Submit(context.Background(), bad)
	if !errors.Is(err, cybertip.ErrInvalid) || !strings.Contains(err.Error(), "incidentType") {
		t.Fatalf("Submit = %v, want a refusal naming incidentType", err)
	}
	if n := srv.Calls("submit"); n != 0 {
		t.Fatalf("an invalid report reached the server (%d calls)", n)
	}
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	srv := cybertiptest.New("esp", "secret")
	defer srv.Close()
	srv.XSD = XSD
	xmllint(t, []byte("<report/>")) // skips or fails without xmllint
	c := &cybertip.Client{BaseURL: srv.URL, Username: "esp", Password: "secret"}
	for _, tc := range []struct {
		name  string
		fault cybertiptest.Fault
		want  error
	}{
		{"503", cybertiptest.Fault{Status: http.StatusServiceUnavailable, Times: 1}, cybertip.ErrRetryable},
		{"429", cybertiptest.Fault{Status: http.StatusTooManyRequests, Times: 1}, cybertip.ErrRetryable},
		{"server error code", cybertiptest.Fault{Status: http.StatusOK, Code: 1000, Times: 1}, cybertip.ErrRetryable},
		{"rejected", cybertiptest.Fault{Status: http.StatusOK, Code: 4100, Times: 1}, cybertip.ErrPermanent},
		{"400", cybertiptest.Fault{Status: http.StatusBadRequest, Times: 1}, cybertip.ErrPermanent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.Fail("submit", tc.fault)
			if _, err := c.Submit(ctx, fullReport()); !errors.Is(err, tc.want) {
				t.Fatalf("Submit = %v, want %v", err, tc.want)
			}
		})
	}
	bad := &cybertip.Client{BaseURL: srv.URL, Username: "esp", Password: "wrong"}
	if _, err := bad.Submit(ctx, fullReport()); !errors.Is(err, cybertip.ErrPermanent) {
		t.Fatalf("wrong password: %v, want permanent", err)
	}
	id, err := c.Submit(ctx, fullReport())
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("benign test bytes")
	fid, err := c.Upload(ctx, id, "a.bin", data, "")
	if err != nil {
		t.Fatal(err)
	}
	d := fullFile()
	d.ReportID, d.FileID = id, fid
	if err := c.FileInfo(ctx, d); err != nil {
		t.Fatal(err)
	}
	files, err := c.Finish(ctx, id)
	if err != nil || len(files) != 1 || files[0] != fid {
		t.Fatalf("Finish = %v, %v", files, err)
	}
	if _, err := c.Upload(ctx, id, "b.bin", data, ""); !errors.Is(err, cybertip.ErrPermanent) {
		t.Fatalf("upload after finish = %v, want permanent refusal", err)
	}
}
