package audit

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// rfc6962Root computes MTH(D[n]) from RFC 6962 section 2.1 directly, as an
// independent reference for the tree built through stored hashes.
func rfc6962Root(leaves [][]byte) tlog.Hash {
	if len(leaves) == 0 {
		return sha256.Sum256(nil)
	}
	if len(leaves) == 1 {
		return sha256.Sum256(append([]byte{0}, leaves[0]...))
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := rfc6962Root(leaves[:k]), rfc6962Root(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

func TestTreeMatchesRFC6962(t *testing.T) {
	ctx := context.Background()
	m := newMemLog(70)
	var leaves [][]byte
	for _, e := range m.entries {
		leaf, err := EncodeLeaf(e)
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, leaf)
	}
	for _, n := range []int64{0, 1, 2, 3, 7, 8, 9, 64, 65, 70} {
		got, err := TreeHash(ctx, m, n)
		if err != nil {
			t.Fatal(err)
		}
		if want := rfc6962Root(leaves[:n]); got != want {
			t.Errorf("size %d: root %s, RFC 6962 gives %s", n, got, want)
		}
	}
}

func TestCheckConsistent(t *testing.T) {
	ctx := context.Background()
	m := newMemLog(40)
	h10, _ := TreeHash(ctx, m, 10)
	h40, _ := TreeHash(ctx, m, 40)
	if err := CheckConsistent(ctx, m, 10, h10, 40, h40); err != nil {
		t.Errorf("grown log: %v", err)
	}
	// The same sizes from a log whose entry 5 differs.
	other := newMemLog(0)
	for i, e := range m.entries {
		if i == 4 {
			e.Actor = "someone else"
		}
		other.AppendAudit(ctx, Entry{At: e.At, Actor: e.Actor, Action: e.Action, Target: e.Target, Remote: e.Remote, Detail: e.Detail})
	}
	o40, _ := TreeHash(ctx, other, 40)
	if err := CheckConsistent(ctx, other, 10, h10, 40, o40); !errors.Is(err, ErrLogInconsistent) {
		t.Errorf("rewritten log: err = %v, want ErrLogInconsistent", err)
	}
	if err := CheckConsistent(ctx, m, 40, h40, 10, h10); !errors.Is(err, ErrLogInconsistent) {
		t.Errorf("shrunk log: err = %v", err)
	}
}

func TestBackfill(t *testing.T) {
	m := newMemLog(300)
	got, err := Backfill(m.entries)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(m.hashes) {
		t.Fatalf("%d stored hashes, appends wrote %d", len(got), len(m.hashes))
	}
	for i, h := range got {
		if h.Index != int64(i) || h.Hash != m.hashes[i] {
			t.Fatalf("stored hash %d differs from the one appends wrote", i)
		}
	}
	es := newMemLog(5).entries
	es[2].Actor = "edited"
	if _, err := Backfill(es); !errors.Is(err, ErrBroken) {
		t.Errorf("broken chain: err = %v, want ErrBroken", err)
	}
}

func TestTreeSizeForStoredCount(t *testing.T) {
	for n := int64(0); n < 2000; n++ {
		c := tlog.StoredHashCount(n)
		if got := TreeSizeForStoredCount(c); got != n {
			t.Fatalf("TreeSizeForStoredCount(%d) = %d, want %d", c, got, n)
		}
		if n > 0 {
			if got := TreeSizeForStoredCount(c - 1); got != n-1 {
				t.Fatalf("TreeSizeForStoredCount(%d) = %d, want %d (a partly written leaf)", c-1, got, n-1)
			}
		}
	}
}
