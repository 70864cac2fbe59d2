package hasher

import (
	"errors"
	"fmt"

	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/vpdq/yuv"
)

// ErrFrameFormat is returned for a VideoFrame pixel format HashFrameYUV
// does not take; the page then hashes the frame through RGBA instead.
var ErrFrameFormat = errors.New("unsupported frame format")

// YUVFrame describes a video frame copied out of the browser in its own
// planes (VideoFrame.copyTo over its visibleRect): the WebCodecs pixel
// format, the size, each plane's offset and stride in the buffer (from the
// returned PlaneLayouts), and the colours the stream declares (from
// VideoTiming, not the browser's VideoColorSpace, which guesses for a
// stream that declares none).
type YUVFrame struct {
	Format  string `json:"format"` // I420, I420A, I422, NV12
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	Offsets []int  `json:"offsets"`
	Strides []int  `json:"strides"`
	// Matrix is the H.273 matrix_coefficients code (VideoTiming.Matrix).
	Matrix    int  `json:"matrix"`
	FullRange bool `json:"full_range"`
}

// matrixOf is the matrix libswscale converts a stream tagged with H.273
// code c by: its own tables for BT.709, FCC, SMPTE 240M and BT.2020, and
// BT.601 for the rest (unspecified, reserved, BT.601's two codes, YCgCo
// and codes past BT.2020). RGB-coded (0) streams are decoded to RGB planes
// by ffmpeg, not converted: refused.
func matrixOf(c int) (yuv.Matrix, bool) {
	switch c {
	case MatrixRGB:
		return 0, false
	case MatrixBT709:
		return yuv.BT709, true
	case 4:
		return yuv.FCC, true
	case 7:
		return yuv.SMPTE240M, true
	case 9, 10:
		return yuv.BT2020, true
	}
	return yuv.BT601, true
}

// planes checks f against the buffer and returns its planes.
func (f YUVFrame) planes(data []byte) (yuv.Planes, yuv.Matrix, error) {
	p := yuv.Planes{Width: f.Width, Height: f.Height}
	m, ok := matrixOf(f.Matrix)
	if !ok {
		return p, 0, fmt.Errorf("colour matrix %d: %w", f.Matrix, ErrFrameFormat)
	}
	want := 3
	switch f.Format {
	case "I420":
	case "I420A":
		want = 4 // the alpha plane is ignored
	case "I422":
		p.Sub = yuv.S422
	case "NV12":
		want, p.ChromaStep = 2, 2
	default:
		return p, 0, fmt.Errorf("%q: %w", f.Format, ErrFrameFormat)
	}
	if len(f.Offsets) != want || len(f.Strides) != want {
		return p, 0, fmt.Errorf("%s frame with %d offsets and %d strides: %w", f.Format, len(f.Offsets), len(f.Strides), yuv.ErrLayout)
	}
	plane := func(i, extra int) ([]byte, error) {
		o := f.Offsets[i] + extra
		if o < 0 || o > len(data) {
			return nil, fmt.Errorf("plane %d at offset %d of %d bytes: %w", i, o, len(data), yuv.ErrLayout)
		}
		return data[o:], nil
	}
	var err error
	if p.Y, err = plane(0, 0); err != nil {
		return p, 0, err
	}
	p.YStride = f.Strides[0]
	if p.U, err = plane(1, 0); err != nil {
		return p, 0, err
	}
	p.UStride = f.Strides[1]
	if f.Format == "NV12" {
		if p.V, err = plane(1, 1); err != nil {
			return p, 0, err
		}
		p.VStride = f.Strides[1]
	} else {
		if p.V, err = plane(2, 0); err != nil {
			return p, 0, err
		}
		p.VStride = f.Strides[2]
	}
	return p, m, nil
}

// HashFrameYUV hashes a video frame given in its decoded planes. The
// planes are converted to RGB exactly as ffmpeg converts them for
// `nigehban hash` (internal/vpdq/yuv), so the same decoded frame gives the
// same PDQ bit for bit. rgb is a scratch buffer it may grow and return.
func HashFrameYUV(h *pdq.Hasher, data []byte, f YUVFrame, rgb []byte) (Frame, []byte, error) {
	p, m, err := f.planes(data)
	if err != nil {
		return Frame{}, rgb, err
	}
	rgb, err = yuv.RGB24(rgb, p, m, f.FullRange)
	if err != nil {
		return Frame{}, rgb, err
	}
	r, err := h.HashRGB(rgb, f.Width, f.Height)
	if err != nil {
		return Frame{}, rgb, err
	}
	return Frame{PDQ: r.Hash.String(), Quality: r.Quality}, rgb, nil
}
