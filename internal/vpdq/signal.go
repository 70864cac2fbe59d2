package vpdq

import (
	"errors"
	"fmt"

	"github.com/nigehban/nigehban/internal/signal"
)

// ErrBadSignal is returned (wrapped) by Decode for a malformed signal; the
// error also wraps signal.ErrBadValue.
var ErrBadSignal = errors.New("invalid vPDQ signal")

// MaxSignalFrames bounds the frames a stored signal may hold.
const MaxSignalFrames = signal.MaxVPDQFrames

// Encode returns the canonical bank-signal form of a video's frames: the
// python-threatexchange compact vPDQ format (internal/signal.FormatVPDQ), a
// JSON list of "pdqhex,quality,timestamp" strings, so signals exchange with
// HMA. Frame numbers are not kept (matching does not use them). Timestamps
// are written with 3 decimals, the millisecond the reference's files keep
// (python-threatexchange writes 3 significant digits, "1.23e+02"; both
// parse either way).
func Encode(frames []Frame) string { return signal.FormatVPDQ(frames) }

// Decode parses the compact form Encode and python-threatexchange write
// (internal/signal.ParseVPDQ). Frame numbers come back as the item's
// position. Unlike python-threatexchange it refuses an empty list (a bank
// signal without frames can never match) and non-finite timestamps.
func Decode(s string) ([]Frame, error) {
	frames, err := signal.ParseVPDQ(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSignal, err)
	}
	return frames, nil
}
