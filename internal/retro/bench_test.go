package retro_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/index"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/retro"
	"github.com/nigehban/nigehban/internal/signal"
)

// The target: 10,000 new signals against 10,000,000 retained
// upload hashes in under 10 s.
const (
	benchSignals  = 10_000
	benchRetained = 10_000_000
	benchPlanted  = 100
)

// planted is a signal planted as a near-duplicate of a retained upload.
type planted struct {
	signal   int
	upload   int64
	distance int
}

// benchSignalSet returns benchSignals random PDQ signals of which
// benchPlanted are near-duplicates of uploads of g, at distances 1..31
// (the default threshold included) in random bit positions, and the
// planted pairs.
func benchSignalSet(g genStore) ([]bank.Signal, []planted) {
	r := rand.New(rand.NewPCG(3, 4))
	sigs := make([]bank.Signal, benchSignals)
	for i := range sigs {
		sigs[i] = bank.Signal{Bank: "b", Type: bank.PDQ, Value: randHash(r).String()}
	}
	var want []planted
	for i := range benchPlanted {
		p := planted{signal: i * (benchSignals / benchPlanted), upload: int64(i*(g.n/benchPlanted) + 7), distance: 1 + i*7%31}
		h := g.hash(int(p.upload))
		for _, bit := range r.Perm(256)[:p.distance] {
			h[bit/64] ^= 1 << (bit % 64)
		}
		sigs[p.signal].Value = h.String()
		want = append(want, p)
	}
	return sigs, want
}

// checkPlanted fails b unless got is exactly the planted pairs: every one
// found at its distance, nothing else (random 256-bit hashes are never
// within 31 bits of each other by chance: p ≈ 2^-150 a pair).
func checkPlanted(b *testing.B, got, want []planted) {
	b.Helper()
	cmp := func(x, y planted) int { return x.signal - y.signal }
	slices.SortFunc(got, cmp)
	if !slices.Equal(got, want) {
		b.Fatalf("found %d pairs, want the %d planted exactly:\n got %v\nwant %v", len(got), len(want), got, want)
	}
}

// cpuTime returns the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRetroactive10k measures the target: 10,000 new signals
// (100 of them planted near-duplicates, all checked) matched against
// NIGEHBAN_BENCH_RETAINED retained upload hashes (default 10,000,000) at
// the default threshold, two ways, in the same run:
//
//   - index-uploads: Matcher.Candidates on the retained uploads' index (what
//     the Follower does; the index is kept in memory by serve). Setup loads
//     it with Matcher.Load from a generated store and reports the load's
//     wall and CPU time and the heap it keeps.
//   - baseline-one-by-one: the same, one index search a signal in one
//     goroutine (how Candidates worked before batch search).
//   - index-signals: the smaller side indexed instead, an index of the 10,000
//     signals built per batch and every retained hash streamed through it
//     on GOMAXPROCS goroutines (hashes already in memory: a lower bound for
//     a store scan).
//
// Each reports s/op (wall), cpu-s/op and the ratio of its wall time to the
// issue's 10 s budget.
func BenchmarkRetroactive10k(b *testing.B) {
	n := envInt("NIGEHBAN_BENCH_RETAINED", benchRetained)
	g := genStore{n: n, seed: 5}
	sigs, want := benchSignalSet(g)
	th := func(string) int { return signal.DefaultPDQThreshold }

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	m := retro.New(g, 365*24*time.Hour)
	start, cpu0 := time.Now(), cpuTime()
	if got, err := m.Load(context.Background(), time.Now()); err != nil || got != n {
		b.Fatal(got, err)
	}
	loadWall, loadCPU := time.Since(start), cpuTime()-cpu0
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.Logf("Load of %d retained hashes: %.2f s wall, %.2f s CPU; heap kept %d MiB (%.0f bytes/hash), process memory from the OS %d MiB; GOMAXPROCS %d",
		n, loadWall.Seconds(), loadCPU.Seconds(), (after.HeapAlloc-before.HeapAlloc)>>20,
		float64(after.HeapAlloc-before.HeapAlloc)/float64(n), after.Sys>>20, runtime.GOMAXPROCS(0))

	report := func(b *testing.B, cpu time.Duration) {
		wall := b.Elapsed().Seconds() / float64(b.N)
		b.ReportMetric(wall, "s/op")
		b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
		b.ReportMetric(wall/10, "ratio-to-10s")
	}

	for _, way := range []struct {
		name       string
		candidates func([]bank.Signal, func(string) int) []retro.Candidate
	}{{"index-uploads", m.Candidates}, {"baseline-one-by-one", m.CandidatesOneByOne}} {
		b.Run(fmt.Sprintf("%s/retained=%d", way.name, n), func(b *testing.B) {
			cpu0 := cpuTime()
			for b.Loop() {
				cs := way.candidates(sigs, th)
				got := make([]planted, len(cs))
				for i, c := range cs {
					got[i] = planted{c.Signal, c.UploadID, c.Distance}
				}
				checkPlanted(b, got, want)
			}
			report(b, cpuTime()-cpu0)
		})
	}

	b.Run(fmt.Sprintf("index-signals/retained=%d", n), func(b *testing.B) {
		hashes := make([]pdq.Hash, n)
		for i := range hashes {
			hashes[i] = g.hash(i)
		}
		b.ResetTimer()
		cpu0 := cpuTime()
		for b.Loop() {
			x := &index.PDQ{}
			entries := make([]index.Entry, len(sigs))
			for i, s := range sigs {
				h, _ := pdq.ParseHex(s.Value)
				entries[i] = index.Entry{ID: uint64(i), Hash: h}
			}
			x.AddBatch(entries)
			x.Compact()
			workers := runtime.GOMAXPROCS(0)
			parts := make([][]planted, workers)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					var buf []index.Match
					for i := w; i < len(hashes); i += workers {
						buf = x.AppendSearch(buf[:0], hashes[i], signal.DefaultPDQThreshold)
						for _, mt := range buf {
							parts[w] = append(parts[w], planted{int(mt.ID), int64(i), mt.Distance})
						}
					}
				})
			}
			wg.Wait()
			checkPlanted(b, slices.Concat(parts...), want)
		}
		report(b, cpuTime()-cpu0)
	})
}
