package action

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/testtool"
)

// memOutbox is an in-memory Store.
type memOutbox struct {
	mu     sync.Mutex
	events []Event
}

func (m *memOutbox) SetWebhook(context.Context, Webhook, audit.Actor) error { return nil }
func (m *memOutbox) Webhooks(context.Context) ([]Webhook, error)            { return nil, nil }
func (m *memOutbox) OutboxDepth(context.Context) (int64, error)             { return 0, nil }
func (m *memOutbox) DeadEventCount(context.Context) (int64, error)          { return 0, nil }
func (m *memOutbox) ClaimEvents(_ context.Context, now time.Time, lease time.Duration, limit int) ([]Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Event
	for i := range m.events {
		e := &m.events[i]
		if e.State == Pending && !e.NextAt.After(now) && len(out) < limit {
			e.NextAt = now.Add(lease)
			out = append(out, *e)
		}
	}
	return out, nil
}
func (m *memOutbox) FinishEvents(_ context.Context, evs []Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range evs {
		for i := range m.events {
			if m.events[i].ID == e.ID {
				m.events[i] = e
			}
		}
	}
	return nil
}
func (m *memOutbox) PruneDelivered(context.Context, time.Time, int) (int64, error) { return 0, nil }
func (m *memOutbox) DeadEvents(context.Context, int64, int) ([]Event, error)       { return nil, nil }
func (m *memOutbox) RetryDead(context.Context, []int64, audit.Actor) ([]int64, error) {
	return nil, nil
}

func TestSignVerify(t *testing.T) {
	body := []byte(`{"a":1}`)
	sig := Sign("s3cret", 1700000000, body)
	if !Verify("s3cret", "1700000000", sig, body) {
		t.Fatal("own signature rejected")
	}
	for _, tt := range []struct{ secret, ts string }{{"other", "1700000000"}, {"s3cret", "1700000001"}, {"s3cret", "x"}} {
		if Verify(tt.secret, tt.ts, sig, body) {
			t.Errorf("accepted with %+v", tt)
		}
	}
	if Verify("s3cret", "1700000000", sig, []byte(`{"a":2}`)) {
		t.Error("accepted a changed body")
	}
}

// TestRetriesThenDelivers: a receiver failing twice gets the event on the
// third attempt; one failing always leaves it dead after MaxAttempts.
func TestRetriesThenDelivers(t *testing.T) {
	var calls atomic.Int32
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		if _, err := strconv.ParseInt(r.Header.Get(HeaderTimestamp), 10, 64); err != nil {
			t.Error("no timestamp header")
		}
	}))
	defer flaky.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer down.Close()
	st := &memOutbox{events: []Event{
		{ID: 1, URL: flaky.URL, Secret: "s", Payload: []byte(`{}`), State: Pending},
		{ID: 2, URL: down.URL, Secret: "s", Payload: []byte(`{}`), State: Pending},
	}}
	d := &Deliverer{Store: st, MaxAttempts: 3, BaseBackoff: time.Millisecond, AllowPrivate: true}
	deadline := testtool.WaitUntil(t)
	for time.Now().Before(deadline) {
		d.RunOnce(context.Background())
		st.mu.Lock()
		done := st.events[0].State == Delivered && st.events[1].State == Dead
		st.mu.Unlock()
		if done {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if e := st.events[0]; e.State != Delivered || e.Attempts != 3 {
		t.Errorf("flaky receiver: %+v", e)
	}
	if e := st.events[1]; e.State != Dead || e.Attempts != 3 || e.LastError == "" {
		t.Errorf("dead receiver: %+v", e)
	}
}

// TestEventHeader: the X-Nigehban-Event header carries the payload's
// event_id (the id the match answer listed), and the row id only when the
// payload has none.
func TestEventHeader(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{} // header -> payload event_id
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			EventID string `json:"event_id"`
		}
		json.NewDecoder(r.Body).Decode(&p)
		mu.Lock()
		got[r.Header.Get(HeaderEvent)] = p.EventID
		mu.Unlock()
	}))
	defer recv.Close()
	st := &memOutbox{events: []Event{
		{ID: 7, URL: recv.URL, Secret: "s", Payload: []byte(`{"event_id":"9f2c","type":"match"}`), State: Pending},
		{ID: 8, URL: recv.URL, Secret: "s", Payload: []byte(`{"type":"match"}`), State: Pending},
	}}
	d := &Deliverer{Store: st, AllowPrivate: true}
	if n := d.RunOnce(context.Background()); n != 2 {
		t.Fatalf("claimed %d", n)
	}
	want := map[string]string{"9f2c": "9f2c", "8": ""}
	if !maps.Equal(got, want) {
		t.Errorf("header -> payload event_id: %v, want %v", got, want)
	}
	for _, e := range st.events {
		if e.State != Delivered {
			t.Errorf("event %d: %s", e.ID, e.State)
		}
	}
}
