package exchange

import (
	"strconv"
	"strings"
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

// TestSortRows: rows come out in type and key order, the first of equal
// keys first (by set, then position), whatever their prefixes and lengths.
func TestSortRows(t *testing.T) {
	keys := []string{"\xff", "\x0a", "\x0a\x00\x00\x00\x00\x00\x00\x00\x00", "\x0a\x00\x00\x00\x00\x00\x00\x00\x01", "",
		"\x0a", "\x00", "\x0a\x00\x00\x00\x00\x00\x00\x00"}
	var sets [][]Row
	q := 0
	for range 3 {
		var rows []Row
		for _, k := range keys {
			for _, typ := range []bank.Type{bank.SHA1, bank.MD5} {
				rows = append(rows, Row{Type: typ, Key: []byte(k), Quality: q})
				q++
			}
		}
		sets = append(sets, rows)
	}
	order := sortRows(sets)
	if len(order) != 3*2*len(keys) {
		t.Fatalf("%d rows sorted, want %d", len(order), 3*2*len(keys))
	}
	for i := 1; i < len(order); i++ {
		a, b := sets[order[i-1].set][order[i-1].i], sets[order[i].set][order[i].i]
		c := strings.Compare(string(a.Key), string(b.Key))
		if a.Type > b.Type || a.Type == b.Type && (c > 0 || c == 0 && a.Quality > b.Quality) {
			t.Fatalf("out of order at %d: %+v before %+v", i, a, b)
		}
	}
}
