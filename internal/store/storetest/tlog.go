package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/audit"
)

// MatchRecorder is what BenchRecordMatch needs: the transaction `serve`
// runs for a match that fires a webhook.
type MatchRecorder interface {
	RecordMatch(ctx context.Context, e audit.Entry, events []action.Event) (audit.Entry, error)
}

// BenchRecordMatch measures what a match with an action costs the store:
// one audit entry (with its tree hashes) and one webhook event in one
// durable transaction, on a log that already holds prefill entries.
func BenchRecordMatch(b *testing.B, st MatchRecorder, prefill int) {
	ctx := context.Background()
	detail, _ := json.Marshal(map[string]any{"bank": "bench", "action": "block", "matches": []map[string]any{{"signal": 123456, "distance": 4}}})
	payload := json.RawMessage(`{"event":"match","bank":"bench"}`)
	rec := func(i int) {
		e := audit.Entry{Actor: "key:1 (load)", Action: "match.action", Remote: "127.0.0.1", Target: fmt.Sprint(i), Detail: detail}
		if _, err := st.RecordMatch(ctx, e, []action.Event{{Bank: "bench", URL: "http://127.0.0.1:1/hook", Secret: "s", Payload: payload}}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range prefill {
		rec(i)
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	n := 0
	for i := 0; b.Loop(); i++ {
		rec(i)
		n++
	}
	// CPU time of this process (client side; for PostgreSQL the server's
	// work is not counted), which is what competes with matching.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n), "cpu-µs/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
