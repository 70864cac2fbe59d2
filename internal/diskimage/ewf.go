package diskimage

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode/utf16"
)

// EWFSignature starts every EWF (E01) segment file.
const EWFSignature = "EVF\x09\x0d\x0a\xff\x00"

// ewfMaxSegments bounds the segment files of one image (E01…EZZ and beyond).
const ewfMaxSegments = 10000

// EWF is an EnCase (EWF-E01) image: its media read through io.ReaderAt,
// chunk by chunk, and what its segment files record.
type EWF struct {
	// Size is the media size in bytes.
	Size int64
	// StoredMD5 and StoredSHA1 are the hashes of the media the acquiring
	// tool stored (hex; empty when absent).
	StoredMD5, StoredSHA1 string
	// Header is the case metadata of the header section (c case number,
	// n evidence number, a description, e examiner, t notes, av tool
	// version, ov OS, m acquisition date, u system date), named in full.
	Header map[string]string

	segs      []io.ReaderAt
	chunkSize int64
	chunks    []ewfChunk

	mu    sync.Mutex
	cache map[int][]byte
	order []int
}

type ewfChunk struct {
	seg        int
	off, size  int64
	compressed bool
}

// ewfCacheChunks is how many decompressed chunks are kept.
const ewfCacheChunks = 64

// IsEWF reports whether head starts an EWF segment file, and its segment number.
func IsEWF(head []byte) (int, bool) {
	if len(head) < 13 || !bytes.HasPrefix(head, []byte(EWFSignature)) {
		return 0, false
	}
	return int(le16(head[9:])), true
}

// EWFSegmentFiles finds the segment files of the image whose first
// segment is first (name.E01, name.E02 … name.E99, name.EAA …, in either
// case), in the same folder, by name; it stops at the first missing one.
func EWFSegmentFiles(first string) []string {
	dir, base := filepath.Split(first)
	ext := filepath.Ext(base)
	if len(ext) != 4 {
		return []string{first}
	}
	stem, lead := base[:len(base)-4], ext[1]
	out := []string{first}
	for i := 2; i <= ewfMaxSegments; i++ {
		e := segmentExt(lead, i)
		if e == "" {
			break
		}
		p := filepath.Join(dir, stem+"."+e)
		if _, err := os.Lstat(p); err != nil {
			break
		}
		out = append(out, p)
	}
	return out
}

// segmentExt names segment i (1-based) after lead ('E' or 'e'): E01…E99,
// then EAA…EZZ, FAA….
func segmentExt(lead byte, i int) string {
	if i < 100 {
		return fmt.Sprintf("%c%02d", lead, i)
	}
	i -= 100
	upper := lead >= 'A' && lead <= 'Z'
	a := byte('a')
	if upper {
		a = 'A'
	}
	first := int(lead-a) + i/(26*26)
	if first >= 26 {
		return ""
	}
	return string([]byte{a + byte(first), a + byte(i/26%26), a + byte(i%26)})
}

// OpenEWF reads the sections of the segment files (in order, sizes given)
// and returns the image. Segment numbers must run 1, 2, … and the last
// segment must end with a done section.
func OpenEWF(segs []io.ReaderAt, sizes []int64) (*EWF, error) {
	if len(segs) == 0 || len(segs) != len(sizes) || len(segs) > ewfMaxSegments {
		return nil, fmt.Errorf("%w: %d segment files", ErrCorrupt, len(segs))
	}
	e := &EWF{segs: segs, cache: map[int][]byte{}, Header: map[string]string{}}
	var sectorsPerChunk, bytesPerSector, nsectors, nchunks int64
	var total int64
	for _, s := range sizes {
		total += s
	}
	done := false
	for si, seg := range segs {
		head := make([]byte, 13)
		if err := readFull(seg, head, 0); err != nil {
			return nil, fmt.Errorf("%w: segment %d: %v", ErrCorrupt, si+1, err)
		}
		if n, ok := IsEWF(head); !ok || n != si+1 {
			return nil, fmt.Errorf("%w: segment file %d is not EWF segment %d", ErrCorrupt, si+1, si+1)
		}
		var sectorsEnd int64 = -1
		off := int64(13)
		for steps := 0; ; steps++ {
			if steps > 1<<20 {
				return nil, fmt.Errorf("%w: segment %d: too many sections", ErrCorrupt, si+1)
			}
			d := make([]byte, 76)
			if err := readFull(seg, d, off); err != nil {
				return nil, fmt.Errorf("%w: segment %d section at %d: %v", ErrCorrupt, si+1, off, err)
			}
			if adler32.Checksum(d[:72]) != le32(d[72:]) {
				return nil, fmt.Errorf("%w: segment %d section at %d: checksum", ErrCorrupt, si+1, off)
			}
			typ := strings.TrimRight(string(d[:16]), "\x00")
			next, size := int64(le64(d[16:])), int64(le64(d[24:]))
			if size < 0 || off+size > sizes[si] || next < 0 || next > sizes[si] {
				return nil, fmt.Errorf("%w: segment %d section %q out of bounds", ErrCorrupt, si+1, typ)
			}
			data := off + 76
			dataLen := size - 76
			switch typ {
			case "header", "header2":
				if dataLen > 0 && dataLen < 1<<20 && len(e.Header) == 0 {
					if h, err := ewfHeader(seg, data, dataLen, typ == "header2"); err == nil {
						e.Header = h
					}
				}
			case "volume", "disk":
				if dataLen < 24 {
					return nil, fmt.Errorf("%w: volume section of %d bytes", ErrCorrupt, dataLen)
				}
				v := make([]byte, 24)
				if err := readFull(seg, v, data); err != nil {
					return nil, err
				}
				nchunks, sectorsPerChunk, bytesPerSector, nsectors = int64(le32(v[4:])), int64(le32(v[8:])), int64(le32(v[12:])), int64(le64(v[16:]))
				e.chunkSize = sectorsPerChunk * bytesPerSector
				e.Size = nsectors * bytesPerSector
				if sectorsPerChunk <= 0 || bytesPerSector <= 0 || e.chunkSize > 64<<20 || nsectors < 0 ||
					nchunks > total/8+1 || (e.Size+e.chunkSize-1)/e.chunkSize > nchunks {
					return nil, fmt.Errorf("%w: volume geometry (%d chunks of %d×%d bytes, %d sectors)", ErrCorrupt, nchunks, sectorsPerChunk, bytesPerSector, nsectors)
				}
			case "sectors":
				sectorsEnd = off + size
			case "table":
				if err := e.table(seg, si, data, dataLen, sectorsEnd, nchunks); err != nil {
					return nil, fmt.Errorf("segment %d: %w", si+1, err)
				}
			case "hash":
				if dataLen >= 16 {
					b := make([]byte, 16)
					if readFull(seg, b, data) == nil && !isZero(b) {
						e.StoredMD5 = hex.EncodeToString(b)
					}
				}
			case "digest":
				if dataLen >= 36 {
					b := make([]byte, 36)
					if readFull(seg, b, data) == nil {
						if !isZero(b[:16]) {
							e.StoredMD5 = hex.EncodeToString(b[:16])
						}
						if !isZero(b[16:36]) {
							e.StoredSHA1 = hex.EncodeToString(b[16:36])
						}
					}
				}
			case "done":
				done = true
			}
			if typ == "done" || typ == "next" || next == off {
				break
			}
			if next <= off {
				return nil, fmt.Errorf("%w: segment %d: section chain goes backwards", ErrCorrupt, si+1)
			}
			off = next
		}
		if done && si != len(segs)-1 {
			return nil, fmt.Errorf("%w: segment %d ends the image but %d segment files follow", ErrCorrupt, si+1, len(segs)-si-1)
		}
	}
	if !done {
		return nil, fmt.Errorf("%w: no done section: segment files missing after %d", ErrCorrupt, len(segs))
	}
	if e.chunkSize == 0 {
		return nil, fmt.Errorf("%w: no volume section", ErrCorrupt)
	}
	if int64(len(e.chunks)) < (e.Size+e.chunkSize-1)/e.chunkSize {
		return nil, fmt.Errorf("%w: %d chunks for %d bytes", ErrCorrupt, len(e.chunks), e.Size)
	}
	return e, nil
}

// table reads a table section: chunk offsets relative to a base, the top
// bit marking compression; a chunk ends where the next begins, the last
// where its sectors section ends.
func (e *EWF) table(seg io.ReaderAt, si int, data, n, sectorsEnd, nchunks int64) error {
	if n < 24 {
		return fmt.Errorf("%w: table section of %d bytes", ErrCorrupt, n)
	}
	h := make([]byte, 24)
	if err := readFull(seg, h, data); err != nil {
		return err
	}
	count, base := int64(le32(h)), int64(le64(h[8:]))
	if count < 0 || 24+count*4 > n || int64(len(e.chunks))+count > nchunks {
		return fmt.Errorf("%w: table of %d entries", ErrCorrupt, count)
	}
	buf := make([]byte, count*4)
	if err := readFull(seg, buf, data+24); err != nil {
		return err
	}
	end := sectorsEnd
	if end < 0 {
		end = data // older layouts keep the chunks before the table
	}
	for i := range count {
		v := le32(buf[i*4:])
		c := ewfChunk{seg: si, off: base + int64(v&0x7FFFFFFF), compressed: v&0x80000000 != 0}
		next := end
		if i+1 < count {
			next = base + int64(le32(buf[(i+1)*4:])&0x7FFFFFFF)
		}
		c.size = next - c.off
		if c.off < 0 || c.size <= 0 || c.size > e.chunkSize+4096 {
			return fmt.Errorf("%w: chunk %d at %d of %d bytes", ErrCorrupt, len(e.chunks), c.off, c.size)
		}
		e.chunks = append(e.chunks, c)
	}
	return nil
}

// ewfHeader decodes a header (ASCII) or header2 (UTF-16) section: zlib
// text of tab-separated keys and values.
func ewfHeader(seg io.ReaderAt, off, n int64, utf16le bool) (map[string]string, error) {
	buf := make([]byte, n)
	if err := readFull(seg, buf, off); err != nil {
		return nil, err
	}
	zr, err := zlib.NewReader(bytes.NewReader(buf))
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(zr, 1<<20))
	if err != nil {
		return nil, err
	}
	text := string(raw)
	if utf16le {
		u := make([]uint16, len(raw)/2)
		for i := range u {
			u[i] = le16(raw[2*i:])
		}
		text = strings.TrimPrefix(string(utf16.Decode(u)), "\ufeff")
	}
	lines := strings.Split(strings.ReplaceAll(text, "\r", ""), "\n")
	names := map[string]string{"c": "case_number", "n": "evidence_number", "a": "description", "e": "examiner",
		"t": "notes", "av": "tool_version", "ov": "os", "m": "acquired", "u": "system_date", "md": "model", "sn": "serial_number"}
	out := map[string]string{}
	for i := 0; i+1 < len(lines); i++ {
		if lines[i] == "main" && i+2 < len(lines) {
			keys, vals := strings.Split(lines[i+1], "\t"), strings.Split(lines[i+2], "\t")
			for k, key := range keys {
				if name, ok := names[key]; ok && k < len(vals) && vals[k] != "" {
					out[name] = vals[k]
				}
			}
			break
		}
	}
	return out, nil
}

// ReadAt reads the media.
func (e *EWF) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	n := 0
	for n < len(p) {
		if off >= e.Size {
			return n, io.EOF
		}
		ci := int(off / e.chunkSize)
		data, err := e.chunk(ci)
		if err != nil {
			return n, err
		}
		in := off % e.chunkSize
		if in >= int64(len(data)) {
			return n, fmt.Errorf("%w: chunk %d holds %d bytes", ErrCorrupt, ci, len(data))
		}
		m := copy(p[n:], data[in:min(int64(len(data)), in+e.Size-off)])
		n += m
		off += int64(m)
	}
	return n, nil
}

// chunk returns chunk i decompressed, through a small cache.
func (e *EWF) chunk(i int) ([]byte, error) {
	e.mu.Lock()
	if d, ok := e.cache[i]; ok {
		e.mu.Unlock()
		return d, nil
	}
	e.mu.Unlock()
	c := e.chunks[i]
	raw := make([]byte, c.size)
	if err := readFull(e.segs[c.seg], raw, c.off); err != nil {
		return nil, fmt.Errorf("%w: chunk %d: %v", ErrCorrupt, i, err)
	}
	var data []byte
	if c.compressed {
		zr, err := zlib.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("%w: chunk %d: %v", ErrCorrupt, i, err)
		}
		data, err = io.ReadAll(io.LimitReader(zr, e.chunkSize+1))
		if err != nil || int64(len(data)) > e.chunkSize {
			return nil, fmt.Errorf("%w: chunk %d does not decompress to %d bytes: %v", ErrCorrupt, i, e.chunkSize, err)
		}
	} else {
		if int64(len(raw)) < e.chunkSize+4 && int64(i) != int64(len(e.chunks)-1) {
			return nil, fmt.Errorf("%w: chunk %d of %d bytes", ErrCorrupt, i, len(raw))
		}
		data = raw[:min(int64(len(raw)), e.chunkSize)]
		if int64(len(raw)) >= e.chunkSize+4 && adler32.Checksum(data) != le32(raw[e.chunkSize:]) {
			return nil, fmt.Errorf("%w: chunk %d checksum", ErrCorrupt, i)
		}
	}
	e.mu.Lock()
	if len(e.order) >= ewfCacheChunks {
		delete(e.cache, e.order[0])
		e.order = e.order[1:]
	}
	e.cache[i] = data
	e.order = append(e.order, i)
	e.mu.Unlock()
	return data, nil
}

// MediaHashes reads the whole media and returns its md5 and sha1 (hex).
func (e *EWF) MediaHashes(ctx context.Context) (md5hex, sha1hex string, err error) {
	m, s := md5.New(), sha1.New()
	buf := make([]byte, 1<<20)
	for off := int64(0); off < e.Size; {
		if err := ctx.Err(); err != nil {
			return "", "", err
		}
		n, err := e.ReadAt(buf[:min(int64(len(buf)), e.Size-off)], off)
		m.Write(buf[:n])
		s.Write(buf[:n])
		off += int64(n)
		if err != nil && !(errors.Is(err, io.EOF) && off == e.Size) {
			return "", "", err
		}
	}
	return hex.EncodeToString(m.Sum(nil)), hex.EncodeToString(s.Sum(nil)), nil
}
