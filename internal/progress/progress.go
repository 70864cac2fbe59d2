// Package progress keeps the state of long operations (hashing a folder,
// scanning a seized disk, importing a bank) as atomic counters, separate
// from how it is shown: the terminal renderer here redraws one line on
// stderr, and the API or a JSON log can read the same counters.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// Counter counts items and bytes done against a (possibly growing) total.
// All methods are safe for concurrent use; the zero value is ready.
type Counter struct {
	total, done, errors   atomic.Int64
	totalBytes, doneBytes atomic.Int64
	startOnce             sync.Once
	start                 atomic.Int64 // unix nanoseconds
}

// AddTotal announces items and bytes still to come.
func (c *Counter) AddTotal(items, bytes int64) {
	c.markStart()
	c.total.Add(items)
	c.totalBytes.Add(bytes)
}

// Done records one finished item of n bytes; failed counts it as an error.
func (c *Counter) Done(n int64, failed bool) {
	c.markStart()
	c.done.Add(1)
	c.doneBytes.Add(n)
	if failed {
		c.errors.Add(1)
	}
}

func (c *Counter) markStart() {
	c.startOnce.Do(func() { c.start.Store(time.Now().UnixNano()) })
}

// Stats is a consistent-enough snapshot of a Counter.
type Stats struct {
	Done, Total, Errors   int64
	DoneBytes, TotalBytes int64
	Elapsed               time.Duration
}

// Snapshot reads the counters.
func (c *Counter) Snapshot() Stats {
	s := Stats{
		Done: c.done.Load(), Total: c.total.Load(), Errors: c.errors.Load(),
		DoneBytes: c.doneBytes.Load(), TotalBytes: c.totalBytes.Load(),
	}
	if st := c.start.Load(); st != 0 {
		s.Elapsed = time.Since(time.Unix(0, st))
	}
	return s
}

// Rate returns items per second.
func (s Stats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Done) / s.Elapsed.Seconds()
}

// ByteRate returns bytes per second.
func (s Stats) ByteRate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.DoneBytes) / s.Elapsed.Seconds()
}

// ETA estimates the time left from the byte rate when totals are known in
// bytes, else from the item rate; it returns -1 when it cannot tell yet.
func (s Stats) ETA() time.Duration {
	switch {
	case s.TotalBytes > 0 && s.DoneBytes > 0:
		left := float64(s.TotalBytes - s.DoneBytes)
		return time.Duration(left / s.ByteRate() * float64(time.Second))
	case s.Total > 0 && s.Done > 0:
		return time.Duration(float64(s.Total-s.Done) / s.Rate() * float64(time.Second))
	}
	return -1
}

// String renders the one-line summary the terminal shows.
func (s Stats) String() string {
	line := fmt.Sprintf("%d/%d files", s.Done, s.Total)
	if s.TotalBytes > 0 {
		line += fmt.Sprintf(" (%s/%s)", Bytes(s.DoneBytes), Bytes(s.TotalBytes))
	}
	line += fmt.Sprintf(", %.1f files/s, %s/s", s.Rate(), Bytes(int64(s.ByteRate())))
	if s.Errors > 0 {
		line += fmt.Sprintf(", %d errors", s.Errors)
	}
	if eta := s.ETA(); eta >= 0 && s.Done < s.Total {
		line += ", ETA " + eta.Round(time.Second).String()
	}
	return line
}

// Bytes formats a byte count with binary units.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// IsTerminal reports whether f is an interactive terminal, where a redrawn
// progress line makes sense (never when piped or in CI logs).
func IsTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// Show redraws c's line on w every interval until the returned stop function
// is called, which prints the final line and a newline. Use it only when w is
// a terminal.
func Show(w io.Writer, label string, c *Counter, interval time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprintf(w, "\r\033[K%s%s\n", label, c.Snapshot())
				return
			case <-t.C:
				fmt.Fprintf(w, "\r\033[K%s%s", label, c.Snapshot())
			}
		}
	})
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}
