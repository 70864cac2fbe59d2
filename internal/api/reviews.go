package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/history"
	"github.com/nigehban/nigehban/internal/review"
	"github.com/nigehban/nigehban/internal/sealed"
)

// checkUploader refuses uploader context that is invalid (400) or that
// this server cannot store sealed because no data key is configured (422).
func (s *Server) checkUploader(u history.Uploader) error {
	err := s.reviews.CheckUploader(u)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sealed.ErrNoKey):
		return errorf(http.StatusUnprocessableEntity, "no_data_key",
			"uploader context is personal data and this server has no data key to store it encrypted (serve --data-key FILE); send the request without uploader")
	default:
		return errorf(http.StatusBadRequest, "invalid", "%v", err)
	}
}

// decide applies the bank policy to a request's hits (internal/review):
// hits that need a person are queued, hits of other banks are suppressed
// by a negative bank's hit, and each hit's action becomes the effective one.
func (s *Server) decide(ctx context.Context, c caller, contentID string, up history.Uploader, resp *matchResponse) error {
	if len(resp.Matches) == 0 {
		return nil
	}
	req := review.Request{ContentID: contentID, Submitter: c.actor(), Uploader: up,
		By: audit.Actor{Name: c.actor(), Remote: c.remote}}
	for _, q := range resp.Signals {
		if q.Type != "vpdq" { // a vPDQ value can be megabytes: the item keeps the matched signal instead
			req.Hashes = append(req.Hashes, review.Hash{Type: q.Type, Value: q.Value})
		}
	}
	for _, h := range resp.Matches {
		req.Hits = append(req.Hits, review.Hit{Bank: h.Bank, SignalID: h.SignalID, Type: string(h.Type), Value: h.Value,
			Distance: h.Distance, Category: h.Category, Action: h.Action, ReviewAbove: h.reviewAbove, Negative: h.Negative})
	}
	outs, err := s.reviews.Route(ctx, req)
	if err != nil {
		return fmt.Errorf("bank policy: %w", err)
	}
	for i, o := range outs {
		m := &resp.Matches[i]
		m.Action, m.ReviewID, m.ReviewReason, m.SuppressedBy = o.Action, o.ReviewID, string(o.Reason), o.SuppressedBy
	}
	return nil
}

// listReviews answers GET /v1/reviews.
func (s *Server) listReviews(w http.ResponseWriter, r *http.Request, _ caller) error {
	q := r.URL.Query()
	before, err := queryInt(r, "before", 0, 1<<62)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 100, 1000)
	if err != nil {
		return err
	}
	if limit == 0 {
		limit = 100
	}
	rq := review.Query{Bank: q.Get("bank"), ContentID: q.Get("content_id"), Before: before, Limit: int(limit)}
	for _, st := range q["state"] {
		switch review.State(st) {
		case review.Open, review.Escalated, review.Confirmed, review.Rejected:
			rq.States = append(rq.States, review.State(st))
		default:
			return errorf(http.StatusBadRequest, "invalid", "state %q: want open, escalated, confirmed or rejected", st)
		}
	}
	items, err := s.st.ListReviews(r.Context(), rq)
	if err != nil {
		return err
	}
	if items == nil {
		items = []review.Item{}
	}
	out := map[string]any{"reviews": items}
	if len(items) == int(limit) {
		out["next_before"] = items[len(items)-1].ID
	}
	stats, err := s.st.ReviewStats(r.Context())
	if err != nil {
		return err
	}
	out["waiting"] = map[string]any{"open": stats.Open, "escalated": stats.Escalated, "oldest": stats.Oldest}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// claimReview answers POST /v1/reviews/claim: the next item, leased to the
// key (curator keys also take escalated items; they come first).
func (s *Server) claimReview(w http.ResponseWriter, r *http.Request, c caller) error {
	it, err := s.reviews.Claim(r.Context(), c.actor(), true)
	if errors.Is(err, review.ErrEmpty) {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, it)
	return nil
}

func reviewID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errorf(http.StatusBadRequest, "invalid", "review id %q", r.PathValue("id"))
	}
	return id, nil
}

// getReview answers GET /v1/reviews/{id}. ?uploader=true adds the
// uploader context for admin keys, and the view is audited.
func (s *Server) getReview(w http.ResponseWriter, r *http.Request, c caller) error {
	id, err := reviewID(r)
	if err != nil {
		return err
	}
	it, err := s.st.GetReview(r.Context(), id)
	if err != nil {
		return err
	}
	out := map[string]any{"review": it}
	if r.URL.Query().Get("uploader") == "true" {
		if !c.key.Role.Allows(apikey.Admin) {
			return errorf(http.StatusForbidden, "forbidden", "uploader context needs an admin key")
		}
		u, err := s.reviews.Uploader(r.Context(), it, audit.Actor{Name: c.actor(), Remote: c.remote})
		if err != nil {
			return err
		}
		if it.HasUploader {
			out["uploader"] = u
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// decideReview answers POST /v1/reviews/{id}/decision
// {"decision","comment","add_to","exclude"} on an item the key holds.
func (s *Server) decideReview(w http.ResponseWriter, r *http.Request, c caller) error {
	id, err := reviewID(r)
	if err != nil {
		return err
	}
	var body struct {
		Decision review.Decision `json:"decision"`
		Comment  string          `json:"comment"`
		AddTo    string          `json:"add_to"`
		Exclude  bool            `json:"exclude"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	it, err := s.reviews.Decide(r.Context(), id, body.Decision, body.Comment, review.Options{AddTo: body.AddTo, Exclude: body.Exclude},
		audit.Actor{Name: c.actor(), Remote: c.remote})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"review": it})
	return nil
}

// listQuarantine answers GET /v1/quarantine (?all=true: lifted ones too).
func (s *Server) listQuarantine(w http.ResponseWriter, r *http.Request, _ caller) error {
	qs, err := s.st.ListQuarantine(r.Context(), r.URL.Query().Get("all") == "true")
	if err != nil {
		return err
	}
	if qs == nil {
		qs = []review.Quarantine{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"quarantine": qs})
	return nil
}

// liftQuarantine answers DELETE /v1/quarantine/{id}: the signal acts again.
func (s *Server) liftQuarantine(w http.ResponseWriter, r *http.Request, c caller) error {
	id, err := reviewID(r)
	if err != nil {
		return err
	}
	if err := s.reviews.Lift(r.Context(), id, audit.Actor{Name: c.actor(), Remote: c.remote}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
