// Package fingerprint reduces one input (a file, stdin, an archive member or
// an upload) to every hash Nigehban matches on: md5, sha1 and sha256 of the
// bytes, the type detected from the content, PDQ for images and vPDQ for
// videos. Its Record is the JSON line `nigehban hash` prints, the scanner's
// per-file evidence and the HTTP API's hash answer, so all three agree.
package fingerprint

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"

	"github.com/nigehban/nigehban/internal/media"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/variant"
	"github.com/nigehban/nigehban/internal/vpdq"
)

// Record is everything known about one input. Fields that do not apply are
// omitted from JSON. When Error is set the other fields hold what could be
// computed before the failure (digests of a readable but undecodable image,
// for instance).
type Record struct {
	Path   string       `json:"path"`
	Type   media.Kind   `json:"type,omitempty"`
	Format media.Format `json:"format,omitempty"`
	Size   int64        `json:"size"`
	MD5    string       `json:"md5,omitempty"`
	SHA1   string       `json:"sha1,omitempty"`
	SHA256 string       `json:"sha256,omitempty"`

	PDQ         *pdq.Hash  `json:"pdq,omitempty"`
	Quality     *int       `json:"quality,omitempty"`
	PDQDihedral []pdq.Hash `json:"pdq_dihedral,omitempty"`
	// VariantSet is the query-side variant set hashed (omitted for none);
	// Variants the hashes of those variants other than the original (whose
	// hash is PDQ), then any bank-side central crops. Rects are in the
	// image's own pixels.
	VariantSet string         `json:"variant_set,omitempty"`
	Variants   []variant.Hash `json:"pdq_variants,omitempty"`

	Width    int          `json:"width,omitempty"`
	Height   int          `json:"height,omitempty"`
	Duration float64      `json:"duration,omitempty"`
	FPS      float64      `json:"fps,omitempty"`
	VPDQ     []vpdq.Frame `json:"vpdq,omitempty"`
	// VPDQTrimmed are the query-side hashes of the video's frames that have
	// black bars, without them (vpdq.Video.Trimmed; with a variant set
	// other than none). VPDQ stays the reference's.
	VPDQTrimmed []vpdq.Frame `json:"vpdq_trimmed,omitempty"`

	Error string `json:"error,omitempty"`
}

// Options selects the work done per input. The zero value hashes everything
// with default limits.
type Options struct {
	// Dihedral adds the 8 dihedral PDQ hashes of images.
	Dihedral bool
	// Variants is the query-side variant set of images (the zero value is
	// variant.None: the reference PDQ hash only).
	Variants variant.Set
	// Crops adds the bank-side central crops of images (variant.CentralCrops).
	Crops bool
	// Limits bound image decoding (bytes, pixels).
	Limits media.Limits
	// Video is passed to vpdq.HashFile.
	Video vpdq.Options
	// SkipVideo leaves videos with cryptographic hashes only (no ffmpeg).
	SkipVideo bool
	// TempDir is where inputs without a file (stdin, archive members) are
	// spooled when ffmpeg needs a seekable file; "" means os.TempDir().
	TempDir string
}

// File fingerprints the file at path. Failures are reported in
// Record.Error; File itself never fails.
func File(ctx context.Context, path string, opts Options) Record {
	rec := Record{Path: path}
	f, err := os.Open(path)
	if err != nil {
		rec.Error = err.Error()
		return rec
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil {
		if !st.Mode().IsRegular() {
			rec.Error = fmt.Sprintf("not a regular file (%s)", st.Mode().Type())
			return rec
		}
		rec.Size = st.Size()
	}
	hashInput(ctx, &rec, f, path, opts)
	return rec
}

// Reader fingerprints the bytes of r under the given name (stdin, an
// archive member, an upload). Videos are spooled to a temporary file for
// ffmpeg, which needs to seek.
func Reader(ctx context.Context, name string, r io.Reader, opts Options) Record {
	rec := Record{Path: name}
	hashInput(ctx, &rec, r, "", opts)
	return rec
}

// hashInput fills rec from r; path is the file behind r, if there is one.
func hashInput(ctx context.Context, rec *Record, r io.Reader, path string, opts Options) {
	lim := opts.Limits
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = media.DefaultLimits.MaxBytes
	}
	head := make([]byte, media.SniffLen)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		rec.Error = fmt.Sprintf("read: %v", err)
		return
	}
	head = head[:n]
	rec.Type, rec.Format = media.Sniff(head)
	body := io.MultiReader(bytes.NewReader(head), r)

	switch {
	case rec.Type == media.Image && (rec.Size == 0 || rec.Size <= lim.MaxBytes):
		data, err := readAllLimited(body, lim.MaxBytes, rec.Size)
		if err != nil {
			d := newDigester()
			d.write(data)
			d.fill(rec, int64(len(data)))
			rec.Error = err.Error()
			return
		}
		hashImage(ctx, rec, data, opts)
	case rec.Type == media.Video && !opts.SkipVideo:
		hashVideo(ctx, rec, body, path, opts)
	default:
		if err := digestStream(ctx, rec, body, nil); err != nil {
			rec.Error = err.Error()
		} else if rec.Type == media.Image {
			rec.Error = fmt.Sprintf("image of %d bytes exceeds the %d-byte limit: not perceptually hashed", rec.Size, lim.MaxBytes)
		}
	}
}

// hashImage digests and decodes the same bytes concurrently: with one worker
// per core the digests use the time the decoder waits on nothing else.
func hashImage(ctx context.Context, rec *Record, data []byte, opts Options) {
	var wg sync.WaitGroup
	d := newDigester()
	wg.Go(func() { d.write(data) })
	err := ctx.Err()
	var dec media.Decoded
	if err == nil {
		dec, err = media.DecodeImageScaled(data, opts.Limits, media.PDQMinSide)
	}
	if err == nil {
		rec.Width, rec.Height = dec.Width, dec.Height
		var q int
		if opts.Dihedral {
			var dih pdq.Dihedral
			dih, q = pdq.HashImageDihedral(dec.Image)
			h := dih[pdq.Original]
			rec.PDQ, rec.PDQDihedral = &h, dih[:]
		} else {
			res := pdq.HashImage(dec.Image)
			rec.PDQ, q = &res.Hash, res.Quality
		}
		rec.Quality = &q
		if opts.Variants != variant.None || opts.Crops {
			addVariants(rec, dec, opts)
		}
	}
	wg.Wait()
	d.fill(rec, int64(len(data)))
	if err != nil {
		rec.Error = err.Error()
	}
}

// addVariants adds the query-side variants other than the original and the
// central crops, their rectangles scaled to the image's own pixels.
func addVariants(rec *Record, dec media.Decoded, opts Options) {
	var vs []variant.Hash
	if opts.Variants != variant.None {
		rec.VariantSet = opts.Variants.String()
		vs = variant.Hashes(dec.Image, opts.Variants)[1:]
	}
	if opts.Crops {
		vs = append(vs, variant.CentralCrops(dec.Image)...)
	}
	for i := range vs {
		if r := vs[i].Rect; r != nil && dec.Scale > 1 {
			s := dec.Scale
			vs[i].Rect = &variant.Rect{r[0] * s, r[1] * s, min(r[2]*s, dec.Width), min(r[3]*s, dec.Height)}
		}
	}
	rec.Variants = vs
}

// hashVideo digests the stream (spooling it to a temporary file when there is
// no file behind it) and hashes the video with ffmpeg.
func hashVideo(ctx context.Context, rec *Record, body io.Reader, path string, opts Options) {
	if path == "" {
		tmp, err := os.CreateTemp(opts.TempDir, "nigehban-video-*")
		if err != nil {
			rec.Error = fmt.Sprintf("spool video: %v", err)
			return
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		path = tmp.Name()
		if err := digestStream(ctx, rec, body, tmp); err != nil {
			rec.Error = err.Error()
			return
		}
		if err := tmp.Sync(); err != nil {
			rec.Error = fmt.Sprintf("spool video: %v", err)
			return
		}
	} else if err := digestStream(ctx, rec, body, nil); err != nil {
		rec.Error = err.Error()
		return
	}
	v, err := vpdq.HashFile(ctx, path, VideoOptions(opts.Video, opts.Variants))
	if err != nil {
		rec.Error = err.Error()
		return
	}
	rec.Width, rec.Height, rec.Duration, rec.FPS, rec.VPDQ = v.Width, v.Height, v.Duration, v.FPS, v.Frames
	rec.VPDQTrimmed = v.Trimmed
	if opts.Variants != variant.None {
		rec.VariantSet = opts.Variants.String()
	}
}

// VideoOptions returns the vPDQ options with the query-side variants of
// set: every set but variant.None trims black bars (vpdq.Options.TrimBorders),
// since a letterboxed or pillarboxed copy is the video form of an image's
// borders.
func VideoOptions(o vpdq.Options, set variant.Set) vpdq.Options {
	if set != variant.None {
		o.TrimBorders = true
	}
	return o
}

// readAllLimited reads r whole, refusing more than max bytes; size is a hint.
func readAllLimited(r io.Reader, max, size int64) ([]byte, error) {
	buf := bytes.NewBuffer(make([]byte, 0, min(max, max64(size, 64<<10))+1))
	n, err := buf.ReadFrom(io.LimitReader(r, max+1))
	if err != nil {
		return buf.Bytes(), fmt.Errorf("read: %w", err)
	}
	if n > max {
		return buf.Bytes(), fmt.Errorf("image larger than the %d-byte limit: %w", max, media.ErrTooLarge)
	}
	return buf.Bytes(), nil
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// chunkSize is the unit the three digests share when streaming.
const chunkSize = 1 << 20

// digestStream computes the three digests of r, copying to tee when it is
// not nil, and checks ctx between chunks.
func digestStream(ctx context.Context, rec *Record, r io.Reader, tee io.Writer) error {
	d := newDigester()
	bufs := [2][]byte{make([]byte, chunkSize), make([]byte, chunkSize)}
	var total int64
	var wg sync.WaitGroup
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			wg.Wait()
			return err
		}
		buf := bufs[i%2]
		n, err := io.ReadFull(r, buf)
		wg.Wait() // the previous chunk is digested; its buffer is free again
		if n > 0 {
			total += int64(n)
			chunk := buf[:n]
			if tee != nil {
				if _, werr := tee.Write(chunk); werr != nil {
					return fmt.Errorf("spool: %w", werr)
				}
			}
			wg.Go(func() { d.write(chunk) })
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			wg.Wait()
			d.fill(rec, total)
			return fmt.Errorf("read: %w", err)
		}
	}
	wg.Wait()
	d.fill(rec, total)
	return nil
}

// digester runs md5, sha1 and sha256 over the same bytes in parallel: one
// goroutine each is about twice as fast as one io.MultiWriter, since md5 is
// inherently serial and the slowest.
type digester struct{ h [3]hash.Hash }

func newDigester() *digester {
	return &digester{h: [3]hash.Hash{md5.New(), sha1.New(), sha256.New()}}
}

// parallelMin is the size under which goroutines cost more than they save.
const parallelMin = 64 << 10

func (d *digester) write(p []byte) {
	if len(p) < parallelMin {
		for _, h := range d.h {
			h.Write(p)
		}
		return
	}
	var wg sync.WaitGroup
	for _, h := range d.h[1:] {
		wg.Go(func() { h.Write(p) })
	}
	d.h[0].Write(p)
	wg.Wait()
}

func (d *digester) fill(rec *Record, size int64) {
	rec.Size = size
	rec.MD5 = hex.EncodeToString(d.h[0].Sum(nil))
	rec.SHA1 = hex.EncodeToString(d.h[1].Sum(nil))
	rec.SHA256 = hex.EncodeToString(d.h[2].Sum(nil))
}
