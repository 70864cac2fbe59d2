package exchange

import (
	"strconv"
	"testing"
)

// TestSeenFilter: every key added is found (no false negatives), other
// keys rarely are, and after a reset none is.
func TestSeenFilter(t *testing.T) {
	for _, n := range []int{1, 1000, 100_000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			f := newSeenFilter(n)
			for i := range n {
				f.add('e', strconv.Itoa(i))
			}
			for i := range n {
				if !f.has('e', strconv.Itoa(i)) {
					t.Fatalf("key %d added, not found", i)
				}
			}
			fp := 0
			for i := range n {
				if f.has('e', strconv.Itoa(n+i)) || f.has('v', strconv.Itoa(i)) {
					fp++
				}
			}
			if fp > n/1000+1 {
				t.Errorf("%d false positives in %d lookups", fp, 2*n)
			}
			f.reset()
			for i := range n {
				if f.has('e', strconv.Itoa(i)) {
					t.Fatalf("key %d found after reset", i)
				}
			}
		})
	}
}
