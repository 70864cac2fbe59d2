//go:build !amd64 || purego

package pdq

func slideCols(s, in, old, out []float32, fc float32) { slideColsGo(s, in, old, out, fc) }
func growCols(s, in, out []float32, fc float32)       { growColsGo(s, in, out, fc) }
func shrinkCols(s, old, out []float32, fc float32)    { shrinkColsGo(s, old, out, fc) }
