package diskimage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// extFS is an ext2, ext3 or ext4 file system.
type extFS struct {
	r          io.ReaderAt
	size       int64
	lim        Limits
	kind       string
	bsize      int64
	inodeSize  int64
	perGroup   uint32 // inodes per group
	ninodes    uint32
	nblocks    uint64
	groups     uint32
	descSize   int64
	descOff    int64
	incompat   uint32
	inlineData bool
}

const (
	extFeatureExtents = 0x40
	extFeature64bit   = 0x80
	extFeatureInline  = 0x8000
	extFlagExtents    = 0x80000
	extFlagInline     = 0x10000000
	extRootInode      = 2
)

func openExt(r io.ReaderAt, size int64, lim Limits) (FS, error) {
	sb := make([]byte, 1024)
	if err := readFull(r, sb, 1024); err != nil {
		return nil, fmt.Errorf("%w: ext superblock: %v", ErrCorrupt, err)
	}
	if le16(sb[56:]) != 0xEF53 {
		return nil, ErrNotImage
	}
	e := &extFS{r: r, size: size, lim: lim}
	logb := le32(sb[24:])
	if logb > 6 {
		return nil, fmt.Errorf("%w: ext block size 2^%d KiB", ErrCorrupt, logb)
	}
	e.bsize = 1024 << logb
	e.ninodes = le32(sb[0:])
	e.nblocks = uint64(le32(sb[4:]))
	e.perGroup = le32(sb[40:])
	e.incompat = le32(sb[96:])
	e.inodeSize = 128
	if le32(sb[76:]) >= 1 {
		e.inodeSize = int64(le16(sb[88:]))
	}
	e.descSize = 32
	if e.incompat&extFeature64bit != 0 {
		e.nblocks |= uint64(le32(sb[0x150:])) << 32
		if ds := int64(le16(sb[0xFE:])); ds >= 64 {
			e.descSize = ds
		}
	}
	e.inlineData = e.incompat&extFeatureInline != 0
	bpg := le32(sb[32:])
	switch {
	case e.inodeSize < 128 || e.inodeSize > e.bsize || e.inodeSize&(e.inodeSize-1) != 0:
		return nil, fmt.Errorf("%w: ext inode size %d", ErrCorrupt, e.inodeSize)
	case e.perGroup == 0 || bpg == 0 || e.descSize > 1024:
		return nil, fmt.Errorf("%w: ext group geometry", ErrCorrupt)
	case int64(e.nblocks) > size/e.bsize+1:
		return nil, fmt.Errorf("%w: ext file system of %d blocks in %d bytes", ErrCorrupt, e.nblocks, size)
	}
	first := uint64(le32(sb[20:]))
	e.groups = uint32((e.nblocks - first + uint64(bpg) - 1) / uint64(bpg))
	if uint64(e.groups)*uint64(e.perGroup) < uint64(e.ninodes) || e.groups == 0 {
		return nil, fmt.Errorf("%w: ext inode count %d for %d groups", ErrCorrupt, e.ninodes, e.groups)
	}
	e.descOff = int64(first+1) * e.bsize
	switch {
	case e.incompat&extFeatureExtents != 0:
		e.kind = "ext4"
	case le32(sb[92:])&0x4 != 0: // has_journal
		e.kind = "ext3"
	default:
		e.kind = "ext2"
	}
	return e, nil
}

func (e *extFS) Type() string { return e.kind }

// inode reads inode n.
func (e *extFS) inode(n uint32) ([]byte, error) {
	if n == 0 || n > e.ninodes {
		return nil, fmt.Errorf("%w: inode %d out of range", ErrCorrupt, n)
	}
	g, idx := (n-1)/e.perGroup, (n-1)%e.perGroup
	d := make([]byte, e.descSize)
	if err := readFull(e.r, d, e.descOff+int64(g)*e.descSize); err != nil {
		return nil, fmt.Errorf("%w: group descriptor %d: %v", ErrCorrupt, g, err)
	}
	table := uint64(le32(d[8:]))
	if e.descSize >= 64 {
		table |= uint64(le32(d[0x28:])) << 32
	}
	if table >= e.nblocks {
		return nil, fmt.Errorf("%w: inode table of group %d at block %d", ErrCorrupt, g, table)
	}
	b := make([]byte, e.inodeSize)
	if err := readFull(e.r, b, int64(table)*e.bsize+int64(idx)*e.inodeSize); err != nil {
		return nil, fmt.Errorf("%w: inode %d: %v", ErrCorrupt, n, err)
	}
	return b, nil
}

func extTime(ino []byte, off, extraOff int) time.Time {
	sec := int64(int32(le32(ino[off:])))
	var ns int64
	if extraOff > 0 && len(ino) >= 128+4 && int(le16(ino[128:]))+128 >= extraOff+4 {
		x := le32(ino[extraOff:])
		sec += int64(x&3) << 32
		ns = int64(x >> 2)
	}
	if sec == 0 && ns == 0 {
		return time.Time{}
	}
	return time.Unix(sec, ns).UTC()
}

func (e *extFS) fileSize(ino []byte) int64 {
	return int64(le32(ino[4:])) | int64(le32(ino[108:]))<<32
}

// runs maps a file's logical blocks to extents of the image, in order;
// holes are sparse runs (off -1). At most need blocks are mapped.
func (e *extFS) runs(ino []byte, size int64) ([]extent, error) {
	need := (size + e.bsize - 1) / e.bsize
	flags := le32(ino[32:])
	if flags&extFlagInline != 0 {
		return nil, fmt.Errorf("%w: inline data", ErrUnsupported)
	}
	var blocks []extent // logical order
	var next int64      // next logical block expected
	add := func(logical, phys, n int64) error {
		if logical < next {
			return fmt.Errorf("%w: extents overlap or go backwards", ErrCorrupt)
		}
		if phys <= 0 || uint64(phys+n) > e.nblocks {
			return fmt.Errorf("%w: extent at block %d beyond the file system", ErrCorrupt, phys)
		}
		if logical >= need {
			return nil
		}
		if logical > next {
			blocks = append(blocks, extent{-1, (logical - next) * e.bsize})
		}
		n = min(n, need-logical)
		if n <= 0 {
			return nil
		}
		if k := len(blocks) - 1; k >= 0 && blocks[k].off >= 0 && blocks[k].off+blocks[k].n == phys*e.bsize {
			blocks[k].n += n * e.bsize
		} else {
			blocks = append(blocks, extent{phys * e.bsize, n * e.bsize})
		}
		next = logical + n
		return nil
	}
	if flags&extFlagExtents != 0 {
		if err := e.extents(ino[40:100], 0, add); err != nil {
			return blocks, err
		}
	} else if err := e.blockMap(ino[40:100], need, add); err != nil {
		return blocks, err
	}
	if next < need {
		blocks = append(blocks, extent{-1, (need - next) * e.bsize})
	}
	return blocks, nil
}

// extents walks an extent tree node.
func (e *extFS) extents(node []byte, depth int, add func(l, p, n int64) error) error {
	if le16(node) != 0xF30A {
		return fmt.Errorf("%w: bad extent header", ErrCorrupt)
	}
	n, d := int(le16(node[2:])), int(le16(node[6:]))
	if d > 5 || depth > 5 || 12+12*n > len(node) {
		return fmt.Errorf("%w: extent node of %d entries, depth %d", ErrCorrupt, n, d)
	}
	for i := range n {
		x := node[12+12*i:]
		if d == 0 {
			l := int64(le16(x[4:]))
			if l > 32768 { // uninitialised: reads as zeros
				continue // uninitialised: reads as zeros, a hole

			}
			phys := int64(le32(x[8:])) | int64(le16(x[6:]))<<32
			if err := add(int64(le32(x)), phys, l); err != nil {
				return err
			}
			continue
		}
		leaf := int64(le32(x[4:])) | int64(le16(x[8:]))<<32
		if leaf <= 0 || uint64(leaf) >= e.nblocks {
			return fmt.Errorf("%w: extent index to block %d", ErrCorrupt, leaf)
		}
		buf := make([]byte, e.bsize)
		if err := readFull(e.r, buf, leaf*e.bsize); err != nil {
			return err
		}
		if err := e.extents(buf, depth+1, add); err != nil {
			return err
		}
	}
	return nil
}

// blockMap walks the ext2/3 direct and indirect block pointers.
func (e *extFS) blockMap(ib []byte, need int64, add func(l, p, n int64) error) error {
	per := e.bsize / 4
	var logical int64
	var walk func(blk uint32, level int) error
	walk = func(blk uint32, level int) error {
		if logical >= need {
			return nil
		}
		if level == 0 {
			if blk != 0 {
				if err := add(logical, int64(blk), 1); err != nil {
					return err
				}
			}
			logical++
			return nil
		}
		span := int64(1)
		for range level {
			span *= per
		}
		if blk == 0 {
			logical += span
			return nil
		}
		if uint64(blk) >= e.nblocks {
			return fmt.Errorf("%w: indirect block %d", ErrCorrupt, blk)
		}
		buf := make([]byte, e.bsize)
		if err := readFull(e.r, buf, int64(blk)*e.bsize); err != nil {
			return err
		}
		for i := int64(0); i < per && logical < need; i++ {
			if err := walk(le32(buf[4*i:]), level-1); err != nil {
				return err
			}
		}
		return nil
	}
	for i := range 15 {
		level := 0
		if i >= 12 {
			level = i - 11
		}
		if err := walk(le32(ib[4*i:]), level); err != nil {
			return err
		}
	}
	return nil
}

func (e *extFS) Walk(ctx context.Context, fn func(*File) error) error {
	count := 0
	visited := map[uint32]bool{}
	var walk func(dir string, ino uint32, depth int) error
	walk = func(dir string, dirIno uint32, depth int) error {
		if depth > e.lim.MaxDepth {
			return fmt.Errorf("%w: directories nested more than %d deep", ErrCorrupt, e.lim.MaxDepth)
		}
		if visited[dirIno] {
			return nil
		}
		visited[dirIno] = true
		ib, err := e.inode(dirIno)
		if err != nil {
			return fmt.Errorf("directory %s: %w", dir, err)
		}
		size := e.fileSize(ib)
		if size > int64(e.lim.MaxDirEntries)*12 {
			return fmt.Errorf("%w: directory %s of %d bytes", ErrCorrupt, dir, size)
		}
		runs, err := e.runs(ib, size)
		if err != nil {
			return fmt.Errorf("directory %s: %w", dir, err)
		}
		data, err := io.ReadAll(&runReader{r: e.r, runs: runs, left: size})
		if err != nil {
			return fmt.Errorf("directory %s: %w", dir, err)
		}
		var firstErr error
		for blk := int64(0); blk < int64(len(data)); blk += e.bsize {
			b := data[blk:min(blk+e.bsize, int64(len(data)))]
			for i := 0; i+8 <= len(b); {
				if err := ctx.Err(); err != nil {
					return err
				}
				ino, rec, nl, ft := le32(b[i:]), int(le16(b[i+4:])), int(b[i+6]), b[i+7]
				if rec < 8 || i+rec > len(b) || 8+nl > rec {
					break // the rest of the block is not a chain of entries
				}
				name := string(b[i+8 : i+8+nl])
				// Entries deleted after this one hide in the slack of its record.
				for _, d := range slackEntries(b[i+(8+nl+3)&^3 : i+rec]) {
					if d.ft == 1 || d.ft == 0 {
						count++
						f := e.deletedFile(path.Join(dir, d.name), d.ino)
						if err := fn(f); err != nil {
							return err
						}
					}
				}
				i += rec
				if ino == 0 || name == "." || name == ".." || nl == 0 {
					continue
				}
				p := path.Join(dir, name)
				if ft == 2 {
					if err := walk(p, ino, depth+1); err != nil && firstErr == nil {
						firstErr = err
					}
					continue
				}
				if ft != 1 && ft != 0 {
					continue // symlinks, devices, fifos, sockets: no content to hash
				}
				count++
				if count > e.lim.MaxFiles {
					return fmt.Errorf("%w: more than %d files", ErrCorrupt, e.lim.MaxFiles)
				}
				f := e.file(p, ino)
				if f == nil {
					continue
				}
				if err := fn(f); err != nil {
					return err
				}
			}
		}
		return firstErr
	}
	return walk("/", extRootInode, 0)
}

// file describes the regular file at inode ino; nil when the inode is not
// a regular file.
func (e *extFS) file(p string, ino uint32) *File {
	f := &File{Path: p, ID: fmt.Sprintf("inode:%d", ino)}
	ib, err := e.inode(ino)
	if err != nil {
		f.Err = err
		return f
	}
	if le16(ib)&0xF000 != 0x8000 {
		if le16(ib)&0xF000 == 0x4000 {
			return nil
		}
		if le16(ib) == 0 {
			f.Err = fmt.Errorf("%w: inode %d is not in use", ErrCorrupt, ino)
			return f
		}
		return nil
	}
	f.Size = e.fileSize(ib)
	f.Atime, f.Ctime, f.Mtime = extTime(ib, 8, 0x8C), extTime(ib, 12, 0x84), extTime(ib, 16, 0x88)
	if e.inodeSize > 128 {
		f.Btime = extTime(ib, 0x90, 0x94)
	}
	if f.Size < 0 || f.Size > e.size {
		f.Err = fmt.Errorf("%w: inode %d claims %d bytes", ErrCorrupt, ino, f.Size)
		return f
	}
	if f.Size == 0 {
		f.open = func() (io.Reader, error) { return bytes.NewReader(nil), nil }
		return f
	}
	f.open = func() (io.Reader, error) {
		runs, err := e.runs(ib, f.Size)
		if err != nil {
			return nil, err
		}
		return &runReader{r: e.r, runs: runs, left: f.Size}, nil
	}
	return f
}

type dirent struct {
	ino  uint32
	name string
	ft   byte
}

// slackEntries parses the deleted directory entries left in the unused
// tail of a directory record.
func slackEntries(b []byte) []dirent {
	var out []dirent
	for i := 0; i+8 <= len(b); {
		ino, nl, ft := le32(b[i:]), int(b[i+6]), b[i+7]
		if ino == 0 || nl == 0 || 8+nl > len(b)-i || ft > 7 {
			i += 4
			continue
		}
		name := string(b[i+8 : i+8+nl])
		if name != "." && name != ".." && !strings.ContainsRune(name, '/') && !strings.ContainsRune(name, 0) {
			out = append(out, dirent{ino, name, ft})
		}
		i += (8 + nl + 3) &^ 3 // rec_len of a deleted entry may span others: step over the name only
	}
	return out
}

// deletedFile describes a file named by a deleted directory entry. ext4
// clears a deleted inode's block map, so its content is rarely
// recoverable: then the file is listed with an error saying so.
func (e *extFS) deletedFile(p string, ino uint32) *File {
	f := e.file(p, ino)
	if f == nil {
		f = &File{Path: p, ID: fmt.Sprintf("inode:%d", ino)}
	}
	f.Deleted = true
	ib, err := e.inode(ino)
	if err != nil {
		f.Err = err
		return f
	}
	if f.Err == nil && f.Size > 0 {
		runs, err := e.runs(ib, f.Size)
		if err != nil || allSparse(runs) {
			f.Err, f.open = fmt.Errorf("%w: the deleted file's block map was cleared: content not recoverable", ErrUnsupported), nil
		}
	}
	if f.Err != nil {
		f.open = nil
	}
	return f
}

func allSparse(runs []extent) bool {
	for _, r := range runs {
		if r.off >= 0 {
			return false
		}
	}
	return true
}
