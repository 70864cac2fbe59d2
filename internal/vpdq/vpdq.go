// Package vpdq hashes videos the way Meta's vPDQ reference does — PDQ of
// sampled frames, decoded at full resolution — and matches two videos by
// the reference rule: the share of query frames and of target frames that
// have a close frame in the other video.
//
// Frames come from Debian's ffmpeg run as a subprocess (no cgo, and its GPL
// stays out of our binary), streamed as raw RGB24 through a pipe and hashed
// while decoding continues. Every run has a timeout and limits on frames
// and frame size, so corrupt, truncated or hostile files end in a clear
// error, never a hang.
package vpdq

import (
	"runtime"
	"time"

	"github.com/nigehban/nigehban/internal/signal"
)

// Frame is the PDQ hash of one sampled video frame: its number in decode
// order, its timestamp (frame / fps in float32, as the reference), quality
// and hash. It is internal/signal's Frame, so hashing, bank values and
// matching share one type.
type Frame = signal.Frame

// Video is the vPDQ hash of a video with the stream facts callers report.
type Video struct {
	Duration float64 `json:"duration"` // seconds
	Width    int     `json:"width"`
	Height   int     `json:"height"`
	FPS      float64 `json:"fps"`
	Codec    string  `json:"codec,omitempty"`
	Frames   []Frame `json:"vpdq"`
	// Trimmed holds, with Options.TrimBorders, the hashes of the frames
	// that have black bars, taken without them: one per such frame, in
	// frame order, numbered and timed as the frame itself.
	Trimmed []Frame `json:"vpdq_trimmed,omitempty"`
}

// Options controls sampling, pruning and the limits that keep hostile input
// from hanging or exhausting the machine. The zero value means the defaults.
type Options struct {
	// SecondsPerHash is the sampling interval: one frame every
	// int(SecondsPerHash·fps) frames. 0 means the default, 1 s (the common
	// use of the reference); negative means every frame (the reference CLI's
	// -r 0, used for its sample hash files).
	SecondsPerHash float64
	// Downsample > 0 scales frames to N×N before hashing (reference -s N).
	Downsample int
	// Prune drops each frame whose hash is within PruneDistance of the last
	// retained frame (the vPDQ README's "pruning frames"; PruneDistance 0
	// drops exact consecutive repeats only). Off by default, as upstream:
	// neither the C++ hasher nor python-threatexchange prunes, and signals
	// stay comparable with theirs frame for frame. Matching already counts
	// identical hashes once, so exact pruning changes no match result; a
	// positive distance shrinks stored signals at some cost in recall.
	Prune         bool
	PruneDistance int
	// CropBorders hashes each frame without its black bars (rows and
	// columns at the edges whose mean luma is ≤ 24, as ffmpeg's cropdetect;
	// never more than half of a side). Off by default: the reference hashes
	// whole frames, and only signals made the same way compare. On both
	// sides it lets a letterboxed or pillarboxed copy match its bar-free
	// original, which whole-frame PDQ does not (the sample set's "bar"
	// clips: 0 % against the bar-free clip without it, 100 % with it).
	CropBorders bool
	// TrimBorders hashes, beside each frame as it is, its content without
	// black bars when it has bars that trimming removes (a trim of at least
	// minTrim of a side; the bars as CropBorders finds them): Video.Trimmed.
	// The frames themselves stay the reference's, so this is for queries
	// (MatchTrimmed, internal/match): a letterboxed or pillarboxed copy
	// then matches its bar-free original's plain bank hash. Ignored with
	// CropBorders, which replaces the frames instead.
	TrimBorders bool
	// MaxFrames bounds the frames hashed (default 100,000: about 28 hours at
	// 1 frame per second).
	MaxFrames int
	// MaxFramePixels bounds width×height (default 8192×8192), checked from
	// the stream header before anything is decoded.
	MaxFramePixels int64
	// MaxDuration bounds the stream duration in seconds (default 24 h).
	MaxDuration float64
	// MaxDecodedFrames bounds the frames ffmpeg must decode, sampled or not
	// (duration × frame rate, from the header; default 10,000,000, about 46
	// hours at 60 fps). Decoding dominates the cost: a tiny 100 fps video
	// is cheap to store but costs a frame decode every 10 ms of its length,
	// so a service taking uploads sets this far lower.
	MaxDecodedFrames int64
	// Timeout bounds the whole decode; 0 means 2 minutes plus 2× the
	// stream's duration.
	Timeout time.Duration
	// Workers hashing frames in parallel with decoding (default: the
	// cores divided among the videos being decoded at the time).
	Workers int
}

func (o Options) withDefaults() Options {
	if o.SecondsPerHash == 0 {
		o.SecondsPerHash = 1
	}
	if o.MaxFrames <= 0 {
		o.MaxFrames = 100_000
	}
	if o.MaxFramePixels <= 0 {
		o.MaxFramePixels = 8192 * 8192
	}
	if o.MaxDuration <= 0 {
		o.MaxDuration = 24 * 3600
	}
	if o.MaxDecodedFrames <= 0 {
		o.MaxDecodedFrames = 10_000_000
	}
	if o.Workers <= 0 {
		o.Workers = runtime.NumCPU()
	}
	return o
}
