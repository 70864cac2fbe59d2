package vpdq

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/nigehban/nigehban/internal/pdq"
)

// ErrBadSignal is returned (wrapped) by Decode for a malformed signal.
var ErrBadSignal = errors.New("invalid vPDQ signal")

// MaxSignalFrames bounds the frames a stored signal may hold.
const MaxSignalFrames = 100_000

// Encode returns the canonical bank-signal form of a video's frames: the
// python-threatexchange compact vPDQ format, a JSON list of
// "pdqhex,quality,timestamp" strings, so signals exchange with HMA. Frame
// numbers are not kept (matching does not use them). Timestamps are written
// with 3 decimals, the millisecond the reference's files keep
// (python-threatexchange writes 3 significant digits, "1.23e+02"; both
// parse either way).
func Encode(frames []Frame) string {
	items := make([]string, len(frames))
	for i, f := range frames {
		items[i] = f.PDQ.String() + "," + strconv.Itoa(f.Quality) + "," + strconv.FormatFloat(f.Timestamp, 'f', 3, 64)
	}
	b, _ := json.Marshal(items)
	return string(b)
}

// Decode parses the compact form Encode and python-threatexchange write.
// Frame numbers come back as the item's position. Unlike
// python-threatexchange it refuses an empty list (a bank signal without
// frames can never match) and non-finite timestamps.
func Decode(s string) ([]Frame, error) {
	var items []string
	if err := json.Unmarshal([]byte(s), &items); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignal, err)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%w: no frames", ErrBadSignal)
	}
	if len(items) > MaxSignalFrames {
		return nil, fmt.Errorf("%w: %d frames, at most %d", ErrBadSignal, len(items), MaxSignalFrames)
	}
	frames := make([]Frame, len(items))
	for i, it := range items {
		parts := strings.Split(it, ",")
		if len(parts) != 3 {
			return nil, fmt.Errorf("%w: frame %d: want \"hash,quality,timestamp\", got %q", ErrBadSignal, i, it)
		}
		h, err := pdq.ParseHex(parts[0])
		if err != nil {
			return nil, fmt.Errorf("%w: frame %d: %v", ErrBadSignal, i, err)
		}
		q, err := strconv.Atoi(parts[1])
		if err != nil || q < 0 || q > 100 {
			return nil, fmt.Errorf("%w: frame %d: quality %q", ErrBadSignal, i, parts[1])
		}
		ts, err := strconv.ParseFloat(parts[2], 64)
		if err != nil || !(ts >= 0) || math.IsInf(ts, 0) {
			return nil, fmt.Errorf("%w: frame %d: timestamp %q", ErrBadSignal, i, parts[2])
		}
		frames[i] = Frame{Frame: i, Timestamp: ts, Quality: q, PDQ: h}
	}
	return frames, nil
}
