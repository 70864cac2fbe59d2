package media

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
)

// decodeJPEGStd decodes with the standard library, which cannot scale: JPEGs
// over the pixel limit are refused before decoding.
func decodeJPEGStd(data []byte, lim Limits) (Decoded, error) {
	d := Decoded{Format: JPEG, Scale: 1}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return d, fmt.Errorf("decode jpeg header: %v: %w", err, ErrCorrupt)
	}
	if err := checkDims(JPEG, cfg.Width, cfg.Height, lim); err != nil {
		return d, err
	}
	layout, err := checkJPEGLayout(data, cfg.Width, cfg.Height, lim)
	if err != nil {
		return d, err
	}
	// YCbCr planes (4:4:4 at worst), and for progressive files the
	// coefficients of every component (2 bytes per sample) beside them.
	est := int64(cfg.Width) * int64(cfg.Height) * 3
	if layout.progressive {
		est *= 3
	}
	release, err := reserve(context.Background(), JPEG, cfg.Width, cfg.Height, est, lim)
	if err != nil {
		return d, err
	}
	defer release()
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return d, fmt.Errorf("decode jpeg: %v: %w", err, ErrCorrupt)
	}
	d.Image, d.Width, d.Height = img, cfg.Width, cfg.Height
	return d, nil
}
