package testtool

import (
	"fmt"
	"os/exec"
	"testing"
	"time"
)

func TestPath(t *testing.T) {
	want, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	if got := Path(t, "sh"); got != want {
		t.Fatalf("Path(sh) = %q, want %q", got, want)
	}
	// Outside CI a missing command skips the test.
	t.Setenv("CI", "")
	var skipped bool
	t.Run("missing", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Path(t, "no-such-command-nigehban")
		t.Error("Path returned for a missing command")
	})
	if !skipped {
		t.Fatal("a missing command did not skip the test")
	}
}

// ending records how Missing ended a test instead of ending it.
type ending struct {
	testing.TB
	fatal, skip string
}

func (e *ending) Helper()           {}
func (e *ending) Fatal(args ...any) { e.fatal = fmt.Sprint(args...) }
func (e *ending) Skip(args ...any)  { e.skip = fmt.Sprint(args...) }

func TestMissing(t *testing.T) {
	for _, tc := range []struct {
		ci          string
		fatal, skip bool
	}{
		{"true", true, false},
		{"", false, true},
		{"false", false, true},
	} {
		t.Setenv("CI", tc.ci)
		e := &ending{TB: t}
		Missing(e, "no widget")
		if (e.fatal == "no widget") != tc.fatal || (e.skip == "no widget") != tc.skip {
			t.Errorf("CI=%q: fatal %q, skip %q", tc.ci, e.fatal, e.skip)
		}
	}
}

// deadlined is a test with a deadline of its own.
type deadlined struct {
	testing.TB
	at time.Time
}

func (d deadlined) Deadline() (time.Time, bool) { return d.at, true }

func TestWaitUntil(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name     string
		tb       testing.TB
		min, max time.Duration
	}{
		{"far deadline: MaxWait", deadlined{t, now.Add(time.Hour)}, MaxWait - time.Second, MaxWait + time.Second},
		{"near deadline: nine tenths of it", deadlined{t, now.Add(10 * time.Second)}, 8 * time.Second, 9*time.Second + 100*time.Millisecond},
		{"no deadline: MaxWait", &ending{TB: t}, MaxWait - time.Second, MaxWait + time.Second},
	} {
		if d := WaitUntil(tc.tb).Sub(now); d < tc.min || d > tc.max {
			t.Errorf("%s: waits %v, want %v to %v", tc.name, d, tc.min, tc.max)
		}
	}
	calls := 0
	if !Eventually(t, time.Millisecond, func() bool { calls++; return calls == 3 }) || calls != 3 {
		t.Errorf("Eventually: %d calls, want 3", calls)
	}
	if Eventually(deadlined{t, time.Now().Add(50 * time.Millisecond)}, time.Millisecond, func() bool { return false }) {
		t.Error("Eventually held a condition that never holds")
	}
}
