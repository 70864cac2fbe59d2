package action_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
	"github.com/nigehban/nigehban/internal/testtool"
)

// receiver records when each event id arrived.
type receiver struct {
	mu  sync.Mutex
	got map[string]time.Time
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.got == nil {
		r.got = map[string]time.Time{}
	}
	if _, dup := r.got[req.Header.Get(action.HeaderEvent)]; !dup {
		r.got[req.Header.Get(action.HeaderEvent)] = time.Now()
	}
}

func (r *receiver) at(id string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.got[id]
	return t, ok
}

// queue records a match's events for bank to url with the given event ids.
func queue(t *testing.T, st store.Store, bank, url string, ids ...string) {
	t.Helper()
	var evs []action.Event
	for _, id := range ids {
		p, _ := json.Marshal(map[string]string{"event_id": id, "bank": bank})
		evs = append(evs, action.Event{Bank: bank, URL: url, Secret: "s", Payload: p})
	}
	if _, err := st.RecordMatch(context.Background(), audit.Entry{Actor: "test", Action: "match.action"}, evs); err != nil {
		t.Fatal(err)
	}
}

// TestBadReceiverDelaysOnlyItself: with a backlog for a receiver that is
// slow (8 s an answer), hangs until the attempt times out, or refuses
// connections, another bank's events, queued one by one afterwards, each
// arrive sooner than one attempt at the bad receiver can time out (3 s):
// an event queued behind it would wait at least that long. On both
// engines. (The delays are logged: well under a second on an idle
// machine.)
func TestBadReceiverDelaysOnlyItself(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(8 * time.Second):
		case <-release:
		}
	}))
	t.Cleanup(slow.Close)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		case <-time.After(time.Minute):
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) }) // first: lets the servers close
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String() + "/hook"
	l.Close()

	cases := []struct {
		name    string
		url     string
		backlog int
	}{
		{"slow 8s", slow.URL, 40},
		{"hanging", hang.URL, 300},
		{"refusing", refused, 300},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
				fast := &receiver{}
				fastSrv := httptest.NewServer(fast)
				defer fastSrv.Close()
				var bad []string
				for i := range tc.backlog {
					bad = append(bad, fmt.Sprintf("bad-%d", i))
				}
				queue(t, st, "slowbank", tc.url, bad...)

				ctx, cancel := context.WithCancel(context.Background())
				d := &action.Deliverer{Store: st, AllowPrivate: true, Interval: 50 * time.Millisecond,
					Timeout: 3 * time.Second, Log: slog.New(slog.DiscardHandler)}
				done := make(chan struct{})
				go func() { d.Run(ctx); close(done) }()
				defer func() { cancel(); <-done }()

				queued := map[string]time.Time{}
				for i := range 15 {
					time.Sleep(150 * time.Millisecond)
					id := fmt.Sprintf("fast-%d", i)
					queued[id] = time.Now()
					queue(t, st, "fastbank", fastSrv.URL, id)
				}
				deadline := testtool.WaitUntil(t)
				var worst time.Duration
				for id, at := range queued {
					got, ok := fast.at(id)
					for !ok && time.Now().Before(deadline) {
						time.Sleep(10 * time.Millisecond)
						got, ok = fast.at(id)
					}
					if !ok {
						t.Errorf("event %s of the other bank never delivered", id)
						continue
					}
					worst = max(worst, got.Sub(at))
				}
				t.Logf("worst delay of the other bank's events: %v", worst)
				if worst >= d.Timeout {
					t.Errorf("another bank's events were delayed up to %v behind a %s receiver", worst, tc.name)
				}
			})
		})
	}
}

// TestPrune: the deliverer deletes delivered events older than the
// retention, in batches, and keeps recent, pending and dead ones.
func TestPrune(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		var ids []string
		for i := range 9 {
			ids = append(ids, fmt.Sprint(i))
		}
		queue(t, st, "b", "http://127.0.0.1:1/", ids...)
		evs, err := st.ClaimEvents(ctx, time.Now().Add(time.Second), time.Minute, 100)
		if err != nil || len(evs) != 9 {
			t.Fatalf("claim %d: %v", len(evs), err)
		}
		now := time.Now()
		for i := range evs {
			switch {
			case i < 5: // delivered 8 days ago
				evs[i].State, evs[i].NextAt = action.Delivered, now.Add(-8*24*time.Hour)
			case i < 7: // delivered 6 days ago
				evs[i].State, evs[i].NextAt = action.Delivered, now.Add(-6*24*time.Hour)
			case i == 7:
				evs[i].State, evs[i].NextAt = action.Dead, now.Add(-30*24*time.Hour)
			default:
				evs[i].State, evs[i].NextAt = action.Pending, now.Add(-30*24*time.Hour)
			}
		}
		if err := st.FinishEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		d := &action.Deliverer{Store: st, PruneBatch: 2, Log: slog.New(slog.DiscardHandler)}
		if n, err := d.Prune(ctx); err != nil || n != 5 {
			t.Errorf("pruned %d (want 5): %v", n, err)
		}
		// What is left: the two recent deliveries (shorter retention
		// prunes them), the dead and the pending event.
		d.Retention = 24 * time.Hour
		if n, err := d.Prune(ctx); err != nil || n != 2 {
			t.Errorf("pruned %d with 1 day retention (want 2): %v", n, err)
		}
		if dead, _ := st.DeadEvents(ctx, 0, 10); len(dead) != 1 {
			t.Errorf("dead events: %d", len(dead))
		}
		if n, _ := st.OutboxDepth(ctx); n != 1 {
			t.Errorf("pending events: %d", n)
		}
	})
}

// TestReplicasShareOutbox: two deliverers on one database (two store
// handles, as two `serve` replicas) deliver every event of a backlog once.
func TestReplicasShareOutbox(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, dsn string) {
		var mu sync.Mutex
		seen := map[string]int{}
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen[r.Header.Get(action.HeaderEvent)]++
			mu.Unlock()
		}))
		defer recv.Close()
		var stores []store.Store
		for range 2 {
			st, err := store.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			stores = append(stores, st)
		}
		const n = 1500
		var ids []string
		for i := range n {
			ids = append(ids, fmt.Sprintf("r-%d", i))
		}
		queue(t, stores[0], "b", recv.URL, ids...)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for _, st := range stores {
			d := &action.Deliverer{Store: st, AllowPrivate: true, Interval: 20 * time.Millisecond, Batch: 64,
				Log: slog.New(slog.DiscardHandler)}
			wg.Go(func() { d.Run(ctx) })
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			depth, err := stores[1].OutboxDepth(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if depth == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if seen[id] != 1 {
				t.Errorf("event %s delivered %d times", id, seen[id])
			}
		}
	})
}
