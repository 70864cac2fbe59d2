package storetest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/store"
)

// RunServe runs the conformance tests of API keys, the audit chain and the
// webhook outbox.
func RunServe(t *testing.T, newDB NewDB) {
	open := func(t *testing.T, o func(t *testing.T) store.Store) store.Store {
		t.Helper()
		return openStore(t, o)
	}
	t.Run("APIKeys", func(t *testing.T) {
		t.Parallel()
		st := open(t, newDB(t))
		ctx := context.Background()
		k, secret, err := apikey.New("ops", apikey.Curator, "test")
		if err != nil {
			t.Fatal(err)
		}
		stored, err := st.CreateAPIKey(ctx, k, audit.Actor{Name: "test"})
		if err != nil || stored.ID == 0 {
			t.Fatalf("create: %+v %v", stored, err)
		}
		got, err := apikey.Authenticate(ctx, st, secret)
		if err != nil || got.ID != stored.ID || got.Role != apikey.Curator {
			t.Fatalf("authenticate: %+v %v", got, err)
		}
		wrong := secret[:len(secret)-1] + "A"
		if wrong == secret {
			wrong = secret[:len(secret)-1] + "B"
		}
		if _, err := apikey.Authenticate(ctx, st, wrong); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("wrong secret: %v", err)
		}
		if err := st.RevokeAPIKey(ctx, stored.ID, audit.Actor{Name: "test"}); err != nil {
			t.Fatal(err)
		}
		if _, err := apikey.Authenticate(ctx, st, secret); !errors.Is(err, apikey.ErrRevoked) {
			t.Errorf("revoked key: %v", err)
		}
		if err := st.RevokeAPIKey(ctx, 999999, audit.Actor{Name: "test"}); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("revoke missing: %v", err)
		}
		// Revoking again is a no-op: no error, and still one audit entry.
		first, _ := st.ListAPIKeys(ctx)
		if err := st.RevokeAPIKey(ctx, stored.ID, audit.Actor{Name: "test"}); err != nil {
			t.Errorf("revoke twice: %v", err)
		}
		if again, _ := st.ListAPIKeys(ctx); len(first) != 1 || len(again) != 1 || !again[0].RevokedAt.Equal(*first[0].RevokedAt) {
			t.Errorf("revoking twice moved the revocation time")
		}
		es, err := st.ListAudit(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		revokes := 0
		for _, e := range es {
			if e.Action == audit.ActAPIKeyRevoke {
				revokes++
			}
		}
		if revokes != 1 {
			t.Errorf("%d apikey.revoke audit entries after revoking twice, want 1", revokes)
		}
		keys, err := st.ListAPIKeys(ctx)
		if err != nil || len(keys) != 1 || keys[0].RevokedAt == nil {
			t.Errorf("list: %+v %v", keys, err)
		}
	})
	t.Run("AuditChain", func(t *testing.T) {
		t.Parallel()
		st := open(t, newDB(t))
		ctx := context.Background()
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				d, _ := json.Marshal(map[string]int{"i": i})
				if _, err := st.AppendAudit(ctx, audit.Entry{Actor: "key:1", Action: "bank.create", Target: fmt.Sprint(i), Detail: d}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		n, err := audit.VerifyStore(ctx, st)
		if err != nil || n != 20 {
			t.Fatalf("verify: %d entries, %v", n, err)
		}
		entries, _ := st.ListAudit(ctx, 0, 100)
		entries[5].Target = "tampered"
		if err := audit.Verify(entries, ""); !errors.Is(err, audit.ErrBroken) {
			t.Errorf("tampering not detected: %v", err)
		}
	})
	t.Run("Outbox", func(t *testing.T) {
		t.Parallel()
		st := open(t, newDB(t))
		ctx := context.Background()
		filtered := action.Webhook{Bank: "a", URL: "https://example.org/x", Secret: "t", Categories: []string{"A1", "B,2"}, Types: []string{"pdq"}}
		for _, w := range []action.Webhook{{Bank: "b", URL: "http://127.0.0.1:1/hook", Secret: "s"}, filtered} {
			if err := st.SetWebhook(ctx, w, audit.Actor{Name: "test"}); err != nil {
				t.Fatal(err)
			}
		}
		ws, err := st.Webhooks(ctx)
		if err != nil || len(ws) != 2 || ws[1].Secret != "s" || ws[1].Categories != nil || ws[1].Types != nil ||
			!slices.Equal(ws[0].Categories, filtered.Categories) || !slices.Equal(ws[0].Types, filtered.Types) {
			t.Fatalf("webhooks: %+v %v", ws, err)
		}
		filtered.Categories = nil // an update replaces the filters
		if err := st.SetWebhook(ctx, filtered, audit.Actor{Name: "test"}); err != nil {
			t.Fatal(err)
		}
		if ws, _ = st.Webhooks(ctx); ws[0].Categories != nil || !slices.Equal(ws[0].Types, filtered.Types) {
			t.Fatalf("updated webhook: %+v", ws[0])
		}
		if err := st.SetWebhook(ctx, action.Webhook{Bank: "a"}, audit.Actor{Name: "test"}); err != nil {
			t.Fatal(err)
		}
		ws = ws[1:]
		ev := action.Event{Bank: "b", URL: ws[0].URL, Secret: "s", Payload: json.RawMessage(`{"x":1}`)}
		if _, err := st.RecordMatch(ctx, audit.Entry{Actor: "key:1", Action: "match"}, []action.Event{ev, ev}); err != nil {
			t.Fatal(err)
		}
		if n, _ := st.OutboxDepth(ctx); n != 2 {
			t.Fatalf("depth %d", n)
		}
		now := time.Now().Add(time.Second)
		first, err := st.ClaimEvents(ctx, now, time.Minute, 10)
		if err != nil || len(first) != 2 || string(first[0].Payload) != `{"x":1}` {
			t.Fatalf("claim: %+v %v", first, err)
		}
		again, _ := st.ClaimEvents(ctx, now, time.Minute, 10)
		if len(again) != 0 {
			t.Errorf("claimed events were claimed again within the lease: %d", len(again))
		}
		first[0].State, first[0].Attempts = action.Delivered, 1
		first[1].State, first[1].Attempts, first[1].NextAt = action.Pending, 1, now
		for _, e := range first {
			if err := st.FinishEvents(ctx, []action.Event{e}); err != nil {
				t.Fatal(err)
			}
		}
		retry, _ := st.ClaimEvents(ctx, now.Add(time.Second), time.Minute, 10)
		if len(retry) != 1 || retry[0].ID != first[1].ID || retry[0].Attempts != 1 {
			t.Errorf("retry claim: %+v", retry)
		}
		if n, _ := st.OutboxDepth(ctx); n != 1 {
			t.Errorf("depth after delivery %d", n)
		}
		if err := st.SetWebhook(ctx, action.Webhook{Bank: "b"}, audit.Actor{Name: "test"}); err != nil {
			t.Fatal(err)
		}
		if ws, _ := st.Webhooks(ctx); len(ws) != 0 {
			t.Errorf("webhook not removed: %+v", ws)
		}
	})
	t.Run("OutboxDeadPruneRetry", func(t *testing.T) {
		t.Parallel()
		st := open(t, newDB(t))
		ctx := context.Background()
		ev := action.Event{Bank: "b", URL: "http://127.0.0.1:1/hook", Secret: "s", Payload: json.RawMessage(`{"event_id":"e"}`)}
		if _, err := st.RecordMatch(ctx, audit.Entry{Actor: "key:1", Action: "match"}, []action.Event{ev, ev, ev, ev}); err != nil {
			t.Fatal(err)
		}
		now := time.Now().Add(time.Second)
		evs, err := st.ClaimEvents(ctx, now, time.Minute, 10)
		if err != nil || len(evs) != 4 {
			t.Fatalf("claim: %d %v", len(evs), err)
		}
		slices.SortFunc(evs, func(a, b action.Event) int { return cmp.Compare(a.ID, b.ID) })
		old := now.Add(-8 * 24 * time.Hour)
		evs[0].State, evs[0].NextAt = action.Delivered, old // delivered long ago
		evs[1].State, evs[1].NextAt = action.Delivered, now // delivered just now
		evs[2].State, evs[2].Attempts, evs[2].LastError = action.Dead, 12, "receiver answered 500"
		evs[3].State, evs[3].Attempts, evs[3].LastError = action.Dead, 12, "refused"
		if err := st.FinishEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		if n, err := st.PruneDelivered(ctx, now.Add(-7*24*time.Hour), 10); err != nil || n != 1 {
			t.Fatalf("prune: %d %v", n, err)
		}
		if n, _ := st.PruneDelivered(ctx, now.Add(-7*24*time.Hour), 10); n != 0 {
			t.Errorf("second prune deleted %d", n)
		}
		dead, err := st.DeadEvents(ctx, 0, 10)
		if err != nil || len(dead) != 2 || dead[0].ID != evs[2].ID || dead[1].ID != evs[3].ID ||
			dead[0].LastError != "receiver answered 500" || dead[0].Attempts != 12 || dead[0].EventID() != "e" {
			t.Fatalf("dead: %+v %v", dead, err)
		}
		if page, _ := st.DeadEvents(ctx, dead[0].ID, 10); len(page) != 1 || page[0].ID != dead[1].ID {
			t.Errorf("dead after %d: %+v", dead[0].ID, page)
		}
		by := audit.Actor{Name: "ops"}
		// Only dead events are retried: a delivered id is left alone.
		got, err := st.RetryDead(ctx, []int64{dead[0].ID, evs[1].ID}, by)
		if err != nil || !slices.Equal(got, []int64{dead[0].ID}) {
			t.Fatalf("retry: %v %v", got, err)
		}
		if n, _ := st.OutboxDepth(ctx); n != 1 {
			t.Errorf("depth after retry %d", n)
		}
		claimed, _ := st.ClaimEvents(ctx, time.Now().Add(time.Second), time.Minute, 10)
		if len(claimed) != 1 || claimed[0].ID != dead[0].ID || claimed[0].Attempts != 0 {
			t.Errorf("retried event not due with fresh attempts: %+v", claimed)
		}
		if got, err := st.RetryDead(ctx, nil, by); err != nil || !slices.Equal(got, []int64{dead[1].ID}) {
			t.Errorf("retry all: %v %v", got, err)
		}
		if d, _ := st.DeadEvents(ctx, 0, 10); len(d) != 0 {
			t.Errorf("dead after retry all: %+v", d)
		}
		entries, err := st.ListAudit(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var retries []string
		for _, e := range entries {
			if e.Action == audit.ActWebhookRetry {
				if e.Actor != "ops" {
					t.Errorf("retry audited as %q", e.Actor)
				}
				retries = append(retries, string(e.Detail))
			}
		}
		want := []string{
			fmt.Sprintf(`{"requested":[%d,%d],"retried":[%d]}`, dead[0].ID, evs[1].ID, dead[0].ID),
			fmt.Sprintf(`{"all":true,"retried":[%d]}`, dead[1].ID),
		}
		if !slices.Equal(retries, want) {
			t.Errorf("retry audit entries:\n got %q\nwant %q", retries, want)
		}
	})
	t.Run("SignalCategories", func(t *testing.T) {
		t.Parallel()
		st := open(t, newDB(t))
		ctx := context.Background()
		mustCreate(t, st, "a")
		mustCreate(t, st, "b")
		r := rand.New(rand.NewPCG(3, 4))
		var sigs []bank.Signal
		for i := range 30 {
			s := pdqSig(RandomPDQ(r))
			if i%3 != 0 {
				s.Category = fmt.Sprintf("cat-%d", i%4)
			}
			sigs = append(sigs, s)
		}
		sigs = append(sigs, bank.Signal{Type: bank.MD5, Value: RandomHex(r, 32), Category: "md"})
		mustAdd(t, st, "a", "alice", sigs[:20]...)
		mustAdd(t, st, "b", "alice", sigs[20:]...)
		all := scanAll(t, st, bank.SignalQuery{})
		removed := all[4]
		if _, _, err := st.RemoveSignal(ctx, removed.Bank, bank.SignalRef{ID: removed.ID}, "fp", audit.Actor{Name: "bob"}); err != nil {
			t.Fatal(err)
		}
		want := map[int64]string{}
		for _, s := range all {
			if s.Category != "" && s.ID != removed.ID {
				want[s.ID] = s.Category
			}
		}
		got := map[int64]string{}
		last := int64(0)
		err := st.SignalCategories(ctx, func(id int64, c string) error {
			if id <= last {
				t.Errorf("id %d after %d: not increasing", id, last)
			}
			last, got[id] = id, c
			return nil
		})
		if err != nil || !maps.Equal(got, want) {
			t.Errorf("SignalCategories = %v, %v; want %v", got, err, want)
		}
	})
}
