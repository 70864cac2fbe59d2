package vpdq

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/sync/semaphore"
)

// Videos decoded at once in this process are capped (SetMaxConcurrent):
// each decode is an ffmpeg process that can take a core or more, and a
// service taking uploads must not let a burst of videos starve image
// matching. Callers beyond the cap wait, within their context's deadline.
var slots = struct {
	sync.Mutex
	sem *semaphore.Weighted
}{sem: semaphore.NewWeighted(int64(defaultConcurrent()))}

func defaultConcurrent() int { return max(1, runtime.NumCPU()/2) }

// SetMaxConcurrent sets how many videos this process decodes at once (≤ 0:
// half the cores, at least one). Call it at start-up.
func SetMaxConcurrent(n int) {
	if n <= 0 {
		n = defaultConcurrent()
	}
	slots.Lock()
	defer slots.Unlock()
	slots.sem = semaphore.NewWeighted(int64(n))
}

func acquireSlot(ctx context.Context) (release func(), err error) {
	slots.Lock()
	sem := slots.sem
	slots.Unlock()
	if err := sem.Acquire(ctx, 1); err != nil {
		return nil, fmt.Errorf("waiting for a video decoding slot: %w", err)
	}
	return func() { sem.Release(1) }, nil
}
