package vpdq

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

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
	activeDecodes.Add(1)
	return func() {
		activeDecodes.Add(-1)
		sem.Release(1)
	}, nil
}

// activeDecodes counts the videos being decoded now (slots held).
var activeDecodes atomic.Int64

// sharedWorkers is a decode's default number of frame workers: its share of
// the cores among the videos being decoded now.
func sharedWorkers() int { return max(1, runtime.NumCPU()/int(max(activeDecodes.Load(), 1))) }
