package exchange_test

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/store"

	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/store/sqlite/sqlitedrv"
	"github.com/nigehban/nigehban/internal/store/storetest"

	_ "modernc.org/sqlite" // the pure-Go driver, for the sqlite-purego sub-benchmark of cgo builds
)

// BenchmarkNCMECInitialSync: the initial sync of a bank from the fake NCMEC
// server (1000 entries a page, three hashes an entry: md5, sha1, PDQ), the
// fetcher running ahead of the committer (Syncer.MaxAhead) and the pages
// waiting in memory for merges of Syncer.MergeEvery hashes, each merge a
// transaction with its checkpoint, written beside the fetch (merge.go). It
// reports hashes/s, the CPU time of the whole process per hash (the fake
// server's XML encoding included; steadier than wall time on a loaded
// machine), the peak heap and peak RSS sampled during the sync (flat: a
// bounded number of hashes in memory at a time), and the bytes and calls
// the process wrote per hash (WAL frames, checkpoints).
//
// NIGEHBAN_BENCH_NCMEC_HASHES sets the size (default 300,000; the issue's
// target is 10,000,000 at ≥ 50,000 hashes/s); NIGEHBAN_BENCH_NCMEC_BATCH
// sets Syncer.MaxBatch, NIGEHBAN_BENCH_NCMEC_AHEAD Syncer.MaxAhead,
// NIGEHBAN_BENCH_NCMEC_MERGE Syncer.MergeEvery, and
// NIGEHBAN_BENCH_NCMEC_DIRECT=1 turns merges off (Syncer.NoStaging: pages
// committed as they come, by ApplyPage). With merges it also reports
// their number, the seconds spent in them and the longest one (the
// longest hold of the write lock). The same-run baseline writes the same
// kind of hashes straight to the store (no HTTP, no XML), at most 300,000
// of them so that a 10M run stays within minutes. In cgo builds,
// sqlite-purego repeats the SQLite run with the pure-Go driver (what
// CGO_ENABLED=0 builds use). The measurements are in
// internal/exchange/README.md.
func BenchmarkNCMECInitialSync(b *testing.B) {
	hashes := 300_000
	if v, err := strconv.Atoi(os.Getenv("NIGEHBAN_BENCH_NCMEC_HASHES")); err == nil && v > 0 {
		hashes = v
	}
	maxBatch, _ := strconv.Atoi(os.Getenv("NIGEHBAN_BENCH_NCMEC_BATCH"))
	maxAhead, _ := strconv.Atoi(os.Getenv("NIGEHBAN_BENCH_NCMEC_AHEAD"))
	mergeEvery, _ := strconv.Atoi(os.Getenv("NIGEHBAN_BENCH_NCMEC_MERGE"))
	direct := os.Getenv("NIGEHBAN_BENCH_NCMEC_DIRECT") == "1"
	entries := hashes / 3
	type variant struct {
		name, driver string
		e            storetest.Engine
	}
	var variants []variant
	for _, e := range storetest.Engines {
		variants = append(variants, variant{e.Name, "", e})
		if e.Name == storetest.SQLite.Name && sqlitedrv.Name != "sqlite" {
			// The pure-Go fallback in the same run (CGO_ENABLED=0 builds use it).
			variants = append(variants, variant{e.Name + "-purego", "sqlite", e})
		}
	}
	for _, v := range variants {
		e := v.e
		b.Run(v.name, func(b *testing.B) {
			if v.driver != "" {
				defer func(name string) { sqlitedrv.Name = name }(sqlitedrv.Name)
				sqlitedrv.Name = v.driver
			}
			for range b.N {
				b.StopTimer()
				st := storetest.OpenBench(b, e)
				f, srv := newFakeNCMEC(b)
				f.n = entries
				f.rec = syntheticRec
				setup(b, st, "ncmec", exchange.KindNCMEC, srv.URL, ncmecCreds)
				ctx := context.Background()
				stop := samplePeaks()
				ad := &exchange.NCMECAdapter{BaseURL: srv.URL, User: "esp", Password: "secret", Client: srv.Client()}
				sy := exchange.Syncer{Store: st, Banks: st, Log: slog.New(slog.DiscardHandler), MaxBatch: maxBatch, MaxAhead: maxAhead,
					MergeEvery: mergeEvery, NoStaging: direct}
				b.StartTimer()
				io0 := procIO()
				cpu0 := cpuTime()
				start := time.Now()
				res, err := sy.Fetch(ctx, "ncmec", ad)
				elapsed := time.Since(start)
				cpu := cpuTime() - cpu0
				io := procIO()
				b.StopTimer()
				heap, rss := stop()
				if err != nil {
					b.Fatal(err)
				}
				if res.Applied.Added != entries*3 {
					b.Fatalf("added %d, want %d", res.Applied.Added, entries*3)
				}
				rate := float64(res.Applied.Added) / elapsed.Seconds()
				b.ReportMetric(rate, "hashes/s")
				b.ReportMetric(float64(cpu.Microseconds())/float64(res.Applied.Added), "cpu-µs/hash")
				b.ReportMetric(float64(heap)/(1<<20), "peak-heap-MiB")
				b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
				b.ReportMetric(float64(io["wchar"]-io0["wchar"])/1024/float64(res.Applied.Added), "written-KiB/hash")
				b.ReportMetric(float64(io["syscw"]-io0["syscw"])/float64(res.Applied.Added), "writes/hash")
				if sg := res.Staging; sg != nil {
					b.ReportMetric(sg.MergeSeconds, "merge-s")
					b.ReportMetric(sg.LongestMerge, "longest-merge-s")
					b.ReportMetric(float64(sg.Merges), "merges")
				}
				base, baseCPU := baselineWrite(b, st, min(entries, 100_000))
				b.ReportMetric(base, "baseline-hashes/s")
				b.ReportMetric(baseCPU, "baseline-cpu-µs/hash")
				b.ReportMetric(rate/base, "ratio")
				st.Close()
			}
		})
	}
}

// samplePeaks samples the heap in use and the process's resident set every
// 100 ms until the returned function is called, which returns their peaks.
func samplePeaks() func() (heap, rss uint64) {
	var peakHeap, peakRSS atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > peakHeap.Load() {
			peakHeap.Store(ms.HeapInuse)
		}
		if r := residentBytes(); r > peakRSS.Load() {
			peakRSS.Store(r)
		}
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				sample()
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() (uint64, uint64) {
		close(done)
		<-finished
		return peakHeap.Load(), peakRSS.Load()
	}
}

// residentBytes returns the process's resident set (VmRSS), 0 where
// /proc is not there.
func residentBytes() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// procIO returns the process's I/O counters (/proc/self/io: wchar, the
// bytes passed to write calls, and syscw, their number), empty where /proc
// is not there. Unlike time, they do not move with the machine's load.
func procIO() map[string]uint64 {
	m := map[string]uint64{}
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return m
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			m[k], _ = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return m
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// baselineWrite writes the synthetic data set's hashes to a new bank with
// WriteSignals, 3000 signals a transaction, and returns hashes/s and the
// process's CPU µs per hash.
func baselineWrite(b *testing.B, st store.Store, entries int) (float64, float64) {
	ctx := context.Background()
	cpu0 := cpuTime()
	if _, err := bank.NewService(st).CreateBank(ctx, bank.NewBank("baseline"), curator); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	sigs := make([]bank.Signal, 0, 3000)
	for i := 0; i < entries; i += 1000 {
		sigs = sigs[:0]
		for j := i; j < min(i+1000, entries); j++ {
			r := syntheticRec(j)
			ex := map[string]string{"exchange": "ncmec", "exchange_entry": "image/" + r.Member + "/" + r.ID}
			sigs = append(sigs, bank.Signal{Type: bank.MD5, Value: r.MD5, Quality: -1, Extra: ex},
				bank.Signal{Type: bank.SHA1, Value: r.SHA1, Quality: -1, Extra: ex},
				bank.Signal{Type: bank.PDQ, Value: r.PDQ, Quality: -1, Extra: ex})
		}
		err := st.WriteSignals(ctx, "baseline", audit.Actor{Name: "bench"}, func(w bank.SignalWriter) error {
			_, err := w.Add(ctx, sigs)
			w.Audit(audit.ActSignalAdd, nil)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return float64(entries*3) / time.Since(start).Seconds(), float64((cpuTime() - cpu0).Microseconds()) / float64(entries*3)
}
