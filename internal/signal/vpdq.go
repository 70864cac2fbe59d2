package signal

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/nigehban/nigehban/internal/pdq"
)

// Frame is one hashed frame of a video: what internal/vpdq produces and a
// vPDQ value holds (vpdq.Frame is this type).
type Frame struct {
	// Frame is the frame's number in decode order, from 0. The compact
	// form does not keep it: ParseVPDQ numbers frames by their position.
	Frame     int      `json:"frame"`
	Timestamp float64  `json:"timestamp"` // seconds from the start
	Quality   int      `json:"quality"`   // 0..100
	PDQ       pdq.Hash `json:"pdq"`
}

// ParseVPDQ parses a vPDQ value (the compact form described in the package
// doc; surrounding space is ignored). Errors wrap ErrBadValue and name the
// first bad frame.
func ParseVPDQ(v string) ([]Frame, error) {
	items, err := vpdqItems(Trim(v))
	if err != nil {
		return nil, err
	}
	frames := make([]Frame, len(items))
	for i, it := range items {
		if frames[i], err = parseFrame(i, it); err != nil {
			return nil, err
		}
	}
	return frames, nil
}

// FormatVPDQ returns the canonical vPDQ value of frames: timestamps with
// three decimals (the millisecond the reference's files keep).
func FormatVPDQ(frames []Frame) string {
	items := make([]string, len(frames))
	for i, f := range frames {
		items[i] = f.PDQ.String() + "," + strconv.Itoa(f.Quality) + "," + strconv.FormatFloat(f.Timestamp, 'f', 3, 64)
	}
	b, _ := json.Marshal(items) // []string: cannot fail
	return string(b)
}

// normalizeVPDQ validates every frame of a trimmed vPDQ value and returns
// it without white space between tokens and with lower-case hex.
func normalizeVPDQ(v string) (string, error) {
	items, err := vpdqItems(v)
	if err != nil {
		return "", err
	}
	for i, it := range items {
		if _, err := parseFrame(i, it); err != nil {
			return "", err
		}
		if hex, rest, _ := strings.Cut(it, ","); strings.ToLower(hex) != hex {
			items[i] = strings.ToLower(hex) + "," + rest
		}
	}
	b, err := json.Marshal(items)
	if err != nil {
		return "", fmt.Errorf("%w: vpdq: %v", ErrBadValue, err)
	}
	return string(b), nil
}

func vpdqItems(v string) ([]string, error) {
	if len(v) > MaxVPDQLen {
		return nil, fmt.Errorf("%w: vpdq of %d bytes, at most %d", ErrBadValue, len(v), MaxVPDQLen)
	}
	if !strings.HasPrefix(v, "[") {
		return nil, fmt.Errorf("%w: vpdq: want a JSON list of \"pdqhex,quality,seconds\" strings, got %q", ErrBadValue, truncate(v))
	}
	var items []string
	if err := json.Unmarshal([]byte(v), &items); err != nil {
		return nil, fmt.Errorf("%w: vpdq: want a JSON list of \"pdqhex,quality,seconds\" strings: %v", ErrBadValue, err)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%w: vpdq: no frames (a video without frames can never match)", ErrBadValue)
	}
	if len(items) > MaxVPDQFrames {
		return nil, fmt.Errorf("%w: vpdq: %d frames, at most %d", ErrBadValue, len(items), MaxVPDQFrames)
	}
	return items, nil
}

func parseFrame(i int, it string) (Frame, error) {
	parts := strings.Split(it, ",")
	if len(parts) != 3 {
		return Frame{}, fmt.Errorf("%w: vpdq frame %d: want \"pdqhex,quality,seconds\", got %q", ErrBadValue, i, truncate(it))
	}
	h, err := pdq.ParseHex(parts[0])
	if err != nil {
		return Frame{}, fmt.Errorf("%w: vpdq frame %d: %v", ErrBadValue, i, err)
	}
	q, err := strconv.Atoi(parts[1])
	if err != nil || q < 0 || q > 100 {
		return Frame{}, fmt.Errorf("%w: vpdq frame %d: quality %q, want an integer 0..100", ErrBadValue, i, truncate(parts[1]))
	}
	ts, err := strconv.ParseFloat(parts[2], 64)
	if err != nil || !(ts >= 0) || math.IsInf(ts, 0) {
		return Frame{}, fmt.Errorf("%w: vpdq frame %d: timestamp %q, want seconds ≥ 0", ErrBadValue, i, truncate(parts[2]))
	}
	return Frame{Frame: i, PDQ: h, Quality: q, Timestamp: ts}, nil
}
