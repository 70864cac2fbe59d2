package media

import (
	"bytes"
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
	if err := checkJPEGLayout(data, cfg.Width, cfg.Height, lim); err != nil {
		return d, err
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return d, fmt.Errorf("decode jpeg: %v: %w", err, ErrCorrupt)
	}
	d.Image, d.Width, d.Height = img, cfg.Width, cfg.Height
	return d, nil
}
