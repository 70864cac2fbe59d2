package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/nigehban/nigehban/internal/alert"
	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/sealed"
)

// The missing-child desk (internal/alert, issue 19): intake and the
// two-hour clock for helplines and police stations (submitter keys), alert
// release by a second person (curator keys: never the alert's author,
// whatever the role), and the public Atom feed and CAP documents.
var missingRoutes = []route{
	{"POST", "/v1/missing", apikey.Submitter, "Report a missing child (intake: child, last seen time, place and district, circumstances, guardian, reporter, the s.8 police checklist); starts the two-hour clock. Needs serve --data-key (personal data is sealed).", jsonBody, noBankChange, (*Server).missingIntake},
	{"GET", "/v1/missing", apikey.Submitter, "The clock board: open cases without personal data, with their deadlines and alert state.", noRequestBody, noBankChange, (*Server).missingBoard},
	{"GET", "/v1/missing/stats", apikey.Curator, "Monthly statistics of missing children (?month=YYYY-MM): counts by district, age band, sex, circumstances, outcome and time to complaint, agency, alert and recovery, exact (for the desk, not for publication; /alerts/stats publishes them protected).", noRequestBody, noBankChange, (*Server).missingStats},
	{"GET", "/alerts/stats", "", "Public monthly report of missing children (?month=YYYY-MM): the same tables with the registry's disclosure control (counts below 5 withheld, with complementary suppression).", noRequestBody, noBankChange, (*Server).alertStatsPublic},
	{"GET", "/v1/missing/{id}", apikey.Curator, "A case with its personal data (the view is audited).", noRequestBody, noBankChange, (*Server).missingGet},
	{"POST", "/v1/missing/{id}/complaint", apikey.Submitter, "Record the police complaint {\"number\"} (clock milestone).", jsonBody, noBankChange, (*Server).missingComplaint},
	{"POST", "/v1/missing/{id}/agency-informed", apikey.Submitter, "Record that the ZARRA agency was informed (clock milestone).", noRequestBody, noBankChange, (*Server).missingInformed},
	{"POST", "/v1/missing/{id}/alert", apikey.Submitter, "Draft an alert {\"tier\":\"alert\"|\"notice\",\"test\":bool,\"radius_km\",\"hours\"}; the caller is its author. A test alert is Test in every message.", jsonBody, noBankChange, (*Server).alertDraft},
	{"POST", "/v1/missing/{id}/alert/submit", apikey.Submitter, "Put the draft up for approval: the activation checklist must pass.", noRequestBody, noBankChange, (*Server).alertSubmit},
	{"POST", "/v1/missing/{id}/alert/approve", apikey.Curator, "Approve the pending alert: refused (403 four_eyes) to its author.", noRequestBody, noBankChange, (*Server).alertApprove},
	{"POST", "/v1/missing/{id}/alert/issue", apikey.Curator, "Issue the approved alert: CAP message in the feed, signed webhooks to partners.", noRequestBody, noBankChange, (*Server).alertIssue},
	{"POST", "/v1/missing/{id}/alert/update", apikey.Curator, "Send an update of the issued alert {\"note\",\"note_ur\"}; it references the previous message.", jsonBody, noBankChange, (*Server).alertUpdate},
	{"POST", "/v1/missing/{id}/alert/cancel", apikey.Submitter, "Cancel the alert {\"reason\"}: the prepared cancel goes out at once.", jsonBody, noBankChange, (*Server).alertCancel},
	{"POST", "/v1/missing/{id}/close", apikey.Submitter, "Close the case {\"outcome\":\"found\"|\"recovered\"|\"deceased\"|\"withdrawn\"}: a live alert is cancelled to the feed and partners, and the child leaves the feed.", jsonBody, noBankChange, (*Server).missingClose},
	{"GET", "/alerts/feed.atom", "", "Atom feed of the current missing-child alerts (CAP 1.2 links), for public-alert aggregators.", noRequestBody, noBankChange, (*Server).alertFeed},
	{"GET", "/alerts/cap/{identifier}", "", "A published CAP 1.2 message (410 once withdrawn: the case closed or the alert ended).", noRequestBody, noBankChange, (*Server).alertCAP},
}

func init() {
	// Kept in this file so the desk's routes merge without touching the
	// shared table; they are part of it (router, limits, /openapi.json).
	routeTable = append(routeTable, missingRoutes...)
}

// desk returns the missing-child desk, or 404 when serve runs without one.
func (s *Server) desk() (*alert.Service, error) {
	if s.cfg.Alerts == nil {
		return nil, errorf(http.StatusNotFound, "not_found", "the missing-child desk is not enabled on this server")
	}
	return s.cfg.Alerts, nil
}

// deskError maps the desk's errors to HTTP.
func deskError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, alert.ErrFourEyes):
		return errorf(http.StatusForbidden, "four_eyes", "%v", err)
	case errors.Is(err, alert.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", "%v", err)
	case errors.Is(err, alert.ErrGone):
		return errorf(http.StatusGone, "gone", "%v", err)
	case errors.Is(err, alert.ErrConflict):
		return errorf(http.StatusConflict, "conflict", "%v", err)
	case errors.Is(err, alert.ErrInvalid):
		return errorf(http.StatusUnprocessableEntity, "invalid", "%v", err)
	case errors.Is(err, sealed.ErrNoKey):
		return errorf(http.StatusServiceUnavailable, "no_data_key", "%v", err)
	}
	return err
}

func caseID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errorf(http.StatusBadRequest, "invalid", "case id must be a positive integer")
	}
	return id, nil
}

// writeCase answers with a case (callers drop its personal part unless the
// route shows it).
func writeCase(w http.ResponseWriter, status int, c *alert.Case) {
	writeJSON(w, status, map[string]any{"case": c})
}

// deskCall runs a mutation of case {id} after decoding the body (if any)
// into req, so an oversized body is a 413 before anything else.
func deskCall[T any](s *Server, w http.ResponseWriter, r *http.Request, req *T, fn func(d *alert.Service, id int64) (*alert.Case, error)) error {
	if req != nil {
		if err := decodeJSON(r, req); err != nil {
			return err
		}
	}
	id, err := caseID(r)
	if err != nil {
		return err
	}
	d, err := s.desk()
	if err != nil {
		return err
	}
	c, err := fn(d, id)
	if err != nil {
		return deskError(err)
	}
	writeCase(w, http.StatusOK, c)
	return nil
}

func (s *Server) missingIntake(w http.ResponseWriter, r *http.Request, c caller) error {
	var in alert.Intake
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	d, err := s.desk()
	if err != nil {
		return err
	}
	cs, err := d.Intake(r.Context(), in, c.by())
	if err != nil {
		return deskError(err)
	}
	cs.Personal = nil
	writeCase(w, http.StatusCreated, cs)
	return nil
}

func (s *Server) missingBoard(w http.ResponseWriter, r *http.Request, _ caller) error {
	d, err := s.desk()
	if err != nil {
		return err
	}
	cases, err := d.Board(r.Context())
	if err != nil {
		return deskError(err)
	}
	if cases == nil {
		cases = []*alert.Case{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"cases": cases})
	return nil
}

func (s *Server) missingStats(w http.ResponseWriter, r *http.Request, _ caller) error {
	d, err := s.desk()
	if err != nil {
		return err
	}
	rep, err := d.Stats(r.Context(), r.URL.Query().Get("month"), nil)
	if err != nil {
		return deskError(err)
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// alertStatsPublic answers GET /alerts/stats: the monthly tables through
// disclosure control, for anyone.
func (s *Server) alertStatsPublic(w http.ResponseWriter, r *http.Request, _ caller) error {
	d, err := s.desk()
	if err != nil {
		return err
	}
	rep, err := d.Stats(r.Context(), r.URL.Query().Get("month"), alert.Suppression{})
	if err != nil {
		return deskError(err)
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func (s *Server) missingGet(w http.ResponseWriter, r *http.Request, c caller) error {
	return deskCall[struct{}](s, w, r, nil, func(d *alert.Service, id int64) (*alert.Case, error) {
		return d.Get(r.Context(), id, c.by())
	})
}

func (s *Server) missingComplaint(w http.ResponseWriter, r *http.Request, c caller) error {
	var req struct {
		Number string `json:"number"`
	}
	return deskCall(s, w, r, &req, func(d *alert.Service, id int64) (*alert.Case, error) {
		return d.RecordComplaint(r.Context(), id, req.Number, c.by())
	})
}

func (s *Server) missingInformed(w http.ResponseWriter, r *http.Request, c caller) error {
	return deskCall[struct{}](s, w, r, nil, func(d *alert.Service, id int64) (*alert.Case, error) {
		return d.AgencyInformed(r.Context(), id, c.by())
	})
}

func (s *Server) alertDraft(w http.ResponseWriter, r *http.Request, c caller) error {
	var req alert.DraftRequest
	return deskCall(s, w, r, &req, func(d *alert.Service, id int64) (*alert.Case, error) {
		return withoutPersonal(d.Draft(r.Context(), id, req, c.by()))
	})
}

func (s *Server) alertSubmit(w http.ResponseWriter, r *http.Request, c caller) error {
	return deskCall[struct{}](s, w, r, nil, func(d *alert.Service, id int64) (*alert.Case, error) {
		return withoutPersonal(d.Submit(r.Context(), id, c.by()))
	})
}

func (s *Server) alertApprove(w http.ResponseWriter, r *http.Request, c caller) error {
	return deskCall[struct{}](s, w, r, nil, func(d *alert.Service, id int64) (*alert.Case, error) {
		return withoutPersonal(d.Approve(r.Context(), id, c.by()))
	})
}

func (s *Server) alertIssue(w http.ResponseWriter, r *http.Request, c caller) error {
	return deskCall[struct{}](s, w, r, nil, func(d *alert.Service, id int64) (*alert.Case, error) {
		return withoutPersonal(d.Issue(r.Context(), id, c.by()))
	})
}

func (s *Server) alertUpdate(w http.ResponseWriter, r *http.Request, c caller) error {
	var req struct {
		Note   string `json:"note"`
		NoteUR string `json:"note_ur"`
	}
	return deskCall(s, w, r, &req, func(d *alert.Service, id int64) (*alert.Case, error) {
		return withoutPersonal(d.Update(r.Context(), id, req.Note, req.NoteUR, c.by()))
	})
}

func (s *Server) alertCancel(w http.ResponseWriter, r *http.Request, c caller) error {
	var req struct {
		Reason string `json:"reason"`
	}
	return deskCall(s, w, r, &req, func(d *alert.Service, id int64) (*alert.Case, error) {
		return withoutPersonal(d.Cancel(r.Context(), id, req.Reason, c.by()))
	})
}

func (s *Server) missingClose(w http.ResponseWriter, r *http.Request, c caller) error {
	var req struct {
		Outcome alert.Outcome `json:"outcome"`
	}
	return deskCall(s, w, r, &req, func(d *alert.Service, id int64) (*alert.Case, error) {
		return withoutPersonal(d.Close(r.Context(), id, req.Outcome, c.by()))
	})
}

// withoutPersonal drops the personal part from a mutation's answer: only
// GET /v1/missing/{id} shows it, and audits that it did.
func withoutPersonal(c *alert.Case, err error) (*alert.Case, error) {
	if c != nil {
		c.Personal = nil
	}
	return c, err
}

func (s *Server) alertFeed(w http.ResponseWriter, r *http.Request, _ caller) error {
	d, err := s.desk()
	if err != nil {
		return err
	}
	b, err := d.Feed(r.Context())
	if err != nil {
		return deskError(err)
	}
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Write(b)
	return nil
}

func (s *Server) alertCAP(w http.ResponseWriter, r *http.Request, _ caller) error {
	d, err := s.desk()
	if err != nil {
		return err
	}
	b, err := d.CAP(r.Context(), strings.TrimSuffix(r.PathValue("identifier"), ".xml"))
	if err != nil {
		return deskError(err)
	}
	w.Header().Set("Content-Type", "application/cap+xml; charset=utf-8")
	// Short: a withdrawn message must leave caches soon.
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Write(b)
	return nil
}
