//go:build !cgo

package media

// decodeJPEG uses the standard library in builds without cgo; it cannot
// scale, so minSide is ignored.
func decodeJPEG(data []byte, lim Limits, _ int) (Decoded, error) { return decodeJPEGStd(data, lim) }

// TurboJPEG reports whether the libjpeg-turbo fast path is compiled in.
const TurboJPEG = false
