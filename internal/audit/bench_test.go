package audit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// BenchmarkLeafHashes is the CPU an append adds to the audit transaction
// (encoding the leaf, hashing, reading the few stored hashes it needs from
// memory; the engines read them with one indexed query).
func BenchmarkLeafHashes(b *testing.B) {
	m := newMemLog(100_000)
	e := m.entries[len(m.entries)-1]
	e.Seq++
	b.ResetTimer()
	for b.Loop() {
		if _, err := LeafHashes(context.Background(), m, e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyRemote verifies a whole log from its tiles over HTTP
// (loopback): every entry bundle and level-0 tile fetched, every leaf
// decoded and hashed, the tree rebuilt and checked against the signed
// checkpoint. Sizes: 100,000 by default; NIGEHBAN_BENCH_LOG_SIZES (e.g.
// "1000000") for others. The target is 1,000,000 entries in under 30 s.
func BenchmarkVerifyRemote(b *testing.B) {
	sizes := []int{100_000}
	if env := os.Getenv("NIGEHBAN_BENCH_LOG_SIZES"); env != "" {
		sizes = nil
		for _, f := range splitComma(env) {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatal(err)
			}
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s, _, vkey := newSigner(&testing.T{})
			p, _ := NewPolicy(vkey, nil, 0)
			m := newMemLog(n)
			srv := serveLog(&testing.T{}, m, s)
			defer srv.Close()
			c := &Client{Base: srv.URL + "/log"}
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				v, _, err := VerifyRemote(context.Background(), c, p, nil)
				if err != nil || v.Entries != int64(n) {
					b.Fatal(v, err)
				}
			}
			// Wall time depends on what else the machine runs; CPU time
			// (verifier and server, both in this process) does not.
			b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N)/float64(n)*1e6, "s/1M-entries")
			b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N)/float64(n)*1e6, "cpu-s/1M-entries")
		})
	}
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// BenchmarkProofSize reports the size of an inclusion proof (hashes and
// bundle bytes) for the first entry (the deepest path) of logs of growing
// size: O(log n).
func BenchmarkProofSize(b *testing.B) {
	for _, n := range []int64{1_000, 1_000_000, 10_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			hs := &MemHashStore{}
			for i := range n {
				var leaf [8]byte
				binary.BigEndian.PutUint64(leaf[:], uint64(i))
				if _, err := hs.AppendLeafHash(sha256.Sum256(leaf[:])); err != nil {
					b.Fatal(err)
				}
			}
			var p tlog.RecordProof
			var err error
			for b.Loop() {
				if p, err = tlog.ProveRecord(n, 0, Reader(context.Background(), hs)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(p)), "hashes")
			// A bundle: header, extra (a ~250-byte entry), index, proof lines, checkpoint (~200 bytes).
			b.ReportMetric(float64(len(ProofHeader)+1+len("extra ")+344+1+len("index ")+1+1+len(p)*45+1+200), "bundle-bytes")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
