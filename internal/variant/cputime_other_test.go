//go:build !linux

package variant

import "time"

var start0 = time.Now()

// threadCPU falls back to wall time where there is no per-thread CPU
// clock.
func threadCPU() time.Duration { return time.Since(start0) }
