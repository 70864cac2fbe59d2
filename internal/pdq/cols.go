package pdq

// The column passes update one running sum per column; columns are
// independent, so the per-column steps below are vectorised on amd64
// (cols_amd64.s: SSE ADDPS/SUBPS/DIVPS, which round each lane exactly as the
// scalar operations do). These Go versions are the portable definition and
// the fallback; TestColKernels checks the two agree bit for bit.

// slideColsGo is the per-column phase-3 step: s = (s + in) − old; out = s/fc.
func slideColsGo(s, in, old, out []float32, fc float32) {
	n := len(s)
	in, old, out = in[:n], old[:n], out[:n]
	for j := range s {
		v := s[j] + in[j]
		v -= old[j]
		s[j] = v
		out[j] = v / fc
	}
}

// growColsGo is the per-column phase-2 step: s += in; out = s/fc.
func growColsGo(s, in, out []float32, fc float32) {
	n := len(s)
	in, out = in[:n], out[:n]
	for j := range s {
		v := s[j] + in[j]
		s[j] = v
		out[j] = v / fc
	}
}

// shrinkColsGo is the per-column phase-4 step: s −= old; out = s/fc.
func shrinkColsGo(s, old, out []float32, fc float32) {
	n := len(s)
	old, out = old[:n], out[:n]
	for j := range s {
		v := s[j] - old[j]
		s[j] = v
		out[j] = v / fc
	}
}
