package media

import (
	"bytes"
	"fmt"
)

// maxScans is the most scans a JPEG may have, libjpeg-turbo's own limit
// (TJFLAG_LIMITSCANS). Real progressive encoders write about ten; thousands
// of tiny scans make every decoder sweep all coefficients thousands of times
// (a CPU bomb, CVE-2018-14498 style).
const maxScans = 500

// jpegLayout is what the marker walk learns before any pixel is decoded.
type jpegLayout struct {
	progressive bool
	scans       int // counted only for progressive files
}

// inspectJPEG walks the marker segments of a JPEG. For progressive files it
// also counts the scans, skipping entropy-coded data by looking for markers
// (0xFF followed by neither 0x00 stuffing nor a restart marker). Baseline
// files stop at the frame header, so the walk costs nothing on them. Damage
// found here is left to the decoders to report; only the facts are returned.
func inspectJPEG(b []byte) jpegLayout {
	var l jpegLayout
	i := 2 // after SOI
	for i+4 <= len(b) {
		if b[i] != 0xff {
			return l
		}
		m := b[i+1]
		switch {
		case m == 0xff: // fill byte
			i++
			continue
		case m == 0x01 || m >= 0xd0 && m <= 0xd8: // standalone markers
			i += 2
			continue
		case m == 0xd9: // EOI
			return l
		}
		seg := int(b[i+2])<<8 | int(b[i+3])
		if seg < 2 {
			return l
		}
		next := i + 2 + seg
		switch {
		case m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc: // SOFn
			// SOF2, SOF6, SOF10 and SOF14 are the progressive frames.
			l.progressive = m&0x03 == 0x02
			if !l.progressive {
				return l
			}
		case m == 0xda: // SOS: the entropy-coded data runs to the next marker
			l.scans++
			if l.scans > maxScans {
				return l
			}
			next = skipEntropy(b, next)
		}
		i = next
	}
	return l
}

// skipEntropy returns the offset of the first marker at or after i that ends
// entropy-coded data.
func skipEntropy(b []byte, i int) int {
	for i < len(b) {
		j := bytes.IndexByte(b[i:], 0xff)
		if j < 0 {
			return len(b)
		}
		i += j
		if i+1 >= len(b) {
			return len(b)
		}
		if m := b[i+1]; m != 0x00 && m != 0xff && (m < 0xd0 || m > 0xd7) {
			return i
		}
		i++
	}
	return i
}

// checkJPEGLayout refuses JPEGs whose structure alone would make decoding
// expensive: too many scans, or a progressive image over the pixel limit.
// It returns what the marker walk learnt, so callers walk the file once.
// Progressive decoding keeps every DCT coefficient of the full-size image
// (2 bytes per sample per component: 300 MB for a 100-megapixel colour
// photo), whatever the output scale, so DCT scaling cannot rescue it.
func checkJPEGLayout(data []byte, w, h int, lim Limits) (jpegLayout, error) {
	l := inspectJPEG(data)
	if l.scans > maxScans {
		return l, fmt.Errorf("decode jpeg: more than %d scans: %w", maxScans, ErrTooLarge)
	}
	if l.progressive && int64(w)*int64(h) > lim.MaxPixels {
		return l, fmt.Errorf("decode jpeg: progressive %d×%d = %d pixels exceeds the %d-pixel limit (progressive JPEGs are held in memory at full size): %w",
			w, h, int64(w)*int64(h), lim.MaxPixels, ErrTooLarge)
	}
	return l, nil
}
