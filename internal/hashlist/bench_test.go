package hashlist

// Benchmarks: go test -run XXX -bench . -benchtime 1x ./internal/hashlist
//
// Each format is written and read at 100k and 1M entries. peak-heap-MB is
// the largest live heap seen while streaming: equal at both sizes means
// memory stays flat whatever the list length. x-scan is the read time over
// the time bufio.Scanner needs just to split the same file into lines,
// measured in the same run.

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

var benchSizes = []int{100_000, 1_000_000}

// splitmix64 makes reproducible pseudo-random hash values cheaply.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// benchEntry returns entry i of a synthetic list in format f.
func benchEntry(i int, f Format, buf *[32]byte) Entry {
	for w := 0; w < 4; w++ {
		v := splitmix64(uint64(i*4 + w))
		for k := 0; k < 8; k++ {
			buf[w*8+k] = byte(v >> (8 * k))
		}
	}
	h := hex.EncodeToString(buf[:])
	e := Entry{Quality: -1}
	switch f {
	case TE:
		e.Type, e.Value, e.Quality, e.Note = TypePDQ, h, i%101, "photos/img"+strconv.Itoa(i)+".jpg"
	case VICS:
		e.Type, e.Value, e.Category = TypeMD5, h[:32], strconv.Itoa(i%5)
	case Plain:
		e.Type, e.Value = TypeMD5, h[:32]
	default:
		switch i % 3 {
		case 0:
			e.Type, e.Value = TypeMD5, h[:32]
		case 1:
			e.Type, e.Value = TypeSHA1, h[:40]
		default:
			e.Type, e.Value, e.Quality = TypePDQ, h, 90
		}
		e.Category, e.Source, e.Note = "1", "hotline", "case 42"
	}
	return e
}

// heapWatch samples the live heap to find its peak.
type heapWatch struct{ peak uint64 }

func (h *heapWatch) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h.peak = max(h.peak, ms.HeapAlloc)
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// writeList writes n synthetic entries of format f to w.
func writeList(b *testing.B, w io.Writer, f Format, n int, hw *heapWatch) {
	lw, err := NewWriter(w, f, WriterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var buf [32]byte
	for i := range n {
		if err := lw.Write(benchEntry(i, f, &buf)); err != nil {
			b.Fatal(err)
		}
		if hw != nil && i%(n/4) == 0 {
			hw.sample()
		}
	}
	if err := lw.Close(); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkWrite(b *testing.B) {
	for _, f := range Formats() {
		if !f.Writable() {
			continue
		}
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", f, n), func(b *testing.B) {
				runtime.GC()
				var hw heapWatch
				b.ReportAllocs()
				var cw countWriter
				for b.Loop() {
					cw.n = 0
					writeList(b, &cw, f, n, &hw)
				}
				b.SetBytes(cw.n)
				b.ReportMetric(float64(hw.peak)/1e6, "peak-heap-MB")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/entry")
			})
		}
	}
}

func BenchmarkRead(b *testing.B) {
	dir := b.TempDir()
	for _, f := range Formats() {
		if !f.Writable() {
			continue // no writer to make the input with
		}
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", f, n), func(b *testing.B) {
				path := filepath.Join(dir, fmt.Sprintf("%s-%d", f, n))
				out, err := os.Create(path)
				if err != nil {
					b.Fatal(err)
				}
				writeList(b, out, f, n, nil)
				if err := out.Close(); err != nil {
					b.Fatal(err)
				}
				defer os.Remove(path)
				st, _ := os.Stat(path)
				scan := scanTime(b, path)

				runtime.GC()
				var hw heapWatch
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					fh, err := os.Open(path)
					if err != nil {
						b.Fatal(err)
					}
					opts := ReaderOptions{}
					r, err := NewReader(fh, f, opts)
					if err != nil {
						b.Fatal(err)
					}
					got := 0
					for {
						_, err := r.Next()
						if err == io.EOF {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
						if got%(n/4) == 0 {
							hw.sample()
						}
						got++
					}
					fh.Close()
					if got != n {
						b.Fatalf("read %d entries, want %d", got, n)
					}
				}
				per := b.Elapsed() / time.Duration(b.N)
				b.SetBytes(st.Size())
				b.ReportMetric(float64(hw.peak)/1e6, "peak-heap-MB")
				b.ReportMetric(float64(per.Nanoseconds())/float64(n), "ns/entry")
				b.ReportMetric(float64(per)/float64(scan), "x-scan")
			})
		}
	}
}

// scanTime is the baseline: the time to split the file into lines.
func scanTime(b *testing.B, path string) time.Duration {
	fh, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer fh.Close()
	start := time.Now()
	sc := bufio.NewScanner(fh)
	lines := 0
	for sc.Scan() {
		lines++
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}
