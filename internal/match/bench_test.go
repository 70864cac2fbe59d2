package match

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/index"
	"github.com/nigehban/nigehban/internal/vpdq"
)

// Sizes of the video benchmark: the 100,000-video bank of 60
// frames each.
const (
	benchVideos = 100_000
	benchFrames = 60
)

// syntheticVideo returns n frames of a random scene: each frame a few bits
// off the one before, as consecutive frames of real video are.
func syntheticVideo(r *rand.Rand, n int) []vpdq.Frame {
	frames := make([]vpdq.Frame, n)
	h := randomHash(r)
	for i := range frames {
		for range min(i, 1+r.IntN(6)) { // cheaper than flip's distinct bits
			b := r.IntN(256)
			h[b/64] ^= 1 << (b % 64)
		}
		frames[i] = vpdq.Frame{Frame: i, Timestamp: float64(i), Quality: 50 + r.IntN(51), PDQ: h}
	}
	return frames
}

var buildTime time.Duration // of the frame index, in videoBench

// videoBench builds a Matcher over benchVideos synthetic videos, as
// LoadStore does (one batch of every usable frame), and a query that is a
// near-duplicate of one of them (every frame 0..15 bits off).
var videoBench = sync.OnceValues(func() (*Matcher, [][]vpdq.Frame) {
	r := rand.New(rand.NewPCG(10, 100))
	opts := vpdq.DefaultMatchOptions()
	m := &Matcher{banks: map[string]*bankIndex{}, pdqMax: -1, video: opts, store: true}
	bi := newBankIndex(bank.NewBank("videos"))
	m.banks["videos"] = bi
	stored := make([][]vpdq.Frame, benchVideos)
	entries := make([]index.Entry, 0, benchVideos*benchFrames)
	for i := range stored {
		v := syntheticVideo(r, benchFrames)
		stored[i] = v
		vi := video{hashes: usable(v, opts.MinQuality)}
		entries = appendEntries(entries, uint64(i+1), vi.hashes)
		bi.videos[uint64(i+1)] = vi
	}
	t := time.Now()
	bi.frames.AddBatch(entries)
	buildTime = time.Since(t)
	return m, stored
})

// BenchmarkVPDQ100k matches a 60-frame near-duplicate query against
// 100,000 stored videos of 60 frames: the frame index (internal/match, what
// serve runs) per query, and brute force (internal/vpdq.Match with every
// stored video) timed in the same run; the ratio is reported as
// speedup. Run with -cpu 1 for the one-core figure.
func BenchmarkVPDQ100k(b *testing.B) {
	start := time.Now()
	m, stored := videoBench()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	b.Logf("setup %v (index build %v), heap %d MiB (index and the brute-force copy)",
		time.Since(start).Round(time.Millisecond), buildTime.Round(time.Millisecond), ms.HeapAlloc>>20)
	r := rand.New(rand.NewPCG(5, 6))
	target := r.IntN(len(stored))
	q := nearDuplicate(r, stored[target])
	for len(q) < benchFrames { // nearDuplicate drops some: keep 60 frames
		q = append(q, q[len(q)-1])
	}
	q = q[:benchFrames]
	for i := range q {
		q[i].PDQ = flip(r, stored[target][i].PDQ, r.IntN(16))
	}
	hits := m.MatchVPDQ(q)
	if len(hits) == 0 || hits[0].SignalID != int64(target+1) {
		b.Fatalf("near-duplicate of video %d: hits %+v", target+1, hits)
	}

	b.ResetTimer()
	for b.Loop() {
		m.MatchVPDQ(q)
	}
	b.StopTimer()
	perIndex := b.Elapsed().Seconds() / float64(b.N)

	opts := m.Video()
	const bruteRuns = 1
	t0 := time.Now()
	for range bruteRuns {
		n := 0
		for _, v := range stored {
			if vpdq.Match(q, v, opts).Match {
				n++
			}
		}
		if n != len(hits) {
			b.Fatalf("brute force found %d videos, the index %d", n, len(hits))
		}
	}
	perBrute := time.Since(t0).Seconds() / bruteRuns
	b.ReportMetric(perIndex*1e3, "ms/query")
	b.ReportMetric(perBrute*1e3, "brute-ms/query")
	b.ReportMetric(perBrute/perIndex, "speedup")
}
