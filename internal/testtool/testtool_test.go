package testtool

import (
	"fmt"
	"os/exec"
	"testing"
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
