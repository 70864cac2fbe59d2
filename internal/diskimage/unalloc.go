package diskimage

import (
	"context"
	"fmt"
	"io"
	"slices"

	ntfs "www.velocidex.com/golang/go-ntfs/parser"
)

// Extent is a run of bytes: N bytes from Off.
type Extent struct {
	Off, N int64
}

// End is the offset just past the extent.
func (e Extent) End() int64 { return e.Off + e.N }

// Unallocator is implemented by the file systems of this package (FAT,
// exFAT, ext and NTFS): it lists the bytes of the volume no file,
// directory or metadata of the file system holds, as the file system's own
// allocation records say (the FAT, exFAT's allocation bitmap, ext's block
// bitmaps, NTFS's $Bitmap), plus the volume's bytes past the end of the
// file system.
type Unallocator interface {
	// Unallocated calls fn with the unallocated extents of the volume in
	// increasing order, adjacent ones merged, offsets from the volume's
	// start. It stops at fn's first error or when ctx ends.
	Unallocated(ctx context.Context, fn func(Extent) error) error
}

// UnallocatedArea is a region of an image whose unallocated bytes are
// listed together: one volume's free space, or the space outside every
// partition.
type UnallocatedArea struct {
	// Volume is the volume's name ("p2"; "" for a file system that fills
	// the image), or "" with Outside set.
	Volume string
	// Outside marks the space no partition covers: gaps between
	// partitions, the unpartitioned end of the disk (the partition table's
	// own first sector excluded).
	Outside bool
	// VolumeOffset is where the volume starts in the image (0 when Outside).
	VolumeOffset int64
	// Whole marks a volume whose file system is not recognised: all of it
	// is listed.
	Whole bool
}

// Unallocated calls fn with the unallocated extents of img (size bytes),
// volume by volume in image order and then the space outside every
// partition; extent offsets are from the start of the image. A volume
// without a recognised file system is listed whole. A volume whose file
// system cannot list its free space is reported through fn's caller as an
// error after the other areas, never by listing allocated bytes.
func (img *Image) Unallocated(ctx context.Context, r io.ReaderAt, size int64, fn func(UnallocatedArea, Extent) error) error {
	var firstErr error
	for _, v := range img.Volumes {
		area := UnallocatedArea{Volume: v.Name, VolumeOffset: v.Offset}
		end := min(v.Offset+v.Size, size)
		if v.FS == nil {
			area.Whole = true
			if v.Offset < end {
				if err := fn(area, Extent{v.Offset, end - v.Offset}); err != nil {
					return err
				}
			}
			continue
		}
		u, ok := v.FS.(Unallocator)
		if !ok {
			continue
		}
		err := u.Unallocated(ctx, func(e Extent) error {
			e.Off += v.Offset
			if e.Off >= end {
				return nil
			}
			e.N = min(e.N, end-e.Off)
			return fn(area, e)
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if firstErr == nil {
				firstErr = fmt.Errorf("volume %s: unallocated space: %w", volumeLabel(v.Name), err)
			}
		}
	}
	for _, e := range img.outside(size) {
		if err := fn(UnallocatedArea{Outside: true}, e); err != nil {
			return err
		}
	}
	return firstErr
}

// outside returns the extents of [0, size) no volume covers, without the
// first sector (the MBR); nothing when a file system fills the image.
func (img *Image) outside(size int64) []Extent {
	if len(img.Volumes) == 0 || img.Volumes[0].Name == "" {
		return nil
	}
	vs := slices.Clone(img.Volumes)
	slices.SortFunc(vs, func(a, b Volume) int { return int(min(max(a.Offset-b.Offset, -1), 1)) })
	var out []Extent
	pos := int64(sector)
	for _, v := range vs {
		if v.Offset > pos {
			out = append(out, Extent{pos, min(v.Offset, size) - pos})
		}
		pos = max(pos, v.Offset+v.Size)
	}
	if pos < size {
		out = append(out, Extent{pos, size - pos})
	}
	return out
}

func volumeLabel(n string) string {
	if n == "" {
		return "whole image"
	}
	return n
}

// extentMerger merges adjacent extents before handing them on.
type extentMerger struct {
	fn  func(Extent) error
	cur Extent
}

func (m *extentMerger) add(off, n int64) error {
	if n <= 0 {
		return nil
	}
	if m.cur.N > 0 && m.cur.End() == off {
		m.cur.N += n
		return nil
	}
	if err := m.flush(); err != nil {
		return err
	}
	m.cur = Extent{off, n}
	return nil
}

func (m *extentMerger) flush() error {
	if m.cur.N <= 0 {
		return nil
	}
	e := m.cur
	m.cur = Extent{}
	return m.fn(e)
}

// tableReader reads a table of the image (a FAT, a bitmap) in blocks, so
// one entry costs no read of its own and the whole table is never held.
type tableReader struct {
	r        io.ReaderAt
	off, len int64 // the table in the image
	buf      []byte
	bufOff   int64 // table offset of buf[0]
}

const tableBlock = 256 << 10

// at returns n bytes at table offset i; nil past the table's end.
func (t *tableReader) at(i, n int64) []byte {
	if i < 0 || i+n > t.len {
		return nil
	}
	if t.buf == nil || i < t.bufOff || i+n > t.bufOff+int64(len(t.buf)) {
		want := min(int64(tableBlock), t.len-i)
		if cap(t.buf) < tableBlock {
			t.buf = make([]byte, tableBlock)
		}
		m, _ := t.r.ReadAt(t.buf[:want], t.off+i)
		t.buf, t.bufOff = t.buf[:m], i
		if int64(m) < n {
			return nil
		}
	}
	return t.buf[i-t.bufOff : i-t.bufOff+n]
}

// bitmapFree calls add for the runs of clear bits of a bitmap read from
// r (bit i, least significant first, stands for unit i of count); a
// bitmap shorter than count leaves the rest allocated.
func bitmapFree(ctx context.Context, r io.Reader, count int64, add func(first, n int64) error) error {
	buf := make([]byte, 64<<10)
	var unit, runStart int64 = 0, -1
	flush := func(end int64) error {
		if runStart >= 0 {
			err := add(runStart, end-runStart)
			runStart = -1
			return err
		}
		return nil
	}
	for unit < count {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := r.Read(buf)
		for _, b := range buf[:n] {
			if unit >= count {
				break
			}
			switch {
			case b == 0 && unit+8 <= count:
				if runStart < 0 {
					runStart = unit
				}
				unit += 8
				continue
			case b == 0xFF:
				if ferr := flush(unit); ferr != nil {
					return ferr
				}
				unit += 8
				continue
			}
			for bit := 0; bit < 8 && unit < count; bit++ {
				if b&(1<<bit) == 0 {
					if runStart < 0 {
						runStart = unit
					}
				} else if ferr := flush(unit); ferr != nil {
					return ferr
				}
				unit++
			}
		}
		if err != nil {
			if err == io.EOF {
				break
			}
			return err
		}
	}
	return flush(min(unit, count))
}

// Unallocated lists the clusters the FAT marks free (entry 0) and the
// volume past the last cluster.
func (f *fatFS) Unallocated(ctx context.Context, fn func(Extent) error) error {
	m := extentMerger{fn: fn}
	var width int64 = 4
	switch f.kind {
	case "fat12":
		width = 2
	case "fat16":
		width = 2
	}
	fatLen := int64(f.nclus+2)*4 + 4
	if f.kind == "fat12" {
		fatLen = int64(f.nclus+2)*3/2 + 2
	} else if f.kind == "fat16" {
		fatLen = int64(f.nclus+2)*2 + 2
	}
	t := &tableReader{r: f.r, off: f.fatOff, len: min(fatLen, f.size-f.fatOff)}
	for c := uint32(2); c < f.nclus+2; c++ {
		if c%(1<<16) == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var v uint32
		switch f.kind {
		case "fat12":
			b := t.at(int64(c)+int64(c)/2, width)
			if b == nil {
				return fmt.Errorf("%w: FAT entry %d beyond the FAT", ErrCorrupt, c)
			}
			v = uint32(le16(b))
			if c&1 == 1 {
				v >>= 4
			}
			v &= 0xFFF
		case "fat16":
			b := t.at(int64(c)*2, width)
			if b == nil {
				return fmt.Errorf("%w: FAT entry %d beyond the FAT", ErrCorrupt, c)
			}
			v = uint32(le16(b))
		default:
			b := t.at(int64(c)*4, width)
			if b == nil {
				return fmt.Errorf("%w: FAT entry %d beyond the FAT", ErrCorrupt, c)
			}
			v = le32(b) & 0x0FFFFFFF
		}
		if v == 0 {
			if err := m.add(f.clusterOff(c), f.csize); err != nil {
				return err
			}
		}
	}
	if err := m.add(f.dataOff+int64(f.nclus)*f.csize, f.size-f.dataOff-int64(f.nclus)*f.csize); err != nil {
		return err
	}
	return m.flush()
}

// Unallocated lists the clusters exFAT's allocation bitmap marks free and
// the volume past the cluster heap.
func (x *exfatFS) Unallocated(ctx context.Context, fn func(Extent) error) error {
	root, err := x.chainBytes(x.rootClus, max(1, (64<<10)/x.csize))
	if len(root) == 0 {
		return fmt.Errorf("root directory: %w", err)
	}
	var first uint32
	var n int64
	for i := 0; i+32 <= len(root) && root[i] != 0; i += 32 {
		if root[i] == 0x81 {
			first, n = le32(root[i+20:]), int64(le64(root[i+24:]))
			break
		}
	}
	need := (int64(x.nclus) + 7) / 8
	if first == 0 || n < need || n > x.size {
		return fmt.Errorf("%w: exFAT allocation bitmap (cluster %d, %d bytes)", ErrCorrupt, first, n)
	}
	runs, err := x.runs(first, need, false)
	if err != nil {
		if runs, err = x.runs(first, need, true); err != nil {
			return fmt.Errorf("allocation bitmap: %w", err)
		}
	}
	m := extentMerger{fn: fn}
	err = bitmapFree(ctx, &runReader{r: x.r, runs: runs, left: need}, int64(x.nclus), func(c, k int64) error {
		return m.add(x.heapOff+c*x.csize, k*x.csize)
	})
	if err != nil {
		return fmt.Errorf("allocation bitmap: %w", err)
	}
	end := x.heapOff + int64(x.nclus)*x.csize
	if err := m.add(end, x.size-end); err != nil {
		return err
	}
	return m.flush()
}

// ext feature bits the free-space listing needs.
const (
	extCompatSparseSuper2 = 0x200
	extROSparseSuper      = 0x1
	extROGdtCsum          = 0x10
	extROMetadataCsum     = 0x400
	extIncompatMetaBG     = 0x10
	extBlockUninit        = 0x2
)

// Unallocated lists the blocks ext's block bitmaps mark free (a group
// whose bitmap was never initialised is free but for the metadata placed
// in it, flex_bg groups included) and the volume past the last block.
func (e *extFS) Unallocated(ctx context.Context, fn func(Extent) error) error {
	sb := make([]byte, 1024)
	if err := readFull(e.r, sb, 1024); err != nil {
		return fmt.Errorf("%w: ext superblock: %v", ErrCorrupt, err)
	}
	first, bpg := int64(le32(sb[20:])), int64(le32(sb[32:]))
	compat, ro := le32(sb[92:]), le32(sb[100:])
	if bpg <= 0 || bpg > e.bsize*8 {
		return fmt.Errorf("%w: %d blocks per group", ErrCorrupt, bpg)
	}
	uninitOK := ro&(extROGdtCsum|extROMetadataCsum) != 0 && e.incompat&extIncompatMetaBG == 0
	type desc struct {
		bitmap int64
		uninit bool
	}
	descs := make([]desc, 0, min(int(e.groups), 1<<16))
	var meta []Extent // metadata blocks of every group, for uninitialised groups
	itBlocks := (int64(e.perGroup)*e.inodeSize + e.bsize - 1) / e.bsize
	d := make([]byte, e.descSize)
	anyUninit := false
	for g := range int64(e.groups) {
		if err := readFull(e.r, d, e.descOff+g*e.descSize); err != nil {
			return fmt.Errorf("%w: group descriptor %d: %v", ErrCorrupt, g, err)
		}
		hi := func(o int) int64 {
			if e.descSize >= 64 {
				return int64(le32(d[o:])) << 32
			}
			return 0
		}
		bb := int64(le32(d[0:])) | hi(0x20)
		ib := int64(le32(d[4:])) | hi(0x24)
		it := int64(le32(d[8:])) | hi(0x28)
		un := uninitOK && le16(d[0x12:])&extBlockUninit != 0
		anyUninit = anyUninit || un
		descs = append(descs, desc{bb, un})
		meta = append(meta, Extent{bb, 1}, Extent{ib, 1}, Extent{it, itBlocks})
	}
	if anyUninit {
		gdt := (int64(e.groups)*e.descSize + e.bsize - 1) / e.bsize
		resv := int64(le16(sb[0xCE:]))
		for g := range int64(e.groups) {
			if extHasSuper(g, compat, ro, sb) {
				meta = append(meta, Extent{first + g*bpg, 1 + gdt + resv})
			}
		}
		slices.SortFunc(meta, func(a, b Extent) int { return int(min(max(a.Off-b.Off, -1), 1)) })
	}
	maxMeta := max(itBlocks, 1+(int64(e.groups)*e.descSize+e.bsize-1)/e.bsize+int64(le16(sb[0xCE:])))
	m := extentMerger{fn: fn}
	nb := int64(e.nblocks)
	buf := make([]byte, e.bsize)
	for g, ds := range descs {
		start := first + int64(g)*bpg
		count := min(bpg, nb-start)
		if count <= 0 {
			break
		}
		if ds.uninit {
			// Free but for the metadata blocks that lie in the group.
			pos := start
			i, _ := slices.BinarySearchFunc(meta, start-maxMeta, func(x Extent, t int64) int { return int(min(max(x.Off-t, -1), 1)) })
			for _, x := range meta[i:] {
				if x.Off >= start+count {
					break
				}
				if x.End() <= pos {
					continue
				}
				if x.Off > pos {
					if err := m.add(pos*e.bsize, (x.Off-pos)*e.bsize); err != nil {
						return err
					}
				}
				pos = max(pos, x.End())
			}
			if end := start + count; pos < end {
				if err := m.add(pos*e.bsize, (end-pos)*e.bsize); err != nil {
					return err
				}
			}
			continue
		}
		if ds.bitmap <= 0 || ds.bitmap >= nb {
			return fmt.Errorf("%w: block bitmap of group %d at block %d", ErrCorrupt, g, ds.bitmap)
		}
		if err := readFull(e.r, buf, ds.bitmap*e.bsize); err != nil {
			return fmt.Errorf("%w: block bitmap of group %d: %v", ErrCorrupt, g, err)
		}
		err := bitmapFree(ctx, &singleRead{b: buf}, count, func(b, k int64) error {
			return m.add((start+b)*e.bsize, k*e.bsize)
		})
		if err != nil {
			return err
		}
	}
	if err := m.add(nb*e.bsize, e.size-nb*e.bsize); err != nil {
		return err
	}
	return m.flush()
}

// extHasSuper reports whether group g holds a backup superblock and
// group descriptor table.
func extHasSuper(g int64, compat, ro uint32, sb []byte) bool {
	if g == 0 {
		return true
	}
	if compat&extCompatSparseSuper2 != 0 {
		return g == int64(le32(sb[0x24C:])) || g == int64(le32(sb[0x250:]))
	}
	if ro&extROSparseSuper == 0 {
		return true
	}
	if g == 1 {
		return true
	}
	for _, b := range []int64{3, 5, 7} {
		p := b
		for p < g {
			p *= b
		}
		if p == g {
			return true
		}
	}
	return false
}

// singleRead is an io.Reader of one buffer.
type singleRead struct{ b []byte }

func (s *singleRead) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

// Unallocated lists the clusters NTFS's $Bitmap marks free and the volume
// past the last cluster.
func (n *ntfsFS) Unallocated(ctx context.Context, fn func(Extent) error) (err error) {
	defer recoverInto(&err)
	boot := make([]byte, 512)
	if err := readFull(n.r, boot, 0); err != nil {
		return fmt.Errorf("%w: NTFS boot sector: %v", ErrCorrupt, err)
	}
	bps, spc := int64(le16(boot[11:])), int64(boot[13])
	if spc > 0x80 { // 2^(256-n) sectors per cluster
		spc = 1 << (256 - spc)
	}
	csize := bps * spc
	if csize <= 0 || csize != n.ctx.ClusterSize {
		return fmt.Errorf("%w: NTFS cluster size %d", ErrCorrupt, csize)
	}
	nclus := int64(le64(boot[0x28:])) / spc
	if nclus <= 0 || nclus*csize > n.size+csize {
		return fmt.Errorf("%w: NTFS volume of %d clusters", ErrCorrupt, nclus)
	}
	e, err := n.ctx.GetMFT(6)
	if err != nil {
		return fmt.Errorf("%w: $Bitmap record: %v", ErrCorrupt, err)
	}
	stream, err := ntfs.OpenStream(n.ctx, e, 128, ntfs.WILDCARD_STREAM_ID, ntfs.WILDCARD_STREAM_NAME)
	if err != nil {
		return fmt.Errorf("%w: $Bitmap data: %v", ErrCorrupt, err)
	}
	need := (nclus + 7) / 8
	if ntfs.RangeSize(stream) < need {
		return fmt.Errorf("%w: $Bitmap of %d bytes for %d clusters", ErrCorrupt, ntfs.RangeSize(stream), nclus)
	}
	m := extentMerger{fn: fn}
	err = bitmapFree(ctx, io.NewSectionReader(safeReaderAt{stream}, 0, need), nclus, func(c, k int64) error {
		return m.add(c*csize, k*csize)
	})
	if err != nil {
		return fmt.Errorf("$Bitmap: %w", err)
	}
	// Past the last sector is the backup boot sector, then the volume's end.
	tail := (int64(le64(boot[0x28:])) + 1) * bps
	if err := m.add(tail, n.size-tail); err != nil {
		return err
	}
	return m.flush()
}
