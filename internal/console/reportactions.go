package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/history"
	"github.com/nigehban/nigehban/internal/report"
	"github.com/nigehban/nigehban/internal/report/cybertip"
	"github.com/nigehban/nigehban/internal/review"
	"github.com/nigehban/nigehban/internal/sealed"
)

// Report actions: a case's page (state, CyberTipline outbox, the case's
// audit trail; never its personal data), approve (four eyes) and retry (a
// failed submission) with the role the API requires of them (curator),
// and "open a report" from a review item for child-safety users: the
// item's match-history hits and its uploader context become a case (or
// join the open case of the same account), as POST /v1/reports does.

func init() {
	pageTable = append(pageTable,
		page{"GET", "/ui/reports/{id}", roleNeeded, account.ChildSafety, (*Console).reportCase},
		page{"POST", "/ui/reports/{id}/approve", roleNeeded, account.Curator, (*Console).approveReport},
		page{"POST", "/ui/reports/{id}/retry", roleNeeded, account.Curator, (*Console).retryReport},
		page{"POST", "/ui/reviews/{id}/report", roleNeeded, account.ChildSafety, (*Console).reportFromReview},
	)
}

// reportFlash are the case page's messages.
var reportFlash = map[string]string{
	"opened":   "The item's hits are in this case (one case per reported account).",
	"approved": "Case approved: it is released to its destinations.",
	"retried":  "Case back in the outbox.",
}

// reportService is the report service over the console's store, as the
// API builds it: cases sealed with the data key, the platform's
// CyberTipline description for approvals.
func (c *Console) reportService(ctx context.Context) (*report.Service, error) {
	rs, ok := c.st.(report.Store)
	if !ok {
		return nil, &httpError{http.StatusNotImplemented, "This store keeps no report cases."}
	}
	if !c.cfg.DataKeys.Configured() {
		return nil, &httpError{http.StatusServiceUnavailable, "Report cases hold personal data: start serve with --data-key."}
	}
	svc := &report.Service{Store: rs, Keys: c.cfg.DataKeys}
	if cfg, err := svc.LoadCyberTip(ctx); err == nil {
		svc.ESP = cfg.ESP
	}
	return svc, nil
}

// reportErr turns the report life cycle's errors into pages.
func reportErr(err error) error {
	switch {
	case errors.Is(err, report.ErrNotFound):
		return &httpError{http.StatusNotFound, "No such report case."}
	case errors.Is(err, report.ErrSameApprover):
		return &httpError{http.StatusForbidden, "Four eyes: a case is approved by someone other than who opened or last changed it."}
	case errors.Is(err, report.ErrState), errors.Is(err, report.ErrConflict):
		return &httpError{http.StatusConflict, err.Error()}
	case errors.Is(err, report.ErrInvalid), errors.Is(err, cybertip.ErrInvalid):
		return &httpError{http.StatusUnprocessableEntity, err.Error()}
	case errors.Is(err, sealed.ErrNoKey):
		return &httpError{http.StatusServiceUnavailable, "Report cases hold personal data: start serve with --data-key."}
	}
	return err
}

// reportCase answers GET /ui/reports/{id}.
func (c *Console) reportCase(w http.ResponseWriter, r *http.Request, v *visit) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	rs, ok := c.st.(report.Store)
	if !ok {
		return &httpError{http.StatusNotImplemented, "This store keeps no report cases."}
	}
	rc, err := rs.GetReportCase(r.Context(), id)
	if err != nil {
		return reportErr(err)
	}
	trail, err := rs.CaseEntries(r.Context(), rc.Target())
	if err != nil {
		return err
	}
	slices.Reverse(trail) // newest first
	c.render(w, r, v, http.StatusOK, "report", fmt.Sprintf("Report case %d", rc.ID), map[string]any{
		"Case": rc, "Trail": trail, "Msg": reportFlash[r.URL.Query().Get("msg")],
		"FourEyes": v.actor() == rc.OpenedBy || v.actor() == rc.UpdatedBy})
	return nil
}

// approveReport answers POST /ui/reports/{id}/approve.
func (c *Console) approveReport(w http.ResponseWriter, r *http.Request, v *visit) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	svc, err := c.reportService(r.Context())
	if err != nil {
		return err
	}
	if _, err := svc.Approve(r.Context(), v.by(), id); err != nil {
		return reportErr(err)
	}
	http.Redirect(w, r, fmt.Sprintf("/ui/reports/%d?msg=approved", id), http.StatusSeeOther)
	return nil
}

// retryReport answers POST /ui/reports/{id}/retry (report_id: the report
// found at NCMEC after an uncertain submit; empty or 0 when none arrived).
func (c *Console) retryReport(w http.ResponseWriter, r *http.Request, v *visit) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var reportID int64
	if s := strings.TrimSpace(r.PostFormValue("report_id")); s != "" {
		if reportID, err = strconv.ParseInt(s, 10, 64); err != nil || reportID < 0 {
			return &httpError{http.StatusBadRequest, "NCMEC report id: a number, or empty when none arrived."}
		}
	}
	svc, err := c.reportService(r.Context())
	if err != nil {
		return err
	}
	if _, err := svc.Retry(r.Context(), v.by(), id, reportID); err != nil {
		return reportErr(err)
	}
	http.Redirect(w, r, fmt.Sprintf("/ui/reports/%d?msg=retried", id), http.StatusSeeOther)
	return nil
}

// reportFromReview answers POST /ui/reviews/{id}/report (note): the
// item's hits in the match history (same content, submitter, bank and
// signal) and its uploader context (the view audited) open a case, or
// join the open case of the same account; the answer lands on the case.
func (c *Console) reportFromReview(w http.ResponseWriter, r *http.Request, v *visit) error {
	it, ok, err := c.reviewItem(w, r, v)
	if err != nil || !ok {
		return err
	}
	ctx := r.Context()
	svc, err := c.reportService(ctx)
	if err != nil {
		return err
	}
	if !it.HasUploader {
		return &httpError{http.StatusUnprocessableEntity, "This item has no uploader context: a report case is about one account."}
	}
	hits, err := c.reviewHits(ctx, it)
	if err != nil {
		return err
	}
	if len(hits) == 0 {
		return &httpError{http.StatusUnprocessableEntity, "The match history no longer has this item's hit (pruned after its retention?)."}
	}
	up, err := c.reviews.Uploader(ctx, it, v.by()) // audited
	if err != nil {
		return err
	}
	req := report.OpenRequest{Uploader: up, Note: strings.TrimSpace(r.PostFormValue("note")), Files: map[string]report.FileFacts{}}
	facts := contentFacts(it)
	for _, h := range hits {
		req.HitIDs = append(req.HitIDs, h.ID)
		req.Files[strconv.FormatInt(h.ID, 10)] = facts
	}
	rc, err := svc.OpenCase(ctx, v.by(), req)
	if err != nil {
		return reportErr(err)
	}
	http.Redirect(w, r, fmt.Sprintf("/ui/reports/%d?msg=opened", rc.ID), http.StatusSeeOther)
	return nil
}

// reviewHits finds a review item's hits in the match history: the same
// content id, submitter, bank and signal.
func (c *Console) reviewHits(ctx context.Context, it review.Item) ([]history.Hit, error) {
	if it.ContentID == "" {
		return nil, nil
	}
	hs, err := c.st.ListHits(ctx, history.Query{ContentID: it.ContentID, Bank: it.Bank, Limit: 1000})
	if err != nil {
		return nil, err
	}
	var out []history.Hit
	for _, h := range hs {
		if h.SignalID == it.SignalID && h.Submitter == it.Submitter {
			out = append(out, h)
		}
	}
	return out, nil
}

// contentFacts are the content's digests from a review item's hashes, for
// the case's file details.
func contentFacts(it review.Item) report.FileFacts {
	var f report.FileFacts
	for _, h := range it.Hashes {
		v := strings.ToLower(h.Value)
		switch {
		case h.Type == "md5" && len(v) == 32:
			f.MD5 = v
		case h.Type == "sha1" && len(v) == 40:
			f.SHA1 = v
		case h.Type == "sha256" && len(v) == 64:
			f.SHA256 = v
		case h.Type == "pdq" && len(v) == 64:
			f.PDQ = v
		}
	}
	return f
}
