package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/report"
	"github.com/nigehban/nigehban/internal/report/cybertip"
	"github.com/nigehban/nigehban/internal/sealed"
	"github.com/nigehban/nigehban/internal/vault"
)

// Report cases (internal/report): opened from match-history hits, released
// by a second key, sent to the CyberTipline by the outbox that Run starts.

// reportRoutes are the report routes of the route table.
var reportRoutes = []route{
	{"POST", "/v1/reports", apikey.Curator, "Open a report case from match-history hits {hit_ids, uploader, subject, incident_type, escalate, note, victims, files, legal, destinations}, or add them to the open case of the same account (one case per reported account). Needs serve --data-key: the case is sealed at rest.", jsonBody, noBankChange, (*Server).openReport},
	{"GET", "/v1/reports", apikey.Curator, "List report cases, newest first (?state=open|approved|submitting|submitted|failed|retracted): state, approvals and the CyberTipline outbox state with its last error; no personal data.", noRequestBody, noBankChange, (*Server).listReports},
	{"GET", "/v1/reports/{id}", apikey.Curator, "A report case with its content (personal data: the view is audited).", noRequestBody, noBankChange, (*Server).getReport},
	{"POST", "/v1/reports/{id}/approve", apikey.Curator, "Release a case (four eyes: not by the key that opened or last changed it); a CyberTipline report is checked against the schema first and refused naming the element.", noRequestBody, noBankChange, (*Server).approveReport},
	{"POST", "/v1/reports/{id}/retry", apikey.Curator, "Put a failed case back in the outbox {\"report_id\": N}: after an uncertain submit, the id found at NCMEC (0 when none arrived).", jsonBody, noBankChange, (*Server).retryReport},
}

func init() { routeTable = append(routeTable, reportRoutes...) }

// reportView is a case without its sealed content.
type reportView struct {
	ID         int64             `json:"id"`
	State      report.State      `json:"state"`
	OpenedAt   time.Time         `json:"opened_at"`
	OpenedBy   string            `json:"opened_by"`
	UpdatedBy  string            `json:"updated_by"`
	ApprovedBy string            `json:"approved_by,omitempty"`
	ApprovedAt *time.Time        `json:"approved_at,omitempty"`
	Submission report.Submission `json:"submission"`
	NextAt     *time.Time        `json:"next_at,omitempty"`
	Content    *report.Content   `json:"content,omitempty"`
}

func viewOf(c report.Case) reportView {
	return reportView{ID: c.ID, State: c.State, OpenedAt: c.OpenedAt, OpenedBy: c.OpenedBy, UpdatedBy: c.UpdatedBy,
		ApprovedBy: c.ApprovedBy, ApprovedAt: c.ApprovedAt, Submission: c.Submission, NextAt: c.NextAt}
}

// reports returns the report service over the store, or an error when the
// store has no report tables or no data key is configured.
func (s *Server) reports(ctx context.Context) (*report.Service, error) {
	rs, ok := s.st.(report.Store)
	if !ok {
		return nil, errorf(http.StatusNotImplemented, "unsupported", "this store keeps no report cases")
	}
	if !s.cfg.DataKeys.Configured() {
		return nil, errorf(http.StatusServiceUnavailable, "no_data_key", "report cases hold personal data: start serve with --data-key")
	}
	svc := &report.Service{Store: rs, Keys: s.cfg.DataKeys}
	if cfg, err := svc.LoadCyberTip(ctx); err == nil {
		svc.ESP = cfg.ESP
	}
	return svc, nil
}

// reportError maps report errors to API errors.
func reportError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, report.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", "%v", err)
	case errors.Is(err, report.ErrInvalid), errors.Is(err, cybertip.ErrInvalid):
		return errorf(http.StatusUnprocessableEntity, "invalid", "%v", err)
	case errors.Is(err, report.ErrSameApprover):
		return errorf(http.StatusForbidden, "four_eyes", "%v", err)
	case errors.Is(err, report.ErrState), errors.Is(err, report.ErrConflict):
		return errorf(http.StatusConflict, "state", "%v", err)
	case errors.Is(err, sealed.ErrNoKey):
		return errorf(http.StatusServiceUnavailable, "no_data_key", "%v", err)
	}
	return err
}

func (c caller) auditActor() audit.Actor { return audit.Actor{Name: c.actor(), Remote: c.remote} }

func (s *Server) openReport(w http.ResponseWriter, r *http.Request, c caller) error {
	var req report.OpenRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	svc, err := s.reports(r.Context())
	if err != nil {
		return err
	}
	rc, err := svc.OpenCase(r.Context(), c.auditActor(), req)
	if err != nil {
		return reportError(err)
	}
	writeJSON(w, http.StatusCreated, map[string]any{"case": viewOf(rc)})
	return nil
}

func (s *Server) listReports(w http.ResponseWriter, r *http.Request, _ caller) error {
	rs, ok := s.st.(report.Store)
	if !ok {
		return errorf(http.StatusNotImplemented, "unsupported", "this store keeps no report cases")
	}
	cases, err := rs.ListReportCases(r.Context(), report.State(r.URL.Query().Get("state")), 1000)
	if err != nil {
		return err
	}
	out := make([]reportView, 0, len(cases))
	for _, rc := range cases {
		out = append(out, viewOf(rc))
	}
	writeJSON(w, http.StatusOK, map[string]any{"cases": out})
	return nil
}

func (s *Server) getReport(w http.ResponseWriter, r *http.Request, c caller) error {
	svc, err := s.reports(r.Context())
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	rc, ct, err := svc.View(r.Context(), c.auditActor(), id, s.st)
	if err != nil {
		return reportError(err)
	}
	v := viewOf(rc)
	v.Content = &ct
	writeJSON(w, http.StatusOK, map[string]any{"case": v})
	return nil
}

func (s *Server) approveReport(w http.ResponseWriter, r *http.Request, c caller) error {
	svc, err := s.reports(r.Context())
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	rc, err := svc.Approve(r.Context(), c.auditActor(), id)
	if err != nil {
		return reportError(err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"case": viewOf(rc)})
	return nil
}

func (s *Server) retryReport(w http.ResponseWriter, r *http.Request, c caller) error {
	var req struct {
		ReportID int64 `json:"report_id"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	svc, err := s.reports(r.Context())
	if err != nil {
		return err
	}
	rc, err := svc.Retry(r.Context(), c.auditActor(), id, req.ReportID)
	if err != nil {
		return reportError(err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"case": viewOf(rc)})
	return nil
}

// runReports works the CyberTipline outbox and the vault's retention while
// ctx lasts (with a data key; the vault when Config.VaultDir is set).
func (s *Server) runReports(ctx context.Context) {
	rs, ok := s.st.(report.Store)
	if !ok || !s.cfg.DataKeys.Configured() {
		return
	}
	if vs, ok := s.st.(vault.Store); ok && s.cfg.VaultDir != "" {
		go vault.RunRetention(ctx, vs, s.cfg.VaultDir, time.Hour, s.log)
	}
	sb := &report.Submitter{Service: &report.Service{Store: rs, Keys: s.cfg.DataKeys}, Log: s.log}
	sb.Run(ctx, s.cfg.ReportInterval)
}
