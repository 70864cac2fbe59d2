package sqlcore

import (
	"testing"

	"github.com/nigehban/nigehban/internal/bank"
)

// TestExtraMemo: the memo answers what EncodeExtra answers, also when the
// caller changes the map it passed before (the memo keeps a copy).
func TestExtraMemo(t *testing.T) {
	var e ExtraMemo
	m := map[string]string{"exchange": "ncmec", "exchange_entry": "image/1/e1"}
	shared := map[string]string{"exchange": "ncmec", "exchange_entry": "image/1/e1"}
	steps := []map[string]string{m, shared, m, nil, {}, {"a": "1"}, m}
	for i, x := range steps {
		if got, want := e.Encode(x), bank.EncodeExtra(x); got != want {
			t.Fatalf("step %d: %q, want %q", i, got, want)
		}
	}
	m["exchange_entry"] = "image/1/e2" // changed in place after being encoded
	if got, want := e.Encode(m), bank.EncodeExtra(m); got != want {
		t.Fatalf("after an in-place change: %q, want %q", got, want)
	}
	// One map reused by a caller, changed between runs of calls (the memo
	// holds a copy from the second call of a run on).
	for i := range 12 {
		if i%3 == 0 {
			m["exchange_entry"] = "image/1/e" + string(rune('a'+i))
		}
		if got, want := e.Encode(m), bank.EncodeExtra(m); got != want {
			t.Fatalf("reused map, call %d: %q, want %q", i, got, want)
		}
	}
}
