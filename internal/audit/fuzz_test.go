package audit

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecodeLeaf: whatever DecodeLeaf accepts encodes back to the same
// bytes (one entry, one leaf), and LeafSeq agrees with it.
func FuzzDecodeLeaf(f *testing.F) {
	good, _ := EncodeLeaf(Entry{Seq: 7, At: time.Unix(1700000000, 5).UTC(), Actor: "key:1", Action: "bank.create", Target: "t", Detail: []byte(`{"a":1}`)})
	f.Add(good)
	f.Add([]byte(LeafPrefix + "seq 1:1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeLeaf(data)
		if err != nil {
			return
		}
		again, err := EncodeLeaf(e)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("decoded %q, re-encoded %q (%v)", data, again, err)
		}
		if seq, err := LeafSeq(data); err != nil || seq != e.Seq {
			t.Fatalf("LeafSeq = %d, %v; DecodeLeaf says %d", seq, err, e.Seq)
		}
	})
}

// FuzzParseTilePath: an accepted path is the canonical path of what it
// names.
func FuzzParseTilePath(f *testing.F) {
	for _, p := range []string{"tile/0/000", "tile/1/x001/x234/067.p/9", "tile/entries/005.p/3"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		l, n, w, err := ParseTilePath(p)
		if err != nil {
			return
		}
		if TilePath(l, n, w) != p || n < 0 || w < 1 || w > TileWidth {
			t.Fatalf("%q parsed as %d %d %d", p, l, n, w)
		}
	})
}
