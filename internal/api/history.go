package api

import (
	"context"
	"net/http"
	"time"

	"github.com/nigehban/nigehban/internal/history"
)

// recordHits writes the hits of one match request to the match history
// before the answer (see internal/history); a request without hits writes
// nothing.
func (s *Server) recordHits(ctx context.Context, c caller, contentID string, matches []matchHit) error {
	if len(matches) == 0 {
		return nil
	}
	at := time.Now().UTC().Truncate(time.Microsecond)
	hits := make([]history.Hit, len(matches))
	for i, m := range matches {
		hits[i] = history.Hit{At: at, Submitter: c.actor(), ContentID: contentID, Bank: m.Bank, SignalID: m.SignalID,
			Type: string(m.Type), Value: m.Value, Distance: m.Distance}
	}
	return s.st.RecordHits(ctx, hits)
}

// listMatches answers GET /v1/matches: the match history, newest first.
func (s *Server) listMatches(w http.ResponseWriter, r *http.Request, _ caller) error {
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
	hits, err := s.st.ListHits(r.Context(), history.Query{ContentID: q.Get("content_id"), Bank: q.Get("bank"),
		Before: before, Limit: int(limit)})
	if err != nil {
		return err
	}
	if hits == nil {
		hits = []history.Hit{}
	}
	out := map[string]any{"matches": hits}
	if len(hits) == int(limit) {
		out["next_before"] = hits[len(hits)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
