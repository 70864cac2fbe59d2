package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// TestWebhookCLI: dead events are listed and retried by id or all, each
// retry audited under the CLI's actor, on both engines.
func TestWebhookCLI(t *testing.T) {
	t.Setenv("NIGEHBAN_ACTOR", "ops@host")
	storetest.ForEachEngine(t, func(t *testing.T, db string) {
		ctx := context.Background()
		st, err := store.Open(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var evs []action.Event
		for i := range 3 {
			evs = append(evs, action.Event{Bank: "b", URL: "http://127.0.0.1:1/hook", Secret: "hook-secret",
				Payload: fmt.Appendf(nil, `{"event_id":"ev-%d"}`, i)})
		}
		if _, err := st.RecordMatch(ctx, audit.Entry{Actor: "test", Action: "match.action"}, evs); err != nil {
			t.Fatal(err)
		}
		claimed, err := st.ClaimEvents(ctx, time.Now().Add(time.Second), time.Minute, 10)
		if err != nil || len(claimed) != 3 {
			t.Fatalf("claim: %d %v", len(claimed), err)
		}
		for i := range claimed {
			claimed[i].State, claimed[i].Attempts, claimed[i].LastError = action.Dead, 12, "connection refused"
		}
		claimed[2].State = action.Delivered
		if err := st.FinishEvents(ctx, claimed); err != nil {
			t.Fatal(err)
		}
		dead, _ := st.DeadEvents(ctx, 0, 10)
		if len(dead) != 2 {
			t.Fatalf("dead: %+v", dead)
		}
		delivered := claimed[2].ID

		out, _, err := runCLI(t, newWebhookCommand(), "dead", "--db", db)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if err != nil || len(lines) != 3 || !strings.Contains(out, "connection refused") ||
			!strings.Contains(lines[1], dead[0].EventID()) || strings.Contains(out, "hook-secret") {
			t.Fatalf("dead: %v\n%s", err, out)
		}
		for _, args := range [][]string{{}, {"--all", "1"}, {"x"}} {
			if _, _, err := runCLI(t, newWebhookCommand(), append([]string{"retry", "--db", db}, args...)...); err == nil {
				t.Errorf("retry %q accepted", args)
			}
		}
		// A delivered event is not retried, and the command says so.
		out, _, err = runCLI(t, newWebhookCommand(), "retry", "--db", db, fmt.Sprint(dead[0].ID), fmt.Sprint(delivered))
		if err == nil || strings.TrimSpace(out) != fmt.Sprint(dead[0].ID) {
			t.Errorf("retry one: %v\n%s", err, out)
		}
		out, _, err = runCLI(t, newWebhookCommand(), "retry", "--db", db, "--all")
		if err != nil || strings.TrimSpace(out) != fmt.Sprint(dead[1].ID) {
			t.Errorf("retry all: %v\n%s", err, out)
		}
		if out, _, _ := runCLI(t, newWebhookCommand(), "dead", "--db", db); strings.Count(out, "\n") != 1 {
			t.Errorf("dead after retries:\n%s", out)
		}
		if n, _ := st.OutboxDepth(ctx); n != 2 {
			t.Errorf("pending: %d", n)
		}
		entries, _ := st.ListAudit(ctx, 0, 100)
		var n int
		for _, e := range entries {
			if e.Action == audit.ActWebhookRetry && e.Actor == "ops@host" {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%d retry audit entries by the CLI actor, want 2", n)
		}
	})
}
