package variant

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/media"
	"github.com/nigehban/nigehban/internal/pdq"
)

// BenchmarkVariantCost measures, in the same run, the time per image of
// plain hashing (decode as fingerprint does, then reference PDQ) and of
// hashing with the Borders and All variant sets (as CPU time of the
// benchmark's thread, so that other load on the machine does not count), over the shared photos at
// full size and the generated edit corpus (a third of which has borders or
// captions to hash), and reports the ratios (bar: ≤ 1.3 for the default).
//
//	go test -run '^$' -bench VariantCost -benchtime 3x ./internal/variant
func BenchmarkVariantCost(b *testing.B) {
	buildCorpus(b)
	var files []string
	for _, s := range sources {
		files = append(files, filepath.Join(shared, s))
	}
	for _, e := range corpus.entries {
		files = append(files, e.path)
	}
	var data [][]byte
	for _, f := range files {
		d, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		data = append(data, d)
	}
	// Time is this thread's CPU time (the decoder's cgo calls run on it
	// too): on a loaded machine wall time mostly measures the wait for a
	// core. Wall time is reported beside it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var wall [3]time.Duration
	run := func(s Set, plain bool) time.Duration {
		w0 := time.Now()
		defer func() { wall[s] += time.Since(w0) }()
		start := threadCPU()
		for _, d := range data {
			dec, err := media.DecodeImageScaled(d, media.Limits{}, media.PDQMinSide)
			if err != nil {
				b.Fatal(err)
			}
			if plain {
				pdq.HashImage(dec.Image)
			} else {
				Hashes(dec.Image, s)
			}
		}
		return threadCPU() - start
	}
	var plain, borders, all time.Duration
	b.ResetTimer()
	for range b.N {
		plain += run(None, true)
		borders += run(Borders, false)
		all += run(All, false)
	}
	n := float64(b.N * len(data))
	b.ReportMetric(float64(plain.Microseconds())/n/1000, "ms-plain/img")
	b.ReportMetric(float64(borders.Microseconds())/n/1000, "ms-borders/img")
	b.ReportMetric(float64(all.Microseconds())/n/1000, "ms-all/img")
	b.ReportMetric(float64(borders)/float64(plain), "ratio-borders")
	b.ReportMetric(float64(all)/float64(plain), "ratio-all")
	b.ReportMetric(float64(wall[Borders])/float64(wall[None]), "wall-ratio-borders")
	b.ReportMetric(float64(wall[All])/float64(wall[None]), "wall-ratio-all")
}
