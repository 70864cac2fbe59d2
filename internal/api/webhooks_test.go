package api

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// makeDead queues n events for bank and records them dead; it returns
// their ids, increasing.
func makeDead(t *testing.T, st store.Store, bank string, n int) []int64 {
	t.Helper()
	ctx := context.Background()
	var evs []action.Event
	for i := range n {
		p := fmt.Appendf(nil, `{"event_id":"ev-%d","bank":%q}`, i, bank)
		evs = append(evs, action.Event{Bank: bank, URL: "http://127.0.0.1:1/hook", Secret: "hook-secret", Payload: p})
	}
	if _, err := st.RecordMatch(ctx, audit.Entry{Actor: "test", Action: "match.action"}, evs); err != nil {
		t.Fatal(err)
	}
	claimed, err := st.ClaimEvents(ctx, time.Now().Add(time.Second), time.Minute, n)
	if err != nil || len(claimed) != n {
		t.Fatalf("claim %d: %v", len(claimed), err)
	}
	var ids []int64
	for i := range claimed {
		claimed[i].State, claimed[i].Attempts, claimed[i].LastError = action.Dead, 12, "receiver answered 500"
		ids = append(ids, claimed[i].ID)
	}
	if err := st.FinishEvents(ctx, claimed); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	return ids
}

// TestDeadEvents: curators list dead events (without secrets, with the id
// receivers see) and retry some or all of them; retries are audited with
// the key; submitters may do neither.
func TestDeadEvents(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, dsn string) {
		ts := startServer(t, dsn, Config{NoDeliver: true})
		curator, submitter := ts.key(t, apikey.Curator), ts.key(t, apikey.Submitter)
		ids := makeDead(t, ts.st, "b", 3)

		code, out := ts.call(t, curator, "GET", "/v1/webhooks/dead?limit=2", nil, "")
		evs, _ := out["events"].([]any)
		if code != 200 || len(evs) != 2 || out["next_after"] != float64(ids[1]) {
			t.Fatalf("list: %d %v", code, out)
		}
		first := evs[0].(map[string]any)
		if first["id"] != float64(ids[0]) || first["event_id"] != "ev-0" || first["state"] != "dead" ||
			first["last_error"] != "receiver answered 500" || first["attempts"] != float64(12) {
			t.Errorf("dead event: %v", first)
		}
		if b, _ := json.Marshal(out); strings.Contains(string(b), "hook-secret") {
			t.Errorf("listing shows the webhook secret: %s", b)
		}
		if _, out := ts.call(t, curator, "GET", fmt.Sprintf("/v1/webhooks/dead?after=%d", ids[1]), nil, ""); len(out["events"].([]any)) != 1 {
			t.Errorf("next page: %v", out)
		}

		for _, tc := range []struct {
			key  string
			body any
			code int
		}{
			{submitter, map[string]any{"all": true}, 403},
			{curator, map[string]any{}, 400},
			{curator, map[string]any{"ids": []int64{ids[0]}, "all": true}, 400},
			{curator, map[string]any{"id": ids[0]}, 400},
		} {
			if code, out := ts.call(t, tc.key, "POST", "/v1/webhooks/dead/retry", tc.body, ""); code != tc.code {
				t.Errorf("retry %v: %d %v, want %d", tc.body, code, out, tc.code)
			}
		}
		if code, _ := ts.call(t, submitter, "GET", "/v1/webhooks/dead", nil, ""); code != 403 {
			t.Errorf("submitter listed dead events: %d", code)
		}

		if n, err := ts.st.DeadEventCount(context.Background()); n != 3 || err != nil {
			t.Errorf("dead count: %d %v, want 3", n, err)
		}
		code, out = ts.call(t, curator, "POST", "/v1/webhooks/dead/retry", map[string]any{"ids": []int64{ids[1], 999999}}, "")
		if code != 200 || fmt.Sprint(out["retried"]) != fmt.Sprintf("[%d]", ids[1]) {
			t.Errorf("retry one: %d %v", code, out)
		}
		if n, _ := ts.st.DeadEventCount(context.Background()); n != 2 {
			t.Errorf("dead count after retrying one: %d, want 2", n)
		}
		code, out = ts.call(t, curator, "POST", "/v1/webhooks/dead/retry", map[string]any{"all": true}, "")
		if code != 200 || fmt.Sprint(out["retried"]) != fmt.Sprintf("[%d %d]", ids[0], ids[2]) {
			t.Errorf("retry all: %d %v", code, out)
		}
		if _, out := ts.call(t, curator, "GET", "/v1/webhooks/dead", nil, ""); len(out["events"].([]any)) != 0 {
			t.Errorf("dead after retry all: %v", out)
		}
		if n, _ := ts.st.OutboxDepth(context.Background()); n != 3 {
			t.Errorf("pending after retries: %d", n)
		}
		entries, err := ts.st.ListAudit(context.Background(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var retries int
		for _, e := range entries {
			if e.Action == audit.ActWebhookRetry {
				retries++
				if !strings.HasPrefix(e.Actor, "key:") || e.Remote == "" {
					t.Errorf("retry audited as %q from %q", e.Actor, e.Remote)
				}
			}
		}
		if retries != 2 {
			t.Errorf("%d retry audit entries, want 2", retries)
		}
	})
}
