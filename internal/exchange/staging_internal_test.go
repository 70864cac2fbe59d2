package exchange

import (
	"strconv"
	"testing"

	"github.com/nigehban/nigehban/internal/bank"
)

// TestSeenFilter: every key added is found (no false negatives), other
// keys rarely are, and after a reset none is.
func TestSeenFilter(t *testing.T) {
	for _, n := range []int{1, 1000, 100_000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			f := newSeenFilter(n)
			for i := range n {
				f.add(idKey(strconv.Itoa(i)))
			}
			for i := range n {
				if !f.has(idKey(strconv.Itoa(i))) {
					t.Fatalf("key %d added, not found", i)
				}
			}
			fp := 0
			for i := range n {
				if f.has(idKey(strconv.Itoa(n+i))) || f.has(valueKey(bank.SignalRef{Type: bank.MD5, Value: strconv.Itoa(i)})) {
					fp++
				}
			}
			if fp > n/1000+1 {
				t.Errorf("%d false positives in %d lookups", fp, 2*n)
			}
			f.reset()
			for i := range n {
				if f.has(idKey(strconv.Itoa(i))) {
					t.Fatalf("key %d found after reset", i)
				}
			}
		})
	}
}

// TestGrowFilter: the growing filter finds every key added across its
// chain, and other keys at about the rate its 16 bits a key give.
func TestGrowFilter(t *testing.T) {
	var g growFilter
	const n = 3 << 20 // three filters: 1M, 2M keys
	for i := range n {
		g.add(idKey(strconv.Itoa(i)))
	}
	if len(g.chain) != 2 {
		t.Fatalf("%d filters for %d keys, want 2", len(g.chain), n)
	}
	for i := range n {
		if !g.has(idKey(strconv.Itoa(i))) {
			t.Fatalf("key %d added, not found", i)
		}
	}
	fp := 0
	for i := range 1_000_000 {
		if g.has(idKey("x" + strconv.Itoa(i))) {
			fp++
		}
	}
	// 8 probes at 16 bits a key: 0.057 % a full filter, two filters.
	if fp > 2_000 {
		t.Errorf("%d false positives in 1,000,000 lookups", fp)
	}
	t.Logf("%d false positives in 1,000,000 lookups", fp)
}

// TestSortSignals: signals come out in type and value order, the first of
// equal values first, whatever their prefixes.
func TestSortSignals(t *testing.T) {
	vals := []string{"ff", "0a", "0a0000000000000000", "0a0000000000000001", "", "0a", "00", "0a00000000000000"}
	var sigs []*bank.Signal
	for i, v := range vals {
		for _, typ := range []bank.Type{bank.SHA1, bank.MD5} {
			sigs = append(sigs, &bank.Signal{Type: typ, Value: v, Note: strconv.Itoa(i)})
		}
	}
	sortSignals(sigs)
	for i := 1; i < len(sigs); i++ {
		a, b := sigs[i-1], sigs[i]
		if a.Type > b.Type || a.Type == b.Type && (a.Value > b.Value || a.Value == b.Value && a.Note > b.Note) {
			t.Fatalf("out of order at %d: %+v before %+v", i, *a, *b)
		}
	}
}
