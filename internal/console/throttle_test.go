package console

import (
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	th := newThrottle(3, 10*time.Second)
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at      time.Duration
		fail    bool
		addr    string
		blocked bool
	}{
		{0, false, "a", false},
		{0, true, "a", false}, // 2 left
		{1 * time.Second, true, "a", false},
		{2 * time.Second, true, "a", true}, // 0 left (plus 0.2 refilled)
		{2 * time.Second, false, "b", false},
		{9 * time.Second, false, "a", true},   // 0.9
		{12 * time.Second, false, "a", false}, // 1.2: one more attempt
		{12 * time.Second, true, "a", true},
		{5 * time.Minute, false, "a", false}, // refilled
	}
	for i, s := range steps {
		now := t0.Add(s.at)
		if s.fail {
			th.fail(s.addr, now)
		}
		if got := th.blocked(s.addr, now); got != s.blocked {
			t.Errorf("step %d (%v, fail %v, %s): blocked %v, want %v", i, s.at, s.fail, s.addr, got, s.blocked)
		}
	}
	th.forget(t0.Add(time.Hour))
	if len(th.buckets) != 0 {
		t.Errorf("%d buckets kept after refilling", len(th.buckets))
	}
}
