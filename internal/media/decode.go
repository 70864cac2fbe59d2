package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/png"
	"io"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// Errors callers branch on; returned wrapped with detail.
var (
	// ErrUnsupported means the content is recognised (or not) but cannot be
	// decoded by this build, e.g. HEIC, or not an image at all.
	ErrUnsupported = errors.New("unsupported format")
	// ErrTooLarge means the input or its decoded raster exceeds Limits: a
	// decompression bomb, or simply too big to hash safely.
	ErrTooLarge = errors.New("too large")
	// ErrCorrupt means the data is malformed or truncated.
	ErrCorrupt = errors.New("corrupt or truncated")
)

// Limits bound what decoding may consume. The zero value of a field means
// the default.
type Limits struct {
	// MaxBytes is the largest encoded input accepted.
	MaxBytes int64
	// MaxPixels is the largest decoded raster (width × height). JPEGs over it
	// are decoded scaled down in the DCT domain when the decoder can
	// (libjpeg-turbo; without cgo, baseline JPEGs by the reduced decoder at
	// 1/4 or 1/8), which keeps memory bounded on 100-megapixel photos; other
	// images over it are refused with ErrTooLarge before any pixel is
	// allocated.
	MaxPixels int64
	// MaxDecodeBytes is the most memory one decode may need by its
	// header's estimate (raster at its bit depth and channels, plus what the
	// decoder keeps beside it); images over it are refused with ErrTooLarge
	// before any pixel is allocated. See also SetDecodeBudget.
	MaxDecodeBytes int64
}

// DefaultLimits are generous for photos (a 256 MiB file, 64 megapixels ≈
// 64 MiB of grey or 192 MiB of RGB raster) and still bound memory per worker.
// A 16-bit RGBA raster needs 8 bytes a pixel, so MaxDecodeBytes, not
// MaxPixels, is what refuses a small file declaring a huge deep image.
var DefaultLimits = Limits{MaxBytes: 256 << 20, MaxPixels: 64 << 20, MaxDecodeBytes: 256 << 20}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultLimits.MaxPixels
	}
	if l.MaxDecodeBytes <= 0 {
		l.MaxDecodeBytes = DefaultLimits.MaxDecodeBytes
	}
	return l
}

// Decoded is a decoded image with the facts callers report.
type Decoded struct {
	Image  image.Image
	Format Format
	// Width and Height are the image's own dimensions, which differ from
	// Image's bounds when it was decoded scaled down (Scale > 1).
	Width, Height int
	// Scale is the DCT-domain reduction applied (1 = none; 2, 4 or 8).
	Scale int
}

// DecodeImage decodes an image held in memory at full size (or scaled down
// only as far as Limits.MaxPixels requires). Corrupt, truncated or oversized
// input returns an error wrapping ErrCorrupt, ErrTooLarge or ErrUnsupported;
// it never panics.
func DecodeImage(data []byte, lim Limits) (Decoded, error) {
	return DecodeImageScaled(data, lim, 0)
}

// PDQMinSide is the MinSide that keeps PDQ hashes faithful: the reference
// resizes any image with a side over 512 to 512×512 by nearest neighbour, so
// a raster with both sides ≥ 512 still supplies every sampled pixel.
const PDQMinSide = 512

// DecodeImageScaled is DecodeImage for callers that only need a raster with
// both sides of at least minSide pixels: JPEGs are then decoded at 1/2 or 1/4
// scale in the DCT domain when the decoder can and both scaled sides stay ≥
// minSide, which skips most of the inverse DCT work (about 25% less decoding
// time on 5–20 megapixel photos with libjpeg-turbo). With cgo libjpeg-turbo
// scales by 1/2 and 1/4; without cgo (the /protect page's WebAssembly) a
// pure-Go reduced decoder scales baseline JPEGs by 1/4 only, with
// libjpeg-turbo's pixels at that scale (jpeg_reduced.go), and other JPEGs
// are decoded at full size. Other formats ignore minSide. Decoded.Scale says
// what was applied; minSide ≤ 0 means full size.
func DecodeImageScaled(data []byte, lim Limits, minSide int) (d Decoded, err error) {
	lim = lim.withDefaults()
	if int64(len(data)) > lim.MaxBytes {
		return d, fmt.Errorf("image of %d bytes exceeds the %d-byte limit: %w", len(data), lim.MaxBytes, ErrTooLarge)
	}
	_, f := Sniff(data[:min(len(data), SniffLen)])
	d.Format = f
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decode %s: decoder panic: %v: %w", f, r, ErrCorrupt)
		}
	}()
	switch f {
	case JPEG:
		return decodeJPEG(data, lim, minSide)
	case PNG:
		return decodeStd(data, f, lim, png.DecodeConfig, png.Decode)
	case GIF:
		return decodeStd(data, f, lim, gif.DecodeConfig, gif.Decode)
	case WebP:
		return decodeStd(data, f, lim, webp.DecodeConfig, webp.Decode)
	case BMP:
		return decodeStd(data, f, lim, bmp.DecodeConfig, bmp.Decode)
	case TIFF:
		return decodeStd(data, f, lim, tiff.DecodeConfig, tiff.Decode)
	case Unknown:
		return d, fmt.Errorf("not a recognised image: %w", ErrUnsupported)
	}
	return d, fmt.Errorf("decode %s: no decoder in this build: %w", f, ErrUnsupported)
}

type (
	configFunc func(io.Reader) (image.Config, error)
	decodeFunc func(io.Reader) (image.Image, error)
)

// checkDims refuses rasters over the pixel limit before they are allocated.
func checkDims(f Format, w, h int, lim Limits) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("decode %s: invalid dimensions %d×%d: %w", f, w, h, ErrCorrupt)
	}
	if int64(w)*int64(h) > lim.MaxPixels {
		return fmt.Errorf("decode %s: %d×%d = %d pixels exceeds the %d-pixel limit: %w",
			f, w, h, int64(w)*int64(h), lim.MaxPixels, ErrTooLarge)
	}
	return nil
}

func decodeStd(data []byte, f Format, lim Limits, config configFunc, decode decodeFunc) (Decoded, error) {
	d := Decoded{Format: f, Scale: 1}
	cfg, err := config(bytes.NewReader(data))
	if err != nil {
		return d, fmt.Errorf("decode %s header: %v: %w", f, err, ErrCorrupt)
	}
	if err := checkDims(f, cfg.Width, cfg.Height, lim); err != nil {
		return d, err
	}
	release, err := reserve(context.Background(), f, cfg.Width, cfg.Height, estimateStd(f, cfg), lim)
	if err != nil {
		return d, err
	}
	defer release()
	r := &countingReader{r: bytes.NewReader(data)}
	img, err := decode(r)
	if err != nil {
		return d, fmt.Errorf("decode %s: %v: %w", f, err, ErrCorrupt)
	}
	b := img.Bounds()
	if err := checkDims(f, b.Dx(), b.Dy(), lim); err != nil {
		return d, err
	}
	d.Image, d.Width, d.Height = img, b.Dx(), b.Dy()
	return d, nil
}

// countingReader exists so decoders read through an io.Reader that is not
// an io.ByteReader-optimised view of a shared buffer; it also lets future
// limits on bytes consumed hook in one place.
type countingReader struct {
	r *bytes.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}
