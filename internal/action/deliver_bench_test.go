package action_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// backlogEvents is the backlog of the drain benchmark: 30 s of matching at
// the rate the old serial deliverer could not keep up with (its 157
// events/s ceiling took 71–83 s to drain 30 s of load, about 12,000 events).
const backlogEvents = 12000

// fillBacklog queues n events to url in transactions of 200.
func fillBacklog(b *testing.B, st store.Store, url string, n int) {
	b.Helper()
	for done := 0; done < n; {
		var evs []action.Event
		for i := 0; i < 200 && done < n; i, done = i+1, done+1 {
			p, _ := json.Marshal(map[string]any{"event_id": fmt.Sprintf("e-%d", done), "type": "match", "bank": "b",
				"matches": []map[string]any{{"type": "pdq", "distance": 4, "signal_id": done}}})
			evs = append(evs, action.Event{Bank: "b", URL: url, Secret: "s", Payload: p})
		}
		if _, err := st.RecordMatch(context.Background(), audit.Entry{Actor: "bench", Action: "match.action"}, evs); err != nil {
			b.Fatal(err)
		}
	}
}

// serialDrain is the baseline: the deliverer as it was before lanes — claim
// 32, post one at a time, record each outcome in its own transaction —
// over the same store and receiver. It stops after max events.
func serialDrain(ctx context.Context, st store.Store, client *http.Client, max int) (int, error) {
	n := 0
	for n < max {
		evs, err := st.ClaimEvents(ctx, time.Now(), 15*time.Second, 32)
		if err != nil || len(evs) == 0 {
			return n, err
		}
		for _, e := range evs {
			ts := time.Now().Unix()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(e.Payload))
			req.Header.Set(action.HeaderTimestamp, strconv.FormatInt(ts, 10))
			req.Header.Set(action.HeaderSignature, action.Sign(e.Secret, ts, e.Payload))
			resp, err := client.Do(req)
			if err != nil {
				return n, err
			}
			resp.Body.Close()
			e.State, e.Attempts = action.Delivered, e.Attempts+1
			if err := st.FinishEvents(ctx, []action.Event{e}); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// BenchmarkDrainBacklog drains a backlog of 12,000 events to a local
// receiver with the Deliverer, and 2,000 with the serial baseline, on each
// engine; it reports both rates, their ratio and the drain time of the
// whole backlog (target: ≥ 2,000 events/s, drained within 10 s).
// Run with -benchtime=1x (one drain is the measurement).
func BenchmarkDrainBacklog(b *testing.B) {
	for _, eng := range storetest.Engines {
		b.Run(eng.Name, func(b *testing.B) {
			var got atomic.Int64
			recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
			defer recv.Close()
			for b.Loop() {
				b.StopTimer()
				st := storetest.OpenBench(b, eng)
				fillBacklog(b, st, recv.URL, 2000)
				b.StartTimer()
				start := time.Now()
				n, err := serialDrain(context.Background(), st, recv.Client(), 2000)
				serial := float64(n) / time.Since(start).Seconds()
				if err != nil || n != 2000 {
					b.Fatalf("serial drain: %d %v", n, err)
				}

				b.StopTimer()
				st = storetest.OpenBench(b, eng)
				fillBacklog(b, st, recv.URL, backlogEvents)
				b.StartTimer()
				before := got.Load()
				ctx, cancel := context.WithCancel(context.Background())
				d := &action.Deliverer{Store: st, AllowPrivate: true, Interval: 50 * time.Millisecond}
				done := make(chan struct{})
				start = time.Now()
				go func() { d.Run(ctx); close(done) }()
				for {
					depth, err := st.OutboxDepth(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					if depth == 0 {
						break
					}
					if time.Since(start) > time.Minute {
						b.Fatalf("backlog not drained in a minute: %d left", depth)
					}
					time.Sleep(20 * time.Millisecond)
				}
				drain := time.Since(start)
				cancel()
				<-done
				if d := got.Load() - before; d < backlogEvents {
					b.Fatalf("receiver got %d of %d events", d, backlogEvents)
				}
				rate := float64(backlogEvents) / drain.Seconds()
				b.ReportMetric(rate, "events/s")
				b.ReportMetric(serial, "serial-events/s")
				b.ReportMetric(rate/serial, "speedup")
				b.ReportMetric(drain.Seconds(), "drain-s")
			}
		})
	}
}
