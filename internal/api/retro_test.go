package api

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/retro"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// TestRetroactiveMatch: with Checked wired to retention, the hashes of a
// query that matched nothing are kept with its content_id; a signal added
// later near it is matched against them and the hit shows in the match
// history under that content_id.
func TestRetroactiveMatch(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		m := retro.New(st, time.Hour)
		cfg := Config{Checked: func(ctx context.Context, submitter, contentID string, hs []retro.Hash) error {
			return m.Retain(ctx, time.Now(), submitter, contentID, hs)
		}}
		ts := startServer(t, dsn, cfg)
		curator, submitter := ts.key(t, apikey.Curator), ts.key(t, apikey.Submitter)
		if code, out := ts.call(t, curator, "POST", "/v1/banks", map[string]any{"name": "ncmec"}, ""); code != 201 {
			t.Fatalf("create bank: %d %v", code, out)
		}
		seen := strings.Repeat("f0", 32)
		code, out := ts.call(t, submitter, "POST", "/v1/match", map[string]any{"content_id": "post-42",
			"signals": []map[string]any{{"type": "pdq", "value": seen}}}, "")
		if code != 200 || len(out["matches"].([]any)) != 0 {
			t.Fatalf("match before the signal exists: %d %v", code, out)
		}
		seq, _ := st.LastSeq(ctx)
		near := "0f" + strings.Repeat("f0", 31) // 8 bits from seen
		if code, out := ts.call(t, curator, "POST", "/v1/banks/ncmec/signals", map[string]any{"type": "pdq", "value": near}, ""); code != 201 && code != 200 {
			t.Fatalf("add signal: %d %v", code, out)
		}
		f := &retro.Follower{M: m, Banks: st, History: st}
		if _, hits, err := f.Step(ctx, seq, 100); err != nil || len(hits) != 1 || hits[0].Distance != 8 {
			t.Fatalf("retroactive step: %+v, %v", hits, err)
		}
		code, out = ts.call(t, curator, "GET", "/v1/matches?content_id=post-42", nil, "")
		hs, _ := out["matches"].([]any)
		if code != 200 || len(hs) != 1 || !strings.HasPrefix(hs[0].(map[string]any)["submitter"].(string), "retro:key:") {
			t.Fatalf("match history: %d %v", code, out)
		}
	})
}
