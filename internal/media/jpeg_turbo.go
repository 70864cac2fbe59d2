//go:build cgo

package media

/*
#cgo LDFLAGS: -lturbojpeg
#include <stdlib.h>
#include <turbojpeg.h>

// header wraps tjDecompressHeader3 so Go need not pass four out-pointers.
static int header(tjhandle h, const unsigned char *buf, unsigned long size, int *out) {
	return tjDecompressHeader3(h, buf, size, &out[0], &out[1], &out[2], &out[3]);
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"image"
	"unsafe"
)

// TurboJPEG reports whether the libjpeg-turbo fast path is compiled in.
const TurboJPEG = true

// decodeJPEG decodes with libjpeg-turbo. Colour JPEGs are decoded to RGB
// (libjpeg's accurate integer IDCT, fancy chroma upsampling and YCbCr→RGB
// conversion, as ImageMagick's libjpeg decode hands the PDQ reference its
// pixels), so PDQ computes luma from RGB as the reference does: the Y plane
// alone is BT.601 luma before chroma rounding and clipping, which on
// saturated low-quality JPEGs moved hashes by up to 20 bits. Greyscale JPEGs
// come out as their grey values, exactly as the reference reads them.
// Images over the pixel limit are decoded scaled by 1/2, 1/4 or 1/8 in the
// DCT domain, and with minSide > 0 any image is decoded at 1/2 or 1/4 while
// both scaled sides stay ≥ minSide.
//
// Flags: only TJFLAG_STOPONWARNING, so damaged data is not passed off as an
// image (TJFLAG_LIMITSCANS is subsumed by checkJPEGLayout, which applies the
// same limit to both decoders). TJFLAG_FASTDCT was measured and rejected: 20% faster at full size
// but nothing at reduced scale, and it moved one reference image to distance
// 10; TJFLAG_FASTUPSAMPLE would depart from the reference's upsampling.
//
// Anything libjpeg-turbo declines or warns about (CMYK, arithmetic coding,
// damaged data) goes to the standard library decoder, whose verdict stands:
// truncated files fail in both and are reported corrupt.
func decodeJPEG(data []byte, lim Limits, minSide int) (Decoded, error) {
	d, err := decodeTurbo(data, lim, minSide)
	if err == nil {
		return d, nil
	}
	if errors.Is(err, ErrTooLarge) {
		return d, err // the header was fine and said: too large
	}
	return decodeJPEGStd(data, lim)
}

func decodeTurbo(data []byte, lim Limits, minSide int) (Decoded, error) {
	d := Decoded{Format: JPEG, Scale: 1}
	if len(data) == 0 {
		return d, fmt.Errorf("decode jpeg: empty: %w", ErrCorrupt)
	}
	h := C.tjInitDecompress()
	if h == nil {
		return d, fmt.Errorf("decode jpeg: libjpeg-turbo init failed")
	}
	defer C.tjDestroy(h)
	src := (*C.uchar)(unsafe.Pointer(&data[0]))
	var hdr [4]C.int // width, height, subsampling, colour space
	if C.header(h, src, C.ulong(len(data)), &hdr[0]) != 0 {
		return d, fmt.Errorf("decode jpeg header: %s: %w", C.GoString(C.tjGetErrorStr2(h)), ErrCorrupt)
	}
	d.Width, d.Height = int(hdr[0]), int(hdr[1])
	if d.Width <= 0 || d.Height <= 0 {
		return d, fmt.Errorf("decode jpeg: invalid dimensions %d×%d: %w", d.Width, d.Height, ErrCorrupt)
	}
	if cs := hdr[3]; cs == C.TJCS_CMYK || cs == C.TJCS_YCCK {
		return d, fmt.Errorf("decode jpeg: CMYK: %w", ErrUnsupported)
	}
	layout, err := checkJPEGLayout(data, d.Width, d.Height, lim)
	if err != nil {
		return d, err
	}
	w, hgt := d.Width, d.Height
	for int64(w)*int64(hgt) > lim.MaxPixels {
		if d.Scale == 8 {
			return d, fmt.Errorf("decode jpeg: %d×%d is over the %d-pixel limit even at 1/8 scale: %w",
				d.Width, d.Height, lim.MaxPixels, ErrTooLarge)
		}
		d.Scale *= 2
		w, hgt = (d.Width+d.Scale-1)/d.Scale, (d.Height+d.Scale-1)/d.Scale
	}
	for minSide > 0 && d.Scale < 4 && (d.Width/(d.Scale*2)) >= minSide && (d.Height/(d.Scale*2)) >= minSide {
		d.Scale *= 2
		w, hgt = (d.Width+d.Scale-1)/d.Scale, (d.Height+d.Scale-1)/d.Scale
	}
	// The raster (one byte a pixel for greyscale files, four for colour),
	// and for progressive files libjpeg-turbo's full-size coefficient
	// buffers (checkJPEGLayout bounds those by the pixel limit).
	grey := hdr[3] == C.TJCS_GRAY
	bpp := int64(4)
	if grey {
		bpp = 1
	}
	est := int64(w) * int64(hgt) * bpp
	if layout.progressive {
		est += int64(d.Width) * int64(d.Height) * 6
	}
	release, err := reserve(context.Background(), JPEG, d.Width, d.Height, est, lim)
	if err != nil {
		return d, err
	}
	defer release()
	var (
		pix    []byte
		stride int
		pf     C.int
	)
	if grey {
		img := image.NewGray(image.Rect(0, 0, w, hgt))
		pix, stride, pf, d.Image = img.Pix, img.Stride, C.TJPF_GRAY, img
	} else {
		// Opaque RGBA (libjpeg-turbo writes alpha 0xFF): image.RGBA is a
		// type PDQ reads directly, and 4-byte pixels decode fastest.
		img := image.NewRGBA(image.Rect(0, 0, w, hgt))
		pix, stride, pf, d.Image = img.Pix, img.Stride, C.TJPF_RGBA, img
	}
	rc := C.tjDecompress2(h, src, C.ulong(len(data)), (*C.uchar)(unsafe.Pointer(&pix[0])),
		C.int(w), C.int(stride), C.int(hgt), pf, C.TJFLAG_STOPONWARNING)
	if rc != 0 {
		d.Image = nil
		return d, fmt.Errorf("decode jpeg: %s: %w", C.GoString(C.tjGetErrorStr2(h)), ErrCorrupt)
	}
	return d, nil
}
