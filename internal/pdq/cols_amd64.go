//go:build amd64 && !purego

package pdq

// slideCols is slideColsGo vectorised: s = (s + in) − old; out = s/fc.
func slideCols(s, in, old, out []float32, fc float32) {
	n := len(s)
	slideColsSSE(s, in[:n], old[:n], out[:n], fc)
}

// growCols is growColsGo vectorised: s += in; out = s/fc.
func growCols(s, in, out []float32, fc float32) {
	n := len(s)
	growColsSSE(s, in[:n], out[:n], fc)
}

// shrinkCols is shrinkColsGo vectorised: s −= old; out = s/fc.
func shrinkCols(s, old, out []float32, fc float32) {
	n := len(s)
	shrinkColsSSE(s, old[:n], out[:n], fc)
}

// The assembly kernels require len(in), len(old), len(out) >= len(s).

//go:noescape
func slideColsSSE(s, in, old, out []float32, fc float32)

//go:noescape
func growColsSSE(s, in, out []float32, fc float32)

//go:noescape
func shrinkColsSSE(s, old, out []float32, fc float32)
