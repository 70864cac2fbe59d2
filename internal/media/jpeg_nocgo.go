//go:build !cgo

package media

import (
	"errors"
	"fmt"
)

// decodeJPEG decodes without cgo: large baseline JPEGs with the pure-Go
// reduced decoder (jpeg_reduced.go) when the pixel limit or minSide allow
// 1/4 or 1/8 scale, which gives libjpeg-turbo's pixels at that scale;
// everything else with the standard library at full size, which cannot
// scale, so there minSide is ignored.
func decodeJPEG(data []byte, lim Limits, minSide int) (Decoded, error) {
	d, err := decodeJPEGReduced(data, lim, minSide)
	if err == nil || errors.Is(err, ErrTooLarge) {
		return d, err
	}
	return decodeJPEGStd(data, lim)
}

// reducedScale is the DCT-domain scale decodeJPEGReduced would apply under
// lim and minSide, computed as the libjpeg-turbo path does; 0 when it would
// not reduce (then the caller decodes at full size).
func reducedScale(w, h int, lim Limits, minSide int) int {
	scale := 1
	for int64((w+scale-1)/scale)*int64((h+scale-1)/scale) > lim.MaxPixels {
		if scale == 8 {
			return 0
		}
		scale *= 2
	}
	forced := scale > 1
	for minSide > 0 && scale < 4 && w/(scale*2) >= minSide && h/(scale*2) >= minSide {
		scale *= 2
	}
	if scale == 2 && forced {
		scale = 4 // the smallest reduction this decoder has
	}
	if scale < 4 {
		return 0
	}
	return scale
}

// decodeJPEGReduced decodes data at the scale reducedScale chooses. It
// returns errNotReduced (wrapped) when that is full size or the file is not
// one it decodes.
func decodeJPEGReduced(data []byte, lim Limits, minSide int) (Decoded, error) {
	var j jpegReader
	if err := j.readHeader(data); err != nil {
		return Decoded{Format: JPEG, Scale: 1}, err
	}
	scale := reducedScale(j.width, j.height, lim, minSide)
	if scale == 0 {
		return Decoded{Format: JPEG, Scale: 1}, fmt.Errorf("full size: %w", errNotReduced)
	}
	return j.decode(data, lim, scale)
}

// TurboJPEG reports whether the libjpeg-turbo fast path is compiled in.
const TurboJPEG = false
