package report

import (
	"fmt"
	"strings"

	"github.com/nigehban/nigehban/internal/report/cybertip"
)

// ESP describes the reporting platform (the "electronic service provider")
// in CyberTipline reports.
type ESP struct {
	Platform  string `json:"platform"`   // the service the content was on
	FirstName string `json:"first_name"` // the reporting person
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
	Phone     string `json:"phone,omitempty"`
	LegalURL  string `json:"legal_url,omitempty"` // where law enforcement sends legal process
}

// BuildReport maps a case to a CyberTipline report.
func BuildReport(ct Content, esp ESP) *cybertip.Report {
	r := &cybertip.Report{
		IncidentSummary: cybertip.IncidentSummary{IncidentType: ct.IncidentType, Platform: esp.Platform},
		Reporter: cybertip.Reporter{
			ReportingPerson: cybertip.Person{FirstName: esp.FirstName, LastName: esp.LastName},
			LegalURL:        esp.LegalURL,
		},
	}
	if esp.Email != "" {
		r.Reporter.ReportingPerson.Emails = []cybertip.Email{{Value: esp.Email}}
	}
	if esp.Phone != "" {
		r.Reporter.ReportingPerson.Phones = []cybertip.Phone{{Value: esp.Phone}}
	}
	if ct.Escalate {
		r.IncidentSummary.EscalateToHighPriority = "The reviewer marked this case for escalation."
	}
	// The incident time is the first upload (else the first match).
	for _, it := range ct.Items {
		t := it.UploadedAt
		if t.IsZero() {
			t = it.MatchedAt
		}
		if !t.IsZero() && (r.IncidentSummary.IncidentDateTime.IsZero() || t.Before(r.IncidentSummary.IncidentDateTime.Time)) {
			r.IncidentSummary.IncidentDateTime = cybertip.DateTime{Time: t}
		}
	}
	if ct.Legal.Agency != "" {
		r.LawEnforcement = &cybertip.LawEnforcement{AgencyName: ct.Legal.Agency, CaseNumber: ct.Legal.FIR}
	}
	s := ct.Subject
	p := cybertip.PersonOrUserReported{ESPService: firstNonEmpty(s.Platform, esp.Platform), ProfileURLs: s.ProfileURLs}
	if len(s.AccountIDs) > 0 {
		p.ESPIdentifier = s.AccountIDs[0]
	}
	if len(s.ScreenNames) > 0 {
		p.ScreenName = s.ScreenNames[0]
		p.DisplayNames = s.ScreenNames[1:]
	}
	if len(s.Emails) > 0 || len(s.Phones) > 0 || len(s.Names) > 0 {
		person := &cybertip.Person{}
		for _, e := range s.Emails {
			person.Emails = append(person.Emails, cybertip.Email{Value: e})
		}
		for _, ph := range s.Phones {
			person.Phones = append(person.Phones, cybertip.Phone{Value: ph})
		}
		if len(s.Names) > 0 {
			first, last, _ := strings.Cut(s.Names[0], " ")
			person.FirstName, person.LastName = first, last
		}
		p.Person = person
	}
	for _, e := range s.IPEvents {
		ev := cybertip.IPCaptureEvent{IPAddress: e.IP, EventName: e.Event, DateTime: cybertip.At(e.At), Port: e.Port}
		p.IPCaptureEvents = append(p.IPCaptureEvents, ev)
	}
	for _, d := range s.DeviceIDs {
		p.DeviceIDs = append(p.DeviceIDs, cybertip.DeviceID{IDType: "device", IDValue: d})
	}
	var info []string
	if len(s.AccountIDs) > 1 {
		info = append(info, "Other account ids: "+strings.Join(s.AccountIDs[1:], ", "))
	}
	for _, x := range s.Extra {
		info = append(info, x.Name+": "+x.Value)
	}
	p.AdditionalInfo = strings.Join(info, "\n")
	r.Reported = []cybertip.PersonOrUserReported{p}
	for _, v := range ct.Victims {
		vp := cybertip.Victim{Person: cybertip.Person{Age: v.Age}, ESPIdentifier: v.AccountID, ScreenName: v.ScreenName, AdditionalInfo: v.Notes}
		if v.Name != "" {
			vp.Person.FirstName, vp.Person.LastName, _ = strings.Cut(v.Name, " ")
		}
		r.Victims = append(r.Victims, vp)
	}
	var add []string
	add = append(add, fmt.Sprintf("%d file(s) matched known material by hash (Nigehban).", len(ct.Items)))
	for _, n := range ct.Notes {
		add = append(add, "Reviewer note: "+n.Text)
	}
	r.AdditionalInfo = strings.Join(add, "\n")
	return r
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// FileDetails maps an item to the description of its uploaded file.
func FileDetails(it Item, reportID int64, fileID string) *cybertip.FileDetails {
	d := &cybertip.FileDetails{ReportID: reportID, FileID: fileID, OriginalFileName: it.FileName,
		UploadedToESPTimestamp: cybertip.At(it.UploadedAt), FileRelevance: "Reported",
		IndustryClassification: it.Classification}
	// Matched by hash: no person at the platform needed to view it.
	viewed := it.Classification != ""
	d.FileViewedByESP = &viewed
	for _, h := range []struct{ t, v string }{{"MD5", it.MD5}, {"SHA1", it.SHA1}, {"SHA256", it.SHA256}} {
		if h.v != "" {
			d.OriginalFileHashes = append(d.OriginalFileHashes, cybertip.Hash{HashType: h.t, Value: h.v})
		}
	}
	if it.IP != "" {
		d.IPCaptureEvent = &cybertip.IPCaptureEvent{IPAddress: it.IP, EventName: "Upload", DateTime: cybertip.At(it.UploadedAt), Port: it.Port}
	}
	pairs := []cybertip.NameValue{{Name: "matched_signal_type", Value: it.SignalType}, {Name: "matched_signal", Value: it.SignalValue},
		{Name: "bank", Value: it.Bank}, {Name: "distance", Value: fmt.Sprint(it.Distance)}}
	if it.PDQ != "" {
		pairs = append(pairs, cybertip.NameValue{Name: "PDQ", Value: it.PDQ})
	}
	d.Details = []cybertip.Details{{Type: "HASH", Pairs: pairs}}
	return d
}
