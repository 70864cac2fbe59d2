package index

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/nigehban/nigehban/internal/pdq"
)

// TestSearchBatch: SearchBatch answers every query exactly as the brute
// force does (and so as Search), whatever the layout, with removals, a
// non-empty buffer, dense clusters (queries searched alone) and thresholds
// from 0 to past the join's probe limit, each query with its own.
func TestSearchBatch(t *testing.T) {
	for _, tt := range []struct {
		name  string
		large bool
		kind  string
	}{{"small/uniform", false, "uniform"}, {"small/clustered", false, "clustered"}, {"large/clustered", true, "clustered"}} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.large {
				old := largeFrom
				largeFrom = 20000
				defer func() { largeFrom = old }()
			}
			rng := rand.New(rand.NewPCG(11, uint64(len(tt.name))))
			var hashes []pdq.Hash
			if tt.kind == "uniform" {
				for range 50000 {
					hashes = append(hashes, randomHash(rng))
				}
			} else {
				hashes = clustered(rng, 50000)
				// One dense cluster: a thousand copies within 2 bits.
				c := randomHash(rng)
				for range 1000 {
					hashes = append(hashes, flip(rng, c, rng.IntN(3)))
				}
			}
			var x PDQ
			m := &model{}
			var batch []Entry
			for i, h := range hashes {
				e := Entry{ID: uint64(i), Hash: h}
				m.entries = append(m.entries, e)
				if i < 45000 {
					batch = append(batch, e)
				} else {
					x.Add(e.ID, e.Hash) // the buffer
				}
			}
			x.AddBatch(batch)
			if tt.large && x.segs[0].bits != largeBits {
				t.Fatalf("segment uses %d-bit chunks, want %d", x.segs[0].bits, largeBits)
			}
			for range 200 {
				id := uint64(rng.IntN(len(hashes)))
				x.Remove(id)
				m.remove(id)
			}
			qs := queriesFor(rng, hashes, 600)
			qs = append(qs, hashes[len(hashes)-1]) // in the dense cluster
			ths := make([]int, len(qs))
			for i := range ths {
				ths[i] = thresholds[rng.IntN(len(thresholds))]
				if i%3 == 0 {
					ths[i] = 31
				}
			}
			got := x.SearchBatch(qs, ths)
			for i, q := range qs {
				if want := m.search(q, ths[i]); !slices.Equal(got[i], want) {
					t.Fatalf("query %d, threshold %d: batch returned %d matches, brute force %d", i, ths[i], len(got[i]), len(want))
				}
			}
		})
	}
}

func TestRadixSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	v := make([]uint64, 10000)
	for i := range v {
		v[i] = rng.Uint64() &^ (1<<20 - 1) >> 10 // bits 10..53
	}
	want := slices.Sorted(slices.Values(v))
	got, _ := radixSort(slices.Clone(v), nil, 10, 54)
	if !slices.Equal(got, want) {
		t.Fatal("radix sort out of order")
	}
}

func TestBallSize(t *testing.T) {
	for _, tt := range []struct{ b, r, want int }{{16, 0, 1}, {16, 1, 17}, {16, 2, 137}, {22, 2, 254}, {22, 3, 1794}, {4, 9, 16}} {
		if got := ballSize(tt.b, tt.r); got != tt.want {
			t.Errorf("ballSize(%d, %d) = %d, want %d", tt.b, tt.r, got, tt.want)
		}
	}
}
