//go:build amd64 && !purego

package pdq

// lumaRGBA writes the luma of the first len(dst)&^3 pixels of the RGBA row
// pix (as (lumaTabR[R] + lumaTabG[G]) + lumaTabB[B], bit for bit, alpha
// ignored) and returns how many it wrote and whether all their alphas were
// 255.
func lumaRGBA(pix []byte, dst []float32) (n int, opaque bool) {
	n = len(dst) &^ 3
	if n == 0 {
		return 0, true
	}
	return n, lumaRGBASSE(pix[:4*n], dst[:n], lumaR, lumaG, lumaB)
}

// lumaRGBASSE requires len(pix) >= 4·(len(dst)&^3).
//
//go:noescape
func lumaRGBASSE(pix []byte, dst []float32, cr, cg, cb float32) (opaque bool)
