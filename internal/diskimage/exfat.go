package diskimage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"sync"
	"time"
	"unicode/utf16"
)

// exfatFS is an exFAT file system.
type exfatFS struct {
	r        io.ReaderAt
	size     int64
	lim      Limits
	csize    int64
	fatOff   int64
	heapOff  int64
	nclus    uint32
	rootClus uint32

	mu    sync.Mutex
	cache fatCache
}

func openExFAT(r io.ReaderAt, size int64, lim Limits) (FS, error) {
	b := make([]byte, 512)
	if err := readFull(r, b, 0); err != nil {
		return nil, fmt.Errorf("%w: exFAT boot sector: %v", ErrCorrupt, err)
	}
	if string(b[3:11]) != "EXFAT   " {
		return nil, ErrNotImage
	}
	bpsShift, spcShift := b[108], b[109]
	if bpsShift < 9 || bpsShift > 12 || int(bpsShift)+int(spcShift) > 25 {
		return nil, fmt.Errorf("%w: exFAT sector shift %d, cluster shift %d", ErrCorrupt, bpsShift, spcShift)
	}
	bps := int64(1) << bpsShift
	x := &exfatFS{r: r, size: size, lim: lim, csize: bps << spcShift}
	x.fatOff = int64(le32(b[80:])) * bps
	x.heapOff = int64(le32(b[88:])) * bps
	x.nclus = le32(b[92:])
	x.rootClus = le32(b[96:])
	fatLen := int64(le32(b[84:])) * bps
	if x.nclus == 0 || x.nclus > 0xFFFFFFF5 || x.heapOff+int64(x.nclus)*x.csize > size+x.csize*64 ||
		fatLen < int64(x.nclus+2)*4 || x.fatOff+fatLen > size {
		return nil, fmt.Errorf("%w: exFAT geometry does not fit the volume", ErrCorrupt)
	}
	if !x.valid(x.rootClus) {
		return nil, fmt.Errorf("%w: exFAT root cluster %d", ErrCorrupt, x.rootClus)
	}
	return x, nil
}

func (x *exfatFS) Type() string { return "exfat" }

func (x *exfatFS) valid(c uint32) bool { return c >= 2 && c < x.nclus+2 }

func (x *exfatFS) clusterOff(c uint32) int64 { return x.heapOff + int64(c-2)*x.csize }

func (x *exfatFS) next(c uint32) (uint32, error) {
	off := int64(c) * 4
	blk := off / fatCacheBlock * fatCacheBlock
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.cache.buf == nil || x.cache.off != blk {
		buf := make([]byte, fatCacheBlock)
		n, _ := x.r.ReadAt(buf, x.fatOff+blk)
		x.cache.buf, x.cache.off = buf[:n], blk
	}
	i := off - blk
	if i+4 > int64(len(x.cache.buf)) {
		return 0, fmt.Errorf("%w: FAT entry %d beyond the FAT", ErrCorrupt, c)
	}
	return le32(x.cache.buf[i:]), nil
}

// runs returns the extents of n bytes from cluster first: contiguous when
// the file has no FAT chain (or is deleted, its chain no longer trusted),
// else along the FAT.
func (x *exfatFS) runs(first uint32, n int64, contiguous bool) ([]extent, error) {
	if n == 0 {
		return nil, nil
	}
	need := (n + x.csize - 1) / x.csize
	if !x.valid(first) || int64(first-2)+need > int64(x.nclus) && contiguous {
		return nil, fmt.Errorf("%w: clusters %d+%d beyond the volume", ErrCorrupt, first, need)
	}
	if contiguous {
		return []extent{{x.clusterOff(first), need * x.csize}}, nil
	}
	var cl []uint32
	seen := map[uint32]bool{}
	for c := first; int64(len(cl)) < need; {
		if !x.valid(c) {
			return nil, fmt.Errorf("%w: cluster %d out of range", ErrCorrupt, c)
		}
		if seen[c] {
			return nil, fmt.Errorf("%w: cluster chain loops at %d", ErrCorrupt, c)
		}
		seen[c] = true
		cl = append(cl, c)
		if int64(len(cl)) == need {
			break
		}
		nx, err := x.next(c)
		if err != nil {
			return nil, err
		}
		if nx >= 0xFFFFFFF7 {
			return nil, fmt.Errorf("%w: cluster chain of %d clusters for %d bytes", ErrCorrupt, len(cl), n)
		}
		c = nx
	}
	var out []extent
	for _, c := range cl {
		off := x.clusterOff(c)
		if k := len(out) - 1; k >= 0 && out[k].off+out[k].n == off {
			out[k].n += x.csize
			continue
		}
		out = append(out, extent{off, x.csize})
	}
	return out, nil
}

// exfatTime decodes a timestamp, its 10 ms increment and UTC offset.
func exfatTime(ts uint32, inc10ms, utcOff byte) time.Time {
	if ts == 0 {
		return time.Time{}
	}
	t := time.Date(1980+int(ts>>25), time.Month(ts>>21&15), int(ts>>16&31), int(ts>>11&31), int(ts>>5&63), int(ts&31)*2, 0, time.UTC)
	t = t.Add(time.Duration(inc10ms) * 10 * time.Millisecond)
	if utcOff&0x80 != 0 {
		off := int(int8(utcOff<<1)) / 2 // 7-bit signed, 15-minute units
		t = t.Add(-time.Duration(off) * 15 * time.Minute)
	}
	return t
}

func (x *exfatFS) Walk(ctx context.Context, fn func(*File) error) error {
	count := 0
	visited := map[uint32]bool{}
	var walk func(dir string, first uint32, n int64, contiguous, deleted bool, depth int) error
	walk = func(dir string, first uint32, n int64, contiguous, deleted bool, depth int) error {
		if depth > x.lim.MaxDepth {
			return fmt.Errorf("%w: directories nested more than %d deep", ErrCorrupt, x.lim.MaxDepth)
		}
		if visited[first] {
			return nil
		}
		visited[first] = true
		var data []byte
		if n < 0 { // the root: a chain of unknown length
			maxClus := (int64(x.lim.MaxDirEntries)*32 + x.csize - 1) / x.csize
			var err error
			if data, err = x.chainBytes(first, maxClus); err != nil && len(data) == 0 {
				return fmt.Errorf("directory %s: %w", dir, err)
			}
		} else {
			if n > int64(x.lim.MaxDirEntries)*32 {
				return fmt.Errorf("%w: directory %s of %d bytes", ErrCorrupt, dir, n)
			}
			runs, err := x.runs(first, n, contiguous)
			if err != nil {
				return fmt.Errorf("directory %s: %w", dir, err)
			}
			if data, err = io.ReadAll(&runReader{r: x.r, runs: runs, left: n}); err != nil {
				return fmt.Errorf("directory %s: %w", dir, err)
			}
		}
		var firstErr error
		for i := 0; i+32 <= len(data); i += 32 {
			if err := ctx.Err(); err != nil {
				return err
			}
			d := data[i : i+32]
			if d[0] == 0 {
				break
			}
			if d[0]&0x7F != 0x05 { // not a file entry (live 0x85 or deleted 0x05)
				continue
			}
			isDel := d[0]&0x80 == 0
			sec := int(d[1])
			if sec < 2 || i+32*(sec+1) > len(data) {
				continue
			}
			st := data[i+32 : i+64]
			if st[0]&0x7F != 0x40 || st[0]&0x80 == 0 && !isDel {
				continue
			}
			nameLen := int(st[3])
			var name []uint16
			for k := 2; k <= sec && len(name) < nameLen; k++ {
				ne := data[i+32*k : i+32*k+32]
				if ne[0]&0x7F != 0x41 {
					break
				}
				for c := 2; c+2 <= 32 && len(name) < nameLen; c += 2 {
					name = append(name, le16(ne[c:]))
				}
			}
			i += 32 * sec
			if len(name) == 0 {
				continue
			}
			p := path.Join(dir, string(utf16.Decode(name)))
			first, dlen, valid := le32(st[20:]), int64(le64(st[24:])), int64(le64(st[8:]))
			contig := st[1]&2 != 0
			if le16(d[4:])&0x10 != 0 {
				if !isDel && x.valid(first) {
					if err := walk(p, first, dlen, contig, false, depth+1); err != nil && firstErr == nil {
						firstErr = err
					}
				}
				continue
			}
			count++
			if count > x.lim.MaxFiles {
				return fmt.Errorf("%w: more than %d files", ErrCorrupt, x.lim.MaxFiles)
			}
			f := &File{Path: p, Size: dlen, Deleted: deleted || isDel,
				Btime: exfatTime(le32(d[8:]), d[20], d[22]), Mtime: exfatTime(le32(d[12:]), d[21], d[23]),
				Atime: exfatTime(le32(d[16:]), 0, d[24]),
				ID:    fmt.Sprintf("exfat:dirent@%d cluster:%d", i, first)}
			x.content(f, first, valid, contig || f.Deleted)
			if err := fn(f); err != nil {
				return err
			}
		}
		return firstErr
	}
	return walk("/", x.rootClus, -1, false, false, 0)
}

func (x *exfatFS) chainBytes(first uint32, maxClus int64) ([]byte, error) {
	var out []byte
	seen := map[uint32]bool{}
	for c := first; int64(len(seen)) < maxClus; {
		if !x.valid(c) || seen[c] {
			return out, fmt.Errorf("%w: directory chain broken at cluster %d", ErrCorrupt, c)
		}
		seen[c] = true
		blk := make([]byte, x.csize)
		if err := readFull(x.r, blk, x.clusterOff(c)); err != nil {
			return out, err
		}
		out = append(out, blk...)
		nx, err := x.next(c)
		if err != nil {
			return out, err
		}
		if nx >= 0xFFFFFFF7 {
			return out, nil
		}
		c = nx
	}
	return out, nil
}

// content sets how a file is read: ValidDataLength bytes from its
// clusters, then zeros up to its size.
func (x *exfatFS) content(f *File, first uint32, valid int64, contiguous bool) {
	if f.Size < 0 || f.Size > x.size || valid < 0 || valid > f.Size {
		f.Err = fmt.Errorf("%w: exFAT file of %d bytes (%d valid)", ErrCorrupt, f.Size, valid)
		return
	}
	if f.Size == 0 {
		f.open = func() (io.Reader, error) { return bytes.NewReader(nil), nil }
		return
	}
	if contiguous && valid == f.Size {
		if runs, err := x.runs(first, valid, true); err == nil {
			f.dataOff, f.contiguous = runs[0].off, true
		}
	}
	f.open = func() (io.Reader, error) {
		runs, err := x.runs(first, valid, contiguous)
		if err != nil {
			return nil, err
		}
		if f.Size > valid {
			runs = append(runs, extent{-1, f.Size - valid})
			if len(runs) > 1 { // trim the last cluster run to the valid bytes
				total := int64(0)
				for _, r := range runs[:len(runs)-1] {
					total += r.n
				}
				runs[len(runs)-2].n -= total - valid
			}
		}
		return &runReader{r: x.r, runs: runs, left: f.Size}, nil
	}
}
