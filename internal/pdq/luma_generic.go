//go:build !amd64 || purego

package pdq

// lumaRGBA has no vectorised form here: it writes nothing.
func lumaRGBA(pix []byte, dst []float32) (n int, opaque bool) { return 0, true }
