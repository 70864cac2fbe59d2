package main

import (
	"fmt"
	"os"
	"testing"
)

// TestMain points the default database at a temporary directory, so that
// commands that use it when no --db is given (scan and scan verify write
// their custody events there) never touch the user's own.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nigehban-cmd-test-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Setenv("XDG_DATA_HOME", dir)
	os.Unsetenv("NIGEHBAN_DB")
	os.Unsetenv("NIGEHBAN_LOG_KEY")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
