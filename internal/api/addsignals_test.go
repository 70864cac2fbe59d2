package api

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// TestAddSignalsBatch: a batch of signals is one transaction with one audit
// entry (10,000 signals used to be 10,000 transactions: 54 s), refuses
// unknown fields as the single form does, and adds nothing when one signal
// is invalid.
func TestAddSignalsBatch(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, dsn string) {
		ts := startServer(t, dsn, Config{})
		ts.call(t, ts.admin, "POST", "/v1/banks", map[string]any{"name": "b"}, "")
		r := rand.New(rand.NewPCG(3, 4))
		const n = 10_000
		sigs := make([]map[string]any, n)
		for i := range sigs {
			sigs[i] = map[string]any{"type": "pdq", "value": fmt.Sprintf("%016x%016x%016x%016x", r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64())}
		}
		sigs[n-1] = sigs[0] // a repeat within the batch is unchanged, not an error
		start := time.Now()
		code, out := ts.call(t, ts.admin, "POST", "/v1/banks/b/signals", map[string]any{"signals": sigs}, "")
		t.Logf("%d signals in one request: %v", n, time.Since(start).Round(time.Millisecond))
		results, _ := out["results"].([]any)
		if code != 200 || len(results) != n {
			t.Fatalf("batch: %d, %d results", code, len(results))
		}
		added := 0
		for _, x := range results {
			if x.(map[string]any)["added"] == true {
				added++
			}
		}
		if added != n-1 {
			t.Errorf("%d added, want %d", added, n-1)
		}
		entries, err := ts.st.ListAudit(context.Background(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		adds := 0
		for _, e := range entries {
			if e.Action == audit.ActSignalAdd {
				adds++
			}
		}
		if adds != 1 {
			t.Errorf("%d signal.add audit entries for one batch, want 1", adds)
		}

		// The matcher reflects the batch at once.
		if code, out := ts.call(t, ts.admin, "POST", "/v1/match", map[string]any{"signals": []any{sigs[5]}}, ""); code != 200 ||
			len(out["matches"].([]any)) != 1 {
			t.Errorf("match a batch signal: %d %v", code, out)
		}

		// Unknown fields, bad values: 400 and nothing added.
		good := `{"type":"md5","value":"d41d8cd98f00b204e9800998ecf8427e"}`
		for _, body := range []string{
			`{"signals":[` + good + `,{"type":"md5","value":"d41d8cd98f00b204e9800998ecf8427f","colour":"red"}]}`,
			`{"signals":[` + good + `,{"type":"md5","value":"not hex"}]}`,
			`{"signals":[` + good + `],"extra":1}`,
			`{"signals":[]}`,
		} {
			if code, out := ts.call(t, ts.admin, "POST", "/v1/banks/b/signals", []byte(body), "application/json"); code != 400 {
				t.Errorf("%.60s…: %d %v, want 400", body, code, out)
			}
		}
		if code, out := ts.call(t, ts.admin, "POST", "/v1/match", map[string]any{"signals": []any{map[string]any{"type": "md5", "value": "d41d8cd98f00b204e9800998ecf8427e"}}}, ""); code != 200 ||
			len(out["matches"].([]any)) != 0 {
			t.Errorf("a refused batch added signals: %d %v", code, out)
		}
	})
}
