package diskimage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	ntfs "www.velocidex.com/golang/go-ntfs/parser"
)

// ntfsFS reads NTFS through go-ntfs: the MFT is enumerated record by
// record (records not in use included, which is how deleted files are
// found), content through each record's $DATA runs.
type ntfsFS struct {
	r       io.ReaderAt
	size    int64
	lim     Limits
	ctx     *ntfs.NTFSContext
	mftSize int64
}

// ntfsPageSize and ntfsPages bound go-ntfs's read cache (4 MiB).
const (
	ntfsPageSize = 4096
	ntfsPages    = 1024
)

func openNTFS(r io.ReaderAt, size int64, lim Limits) (fsys FS, err error) {
	defer recoverInto(&err)
	pr, err := ntfs.NewPagedReader(r, ntfsPageSize, ntfsPages)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	nctx, err := ntfs.GetNTFSContext(pr, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: NTFS boot sector: %v", ErrCorrupt, err)
	}
	if v := nctx.Boot.VolumeSize(); v <= 0 || v > size+nctx.ClusterSize*64 {
		return nil, fmt.Errorf("%w: NTFS volume of %d bytes in %d", ErrCorrupt, v, size)
	}
	mft, err := nctx.GetMFT(0)
	if err != nil {
		return nil, fmt.Errorf("%w: $MFT record: %v", ErrCorrupt, err)
	}
	stream, err := ntfs.OpenStream(nctx, mft, 128, ntfs.WILDCARD_STREAM_ID, ntfs.WILDCARD_STREAM_NAME)
	if err != nil {
		return nil, fmt.Errorf("%w: $MFT data: %v", ErrCorrupt, err)
	}
	n := ntfs.RangeSize(stream)
	if n <= 0 || n > size {
		return nil, fmt.Errorf("%w: $MFT of %d bytes", ErrCorrupt, n)
	}
	return &ntfsFS{r: r, size: size, lim: lim, ctx: nctx, mftSize: n}, nil
}

// recoverInto turns a panic of the parser library on a hostile image into
// an error.
func recoverInto(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("%w: parser failed: %v", ErrCorrupt, p)
	}
}

func (n *ntfsFS) Type() string { return "ntfs" }

func (n *ntfsFS) Walk(ctx context.Context, fn func(*File) error) (err error) {
	defer recoverInto(&err)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rs := n.ctx.GetRecordSize()
	if rs <= 0 || rs > 65536 {
		return fmt.Errorf("%w: MFT record size %d", ErrCorrupt, rs)
	}
	opts := ntfs.GetDefaultOptions()
	opts.MaxDirectoryDepth = n.lim.MaxDepth
	count := 0
	for h := range ntfs.ParseMFTFileWithOptions(wctx, n.ctx.MFTReader, n.mftSize, n.ctx.ClusterSize, rs, 0, opts) {
		if h.IsDir {
			continue
		}
		p := h.FullPath()
		if strings.HasPrefix(p, "/$") || p == "/" {
			continue // the file system's own metadata files
		}
		count++
		if count > n.lim.MaxFiles {
			return fmt.Errorf("%w: more than %d files", ErrCorrupt, n.lim.MaxFiles)
		}
		stream := ntfs.WILDCARD_STREAM_NAME
		if i := strings.IndexByte(h.Inode, ':'); i >= 0 {
			stream = h.Inode[i+1:]
		}
		f := &File{Path: p, Size: h.FileSize, Deleted: !h.InUse,
			Mtime: h.LastModified0x10, Atime: h.LastAccess0x10, Ctime: h.LastRecordChange0x10, Btime: h.Created0x10,
			ID: fmt.Sprintf("mft:%d-%d", h.EntryNumber, h.SequenceNumber)}
		if stream != ntfs.WILDCARD_STREAM_NAME {
			f.ID += ":" + stream
		}
		if f.Size < 0 || f.Size > n.size {
			f.Err = fmt.Errorf("%w: MFT record %d claims %d bytes", ErrCorrupt, h.EntryNumber, f.Size)
		} else {
			id := h.EntryNumber
			f.open = func() (r io.Reader, err error) {
				defer recoverInto(&err)
				return n.open(id, stream, f.Size)
			}
			if f.Deleted && f.Size > 0 {
				f.dataOff, f.contiguous = n.contiguous(id, stream, f.Size)
			}
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func (n *ntfsFS) open(id int64, stream string, size int64) (io.Reader, error) {
	if size == 0 {
		return bytes.NewReader(nil), nil
	}
	e, err := n.ctx.GetMFT(id)
	if err != nil {
		return nil, fmt.Errorf("%w: MFT record %d: %v", ErrCorrupt, id, err)
	}
	rd, err := ntfs.OpenStream(n.ctx, e, 128, ntfs.WILDCARD_STREAM_ID, stream)
	if err != nil {
		return nil, fmt.Errorf("%w: MFT record %d data: %v", ErrCorrupt, id, err)
	}
	return &panicSafeReader{r: io.NewSectionReader(safeReaderAt{rd}, 0, size), size: size}, nil
}

// contiguous reports where the content of record id's stream lies when
// all of its size bytes are one run of clusters: a non-resident,
// uncompressed, non-sparse stream described by one attribute whose run
// list has a single run, initialised up to size. Anything else (several
// runs, a resident stream, a record the parser cannot read) gives false:
// the offset is only a hint that carving found the same bytes.
func (n *ntfsFS) contiguous(id int64, stream string, size int64) (off int64, ok bool) {
	defer func() {
		if recover() != nil {
			off, ok = 0, false
		}
	}()
	e, err := n.ctx.GetMFT(id)
	if err != nil {
		return 0, false
	}
	vcns := ntfs.GetAllVCNs(n.ctx, e, 128, ntfs.WILDCARD_STREAM_ID, stream)
	if len(vcns) != 1 {
		return 0, false
	}
	a := vcns[0]
	if a.IsResident() || ntfs.IsCompressedOrSparse(a.Flags()) || int64(a.Initialized_size()) < size {
		return 0, false
	}
	runs := a.RunList()
	cs := n.ctx.ClusterSize
	if len(runs) != 1 || runs[0].RelativeUrnOffset == 0 || cs <= 0 {
		return 0, false
	}
	r := runs[0]
	if r.Offset <= 0 || r.Length <= 0 || r.Length > n.size/cs || r.Length*cs < size || r.Offset > (n.size-size)/cs {
		return 0, false
	}
	return r.Offset * cs, true
}

// safeReaderAt turns the library's panics during reads into errors.
type safeReaderAt struct{ r io.ReaderAt }

func (s safeReaderAt) ReadAt(p []byte, off int64) (n int, err error) {
	defer recoverInto(&err)
	return s.r.ReadAt(p, off)
}

// panicSafeReader fails when the stream ends before size bytes.
type panicSafeReader struct {
	r    io.Reader
	size int64
	n    int64
}

func (p *panicSafeReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if err == io.EOF && p.n < p.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
