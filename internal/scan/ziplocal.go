package scan

import (
	"bufio"
	"compress/flate"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"time"
)

// expandZipLocal lists a zip whose central directory is missing (a
// truncated download or copy) by walking its local file headers from the
// start: every member that can still be read whole is hashed; the first
// that cannot ends the walk. It returns how many members it listed.
func (s *scanner) expandZipLocal(ctx context.Context, parent *Entry, ra io.ReaderAt, size int64, depth int, b *budget) (int, error) {
	seen := names{}
	n := 0
	off := int64(0)
	for off+30 <= size {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if b.exhausted() {
			return n, fmt.Errorf("%w: expansion stopped after %d members", ErrLimit, n)
		}
		h := make([]byte, 30)
		if _, err := ra.ReadAt(h, off); err != nil || binary.LittleEndian.Uint32(h) != 0x04034b50 {
			break // the central directory, or the end of what was kept
		}
		flags, method := binary.LittleEndian.Uint16(h[6:]), binary.LittleEndian.Uint16(h[8:])
		crc, csize, usize := binary.LittleEndian.Uint32(h[14:]), int64(binary.LittleEndian.Uint32(h[18:])), int64(binary.LittleEndian.Uint32(h[22:]))
		nlen, xlen := int64(binary.LittleEndian.Uint16(h[26:])), int64(binary.LittleEndian.Uint16(h[28:]))
		name := make([]byte, nlen)
		if _, err := ra.ReadAt(name, off+30); err != nil {
			return n, fmt.Errorf("truncated zip: member name cut off after %d members", n)
		}
		dmod, dtime := binary.LittleEndian.Uint16(h[12:]), binary.LittleEndian.Uint16(h[10:])
		data := off + 30 + nlen + xlen
		descriptor := flags&0x8 != 0
		if descriptor && method != 8 {
			return n, fmt.Errorf("truncated zip: member %q has no stored size: listing stops after %d members", name, n)
		}
		if strings.HasSuffix(string(name), "/") {
			off = data + csize
			continue
		}
		e, done := s.member(parent, seen.unique(string(name)), depth)
		n++
		cr := &countingByteReader{r: bufio.NewReader(io.NewSectionReader(ra, data, size-data))}
		var body io.Reader
		switch method {
		case 0:
			body = io.LimitReader(cr, csize)
		case 8:
			body = flate.NewReader(cr)
		default:
			e.Error = fmt.Sprintf("compression method %d: not read", method)
		}
		if !done {
			if t := dosTime(dmod, dtime); !t.IsZero() {
				e.Mtime = formatTime(t)
			}
			s.progress.AddTotal(1, usize)
			if body != nil {
				// The member is read to its end here (its end is where the
				// next header starts), checked against its CRC-32.
				crcw := crc32.NewIEEE()
				x := &expandReader{r: io.TeeReader(body, crcw), b: b, ratio: s.limits.MaxRatio, compressed: func() int64 { return cr.n }}
				msize := int64(-1)
				if !descriptor {
					msize = usize
				}
				s.hashMember(ctx, e, string(name), x, msize, depth, b)
				if e.hasDigests() && !descriptor && crcw.Sum32() != crc {
					e.clearContent()
					e.addError("CRC-32 mismatch: member damaged")
				}
			}
			s.emit(ctx, e)
		} else if body != nil {
			_, _ = io.Copy(io.Discard, body)
		}
		if method == 0 || !descriptor {
			off = data + csize
		} else {
			off = data + cr.n
			var d [16]byte
			if _, err := ra.ReadAt(d[:4], off); err == nil && binary.LittleEndian.Uint32(d[:]) == 0x08074b50 {
				off += 16
			} else {
				off += 12
			}
		}
		if e.Error != "" && (strings.Contains(e.Error, "unexpected EOF") || strings.Contains(e.Error, "expected")) {
			return n, fmt.Errorf("truncated zip: the data ends inside member %q", name)
		}
	}
	return n, nil
}

// countingByteReader counts the bytes the inflater takes, so that the next
// header is found right after a member with no stored size.
type countingByteReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingByteReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingByteReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

// dosTime decodes an MS-DOS date and time (local, no zone) as UTC.
func dosTime(d, t uint16) time.Time {
	if d == 0 {
		return time.Time{}
	}
	return time.Date(1980+int(d>>9), time.Month(d>>5&15), int(d&31), int(t>>11), int(t>>5&63), int(t&31)*2, 0, time.UTC)
}
