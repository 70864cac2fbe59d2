package testtool

import (
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
