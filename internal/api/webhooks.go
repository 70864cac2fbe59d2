package api

import (
	"net/http"

	"github.com/nigehban/nigehban/internal/action"
)

// deadEvent is a dead webhook event as listed: never its secret.
type deadEvent struct {
	action.Event
	// EventID is the id the receiver sees (X-Nigehban-Event, event_id).
	EventID string `json:"event_id"`
}

// deadEvents answers GET /v1/webhooks/dead: dead events by id, a page at a
// time (?after=ID&limit=N≤1000).
func (s *Server) deadEvents(w http.ResponseWriter, r *http.Request, _ caller) error {
	after, err := queryInt(r, "after", 0, 1<<62)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 100, 1000)
	if err != nil {
		return err
	}
	evs := []action.Event{}
	if limit > 0 {
		if evs, err = s.st.DeadEvents(r.Context(), after, int(limit)); err != nil {
			return err
		}
	}
	out := make([]deadEvent, 0, len(evs))
	for _, e := range evs {
		out = append(out, deadEvent{Event: e, EventID: e.EventID()})
	}
	resp := map[string]any{"events": out}
	if len(out) == int(limit) && limit > 0 {
		resp["next_after"] = out[len(out)-1].ID
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// retryDead answers POST /v1/webhooks/dead/retry {"ids":[…]} or
// {"all":true}: the dead events become pending again, audited.
func (s *Server) retryDead(w http.ResponseWriter, r *http.Request, c caller) error {
	var req struct {
		IDs []int64 `json:"ids"`
		All bool    `json:"all"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	switch {
	case req.All && len(req.IDs) > 0:
		return errorf(http.StatusBadRequest, "invalid", "give ids or all, not both")
	case !req.All && len(req.IDs) == 0:
		return errorf(http.StatusBadRequest, "invalid", "give the ids of dead events to retry, or all: true")
	}
	ids := req.IDs
	if req.All {
		ids = nil
	}
	retried, err := s.st.RetryDead(r.Context(), ids, c.by())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"retried": retried})
	return nil
}
