package review_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/history"
	"github.com/nigehban/nigehban/internal/review"
	"github.com/nigehban/nigehban/internal/sealed"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

func TestPolicy(t *testing.T) {
	block := review.Hit{Bank: "known", SignalID: 1, Action: bank.ActionBlock, Distance: 4}
	far := review.Hit{Bank: "known", SignalID: 2, Action: bank.ActionBlock, Distance: 20, ReviewAbove: 10}
	near := review.Hit{Bank: "known", SignalID: 3, Action: bank.ActionReport, Distance: 10, ReviewAbove: 10}
	queued := review.Hit{Bank: "victims", SignalID: 4, Action: bank.ActionReview}
	logged := review.Hit{Bank: "watch", SignalID: 5, Action: bank.ActionLog}
	neg := review.Hit{Bank: "benign", SignalID: 6, Action: bank.ActionReview, Negative: true}
	tests := []struct {
		name        string
		hits        []review.Hit
		quarantined map[int64]bool
		want        []review.Outcome
	}{
		{"block acts", []review.Hit{block}, nil, []review.Outcome{{Action: bank.ActionBlock}}},
		{"review bank queues", []review.Hit{queued}, nil, []review.Outcome{{Action: bank.ActionReview, Reason: review.ReasonBank}}},
		{"beyond review_above queues", []review.Hit{far}, nil, []review.Outcome{{Action: bank.ActionReview, Reason: review.ReasonDistance}}},
		{"at review_above acts", []review.Hit{near}, nil, []review.Outcome{{Action: bank.ActionReport}}},
		{"log only logs", []review.Hit{logged}, nil, []review.Outcome{{Action: bank.ActionLog}}},
		{"quarantined signal queues", []review.Hit{block}, map[int64]bool{1: true}, []review.Outcome{{Action: bank.ActionReview, Reason: review.ReasonFlood}}},
		{"negative suppresses the others", []review.Hit{block, neg, queued}, nil, []review.Outcome{
			{Action: bank.ActionLog, SuppressedBy: "benign"}, {Action: bank.ActionLog}, {Action: bank.ActionLog, SuppressedBy: "benign"}}},
		{"negative beats quarantine", []review.Hit{neg, block}, map[int64]bool{1: true}, []review.Outcome{
			{Action: bank.ActionLog}, {Action: bank.ActionLog, SuppressedBy: "benign"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := review.Policy(tt.hits, tt.quarantined)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Policy = %+v, want %+v", got, tt.want)
			}
			for i, o := range got {
				wantActs := tt.want[i].Reason == "" && tt.want[i].SuppressedBy == "" && tt.want[i].Action != bank.ActionLog
				if o.Acts() != wantActs {
					t.Errorf("hit %d: Acts = %v", i, o.Acts())
				}
			}
		})
	}
}

func TestFloodRule(t *testing.T) {
	r := review.DefaultFloodRule // 1 h window, 7 d baseline (168 windows), ×10, at least 20
	tests := []struct {
		recent, baseline int64
		want             bool
	}{
		{19, 0, false},   // below MinHits
		{20, 0, true},    // a new signal with 20 hits in an hour
		{20, 168, true},  // baseline 1/h: 20 > 10
		{20, 336, false}, // baseline 2/h: 20 is not > 20
		{21, 336, true},
		{500, 168 * 50, false}, // a signal that always hits 50/h
		{501, 168 * 50, true},
	}
	for _, tt := range tests {
		if got := r.Tripped(tt.recent, tt.baseline); got != tt.want {
			t.Errorf("Tripped(%d, %d) = %v, want %v", tt.recent, tt.baseline, got, tt.want)
		}
	}
	if (review.FloodRule{}).Tripped(1000, 0) {
		t.Error("the zero rule trips")
	}
}

// env is a store with a bank, a data key and a service on a test clock.
type env struct {
	st   store.Store
	svc  *review.Service
	now  time.Time
	ring *sealed.Ring
}

func newEnv(t *testing.T, st store.Store) *env {
	t.Helper()
	l, err := sealed.NewKeyLine("k1")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := sealed.Parse(strings.NewReader(l))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, ring: ring, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	e.svc = review.NewService(st, ring)
	e.svc.Now = func() time.Time { return e.now }
	e.svc.Flood = review.FloodRule{}
	for _, b := range []bank.Bank{{Name: "victims", Action: bank.ActionReview}, {Name: "known", Action: bank.ActionBlock},
		{Name: "benign", Action: bank.ActionLog, Negative: true}} {
		b.Enabled, b.PDQThreshold = true, 31
		if _, err := bank.NewService(st).CreateBank(context.Background(), b, audit.Actor{Name: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *env) queue(t *testing.T, n int, up history.Uploader) []int64 {
	t.Helper()
	var ids []int64
	for i := range n {
		outs, err := e.svc.Route(context.Background(), review.Request{
			Hits:      []review.Hit{{Bank: "victims", SignalID: int64(100 + i), Type: "md5", Value: fmt.Sprintf("%032x", i), Action: bank.ActionReview}},
			Hashes:    []review.Hash{{Type: "md5", Value: fmt.Sprintf("%032x", i)}},
			ContentID: fmt.Sprintf("c%d", i), Submitter: "key:1 (p)", Uploader: up,
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(outs) != 1 || outs[0].ReviewID == 0 || outs[0].Reason != review.ReasonBank {
			t.Fatalf("Route = %+v", outs)
		}
		ids = append(ids, outs[0].ReviewID)
	}
	return ids
}

func TestQueue(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		e := newEnv(t, st)
		ids := e.queue(t, 3, history.Uploader{})
		a, b := audit.Actor{Name: "user:alice"}, audit.Actor{Name: "user:bob"}

		ia, err := e.svc.Claim(ctx, a.Name, false)
		if err != nil || ia.ID != ids[0] {
			t.Fatalf("alice claims %d, %v; want %d", ia.ID, err, ids[0])
		}
		if again, err := e.svc.Claim(ctx, a.Name, false); err != nil || again.ID != ia.ID {
			t.Errorf("alice claims again: %d, %v; want her item %d", again.ID, err, ia.ID)
		}
		ib, err := e.svc.Claim(ctx, b.Name, false)
		if err != nil || ib.ID != ids[1] {
			t.Fatalf("bob claims %d, %v; want %d", ib.ID, err, ids[1])
		}
		// Bob cannot decide Alice's item.
		if _, err := e.svc.Decide(ctx, ia.ID, review.Confirm, "", review.Options{}, b); !errors.Is(err, review.ErrNotHeld) {
			t.Errorf("bob decides alice's item: %v, want ErrNotHeld", err)
		}
		if _, err := e.svc.Decide(ctx, ia.ID, "approve", "", review.Options{}, a); !errors.Is(err, review.ErrInvalid) {
			t.Errorf("unknown decision: %v", err)
		}
		// Alice skips: the item returns, but not to her.
		if _, err := e.svc.Decide(ctx, ia.ID, review.Skip, "not sure", review.Options{}, a); err != nil {
			t.Fatal(err)
		}
		next, err := e.svc.Claim(ctx, a.Name, false)
		if err != nil || next.ID != ids[2] {
			t.Fatalf("alice after skipping: %d, %v; want %d", next.ID, err, ids[2])
		}
		carol := audit.Actor{Name: "user:carol"}
		if got, err := e.svc.Claim(ctx, carol.Name, false); err != nil || got.ID != ids[0] {
			t.Fatalf("carol gets the skipped item: %d, %v; want %d", got.ID, err, ids[0])
		}
		// Nothing left for a fourth reviewer until a lease expires.
		if _, err := e.svc.Claim(ctx, "user:dave", false); !errors.Is(err, review.ErrEmpty) {
			t.Fatalf("dave: %v, want ErrEmpty", err)
		}
		e.now = e.now.Add(e.svc.Lease + time.Second)
		if got, err := e.svc.Claim(ctx, "user:dave", false); err != nil || got.ID != ids[0] {
			t.Fatalf("dave after the leases expired: %d, %v; want %d", got.ID, err, ids[0])
		}
		// Bob's lease expired and Dave holds nothing of his: Bob may claim
		// again, but a decision on a lease that expired is refused.
		if _, err := e.svc.Decide(ctx, ib.ID, review.Reject, "", review.Options{}, b); !errors.Is(err, review.ErrNotHeld) {
			t.Errorf("decision after the lease expired: %v, want ErrNotHeld", err)
		}
		ib, err = e.svc.Claim(ctx, b.Name, false)
		if err != nil || ib.ID != ids[1] {
			t.Fatalf("bob claims again: %d, %v", ib.ID, err)
		}
		// Escalation: moderators no longer get it, curators do, first.
		if _, err := e.svc.Decide(ctx, ib.ID, review.Escalate, "", review.Options{}, b); !errors.Is(err, review.ErrInvalid) {
			t.Errorf("escalation without comment: %v", err)
		}
		if it, err := e.svc.Decide(ctx, ib.ID, review.Escalate, "needs a second look", review.Options{}, b); err != nil || it.State != review.Escalated {
			t.Fatalf("escalate: %+v, %v", it, err)
		}
		// (Alice's lease on the third item expired: Erin gets that one.)
		if got, err := e.svc.Claim(ctx, "user:erin", false); err != nil || got.ID != ids[2] {
			t.Errorf("a moderator gets %d, %v; want %d", got.ID, err, ids[2])
		}
		if got, err := e.svc.Claim(ctx, "user:frank", false); !errors.Is(err, review.ErrEmpty) {
			t.Errorf("a moderator gets %d, %v; want ErrEmpty (the escalated item is not theirs)", got.ID, err)
		}
		cur, err := e.svc.Claim(ctx, "user:curator", true)
		if err != nil || cur.ID != ib.ID {
			t.Fatalf("curator claims %d, %v; want the escalated %d", cur.ID, err, ib.ID)
		}
		// Confirm: audited, webhook queued, hashes added to a bank.
		if err := st.SetWebhook(ctx, action.Webhook{Bank: "victims", URL: "https://example.org/hook", Secret: "s"}, audit.Actor{Name: "test"}); err != nil {
			t.Fatal(err)
		}
		depth0, _ := st.OutboxDepth(ctx)
		done, err := e.svc.Decide(ctx, cur.ID, review.Confirm, "confirmed", review.Options{AddTo: "known"}, audit.Actor{Name: "user:curator"})
		if err != nil || done.State != review.Confirmed || done.DecidedBy != "user:curator" {
			t.Fatalf("confirm: %+v, %v", done, err)
		}
		if d, _ := st.OutboxDepth(ctx); d != depth0+1 {
			t.Errorf("outbox %d after confirm, want %d", d, depth0+1)
		}
		sigs, _, err := st.SearchSignals(ctx, "known", "", "review", false, 0, 0, 10)
		if err != nil || len(sigs) != 1 || sigs[0].Value != cur.Hashes[0].Value {
			t.Errorf("known bank after confirm: %+v, %v", sigs, err)
		}
		if _, err := e.svc.Decide(ctx, cur.ID, review.Reject, "", review.Options{}, audit.Actor{Name: "user:curator"}); !errors.Is(err, review.ErrNotHeld) {
			t.Errorf("deciding a decided item: %v", err)
		}
		// Reject into a non-negative bank is refused; with exclusion it works.
		it, err := e.svc.Claim(ctx, "user:dave", false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Decide(ctx, it.ID, review.Reject, "", review.Options{AddTo: "known"}, audit.Actor{Name: "user:dave"}); !errors.Is(err, review.ErrInvalid) {
			t.Errorf("reject into a positive bank: %v", err)
		}
		if _, err := e.svc.Decide(ctx, it.ID, review.Reject, "a cat", review.Options{AddTo: "benign", Exclude: true}, audit.Actor{Name: "user:dave"}); err != nil {
			t.Fatal(err)
		}
		if x, err := st.Exclusions(ctx, "victims"); err != nil || len(x) != 1 {
			t.Errorf("exclusions of victims: %+v, %v", x, err)
		}
		// Every decision is in the audit log.
		entries, err := st.ListAudit(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var decisions []string
		for _, en := range entries {
			if en.Action == review.ActDecide {
				var d struct{ Decision string }
				json.Unmarshal(en.Detail, &d)
				decisions = append(decisions, en.Actor+":"+d.Decision)
			}
		}
		want := "[user:alice:skip user:bob:escalate user:curator:confirm user:dave:reject]"
		if fmt.Sprint(decisions) != want {
			t.Errorf("audited decisions %v, want %s", decisions, want)
		}
		stats, err := st.ReviewStats(ctx)
		if err != nil || stats.Open != 1 || stats.Escalated != 0 || stats.Oldest == nil {
			t.Errorf("stats %+v, %v", stats, err)
		}
	})
}

// TestConcurrentClaims: many reviewers claiming at once never share an item.
func TestConcurrentClaims(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st)
		e.queue(t, 40, history.Uploader{})
		var mu sync.Mutex
		seen := map[int64]string{}
		var wg sync.WaitGroup
		for r := range 8 {
			wg.Go(func() {
				who := fmt.Sprintf("user:r%d", r)
				for {
					it, err := e.svc.Claim(context.Background(), who, false)
					if errors.Is(err, review.ErrEmpty) {
						return
					}
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if other, ok := seen[it.ID]; ok {
						t.Errorf("item %d claimed by %s and %s", it.ID, other, who)
					}
					seen[it.ID] = who
					mu.Unlock()
					if _, err := e.svc.Decide(context.Background(), it.ID, review.Confirm, "", review.Options{}, audit.Actor{Name: who}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if len(seen) != 40 {
			t.Errorf("%d items decided, want 40", len(seen))
		}
	})
}

func TestUploader(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		e := newEnv(t, st)
		up := history.Uploader{AccountID: "acct-42", IP: "203.0.113.7", Port: 51515, ContentURL: "https://cdn.example.org/x.jpg"}
		ids := e.queue(t, 2, up)
		e.queue(t, 1, history.Uploader{AccountID: "someone-else"})
		it, err := st.GetReview(ctx, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		if !it.HasUploader || strings.Contains(it.SealedUploader, "acct-42") || strings.Contains(it.SealedUploader, "203.0.113.7") {
			t.Fatalf("uploader stored in clear or not at all: %q", it.SealedUploader)
		}
		got, err := e.svc.Uploader(ctx, it, audit.Actor{Name: "user:cs"})
		if err != nil || got.AccountID != "acct-42" || got.Port != 51515 || got.ContentURL != up.ContentURL {
			t.Fatalf("Uploader = %+v, %v", got, err)
		}
		entries, _ := st.ListAudit(ctx, 0, 1000)
		if last := entries[len(entries)-1]; last.Action != review.ActUploaderView || last.Actor != "user:cs" {
			t.Errorf("last audit entry %+v, want the uploader view", last)
		}
		others, err := e.svc.SameUploader(ctx, it, 10)
		if err != nil || len(others) != 1 || others[0].ID != ids[1] {
			t.Errorf("same uploader: %+v, %v; want item %d", others, err, ids[1])
		}
		// Another row's sealed value does not open here.
		moved := it
		moved.Ref = "other"
		if _, err := e.svc.Uploader(ctx, moved, audit.Actor{Name: "user:cs"}); !errors.Is(err, sealed.ErrCorrupt) {
			t.Errorf("sealed value under another row: %v", err)
		}
		// Without a data key, uploader context is refused.
		noKey := review.NewService(st, nil)
		_, err = noKey.Route(ctx, review.Request{Hits: []review.Hit{{Bank: "victims", SignalID: 1, Type: "md5", Action: bank.ActionReview}},
			Uploader: history.Uploader{AccountID: "a"}})
		if !errors.Is(err, sealed.ErrNoKey) {
			t.Errorf("uploader without a key: %v, want ErrNoKey", err)
		}
	})
}

// TestFloodQuarantine drives the flood rule with an injected clock over
// hits recorded in the match history.
func TestFloodQuarantine(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		e := newEnv(t, st)
		e.svc.Flood = review.FloodRule{Window: time.Hour, Baseline: 24 * time.Hour, Factor: 10, MinHits: 5}
		hit := review.Hit{Bank: "known", SignalID: 7, Type: "md5", Value: strings.Repeat("a", 32), Action: bank.ActionBlock}
		record := func(at time.Time, n int) {
			t.Helper()
			var hs []history.Hit
			for range n {
				hs = append(hs, history.Hit{At: at, Submitter: "k", Bank: "known", SignalID: 7, Type: "md5", Value: hit.Value})
			}
			if err := st.RecordHits(ctx, hs); err != nil {
				t.Fatal(err)
			}
		}
		route := func() review.Outcome {
			t.Helper()
			outs, err := e.svc.Route(ctx, review.Request{Hits: []review.Hit{hit}, Submitter: "k"})
			if err != nil {
				t.Fatal(err)
			}
			return outs[0]
		}
		// A steady 48 hits a day (2 per hour) over the baseline: 10 in the
		// last hour is only 5× the usual rate.
		for h := 2; h <= 24; h++ {
			record(e.now.Add(-time.Duration(h)*time.Hour+time.Minute), 2)
		}
		record(e.now.Add(-10*time.Minute), 10)
		if o := route(); !o.Acts() {
			t.Fatalf("at 5× the baseline: %+v, want acted on", o)
		}
		// 30 in the last hour: 15× the baseline.
		record(e.now.Add(-5*time.Minute), 20)
		o := route()
		if o.Reason != review.ReasonFlood || o.ReviewID == 0 {
			t.Fatalf("at 15× the baseline: %+v, want queued as flood", o)
		}
		q, err := st.ListQuarantine(ctx, false)
		if err != nil || len(q) != 1 || q[0].SignalID != 7 || q[0].Recent != 30 {
			t.Fatalf("quarantine %+v, %v", q, err)
		}
		// Lifted by a curator, the signal acts again, and the hits that
		// tripped the rule do not pause it again at once.
		if err := e.svc.Lift(ctx, 7, audit.Actor{Name: "user:cur"}); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Lift(ctx, 7, audit.Actor{Name: "user:cur"}); !errors.Is(err, review.ErrNotFound) {
			t.Errorf("lifting twice: %v", err)
		}
		e.now = e.now.Add(time.Minute)
		if o := route(); !o.Acts() {
			t.Errorf("after the lift: %+v, want acted on", o)
		}
		entries, _ := st.ListAudit(ctx, 0, 1000)
		var acts []string
		for _, en := range entries {
			if strings.HasPrefix(en.Action, "signal.quarantine") {
				acts = append(acts, en.Action+" by "+en.Actor)
			}
		}
		if fmt.Sprint(acts) != "[signal.quarantine by flood-rule signal.quarantine.lift by user:cur]" {
			t.Errorf("audited %v", acts)
		}
	})
}
