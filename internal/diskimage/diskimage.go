package diskimage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Errors callers branch on.
var (
	// ErrNotImage means the bytes are not a disk image this package reads.
	ErrNotImage = errors.New("not a disk image")
	// ErrCorrupt wraps structures that contradict themselves or the image
	// (a cluster beyond the volume, a loop in a chain, a size over a limit).
	ErrCorrupt = errors.New("corrupt disk image")
	// ErrUnsupported wraps structures this package does not read (inline
	// ext4 data, compressed NTFS streams it cannot decode, …).
	ErrUnsupported = errors.New("unsupported disk image feature")
)

// Limits bound what a hostile image can make the parsers do.
type Limits struct {
	// MaxFiles is the most entries listed from one file system (default 10 million).
	MaxFiles int
	// MaxDirEntries is the most entries read from one directory (default 1 million).
	MaxDirEntries int
	// MaxDepth is the deepest directory nesting followed (default 256).
	MaxDepth int
}

func (l Limits) withDefaults() Limits {
	if l.MaxFiles <= 0 {
		l.MaxFiles = 10_000_000
	}
	if l.MaxDirEntries <= 0 {
		l.MaxDirEntries = 1_000_000
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = 256
	}
	return l
}

// File is one file a file system describes. Content is read through Open.
type File struct {
	// Path is absolute within the file system, slash-separated ("/Users/ali/a.jpg").
	Path string
	// Size is the size the file system records.
	Size int64
	// Times as the file system records them; zero when it has none. FAT
	// stores local time without a zone: it is given here as if UTC.
	Mtime, Atime, Ctime, Btime time.Time
	// ID is the file system's own identifier: "mft:35-1" (record and
	// sequence number), "inode:12", "fat:dirent@OFFSET cluster:N".
	ID string
	// Deleted marks a file the file system no longer lists as allocated
	// but still describes; its content may have been overwritten since.
	Deleted bool
	// Err is set when the file's content cannot be read (its data runs
	// are corrupt, or unsupported); Open then fails with it.
	Err error

	open func() (io.Reader, error)
	// dataOff is the offset in the volume of the content's first byte
	// when contiguous: all Size bytes lie in one run there.
	dataOff    int64
	contiguous bool
}

// Contiguous reports where the file's content lies when it is one run of
// Size bytes in its volume: the offset of its first byte from the volume's
// start. It is known for the deleted files of FAT and exFAT (read from the
// clusters that follow their first one, which is where carving finds them
// too), for exFAT files stored without a FAT chain, and for deleted NTFS
// files whose data is one run of clusters (non-resident, uncompressed, not
// sparse). ok is false otherwise: live FAT chains and chained exFAT files
// (not read to find out), exFAT content past its valid length (read as
// zeros), live NTFS files, fragmented, resident or compressed NTFS
// streams, ext files, files that cannot be read.
func (f *File) Contiguous() (off int64, ok bool) {
	if f.Err != nil || !f.contiguous {
		return 0, false
	}
	return f.dataOff, true
}

// Open returns a reader of the file's content, exactly Size bytes.
func (f *File) Open() (io.Reader, error) {
	if f.Err != nil {
		return nil, f.Err
	}
	if f.open == nil {
		return nil, fmt.Errorf("%w: no content", ErrUnsupported)
	}
	return f.open()
}

// FS is a file system read from an image.
type FS interface {
	// Type names the file system ("fat32", "ntfs", "ext4", …).
	Type() string
	// Walk calls fn for every file (not directory), live and deleted, in a
	// stable order; it stops at fn's first error or when ctx ends, and
	// returns an error when the file system's structures are corrupt (after
	// listing what it could).
	Walk(ctx context.Context, fn func(*File) error) error
}

// OpenFS recognises the file system at the start of r (size bytes) and
// opens it; ErrNotImage when none is recognised.
func OpenFS(r io.ReaderAt, size int64, lim Limits) (FS, error) {
	lim = lim.withDefaults()
	boot := make([]byte, 2048)
	n, err := r.ReadAt(boot, 0)
	if n < 1536 {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: %v", ErrNotImage, err)
	}
	boot = boot[:n]
	switch {
	case string(boot[3:11]) == "NTFS    ":
		return openNTFS(r, size, lim)
	case string(boot[3:11]) == "EXFAT   ":
		return openExFAT(r, size, lim)
	case len(boot) >= 1082 && le16(boot[1080:]) == 0xEF53:
		return openExt(r, size, lim)
	case looksFAT(boot):
		return openFAT(r, size, lim)
	}
	return nil, ErrNotImage
}

// Volume is one file system of an image: a partition, or the whole image
// when it has no partition table.
type Volume struct {
	// Name is "p1", "p2"… (the partition's index in its table), or "" for a
	// file system that fills the image.
	Name string
	// Offset and Size locate the volume in the image, in bytes.
	Offset, Size int64
	// Scheme is "mbr", "gpt" or "" (no table); Type the partition type as
	// the table gives it (MBR "0x07", GPT type GUID).
	Scheme, Type string
	// FS is the file system, nil when none was recognised (Err says why).
	FS  FS
	Err error
}

// Image is the volumes of a disk image.
type Image struct {
	Volumes []Volume
}

// Open reads the partition table (MBR or GPT) of r, or a file system that
// fills it, and opens the file system of every volume. It fails with
// ErrNotImage when r has neither a valid partition table with at least one
// recognisable file system nor a file system at its start.
func Open(r io.ReaderAt, size int64, lim Limits) (*Image, error) {
	lim = lim.withDefaults()
	if fsys, err := OpenFS(r, size, lim); err == nil {
		return &Image{Volumes: []Volume{{Offset: 0, Size: size, FS: fsys}}}, nil
	} else if !errors.Is(err, ErrNotImage) {
		return &Image{Volumes: []Volume{{Offset: 0, Size: size, Err: err}}}, nil
	}
	parts, err := Partitions(r, size)
	if err != nil {
		return nil, err
	}
	img := &Image{}
	found := false
	for _, p := range parts {
		v := Volume{Name: p.Name, Offset: p.Offset, Size: p.Size, Scheme: p.Scheme, Type: p.Type}
		v.FS, v.Err = OpenFS(io.NewSectionReader(r, p.Offset, p.Size), p.Size, lim)
		if v.Err == nil || !errors.Is(v.Err, ErrNotImage) {
			found = true
		}
		img.Volumes = append(img.Volumes, v)
	}
	if !found {
		return nil, fmt.Errorf("%w: a partition table, but no file system in it this package reads", ErrNotImage)
	}
	return img, nil
}

func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
func le64(b []byte) uint64 { return uint64(le32(b)) | uint64(le32(b[4:]))<<32 }

// readFull reads len(p) bytes at off or fails.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read %d bytes at %d: %w", len(p), off, err)
}
