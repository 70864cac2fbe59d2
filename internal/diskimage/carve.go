package diskimage

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Carved file formats.
const (
	CarveJPEG = "jpeg"
	CarvePNG  = "png"
	CarveMP4  = "mp4"
)

// Carved is one file found in a stream by its structure alone.
type Carved struct {
	// Format is CarveJPEG, CarvePNG or CarveMP4; Ext the usual file name
	// extension ("jpg", "png", "mp4").
	Format, Ext string
	// Offset is the file's first byte in the stream; ImageOffset the same
	// byte in the image. The file's Size bytes are contiguous in the image.
	Offset, ImageOffset int64
	Size                int64
}

// CarveOptions bound the carver. The zero value carves JPEG and PNG up
// to 64 MiB and MP4 up to 4 GiB, at every 512-byte sector of the image.
type CarveOptions struct {
	// MaxJPEG, MaxPNG and MaxMP4 are the largest files carved; a
	// candidate that would be larger is skipped.
	MaxJPEG, MaxPNG, MaxMP4 int64
	// Align is where files may start: image offsets that are multiples of
	// it (a power of two up to 4096; default 512, where file systems put
	// files). 1 tries every byte.
	Align int64
}

func (o CarveOptions) withDefaults() (CarveOptions, error) {
	if o.MaxJPEG <= 0 {
		o.MaxJPEG = 64 << 20
	}
	if o.MaxPNG <= 0 {
		o.MaxPNG = 64 << 20
	}
	if o.MaxMP4 <= 0 {
		o.MaxMP4 = 4 << 30
	}
	if o.Align == 0 {
		o.Align = sector
	}
	if o.Align < 1 || o.Align > 4096 || o.Align&(o.Align-1) != 0 {
		return o, fmt.Errorf("diskimage: carve alignment %d is not a power of two up to 4096", o.Align)
	}
	return o, nil
}

// ErrCarveBudget means the carver read more than its work budget (a few
// times the stream) validating candidates: hostile data built to make
// every candidate long. Carving stops with it; what was found stays found.
var ErrCarveBudget = errors.New("carving work budget exhausted")

// carveWindow is how much of the stream is read at once while looking
// for file signatures.
const carveWindow = 1 << 20

// Carve finds JPEG, PNG and MP4 files in src and calls fn for each, in
// stream order. Only files whose bytes are contiguous in the image (within
// one extent of src) are found; a file split around other data, or cut
// short, is not. JPEG is followed marker by marker from SOI, through the
// entropy-coded scans, to its EOI (so the EOI of an embedded thumbnail
// does not end it); PNG chunk by chunk, each CRC checked, to IEND; MP4
// (ISO-BMFF) from its ftyp box along the top-level boxes while their types
// are known ones and their sizes fit, and only when a moov box is among
// them (without it a video cannot be decoded). After a file, the search
// resumes past its end. Memory is bounded by a fixed window; the work
// spent validating candidates is bounded by a budget proportional to the
// stream (ErrCarveBudget). Bytes that cannot be read are passed over,
// and the first such error returned after the rest has been carved.
func Carve(ctx context.Context, src *ExtentReader, o CarveOptions, fn func(Carved) error) error {
	o, err := o.withDefaults()
	if err != nil {
		return err
	}
	budget := 4*src.Size() + 256<<20
	c := &cursor{r: src, budget: &budget, buf: make([]byte, 64<<10)}
	win := make([]byte, carveWindow+16)
	var pos int64
	var readErr error
	for pos < src.Size() {
		if err := ctx.Err(); err != nil {
			return err
		}
		_, runEnd := src.Run(pos)
		img := src.ImageOffset(pos)
		// The first aligned position of this run at or after pos.
		if r := img % o.Align; r != 0 {
			pos += o.Align - r
			img += o.Align - r
		}
		if pos >= runEnd {
			pos = runEnd
			continue
		}
		n := min(int64(len(win)), runEnd-pos)
		next := pos + min(carveWindow, n)
		if _, err := src.ReadAt(win[:n], pos); err != nil {
			// An unreadable window (a damaged E01 chunk) is passed over.
			readErr = cmp.Or(readErr, err)
			pos = next
			continue
		}
		found := false
		for k := int64(0); k < min(carveWindow, n); k += o.Align {
			if c0 := win[k]; c0 != 0xFF && c0 != 0x89 && (k+4 >= n || win[k+4] != 'f') {
				continue // the quick test before sniffCarve's full one
			}
			f, ok := sniffCarve(win[k:n])
			if !ok {
				continue
			}
			size, err := c.validate(f, pos+k, runEnd, o)
			if err != nil {
				if errors.Is(err, ErrCarveBudget) {
					return err
				}
				if errors.Is(err, errRead) {
					readErr = cmp.Or(readErr, err)
				}
				continue
			}
			at := pos + k
			if err := fn(Carved{Format: f, Ext: carveExt[f], Offset: at, ImageOffset: src.ImageOffset(at), Size: size}); err != nil {
				return err
			}
			next, found = at+size, true
			break
		}
		if !found && next >= runEnd {
			next = runEnd
		}
		pos = next
	}
	if readErr != nil {
		return fmt.Errorf("carving passed over what it could not read: %w", readErr)
	}
	return nil
}

var carveExt = map[string]string{CarveJPEG: "jpg", CarvePNG: "png", CarveMP4: "mp4"}

var pngSig = []byte("\x89PNG\r\n\x1a\n")

// sniffCarve recognises the start of a file worth validating.
func sniffCarve(b []byte) (string, bool) {
	switch {
	case len(b) >= 4 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF && b[3] >= 0xC0 && b[3] != 0xFF && b[3] != 0xD8 && b[3] != 0xD9:
		return CarveJPEG, true
	case len(b) >= 8 && bytes.Equal(b[:8], pngSig):
		return CarvePNG, true
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		n := binary.BigEndian.Uint32(b)
		return CarveMP4, n >= 16 && n <= 1024 && n%4 == 0 && printable(b[8:12])
	}
	return "", false
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7E {
			return false
		}
	}
	return true
}

// errTooLong: the candidate reaches past its run or size limit.
var (
	errTooLong = errors.New("candidate runs past its extent or size limit")
	errInvalid = errors.New("not a valid file")
	errRead    = errors.New("read failed")
)

// cursor reads one candidate forward through a buffer, within a limit.
type cursor struct {
	r      *ExtentReader
	budget *int64
	buf    []byte
	base   int64 // stream offset of the candidate
	limit  int64 // bytes that may be read from base
	pos    int64 // next byte, from base
	bufAt  int64 // from base, of buf[0]
	n      int   // valid bytes of buf
	err    error // the read error that stopped it
}

func (c *cursor) reset(base, limit int64) {
	c.base, c.limit, c.pos, c.bufAt, c.n, c.err = base, limit, 0, 0, 0, nil
}

// fill loads the buffer at pos.
func (c *cursor) fill() error {
	if c.pos >= c.limit {
		return errTooLong
	}
	// Reads grow with the candidate, so a false start costs little.
	k := min(int64(len(c.buf)), c.limit-c.pos, max(4096, c.pos))
	*c.budget -= k
	if *c.budget < 0 {
		return ErrCarveBudget
	}
	m, err := c.r.ReadAt(c.buf[:k], c.base+c.pos)
	if int64(m) < k {
		return fmt.Errorf("%w: %v", errRead, err)
	}
	c.bufAt, c.n = c.pos, m
	return nil
}

func (c *cursor) avail() []byte {
	i := c.pos - c.bufAt
	if i < 0 || i >= int64(c.n) {
		return nil
	}
	return c.buf[i:c.n]
}

func (c *cursor) byte() (byte, error) {
	b := c.avail()
	if b == nil {
		if err := c.fill(); err != nil {
			return 0, err
		}
		b = c.avail()
	}
	c.pos++
	return b[0], nil
}

func (c *cursor) full(p []byte) error {
	for len(p) > 0 {
		b := c.avail()
		if b == nil {
			if err := c.fill(); err != nil {
				return err
			}
			continue
		}
		k := copy(p, b)
		p, c.pos = p[k:], c.pos+int64(k)
	}
	return nil
}

// skip moves n bytes on without reading them.
func (c *cursor) skip(n int64) error {
	if n < 0 || c.pos+n > c.limit {
		return errTooLong
	}
	c.pos += n
	return nil
}

// toFF moves to the next 0xFF byte and consumes it.
func (c *cursor) toFF() error {
	for {
		b := c.avail()
		if b == nil {
			if err := c.fill(); err != nil {
				return err
			}
			continue
		}
		if i := bytes.IndexByte(b, 0xFF); i >= 0 {
			c.pos += int64(i) + 1
			return nil
		}
		c.pos += int64(len(b))
	}
}

// crc feeds n bytes to a CRC-32.
func (c *cursor) crc(n int64, sum uint32) (uint32, error) {
	for n > 0 {
		b := c.avail()
		if b == nil {
			if c.pos+n > c.limit {
				return 0, errTooLong
			}
			if err := c.fill(); err != nil {
				return 0, err
			}
			continue
		}
		b = b[:min(int64(len(b)), n)]
		sum = crc32.Update(sum, crc32.IEEETable, b)
		c.pos += int64(len(b))
		n -= int64(len(b))
	}
	return sum, nil
}

// validate walks a candidate of format f at stream offset at, within its
// run (ending at runEnd) and the format's size limit, and returns its size.
func (c *cursor) validate(f string, at, runEnd int64, o CarveOptions) (int64, error) {
	switch f {
	case CarveJPEG:
		c.reset(at, min(runEnd-at, o.MaxJPEG))
		return c.jpeg()
	case CarvePNG:
		c.reset(at, min(runEnd-at, o.MaxPNG))
		return c.png()
	}
	c.reset(at, min(runEnd-at, o.MaxMP4))
	return c.mp4()
}

// jpeg follows a JPEG's markers from SOI to EOI.
func (c *cursor) jpeg() (int64, error) {
	if err := c.skip(2); err != nil { // FF D8, checked by sniffCarve
		return 0, err
	}
	sawSOF, sawSOS := false, false
	for {
		b, err := c.byte()
		if err != nil {
			return 0, err
		}
		if b != 0xFF {
			return 0, errInvalid
		}
		m := byte(0xFF)
		for m == 0xFF { // fill bytes
			if m, err = c.byte(); err != nil {
				return 0, err
			}
		}
	marker:
		switch {
		case m == 0xD9:
			if !sawSOS {
				return 0, errInvalid
			}
			return c.pos, nil
		case m >= 0xD0 && m <= 0xD7 || m == 0x01:
			continue
		case m < 0xC0 || m == 0xD8:
			return 0, errInvalid
		}
		var l [2]byte
		if err := c.full(l[:]); err != nil {
			return 0, err
		}
		n := int64(binary.BigEndian.Uint16(l[:]))
		if n < 2 {
			return 0, errInvalid
		}
		switch {
		case m == 0xC4 || m == 0xC8 || m == 0xCC: // DHT, JPG, DAC
		case m >= 0xC0 && m <= 0xCF:
			sawSOF = true
		case m == 0xDA:
			if !sawSOF {
				return 0, errInvalid
			}
			sawSOS = true
			if err := c.skip(n - 2); err != nil {
				return 0, err
			}
			// Entropy-coded data: FF 00 is a data byte, FF D0-D7 a
			// restart marker; any other marker ends the scan.
			for {
				if err := c.toFF(); err != nil {
					return 0, err
				}
				nx, err := c.byte()
				if err != nil {
					return 0, err
				}
				for nx == 0xFF {
					if nx, err = c.byte(); err != nil {
						return 0, err
					}
				}
				if nx == 0 || nx >= 0xD0 && nx <= 0xD7 {
					continue
				}
				m = nx
				goto marker
			}
		}
		if err := c.skip(n - 2); err != nil {
			return 0, err
		}
	}
}

// png walks a PNG's chunks, checking each CRC, to IEND.
func (c *cursor) png() (int64, error) {
	if err := c.skip(8); err != nil {
		return 0, err
	}
	for i := 0; ; i++ {
		var h [8]byte
		if err := c.full(h[:]); err != nil {
			return 0, err
		}
		n := int64(binary.BigEndian.Uint32(h[:4]))
		typ := h[4:8]
		if n > 0x7FFFFFFF || !letters(typ) || i == 0 && (string(typ) != "IHDR" || n != 13) {
			return 0, errInvalid
		}
		if c.pos+n+4 > c.limit {
			return 0, errTooLong
		}
		sum, err := c.crc(n, crc32.Update(0, crc32.IEEETable, typ))
		if err != nil {
			return 0, err
		}
		var s [4]byte
		if err := c.full(s[:]); err != nil {
			return 0, err
		}
		if binary.BigEndian.Uint32(s[:]) != sum {
			return 0, errInvalid
		}
		if string(typ) == "IEND" {
			return c.pos, nil
		}
	}
}

func letters(b []byte) bool {
	for _, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// mp4Boxes are the top-level ISO-BMFF box types a file may hold; the
// walk ends at the first header that is not one of them.
var mp4Boxes = map[string]bool{
	"ftyp": true, "moov": true, "mdat": true, "free": true, "skip": true, "wide": true, "uuid": true,
	"meta": true, "moof": true, "mfra": true, "styp": true, "sidx": true, "ssix": true, "pdin": true,
	"udta": true, "emsg": true, "prft": true, "pnot": true, "junk": true, "bloc": true, "jumb": true,
}

// mp4 walks the top-level boxes from ftyp while they are known types of
// sane sizes; the file ends after the last, and must hold moov.
func (c *cursor) mp4() (int64, error) {
	sawMoov := false
	var end int64
	for i := 0; ; i++ {
		var h [16]byte
		if c.limit-c.pos < 8 {
			break
		}
		if err := c.full(h[:8]); err != nil {
			return 0, err
		}
		n := int64(binary.BigEndian.Uint32(h[:4]))
		typ := string(h[4:8])
		hdr := int64(8)
		if !mp4Boxes[typ] || i > 0 && typ == "ftyp" || n == 0 {
			break // not a box of this file: it ended before
		}
		if n == 1 {
			if err := c.full(h[8:16]); err != nil {
				break
			}
			u := binary.BigEndian.Uint64(h[8:16])
			if u > 1<<62 {
				return 0, errTooLong
			}
			n, hdr = int64(u), 16
		}
		if n < hdr {
			break
		}
		if end+n > c.limit {
			return 0, errTooLong // cut short, or larger than allowed
		}
		if typ == "moov" {
			sawMoov = true
		}
		end += n
		c.pos = end
	}
	if !sawMoov || end == 0 {
		return 0, errInvalid
	}
	return end, nil
}
