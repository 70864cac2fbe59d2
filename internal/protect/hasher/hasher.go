// Package hasher is what the /protect page runs on the person's device,
// compiled to WebAssembly (cmd/nigehban-wasm): the same PDQ code and image
// decoders the server uses (internal/pdq, internal/media's pure-Go path),
// so a hash made in a phone's browser equals `nigehban hash` on the same
// pixels. It has no platform code and is tested natively too.
//
// Images are decoded here, not by the browser: browsers apply EXIF
// orientation when they decode, the PDQ reference (and `nigehban hash`)
// hash the stored pixels. Video frames come from the browser's media
// element in their decoded Y′CbCr planes and are converted to RGB here as
// ffmpeg converts them for vPDQ (internal/vpdq/yuv), with the colours the
// stream declares (MP4Timing), then hashed at full resolution; frames in
// other pixel formats come as the browser's RGBA.
package hasher

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"

	"github.com/nigehban/nigehban/internal/media"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/variant"
)

// Image is what the page learns of one image.
type Image struct {
	Format   string    `json:"format"`
	Width    int       `json:"width"`
	Height   int       `json:"height"`
	PDQ      string    `json:"pdq"`
	Quality  int       `json:"quality"`
	Dihedral [8]string `json:"dihedral"` // the reference's --pdqdih order
	MD5      string    `json:"md5"`
	SHA256   string    `json:"sha256"`
	// Crops are the PDQ hashes of the image's central crops
	// (variant.CentralCrops, as `nigehban hash --bank-variants`): submitted
	// as bank-side variants linked to PDQ, so a copy with its borders cropped
	// off still matches.
	Crops []Crop `json:"crops"`
}

// Crop is one central crop's PDQ hash.
type Crop struct {
	Name    string `json:"name"` // "crop97" … "crop80"
	PDQ     string `json:"pdq"`
	Quality int    `json:"quality"`
}

// HashImage decodes an image file's bytes and returns its hashes. Width and
// Height are the image's own, whatever scale it was decoded at. EXIF
// orientation is not applied, as the reference CLI does not. With sha256
// false the SHA-256 is left to the caller (the page has the browser's own,
// which runs beside the decode).
func HashImage(data []byte, sha256 bool) (Image, error) {
	var im Image
	m := md5.Sum(data)
	im.MD5 = hex.EncodeToString(m[:])
	if sha256 {
		s := sha256Sum(data)
		im.SHA256 = hex.EncodeToString(s[:])
	}
	// Decoded as `nigehban hash` decodes for PDQ: large JPEGs reduced in
	// the DCT domain while both sides stay ≥ 512 (without cgo, by media's
	// pure-Go reduced decoder, which gives libjpeg-turbo's pixels).
	d, err := media.DecodeImageScaled(data, media.Limits{}, media.PDQMinSide)
	if err != nil {
		return im, fmt.Errorf("decode image: %w", err)
	}
	im.Format, im.Width, im.Height = string(d.Format), d.Width, d.Height
	// One pass gives all eight: the dihedral mode differs from plain PDQ
	// only on 64×64 images (the reference blurs them there and not in
	// plain mode), which get a plain pass of their own.
	h := pdq.NewHasher()
	dih, q := h.HashImageDihedral(d.Image)
	im.PDQ, im.Quality = dih[pdq.Original].String(), q
	if b := d.Image.Bounds(); b.Dx() == 64 && b.Dy() == 64 {
		r := h.HashImage(d.Image)
		im.PDQ, im.Quality = r.Hash.String(), r.Quality
	}
	for i, x := range dih {
		im.Dihedral[i] = x.String()
	}
	im.Crops = []Crop{}
	for _, c := range variant.CentralCrops(d.Image) {
		im.Crops = append(im.Crops, Crop{Name: c.Name, PDQ: c.PDQ.String(), Quality: c.Quality})
	}
	return im, nil
}

var sha256Sum = sha256.Sum256

// Frame is one hashed video frame.
type Frame struct {
	PDQ     string `json:"pdq"`
	Quality int    `json:"quality"`
}

// HashFrameRGBA hashes a video frame given as RGBA bytes (alpha ignored)
// at full resolution, as vPDQ hashes ffmpeg's RGB24 frames. rgb is a
// scratch buffer it may grow and return for reuse.
func HashFrameRGBA(h *pdq.Hasher, rgba []byte, width, height int, rgb []byte) (Frame, []byte, error) {
	if width <= 0 || height <= 0 || len(rgba) != 4*width*height {
		return Frame{}, rgb, fmt.Errorf("frame %d×%d: %d bytes of RGBA: %w", width, height, len(rgba), pdq.ErrBadFrame)
	}
	n := 3 * width * height
	if cap(rgb) < n {
		rgb = make([]byte, n)
	}
	rgb = rgb[:n]
	for i, j := 0, 0; j < n; i, j = i+4, j+3 {
		rgb[j], rgb[j+1], rgb[j+2] = rgba[i], rgba[i+1], rgba[i+2]
	}
	r, err := h.HashRGB(rgb, width, height)
	if err != nil {
		return Frame{}, rgb, err
	}
	return Frame{PDQ: r.Hash.String(), Quality: r.Quality}, rgb, nil
}

// Digest computes a file's MD5 and SHA-256 from chunks (videos are read a
// piece at a time, never whole).
type Digest struct{ md5, sha256 hash.Hash }

// NewDigest starts a digest.
func NewDigest() *Digest { return &Digest{md5: md5.New(), sha256: sha256.New()} }

// Write adds a chunk.
func (d *Digest) Write(p []byte) {
	d.md5.Write(p)
	d.sha256.Write(p)
}

// Sums returns the hex MD5 and SHA-256 of what was written.
func (d *Digest) Sums() (md5hex, sha256hex string) {
	return hex.EncodeToString(d.md5.Sum(nil)), hex.EncodeToString(d.sha256.Sum(nil))
}

// ErrNoVideoTrack is returned when an MP4 'moov' box has no video track
// with timing.
var ErrNoVideoTrack = errors.New("no video track")

// VideoTiming is what frame sampling needs from a video's header, read as
// ffprobe reads it: the frame rate is the track's sample count over its
// duration (avg_frame_rate).
type VideoTiming struct {
	Frames int     `json:"frames"`
	FPS    float64 `json:"fps"`
	// FrameMod is vPDQ's sampling step at one frame per second:
	// int(fps), at least 1 (internal/vpdq).
	FrameMod int `json:"frame_mod"`
	// Matrix (H.273 matrix_coefficients; MatrixUnspecified when the stream
	// declares none) and FullRange are the colours ffmpeg decodes the
	// frames with (see trackColour): the page converts frames by them.
	Matrix    int  `json:"matrix"`
	FullRange bool `json:"full_range"`
}

// MP4Timing reads the first video track's timing from an MP4/MOV 'moov'
// box (the box's payload, without its 8-byte header, or with it).
func MP4Timing(moov []byte) (VideoTiming, error) {
	if len(moov) >= 8 && string(moov[4:8]) == "moov" {
		moov = moov[8:]
	}
	for trak := range boxes(moov, "trak") {
		mdia := first(trak, "mdia")
		if hdlr := first(mdia, "hdlr"); len(hdlr) < 12 || string(hdlr[8:12]) != "vide" {
			continue
		}
		mdhd := first(mdia, "mdhd")
		var timescale uint32
		switch {
		case len(mdhd) >= 24 && mdhd[0] == 1:
			timescale = binary.BigEndian.Uint32(mdhd[20:])
		case len(mdhd) >= 16:
			timescale = binary.BigEndian.Uint32(mdhd[12:])
		}
		stbl := first(first(mdia, "minf"), "stbl")
		stts := first(stbl, "stts")
		if timescale == 0 || len(stts) < 8 {
			continue
		}
		entries := int(binary.BigEndian.Uint32(stts[4:]))
		var count, dur uint64
		for i := range entries {
			off := 8 + 8*i
			if off+8 > len(stts) {
				break
			}
			c := uint64(binary.BigEndian.Uint32(stts[off:]))
			count += c
			dur += c * uint64(binary.BigEndian.Uint32(stts[off+4:]))
		}
		if count == 0 || dur == 0 {
			continue
		}
		fps := float64(count) * float64(timescale) / float64(dur)
		matrix, full := trackColour(first(stbl, "stsd"))
		return VideoTiming{Frames: int(count), FPS: fps, FrameMod: max(int(fps), 1), Matrix: matrix, FullRange: full}, nil
	}
	return VideoTiming{}, ErrNoVideoTrack
}

// boxes yields the payloads of the child boxes of type typ.
func boxes(b []byte, typ string) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) >= 8 {
			size := uint64(binary.BigEndian.Uint32(b))
			hdr := uint64(8)
			if size == 1 && len(b) >= 16 {
				size, hdr = binary.BigEndian.Uint64(b[8:]), 16
			} else if size == 0 {
				size = uint64(len(b))
			}
			if size < hdr || size > uint64(len(b)) {
				return
			}
			if string(b[4:8]) == typ && !yield(b[hdr:size]) {
				return
			}
			b = b[size:]
		}
	}
}

func first(b []byte, typ string) []byte {
	for p := range boxes(b, typ) {
		return p
	}
	return nil
}
