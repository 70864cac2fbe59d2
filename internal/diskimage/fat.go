package diskimage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
)

// fatFS is a FAT12, FAT16 or FAT32 file system.
type fatFS struct {
	r        io.ReaderAt
	size     int64
	lim      Limits
	kind     string // fat12, fat16, fat32
	bps      int64  // bytes per sector
	csize    int64  // bytes per cluster
	fatOff   int64  // first FAT
	rootOff  int64  // FAT12/16 fixed root directory
	rootLen  int64
	rootClus uint32     // FAT32 root cluster
	dataOff  int64      // cluster 2
	nclus    uint32     // clusters 2..nclus+1
	mu       sync.Mutex // guards cache: files are read while the walk goes on
	cache    fatCache
}

// fatCache keeps one block of the FAT in memory.
type fatCache struct {
	off int64
	buf []byte
}

const fatCacheBlock = 64 << 10

// looksFAT checks a FAT boot sector's BIOS parameter block.
func looksFAT(b []byte) bool {
	if b[510] != 0x55 || b[511] != 0xAA || (b[0] != 0xEB && b[0] != 0xE9) {
		return false
	}
	bps, spc := le16(b[11:]), b[13]
	okPow := func(v int) bool { return v > 0 && v&(v-1) == 0 }
	return bps >= 512 && bps <= 4096 && okPow(int(bps)) && okPow(int(spc)) && le16(b[14:]) > 0 &&
		(b[16] == 1 || b[16] == 2) && (le16(b[22:]) > 0 || le32(b[36:]) > 0)
}

func openFAT(r io.ReaderAt, size int64, lim Limits) (FS, error) {
	b := make([]byte, 512)
	if err := readFull(r, b, 0); err != nil {
		return nil, fmt.Errorf("%w: FAT boot sector: %v", ErrCorrupt, err)
	}
	if !looksFAT(b) {
		return nil, ErrNotImage
	}
	f := &fatFS{r: r, size: size, lim: lim}
	f.bps = int64(le16(b[11:]))
	f.csize = f.bps * int64(b[13])
	rsvd, nfats, rootEnt := int64(le16(b[14:])), int64(b[16]), int64(le16(b[17:]))
	tot := int64(le16(b[19:]))
	if tot == 0 {
		tot = int64(le32(b[32:]))
	}
	fatsz := int64(le16(b[22:]))
	if fatsz == 0 {
		fatsz = int64(le32(b[36:]))
	}
	rootSecs := (rootEnt*32 + f.bps - 1) / f.bps
	first := rsvd + nfats*fatsz + rootSecs
	if tot <= first || tot*f.bps > size+f.bps*64 { // a little slack for images cut at the end
		return nil, fmt.Errorf("%w: FAT geometry does not fit the volume (%d sectors, %d bytes)", ErrCorrupt, tot, size)
	}
	n := (tot - first) / (f.csize / f.bps)
	switch {
	case n < 4085:
		f.kind = "fat12"
	case n < 65525:
		f.kind = "fat16"
	default:
		f.kind = "fat32"
		f.rootClus = le32(b[44:])
	}
	if n > 0x0FFFFFF5 {
		return nil, fmt.Errorf("%w: %d clusters", ErrCorrupt, n)
	}
	f.nclus = uint32(n)
	f.fatOff = rsvd * f.bps
	f.rootOff = (rsvd + nfats*fatsz) * f.bps
	f.rootLen = rootSecs * f.bps
	f.dataOff = first * f.bps
	if f.kind == "fat32" && !f.valid(f.rootClus) {
		return nil, fmt.Errorf("%w: FAT32 root cluster %d", ErrCorrupt, f.rootClus)
	}
	return f, nil
}

func (f *fatFS) Type() string { return f.kind }

func (f *fatFS) valid(c uint32) bool { return c >= 2 && c < f.nclus+2 }

func (f *fatFS) clusterOff(c uint32) int64 { return f.dataOff + int64(c-2)*f.csize }

// next returns the FAT entry of cluster c.
func (f *fatFS) next(c uint32) (uint32, error) {
	var off int64
	switch f.kind {
	case "fat12":
		off = int64(c) + int64(c)/2
	case "fat16":
		off = int64(c) * 2
	default:
		off = int64(c) * 4
	}
	blk := off / fatCacheBlock * fatCacheBlock
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cache.buf == nil || f.cache.off != blk {
		buf := make([]byte, fatCacheBlock+4)
		n, _ := f.r.ReadAt(buf, f.fatOff+blk)
		f.cache.buf, f.cache.off = buf[:n], blk
	}
	i := off - blk
	if i+4 > int64(len(f.cache.buf)) && (f.kind == "fat32" || i+2 > int64(len(f.cache.buf))) {
		return 0, fmt.Errorf("%w: FAT entry %d beyond the FAT", ErrCorrupt, c)
	}
	switch f.kind {
	case "fat12":
		v := uint32(le16(f.cache.buf[i:]))
		if c&1 == 1 {
			return v >> 4, nil
		}
		return v & 0xFFF, nil
	case "fat16":
		return uint32(le16(f.cache.buf[i:])), nil
	}
	return le32(f.cache.buf[i:]) & 0x0FFFFFFF, nil
}

func (f *fatFS) isEnd(v uint32) bool {
	switch f.kind {
	case "fat12":
		return v >= 0xFF8
	case "fat16":
		return v >= 0xFFF8
	}
	return v >= 0x0FFFFFF8
}

// chain returns the clusters of a chain from start, at most max of them;
// a loop, a free or bad cluster in the chain or a cluster out of range is
// ErrCorrupt.
func (f *fatFS) chain(start uint32, max int64) ([]uint32, error) {
	var out []uint32
	seen := map[uint32]bool{}
	for c := start; ; {
		if !f.valid(c) {
			return out, fmt.Errorf("%w: cluster %d out of range", ErrCorrupt, c)
		}
		if seen[c] {
			return out, fmt.Errorf("%w: cluster chain loops at %d", ErrCorrupt, c)
		}
		seen[c] = true
		out = append(out, c)
		if int64(len(out)) >= max {
			return out, nil
		}
		nx, err := f.next(c)
		if err != nil {
			return out, err
		}
		if f.isEnd(nx) {
			return out, nil
		}
		c = nx
	}
}

// runReader reads a file's content from a list of extents.
type extent struct{ off, n int64 }

type runReader struct {
	r    io.ReaderAt
	runs []extent
	left int64
}

func (rr *runReader) Read(p []byte) (int, error) {
	if rr.left <= 0 {
		return 0, io.EOF
	}
	for len(rr.runs) > 0 && rr.runs[0].n == 0 {
		rr.runs = rr.runs[1:]
	}
	if len(rr.runs) == 0 {
		return 0, fmt.Errorf("%w: data runs end %d bytes before the file does", ErrCorrupt, rr.left)
	}
	run := &rr.runs[0]
	n := min(int64(len(p)), run.n, rr.left)
	var m int
	var err error
	if run.off < 0 { // sparse
		clear(p[:n])
		m = int(n)
	} else {
		m, err = rr.r.ReadAt(p[:n], run.off)
		if m < int(n) && err == nil {
			err = io.ErrUnexpectedEOF
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
	}
	if run.off >= 0 {
		run.off += int64(m)
	}
	run.n -= int64(m)
	rr.left -= int64(m)
	return m, err
}

func clusterRuns(f *fatFS, cl []uint32) []extent {
	var runs []extent
	for _, c := range cl {
		off := f.clusterOff(c)
		if k := len(runs) - 1; k >= 0 && runs[k].off+runs[k].n == off {
			runs[k].n += f.csize
			continue
		}
		runs = append(runs, extent{off, f.csize})
	}
	return runs
}

// dirBytes reads a directory: the fixed root of FAT12/16, else a chain.
func (f *fatFS) dirBytes(start uint32) ([]byte, error) {
	if start == 0 {
		if f.kind == "fat32" {
			start = f.rootClus
		} else {
			buf := make([]byte, f.rootLen)
			return buf, readFull(f.r, buf, f.rootOff)
		}
	}
	maxClus := (int64(f.lim.MaxDirEntries)*32 + f.csize - 1) / f.csize
	cl, err := f.chain(start, maxClus)
	buf := make([]byte, 0, int64(len(cl))*f.csize)
	for _, c := range cl {
		blk := make([]byte, f.csize)
		if rerr := readFull(f.r, blk, f.clusterOff(c)); rerr != nil {
			return buf, rerr
		}
		buf = append(buf, blk...)
	}
	return buf, err
}

// fatTime converts a FAT date and time (local, no zone) to a time given as UTC.
func fatTime(d, t uint16, tenths byte) time.Time {
	if d == 0 {
		return time.Time{}
	}
	ns := int(tenths) % 200 * 10 * int(time.Millisecond)
	return time.Date(1980+int(d>>9), time.Month(d>>5&15), int(d&31), int(t>>11), int(t>>5&63), int(t&31)*2, ns, time.UTC)
}

func (f *fatFS) Walk(ctx context.Context, fn func(*File) error) error {
	count := 0
	visited := map[uint32]bool{}
	var walk func(dir string, start uint32, deleted bool, depth int) error
	walk = func(dir string, start uint32, deleted bool, depth int) error {
		if depth > f.lim.MaxDepth {
			return fmt.Errorf("%w: directories nested more than %d deep", ErrCorrupt, f.lim.MaxDepth)
		}
		if start != 0 {
			if visited[start] {
				return nil // a directory reached twice (a loop, or a deleted entry naming a live directory)
			}
			visited[start] = true
		}
		buf, derr := f.dirBytes(start)
		var firstErr error
		if derr != nil && !deleted {
			firstErr = fmt.Errorf("directory %s: %w", dir, derr)
		}
		var lfn []uint16
		var lfnParts [][]uint16
		for i := 0; i+32 <= len(buf); i += 32 {
			if err := ctx.Err(); err != nil {
				return err
			}
			d := buf[i : i+32]
			if d[0] == 0 {
				break
			}
			attr := d[11]
			isDel := d[0] == 0xE5
			if attr&0x3F == 0x0F { // long name part
				part := make([]uint16, 0, 13)
				for _, o := range []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
					part = append(part, le16(d[o:]))
				}
				lfnParts = append(lfnParts, part)
				continue
			}
			lfn = lfn[:0]
			for k := len(lfnParts) - 1; k >= 0; k-- {
				lfn = append(lfn, lfnParts[k]...)
			}
			lfnParts = lfnParts[:0]
			if attr&0x08 != 0 { // volume label
				continue
			}
			name := longName(lfn)
			if name == "" {
				name = shortName(d)
			}
			if name == "." || name == ".." {
				continue
			}
			clus := uint32(le16(d[26:]))
			if f.kind == "fat32" {
				clus |= uint32(le16(d[20:])) << 16
			}
			p := path.Join(dir, name)
			if attr&0x10 != 0 {
				if clus != 0 && f.valid(clus) && !(isDel && depth >= 1 && deleted) {
					if err := walk(p, clus, deleted || isDel, depth+1); err != nil && firstErr == nil {
						firstErr = err
					}
				}
				continue
			}
			count++
			if count > f.lim.MaxFiles {
				return fmt.Errorf("%w: more than %d files", ErrCorrupt, f.lim.MaxFiles)
			}
			file := &File{Path: p, Size: int64(le32(d[28:])), Deleted: deleted || isDel,
				Btime: fatTime(le16(d[16:]), le16(d[14:]), d[13]),
				Atime: fatTime(le16(d[18:]), 0, 0),
				Mtime: fatTime(le16(d[24:]), le16(d[22:]), 0),
				ID:    fmt.Sprintf("fat:dirent@%d cluster:%d", f.direntOff(start, i), clus)}
			f.content(file, clus)
			if err := fn(file); err != nil {
				return err
			}
		}
		return firstErr
	}
	return walk("/", 0, false, 0)
}

// direntOff is the byte offset of directory entry i of the directory at
// start within the volume (best effort for chained directories: the first
// cluster's run).
func (f *fatFS) direntOff(start uint32, i int) int64 {
	if start == 0 && f.kind != "fat32" {
		return f.rootOff + int64(i)
	}
	if start == 0 {
		start = f.rootClus
	}
	cl, _ := f.chain(start, int64(i)/f.csize+1)
	if len(cl) == 0 {
		return -1
	}
	return f.clusterOff(cl[len(cl)-1]) + int64(i)%f.csize
}

// content sets how a file's bytes are read: its cluster chain, or for a
// deleted file (whose chain the FAT no longer holds) the clusters that
// follow its first one, as recovery tools assume.
func (f *fatFS) content(file *File, clus uint32) {
	if file.Size == 0 {
		file.open = func() (io.Reader, error) { return bytes.NewReader(nil), nil }
		return
	}
	need := (file.Size + f.csize - 1) / f.csize
	if !f.valid(clus) {
		file.Err = fmt.Errorf("%w: first cluster %d out of range", ErrCorrupt, clus)
		return
	}
	if file.Size > int64(f.nclus)*f.csize {
		file.Err = fmt.Errorf("%w: size %d larger than the volume", ErrCorrupt, file.Size)
		return
	}
	if file.Deleted {
		if int64(clus-2)+need > int64(f.nclus) {
			file.Err = fmt.Errorf("%w: deleted file runs past the volume", ErrCorrupt)
			return
		}
		runs := []extent{{f.clusterOff(clus), need * f.csize}}
		file.dataOff, file.contiguous = runs[0].off, true
		file.open = func() (io.Reader, error) { return &runReader{r: f.r, runs: runs, left: file.Size}, nil }
		return
	}
	file.open = func() (io.Reader, error) {
		cl, err := f.chain(clus, need)
		if err != nil {
			return nil, err
		}
		if int64(len(cl)) < need {
			return nil, fmt.Errorf("%w: cluster chain of %d clusters for %d bytes", ErrCorrupt, len(cl), file.Size)
		}
		return &runReader{r: f.r, runs: clusterRuns(f, cl), left: file.Size}, nil
	}
}

func longName(u []uint16) string {
	for i, c := range u {
		if c == 0 || c == 0xFFFF {
			u = u[:i]
			break
		}
	}
	return string(utf16.Decode(u))
}

// shortName renders an 8.3 entry; a deleted entry's lost first byte is "_".
func shortName(d []byte) string {
	b := append([]byte{}, d[:11]...)
	switch b[0] {
	case 0xE5:
		b[0] = '_'
	case 0x05:
		b[0] = 0xE5
	}
	base := strings.TrimRight(string(latin1(b[:8])), " ")
	ext := strings.TrimRight(string(latin1(b[8:11])), " ")
	if d[12]&0x08 != 0 {
		base = strings.ToLower(base)
	}
	if d[12]&0x10 != 0 {
		ext = strings.ToLower(ext)
	}
	if ext == "" {
		return base
	}
	return base + "." + ext
}

func latin1(b []byte) []rune {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return r
}
