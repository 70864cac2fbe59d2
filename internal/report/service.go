package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/history"
	"github.com/nigehban/nigehban/internal/report/cybertip"
	"github.com/nigehban/nigehban/internal/sealed"
)

// Destinations of a case.
const (
	DestCyberTip = "cybertip" // NCMEC's CyberTipline, through the Submitter
	DestNCCIA    = "nccia"    // a signed packet for NCCIA / a court (Export)
)

// Service opens, amends and releases cases. Its Keys seal every case's
// content; without them it refuses to store personal data (sealed.ErrNoKey).
type Service struct {
	Store Store
	Keys  *sealed.Ring
	// ESP describes the reporting platform in CyberTipline reports; it is
	// needed to approve a CyberTipline case (the report is checked then).
	ESP ESP
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// OpenRequest opens a case from match-history hits, or adds them to the
// open case of the same account.
type OpenRequest struct {
	HitIDs []int64 `json:"hit_ids"`
	// Uploader is the platform's context of the uploads (account, address,
	// port, time, devices, file name); its account id names the case's
	// subject.
	Uploader     history.Uploader     `json:"uploader"`
	Subject      Subject              `json:"subject,omitzero"` // more about the account (emails, phones, names)
	IncidentType string               `json:"incident_type,omitempty"`
	Escalate     bool                 `json:"escalate,omitempty"`
	Note         string               `json:"note,omitempty"`
	Victims      []Victim             `json:"victims,omitempty"`
	Files        map[string]FileFacts `json:"files,omitempty"` // by hit id: what the platform knows of each file
	Legal        Legal                `json:"legal,omitzero"`
	Destinations []string             `json:"destinations,omitempty"` // default: cybertip and nccia
}

// FileFacts is what the platform knows of the original file of a hit.
type FileFacts struct {
	MD5            string    `json:"md5,omitempty"`
	SHA1           string    `json:"sha1,omitempty"`
	SHA256         string    `json:"sha256,omitempty"`
	PDQ            string    `json:"pdq,omitempty"`
	FileName       string    `json:"file_name,omitempty"`
	UploadedAt     time.Time `json:"uploaded_at,omitzero"`
	IP             string    `json:"ip,omitempty"`
	Port           int       `json:"port,omitempty"`
	Classification string    `json:"classification,omitempty"` // A1, A2, B1, B2
}

func contentAD(id int64) string { return "report|case|" + strconv.FormatInt(id, 10) }

func (s *Service) seal(id int64, c Content) (string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	return s.Keys.SealString(string(b), contentAD(id))
}

// Content opens a case's sealed content.
func (s *Service) Content(c Case) (Content, error) {
	var ct Content
	pt, err := s.Keys.OpenString(c.Sealed, contentAD(c.ID))
	if err != nil {
		return ct, fmt.Errorf("report case %d: %w", c.ID, err)
	}
	if err := json.Unmarshal([]byte(pt), &ct); err != nil {
		return ct, fmt.Errorf("report case %d: content: %w", c.ID, err)
	}
	return ct, nil
}

func checkHex(name, v string, n int) error {
	if v == "" {
		return nil
	}
	if len(v) != n || strings.Trim(strings.ToLower(v), "0123456789abcdef") != "" {
		return fmt.Errorf("%w: %s must be %d hex digits", ErrInvalid, name, n)
	}
	return nil
}

func (f FileFacts) check() error {
	for _, c := range []struct {
		n, v string
		l    int
	}{{"md5", f.MD5, 32}, {"sha1", f.SHA1, 40}, {"sha256", f.SHA256, 64}, {"pdq", f.PDQ, 64}} {
		if err := checkHex(c.n, c.v, c.l); err != nil {
			return err
		}
	}
	if f.Classification != "" && !slices.Contains([]string{"A1", "A2", "B1", "B2"}, f.Classification) {
		return fmt.Errorf("%w: classification %q is not A1, A2, B1 or B2", ErrInvalid, f.Classification)
	}
	return (history.Uploader{IP: f.IP, Port: f.Port, FileName: f.FileName}).Check()
}

func addUnique(list []string, vs ...string) []string {
	for _, v := range vs {
		if v != "" && !slices.Contains(list, v) {
			list = append(list, v)
		}
	}
	return list
}

// OpenCase gathers the hits into the open case of the uploader's account
// (creating it if there is none): one case per reported account.
func (s *Service) OpenCase(ctx context.Context, actor audit.Actor, req OpenRequest) (Case, error) {
	if !s.Keys.Configured() {
		return Case{}, fmt.Errorf("report cases hold personal data: %w", sealed.ErrNoKey)
	}
	if len(req.HitIDs) == 0 {
		return Case{}, fmt.Errorf("%w: no hit_ids", ErrInvalid)
	}
	if err := req.Uploader.Check(); err != nil {
		return Case{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	account := req.Uploader.AccountID
	if account == "" && len(req.Subject.AccountIDs) > 0 {
		account = req.Subject.AccountIDs[0]
	}
	if account == "" {
		return Case{}, fmt.Errorf("%w: a case is about one account: uploader.account_id is required", ErrInvalid)
	}
	if req.IncidentType != "" && !slices.Contains(cybertip.IncidentTypes, req.IncidentType) {
		return Case{}, fmt.Errorf("%w: incident_type %q is not one of: %s", ErrInvalid, req.IncidentType, strings.Join(cybertip.IncidentTypes, "; "))
	}
	for _, d := range req.Destinations {
		if d != DestCyberTip && d != DestNCCIA {
			return Case{}, fmt.Errorf("%w: destination %q (cybertip or nccia)", ErrInvalid, d)
		}
	}
	for id, f := range req.Files {
		if err := f.check(); err != nil {
			return Case{}, fmt.Errorf("files[%s]: %w", id, err)
		}
	}
	hits, err := s.Store.HitsByID(ctx, req.HitIDs)
	if err != nil {
		return Case{}, err
	}
	for _, id := range req.HitIDs {
		if !slices.ContainsFunc(hits, func(h history.Hit) bool { return h.ID == id }) {
			return Case{}, fmt.Errorf("%w: hit %d is not in the match history", ErrInvalid, id)
		}
	}
	blind, err := s.Keys.Blind("report-subject", []byte(account))
	if err != nil {
		return Case{}, err
	}
	now := s.now()
	cur, err := s.Store.OpenReportCaseOf(ctx, blind)
	var ct Content
	switch {
	case errors.Is(err, ErrNotFound):
		cur = Case{OpenedBy: actor.Name, State: StateOpen, SubjectBlind: blind}
		ct = Content{IncidentType: cybertip.IncidentChildPornography, Destinations: []string{DestCyberTip, DestNCCIA}}
	case err != nil:
		return Case{}, err
	default:
		if ct, err = s.Content(cur); err != nil {
			return Case{}, err
		}
	}
	s.merge(&ct, req, hits, actor, now)
	cur.UpdatedBy = actor.Name
	detail := map[string]any{"hits": req.HitIDs, "items": len(ct.Items)}
	if cur.ID == 0 {
		return s.Store.CreateReportCase(ctx, cur, func(id int64) (string, error) { return s.seal(id, ct) },
			func(id int64) audit.Entry { return actor.Entry(ActOpen, Target(id), detail) })
	}
	if cur.Sealed, err = s.seal(cur.ID, ct); err != nil {
		return Case{}, err
	}
	e := actor.Entry(ActUpdate, cur.Target(), detail)
	return s.Store.UpdateReportCase(ctx, cur, &e)
}

// merge adds the request to a case's content.
func (s *Service) merge(ct *Content, req OpenRequest, hits []history.Hit, actor audit.Actor, now time.Time) {
	u := req.Uploader
	if req.IncidentType != "" {
		ct.IncidentType = req.IncidentType
	}
	ct.Escalate = ct.Escalate || req.Escalate
	if req.Note != "" {
		ct.Notes = append(ct.Notes, Note{At: now, By: actor.Name, Text: req.Note})
	}
	if len(req.Destinations) > 0 {
		ct.Destinations = req.Destinations
	}
	sub := &ct.Subject
	sub.AccountIDs = addUnique(sub.AccountIDs, u.AccountID)
	sub.AccountIDs = addUnique(sub.AccountIDs, req.Subject.AccountIDs...)
	sub.ScreenNames = addUnique(sub.ScreenNames, u.ScreenName)
	sub.ScreenNames = addUnique(sub.ScreenNames, req.Subject.ScreenNames...)
	sub.Emails = addUnique(sub.Emails, req.Subject.Emails...)
	sub.Phones = addUnique(sub.Phones, req.Subject.Phones...)
	sub.Names = addUnique(sub.Names, req.Subject.Names...)
	sub.ProfileURLs = addUnique(sub.ProfileURLs, req.Subject.ProfileURLs...)
	sub.DeviceIDs = addUnique(sub.DeviceIDs, u.DeviceIDs...)
	sub.DeviceIDs = addUnique(sub.DeviceIDs, req.Subject.DeviceIDs...)
	if req.Subject.Platform != "" {
		sub.Platform = req.Subject.Platform
	}
	sub.Extra = append(sub.Extra, req.Subject.Extra...)
	addIP := func(e IPEvent) {
		if e.IP != "" && !slices.Contains(sub.IPEvents, e) {
			sub.IPEvents = append(sub.IPEvents, e)
		}
	}
	addIP(IPEvent{IP: u.IP, Port: u.Port, At: u.At, Event: "Upload"})
	for _, e := range req.Subject.IPEvents {
		addIP(e)
	}
	ct.Victims = append(ct.Victims, req.Victims...)
	if req.Legal.FIR != "" || req.Legal.Agency != "" || len(req.Legal.Sections) > 0 || req.Legal.Court != "" || req.Legal.Officer != "" {
		ct.Legal = req.Legal
	}
	for _, h := range hits {
		if slices.ContainsFunc(ct.Items, func(it Item) bool { return it.HitID == h.ID }) {
			continue
		}
		it := Item{HitID: h.ID, MatchedAt: h.At, Bank: h.Bank, SignalID: h.SignalID, SignalType: h.Type,
			SignalValue: h.Value, Distance: h.Distance, ContentID: h.ContentID,
			FileName: u.FileName, UploadedAt: u.At, IP: u.IP, Port: u.Port}
		switch h.Type {
		case "md5":
			it.MD5 = h.Value
		case "sha1":
			it.SHA1 = h.Value
		case "sha256":
			it.SHA256 = h.Value
		case "pdq":
			it.PDQ = h.Value
		}
		if f, ok := req.Files[strconv.FormatInt(h.ID, 10)]; ok {
			it.MD5, it.SHA1, it.SHA256, it.PDQ = first(f.MD5, it.MD5), first(f.SHA1, it.SHA1), first(f.SHA256, it.SHA256), first(f.PDQ, it.PDQ)
			it.FileName, it.IP, it.Port = first(f.FileName, it.FileName), first(f.IP, it.IP), max(f.Port, it.Port)
			if !f.UploadedAt.IsZero() {
				it.UploadedAt = f.UploadedAt
			}
			if f.Classification != "" {
				it.Classification, it.ClassifiedBy = f.Classification, actor.Name
			}
		}
		it.MD5, it.SHA1, it.SHA256, it.PDQ = strings.ToLower(it.MD5), strings.ToLower(it.SHA1), strings.ToLower(it.SHA256), strings.ToLower(it.PDQ)
		ct.Items = append(ct.Items, it)
	}
	ct.Updated = now
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// View opens a case's content for a person, logging the view (personal
// data is shown only with a trace).
func (s *Service) View(ctx context.Context, actor audit.Actor, id int64, as audit.Store) (Case, Content, error) {
	c, err := s.Store.GetReportCase(ctx, id)
	if err != nil {
		return c, Content{}, err
	}
	ct, err := s.Content(c)
	if err != nil {
		return c, ct, err
	}
	if as != nil {
		if _, err := as.AppendAudit(ctx, actor.Entry("report.view", c.Target(), nil)); err != nil {
			return c, Content{}, fmt.Errorf("log the view: %w", err)
		}
	}
	return c, ct, nil
}

// Approve releases an open case: a second person (not who opened or last
// changed it) checks it, and for the CyberTipline the report is built and
// checked against the schema's rules now, so nothing invalid is queued.
func (s *Service) Approve(ctx context.Context, actor audit.Actor, id int64) (Case, error) {
	c, err := s.Store.GetReportCase(ctx, id)
	if err != nil {
		return c, err
	}
	if c.State != StateOpen {
		return c, fmt.Errorf("%w: case %d is %s", ErrState, id, c.State)
	}
	if actor.Name == c.OpenedBy || actor.Name == c.UpdatedBy {
		return c, fmt.Errorf("%w: %s opened or last changed case %d", ErrSameApprover, actor.Name, id)
	}
	ct, err := s.Content(c)
	if err != nil {
		return c, err
	}
	if slices.Contains(ct.Destinations, DestCyberTip) {
		if _, err := cybertip.Marshal(BuildReport(ct, s.ESP)); err != nil {
			return c, fmt.Errorf("case %d cannot be approved: %w", id, err)
		}
		for i, it := range ct.Items {
			if _, err := cybertip.Marshal(FileDetails(it, 1, "check")); err != nil {
				return c, fmt.Errorf("case %d cannot be approved: item %d: %w", id, i+1, err)
			}
		}
	}
	now := s.now()
	c.State, c.ApprovedBy, c.ApprovedAt, c.UpdatedBy = StateApproved, actor.Name, &now, actor.Name
	if !slices.Contains(ct.Destinations, DestCyberTip) {
		c.State = StateSubmitted // nothing to send: the packet is exported by hand
		c.Submission.Finished = &now
	}
	e := actor.Entry(ActApprove, c.Target(), map[string]any{"opened_by": c.OpenedBy, "items": len(ct.Items), "destinations": ct.Destinations})
	return s.Store.UpdateReportCase(ctx, c, &e)
}

// Retry puts a failed case back in the outbox. After an uncertain submit
// (the process stopped or the network failed after the report was sent),
// a person checks NCMEC's portal: reportID is the report found there (its
// files follow), or 0 when none was received (the report is sent again).
func (s *Service) Retry(ctx context.Context, actor audit.Actor, id, reportID int64) (Case, error) {
	c, err := s.Store.GetReportCase(ctx, id)
	if err != nil {
		return c, err
	}
	if c.State != StateFailed {
		return c, fmt.Errorf("%w: case %d is %s, not failed", ErrState, id, c.State)
	}
	if reportID > 0 {
		c.Submission.ReportID = reportID
	}
	c.Submission.Inflight, c.Submission.Attempts, c.Submission.LastError, c.Submission.ErrorKind = false, 0, "", ""
	c.State, c.NextAt, c.UpdatedBy = StateApproved, nil, actor.Name
	if c.Submission.ReportID != 0 {
		c.State = StateSubmitting
	}
	e := actor.Entry(ActRetry, c.Target(), map[string]any{"report_id": c.Submission.ReportID})
	return s.Store.UpdateReportCase(ctx, c, &e)
}
