package progress

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCounterConcurrent(t *testing.T) {
	var c Counter
	c.AddTotal(1000, 1000*10)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for j := range 125 {
				c.Done(10, j%50 == 0) // 3 failures per goroutine
			}
		})
	}
	wg.Wait()
	s := c.Snapshot()
	if s.Done != 1000 || s.DoneBytes != 10000 || s.Errors != 24 || s.Total != 1000 {
		t.Fatalf("got %+v", s)
	}
	if !strings.Contains(s.String(), "1000/1000 files") || !strings.Contains(s.String(), "24 errors") {
		t.Errorf("line %q", s.String())
	}
}

func TestETA(t *testing.T) {
	s := Stats{Done: 10, Total: 30, DoneBytes: 100, TotalBytes: 400, Elapsed: 10 * time.Second}
	if got := s.ETA(); got != 30*time.Second {
		t.Errorf("byte ETA %v, want 30s", got)
	}
	s.TotalBytes, s.DoneBytes = 0, 0
	if got := s.ETA(); got != 20*time.Second {
		t.Errorf("item ETA %v, want 20s", got)
	}
	if got := (Stats{}).ETA(); got != -1 {
		t.Errorf("unknown ETA %v", got)
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestShow(t *testing.T) {
	var c Counter
	c.AddTotal(2, 0)
	var buf bytes.Buffer
	stop := Show(&buf, "hash: ", &c, time.Millisecond)
	c.Done(0, false)
	time.Sleep(5 * time.Millisecond)
	c.Done(0, false)
	stop()
	stop()
	out := buf.String()
	last := out[strings.LastIndex(out, "\r")+1:]
	if !strings.HasPrefix(last, "\033[Khash: 2/2 files") {
		t.Errorf("final line missing: %q", out)
	}
	if !strings.HasSuffix(out, "\n") {
		t.Errorf("no final newline: %q", out)
	}
}
