package console

import (
	"sync"
	"time"
)

// throttle limits failed login attempts per remote address, across user
// names (the per-user lockout does not stop one address guessing many
// names): a token bucket of burst attempts refilled at one per every. An
// address out of tokens is answered 429 without a password check, which
// also keeps a flood from using the password hashing slots.
type throttle struct {
	mu      sync.Mutex
	burst   float64
	every   time.Duration
	buckets map[string]*tokens
}

type tokens struct {
	n    float64
	last time.Time
}

func newThrottle(burst int, every time.Duration) *throttle {
	return &throttle{burst: float64(burst), every: every, buckets: map[string]*tokens{}}
}

// blocked reports whether addr has no attempt left at now.
func (t *throttle) blocked(addr string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buckets[addr]
	return b != nil && t.level(b, now) < 1
}

// fail takes an attempt from addr's bucket.
func (t *throttle) fail(addr string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buckets[addr]
	if b == nil {
		if len(t.buckets) >= 100_000 {
			t.forget(now)
		}
		b = &tokens{n: t.burst, last: now}
		t.buckets[addr] = b
	}
	b.n, b.last = t.level(b, now)-1, now
}

func (t *throttle) level(b *tokens, now time.Time) float64 {
	return min(t.burst, b.n+float64(now.Sub(b.last))/float64(t.every))
}

// forget drops full buckets: a new bucket starts full, so no decision
// changes.
func (t *throttle) forget(now time.Time) {
	for k, b := range t.buckets {
		if t.level(b, now) >= t.burst {
			delete(t.buckets, k)
		}
	}
}
