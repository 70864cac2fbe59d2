package protect

import (
	"sync"
	"time"
)

// limiter is a token bucket per key (a client address), in memory: each
// replica limits on its own. Buckets that have refilled are dropped, so
// memory stays bounded by the addresses active in one refill period.
type limiter struct {
	mu      sync.Mutex
	per     time.Duration // one token every per
	burst   float64
	buckets map[string]*bucket
	sweep   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(n int, window time.Duration) *limiter {
	return &limiter{per: window / time.Duration(max(n, 1)), burst: float64(max(n, 1)), buckets: map[string]*bucket{}}
}

func (l *limiter) refill(b *bucket, now time.Time) {
	b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.per))
	b.at = now
}

// take spends a token of key; when none is left it returns false and how
// long until one is.
func (l *limiter) take(key string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.sweep) > time.Duration(l.burst)*l.per {
		for k, b := range l.buckets {
			if l.refill(b, now); b.tokens >= l.burst {
				delete(l.buckets, k)
			}
		}
		l.sweep = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) * float64(l.per)), false
	}
	b.tokens--
	return 0, true
}

// empty reports whether key has no token left, without spending one.
func (l *limiter) empty(key string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		return 0, false
	}
	l.refill(b, now)
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) * float64(l.per)), true
	}
	return 0, false
}
