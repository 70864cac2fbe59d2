package vpdq

// This file pins the video-hashing API other packages build against while
// vPDQ is written; the implementation replaces these bodies.

import (
	"context"

	"github.com/nigehban/nigehban/internal/pdq"
)

// Frame is the PDQ hash of one sampled video frame.
type Frame struct {
	Frame     int      `json:"frame"`     // frame number in decode order, from 0
	Timestamp float64  `json:"timestamp"` // seconds: frame / fps, as the reference
	Quality   int      `json:"quality"`
	PDQ       pdq.Hash `json:"pdq"`
}

// Video is the vPDQ hash of a video with the stream facts callers report.
type Video struct {
	Duration float64 `json:"duration"` // seconds
	Width    int     `json:"width"`
	Height   int     `json:"height"`
	FPS      float64 `json:"fps"`
	Frames   []Frame `json:"vpdq"`
}

// Options controls sampling and the limits that keep hostile input from
// hanging or exhausting the machine. The zero value means the defaults.
type Options struct {
	SecondsPerHash float64 // 0 = default (1 s); negative = every frame
	Downsample     int     // >0: scale frames to N×N before hashing (reference -s N)
}

// HashFile decodes the first video stream of the file at path with ffmpeg and
// returns its vPDQ hash.
func HashFile(ctx context.Context, path string, opts Options) (*Video, error) {
	panic("vpdq: not implemented")
}
