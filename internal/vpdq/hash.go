package vpdq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/nigehban/nigehban/internal/pdq"
)

// HashFile decodes the first video stream of the file at path with ffmpeg
// and returns its vPDQ hash: one Frame per sampled frame, in frame order,
// pruned only when Options.Prune asks.
func HashFile(ctx context.Context, path string, opts Options) (*Video, error) {
	workersGiven := opts.Workers > 0
	opts = opts.withDefaults()
	release, err := acquireSlot(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if !workersGiven {
		// Videos decoded at once share the cores: each hashes its frames on
		// its share, so several decodes do not oversubscribe the CPU.
		opts.Workers = sharedWorkers()
	}
	si, err := probe(ctx, path)
	if err != nil {
		return nil, err
	}
	v := &Video{Duration: si.Duration, Width: si.Width, Height: si.Height, FPS: si.FPS, Codec: si.Codec}
	if int64(si.Width)*int64(si.Height) > opts.MaxFramePixels {
		return nil, fmt.Errorf("frame %d×%d exceeds %d pixels: %w", si.Width, si.Height, opts.MaxFramePixels, ErrTooLarge)
	}
	if si.Duration > opts.MaxDuration {
		return nil, fmt.Errorf("duration %.0f s exceeds %.0f s: %w", si.Duration, opts.MaxDuration, ErrTooLarge)
	}
	if n := si.Duration * si.FPS; n > float64(opts.MaxDecodedFrames) {
		return nil, fmt.Errorf("%.0f s at %.4g fps is %.0f frames to decode, over the %d-frame limit: %w",
			si.Duration, si.FPS, n, opts.MaxDecodedFrames, ErrTooLarge)
	}
	frameMod := 1
	if opts.SecondsPerHash > 0 {
		// Capped so a huge interval cannot overflow: it then samples frame 0.
		frameMod = int(max(min(opts.SecondsPerHash*si.FPS, 1<<30), 1))
	}
	w, h := si.Width, si.Height
	if opts.Downsample > 0 {
		w, h = opts.Downsample, opts.Downsample
		if int64(w)*int64(h) > opts.MaxFramePixels {
			return nil, fmt.Errorf("downsample %d×%d exceeds %d pixels: %w", w, h, opts.MaxFramePixels, ErrTooLarge)
		}
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 2*time.Minute + time.Duration(2*si.Duration*float64(time.Second))
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	frames, trimmed, err := decodeAndHash(ctx, path, si.FPS, frameMod, w, h, opts)
	if err != nil {
		return nil, err
	}
	if opts.Prune {
		frames = Prune(frames, opts.PruneDistance)
		trimmed = keepFrames(trimmed, frames)
	}
	v.Frames, v.Trimmed = frames, trimmed
	return v, nil
}

// keepFrames returns the trimmed frames whose frame is among frames (both
// in frame order).
func keepFrames(trimmed, frames []Frame) []Frame {
	out := trimmed[:0]
	i := 0
	for _, t := range trimmed {
		for i < len(frames) && frames[i].Frame < t.Frame {
			i++
		}
		if i < len(frames) && frames[i].Frame == t.Frame {
			out = append(out, t)
		}
	}
	return out
}

// ffmpegArgs builds the decode command: the first video stream, no
// auto-rotation (the reference hashes stored pixels), frames passed through
// without rate conversion, unsampled frames dropped before RGB conversion,
// and libswscale's plain SWS_AREA as the reference's scaler uses (flags=area,
// without accurate_rnd: with it the RGB differs in low bits and only about
// 42 % of frame hashes equal the reference's; with plain area they are
// identical).
// Every frame is scaled to w×h — the probed size, or the downsample square
// — so a stream that changes resolution midway cannot put the pipe's frame
// boundaries out of step (at the probed size the scaler only converts to
// RGB: the bytes are those of ffmpeg's own conversion).
func ffmpegArgs(path string, frameMod, w, h, maxFrames int) []string {
	args := []string{"-nostdin", "-hide_banner", "-v", "error", "-noautorotate", "-i", path,
		"-map", "0:v:0", "-an", "-sn", "-dn", "-fps_mode", "passthrough", "-sws_flags", "area"}
	vf := fmt.Sprintf("scale=%d:%d:flags=area", w, h)
	if frameMod > 1 {
		vf = fmt.Sprintf(`select=not(mod(n\,%d)),`, frameMod) + vf
	}
	return append(args, "-vf", vf, "-frames:v", fmt.Sprint(maxFrames+1), "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1")
}

type job struct {
	seq int
	buf []byte
}

// decodeAndHash streams frames from ffmpeg and hashes them on opts.Workers
// goroutines while decoding goes on; frame buffers are recycled.
func decodeAndHash(ctx context.Context, path string, fps float64, frameMod, w, h int, opts Options) (frames, trimmed []Frame, err error) {
	bin, err := exec.LookPath("ffmpeg")
	if err != nil {
		return nil, nil, ErrNoFFmpeg
	}
	cmd := exec.CommandContext(ctx, bin, ffmpegArgs(path, frameMod, w, h, opts.MaxFrames)...)
	stderr := &limitedBuffer{max: 4096}
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, fmt.Errorf("ffmpeg: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start ffmpeg: %w", err)
	}

	frameSize := w * h * 3
	free := make(chan []byte, opts.Workers*2)
	for range cap(free) {
		free <- make([]byte, frameSize)
	}
	jobs := make(chan job)
	var (
		mu      sync.Mutex
		results []Frame
		trims   []trimmedFrame
		hashErr error
		wg      sync.WaitGroup
	)
	for range opts.Workers {
		wg.Go(func() {
			hasher := pdq.NewHasher()
			var cropped []byte
			for j := range jobs {
				pix, cw, ch := j.buf, w, h
				if opts.CropBorders {
					if x0, y0, x1, y1 := borders(pix, w, h); x1-x0 != w || y1-y0 != h {
						cropped = cropRGB(cropped, pix, w, x0, y0, x1, y1)
						pix, cw, ch = cropped, x1-x0, y1-y0
					}
				}
				r, herr := hasher.HashRGB(pix, cw, ch)
				n := j.seq * frameMod
				var trim *Frame
				if opts.TrimBorders && !opts.CropBorders && herr == nil {
					if x0, y0, x1, y1 := borders(pix, w, h); trimWorthwhile(x0, y0, x1, y1, w, h) {
						cropped = cropRGB(cropped, pix, w, x0, y0, x1, y1)
						var tr pdq.Result
						tr, herr = hasher.HashRGB(cropped, x1-x0, y1-y0)
						trim = &Frame{Frame: n, Timestamp: timestamp(n, fps), Quality: tr.Quality, PDQ: tr.Hash}
					}
				}
				free <- j.buf
				f := Frame{Frame: n, Timestamp: timestamp(n, fps), Quality: r.Quality, PDQ: r.Hash}
				mu.Lock()
				if herr != nil && hashErr == nil {
					hashErr = fmt.Errorf("hash frame %d: %w", n, herr) // sizes are ours: a bug if seen
				}
				if trim != nil {
					trims = append(trims, trimmedFrame{j.seq, *trim})
				}
				if len(results) <= j.seq {
					results = append(results, make([]Frame, j.seq+1-len(results))...)
				}
				results[j.seq] = f
				mu.Unlock()
			}
		})
	}

	var readErr error
	count := 0
	for ; ; count++ {
		var buf []byte
		select {
		case buf = <-free:
		case <-ctx.Done():
		}
		if buf == nil {
			readErr = ctx.Err()
			break
		}
		if _, err := io.ReadFull(stdout, buf); err != nil {
			free <- buf
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				readErr = fmt.Errorf("read frames: %w", err)
			}
			break // a partial last frame from a truncated stream is dropped
		}
		if count >= opts.MaxFrames {
			free <- buf
			readErr = fmt.Errorf("more than %d sampled frames: %w", opts.MaxFrames, ErrTooLarge)
			break
		}
		jobs <- job{seq: count, buf: buf}
	}
	close(jobs)
	wg.Wait()
	if readErr != nil {
		_ = cmd.Process.Kill()
	}
	waitErr := cmd.Wait()
	switch {
	case ctx.Err() != nil:
		return nil, nil, fmt.Errorf("decode %s: %w (after %d frames)", path, ctx.Err(), count)
	case readErr != nil:
		return nil, nil, readErr
	case hashErr != nil:
		return nil, nil, hashErr
	case waitErr != nil:
		return nil, nil, fmt.Errorf("ffmpeg: %s (after %d frames): %w", firstLine(stderr.String(), waitErr), count, ErrNotVideo)
	case count == 0:
		return nil, nil, fmt.Errorf("no frames decoded: %s: %w", firstLine(stderr.String(), errors.New("empty stream")), ErrNotVideo)
	}
	if len(trims) > 0 {
		slices.SortFunc(trims, func(a, b trimmedFrame) int { return a.seq - b.seq })
		trimmed = make([]Frame, len(trims))
		for i, t := range trims {
			trimmed[i] = t.f
		}
	}
	return results[:count], trimmed, nil
}

// trimmedFrame is a frame's trimmed hash with its place in the sequence.
type trimmedFrame struct {
	seq int
	f   Frame
}

// minTrim is the least share of a side that trimming must remove for a
// frame to get a trimmed hash: below it the trimmed content is the frame
// itself (a dark edge line, a few pixels of overscan), hashed twice.
const minTrim = 0.04

// trimWorthwhile reports whether the content rectangle removes at least
// minTrim of the frame's width or height.
func trimWorthwhile(x0, y0, x1, y1, w, h int) bool {
	return float64(w-(x1-x0)) >= minTrim*float64(w) || float64(h-(y1-y0)) >= minTrim*float64(h)
}

// timestamp is the reference's (float)frame / (float)fps, kept to the
// millisecond its output files print.
func timestamp(frame int, fps float64) float64 {
	t := float64(float32(frame) / float32(fps))
	return math.Round(t*1000) / 1000
}

// Prune drops each frame within distance d of the last retained frame (the
// vPDQ README's "pruning frames"), keeping the first of every run.
func Prune(frames []Frame, d int) []Frame {
	if len(frames) == 0 {
		return frames
	}
	out := []Frame{frames[0]}
	for _, f := range frames[1:] {
		if pdq.Distance(f.PDQ, out[len(out)-1].PDQ) > d {
			out = append(out, f)
		}
	}
	return out
}
