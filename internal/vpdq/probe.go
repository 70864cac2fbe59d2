package vpdq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Errors callers branch on.
var (
	// ErrNotVideo means the input has no decodable video stream.
	ErrNotVideo = errors.New("not a decodable video")
	// ErrTooLarge means the stream exceeds Options limits.
	ErrTooLarge = errors.New("video exceeds limits")
	// ErrNoFFmpeg means ffmpeg/ffprobe are not installed.
	ErrNoFFmpeg = errors.New("ffmpeg/ffprobe not found (install Debian's ffmpeg: scripts/setup)")
)

// streamInfo is what ffprobe tells about the first video stream.
type streamInfo struct {
	Width, Height int
	FPS           float64 // avg_frame_rate, or r_frame_rate when that is 0
	Duration      float64
	Codec         string
}

type probeJSON struct {
	Streams []struct {
		CodecName    string `json:"codec_name"`
		Width        int    `json:"width"`
		Height       int    `json:"height"`
		AvgFrameRate string `json:"avg_frame_rate"`
		RFrameRate   string `json:"r_frame_rate"`
		Duration     string `json:"duration"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

// probe runs ffprobe on path with a short timeout.
func probe(ctx context.Context, path string) (streamInfo, error) {
	var si streamInfo
	bin, err := exec.LookPath("ffprobe")
	if err != nil {
		return si, ErrNoFFmpeg
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height,avg_frame_rate,r_frame_rate,duration:format=duration",
		"-of", "json", "--", path)
	var stdout bytes.Buffer
	stderr := &limitedBuffer{max: 4096}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return si, fmt.Errorf("ffprobe: %w", ctx.Err())
		}
		return si, fmt.Errorf("ffprobe: %s: %w", firstLine(stderr.String(), err), ErrNotVideo)
	}
	var pj probeJSON
	if err := json.Unmarshal(stdout.Bytes(), &pj); err != nil {
		return si, fmt.Errorf("ffprobe output: %v: %w", err, ErrNotVideo)
	}
	if len(pj.Streams) == 0 {
		return si, fmt.Errorf("no video stream: %w", ErrNotVideo)
	}
	s := pj.Streams[0]
	si.Width, si.Height, si.Codec = s.Width, s.Height, s.CodecName
	si.FPS = parseRate(s.AvgFrameRate)
	if !(si.FPS > 0) {
		si.FPS = parseRate(s.RFrameRate)
	}
	si.Duration, _ = strconv.ParseFloat(s.Duration, 64)
	if !(si.Duration > 0) {
		si.Duration, _ = strconv.ParseFloat(pj.Format.Duration, 64)
	}
	if !(si.Duration > 0) || math.IsInf(si.Duration, 0) {
		si.Duration = 0 // unknown ("N/A", or nonsense): limits fall back to frame counts
	}
	if si.Width <= 0 || si.Height <= 0 {
		return si, fmt.Errorf("video stream has no dimensions (%d×%d): %w", si.Width, si.Height, ErrNotVideo)
	}
	if !(si.FPS > 0 && si.FPS <= 10000) { // also refuses NaN
		return si, fmt.Errorf("video stream has no usable frame rate (%q): %w", s.AvgFrameRate, ErrNotVideo)
	}
	return si, nil
}

// parseRate parses ffprobe's "30000/1001" or "25".
func parseRate(s string) float64 {
	num, den, ok := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0
	}
	if !ok {
		return n
	}
	d, err := strconv.ParseFloat(den, 64)
	if err != nil || d == 0 {
		return 0
	}
	return n / d
}

// limitedBuffer keeps the first max bytes written (ffmpeg can print a line
// per broken packet) and discards the rest.
type limitedBuffer struct {
	buf bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return l.buf.String() }

func firstLine(s string, fallback error) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return fallback.Error()
	}
	line, _, _ := strings.Cut(s, "\n")
	return line
}
