package vpdq

import (
	"context"
	"runtime"
	"testing"
)

// TestWorkersShareCores: with several slots held, a decode's default frame
// workers are its share of the cores, not all of them.
func TestWorkersShareCores(t *testing.T) {
	SetMaxConcurrent(4)
	defer SetMaxConcurrent(0)
	var releases []func()
	for range 3 {
		r, err := acquireSlot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
	}
	if got, want := sharedWorkers(), max(1, runtime.NumCPU()/3); got != want {
		t.Fatalf("with 3 videos decoding, %d frame workers each, want %d", got, want)
	}
	for _, r := range releases {
		r()
	}
	if got := sharedWorkers(); got != runtime.NumCPU() {
		t.Fatalf("with no video decoding, %d frame workers, want all %d cores", got, runtime.NumCPU())
	}
}
