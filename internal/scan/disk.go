package scan

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"

	"github.com/nigehban/nigehban/internal/diskimage"
	"github.com/nigehban/nigehban/internal/fingerprint"
	"github.com/nigehban/nigehban/internal/media"
)

// diskOptions are the scan's disk image settings.
type diskOptions struct {
	skip, skipDeleted, skipCarve bool
}

// minDiskImage is the smallest file probed for a disk image: the
// smallest FAT12 floppy is larger.
const minDiskImage = 32 << 10

// Acquisition describes a disk image entry: what it is and, for E01, the
// acquiring tool's stored hashes and whether the media still matches them.
type Acquisition struct {
	// Format is "raw" or "ewf".
	Format string `json:"format"`
	// Segments lists the E01 segment files read (base names), in order.
	Segments []string `json:"segments,omitempty"`
	// MediaSize is the size of the acquired media in bytes.
	MediaSize int64 `json:"media_size"`
	// Volumes lists the partitions and file systems found.
	Volumes []VolumeInfo `json:"volumes"`
	// StoredMD5 and StoredSHA1 are the hashes the E01 carries; MediaMD5
	// and MediaSHA1 those of the media as read now.
	StoredMD5  string `json:"stored_md5,omitempty"`
	StoredSHA1 string `json:"stored_sha1,omitempty"`
	MediaMD5   string `json:"media_md5,omitempty"`
	MediaSHA1  string `json:"media_sha1,omitempty"`
	// Verification is "verified" (every stored hash matches), "mismatch",
	// "no stored hash" or "not verified" (the media could not be read to
	// the end); empty for raw images, whose own digests are the entry's.
	Verification string `json:"verification,omitempty"`
	// CarvedListed counts the files carving found whose bytes are exactly
	// those of a deleted file already listed from its file system (same
	// image offset and size): they are listed once, as the deleted file.
	CarvedListed int `json:"carved_already_listed,omitempty"`
	// Metadata is what the E01 header records (case number, examiner,
	// notes, acquisition date, tool), as stored.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Verification results.
const (
	VerifyOK       = "verified"
	VerifyMismatch = "mismatch"
	VerifyNoHash   = "no stored hash"
	VerifyNotDone  = "not verified"
	imageFormatRaw = "raw"
	imageFormatEWF = "ewf"
	deletedNote    = "deleted: described by the file system but no longer allocated; its content may have been overwritten"
)

// VolumeInfo is one volume of a disk image.
type VolumeInfo struct {
	Name       string `json:"name,omitempty"`
	Offset     int64  `json:"offset"`
	Size       int64  `json:"size"`
	Scheme     string `json:"scheme,omitempty"`
	Type       string `json:"type,omitempty"`
	FileSystem string `json:"file_system,omitempty"`
	Error      string `json:"error,omitempty"`
}

// diskMedia is an opened disk image: the media's bytes and how they are
// stored.
type diskMedia struct {
	r    io.ReaderAt
	size int64
	acq  *Acquisition
	// verify hashes the media and fills the acquisition's verification
	// (E01 only).
	verify func(ctx context.Context) error
	close  func()
}

// openDiskMedia recognises a disk image in c; nil when c is not one.
func (s *scanner) openDiskMedia(c *content, format media.Format) (*diskMedia, error) {
	if s.disk.skip || c.file == nil || c.size < minDiskImage {
		return nil, nil
	}
	if isEWF(c.head) {
		return s.openEWF(c)
	}
	if format != media.Unknown {
		return nil, nil
	}
	return &diskMedia{r: c.file, size: c.size, acq: &Acquisition{Format: imageFormatRaw, MediaSize: c.size}}, nil
}

// hashDiskImage fingerprints a disk image's own bytes while it lists and
// hashes the files of its file systems (emitting them), and sets
// e.Members and e.Acquisition. It reports false, having done nothing, when
// c is not a disk image.
func (s *scanner) hashDiskImage(ctx context.Context, e *Entry, c *content, format media.Format, depth int) bool {
	dm, err := s.openDiskMedia(c, format)
	if err != nil {
		// An E01 that cannot be opened is still a file: hash it, and say why.
		defer e.addError(fmt.Sprintf("disk image: %v", err))
		return false
	}
	if dm == nil {
		return false
	}
	if dm.close != nil {
		defer dm.close()
	}
	img, err := diskimage.Open(dm.r, dm.size, diskimage.Limits{})
	if err != nil && dm.acq.Format == imageFormatRaw {
		return false // not a disk image after all
	}
	e.Acquisition = dm.acq
	// The image's own bytes are digested alongside the members; e is
	// written only once both are done.
	var wg sync.WaitGroup
	var rec fingerprint.Record
	tr := &trackReader{r: io.NewSectionReader(c.file, 0, c.size)}
	wg.Go(func() { rec = fingerprint.Reader(ctx, e.Path, tr, fingerprint.Options{SkipVideo: true}) })
	var verifyErr error
	if dm.verify != nil {
		wg.Go(func() { verifyErr = dm.verify(ctx) })
	}
	n := 0
	if err != nil {
		e.addError(fmt.Sprintf("disk image: %v", err))
	} else {
		var listed spans
		n, listed = s.expandDisk(ctx, e, img, depth)
		if !s.disk.skipCarve {
			n += s.carveDisk(ctx, e, img, dm.r, dm.size, depth, listed)
		}
	}
	wg.Wait()
	s.apply(e, rec, tr, c.size)
	if verifyErr != nil {
		e.addError(fmt.Sprintf("verify media: %v", verifyErr))
	}
	if dm.acq.Verification == VerifyMismatch {
		e.addError("E01 stored hash does not match the media")
	}
	e.Members = &n
	return true
}

// span is a byte range of a disk image: the offset of its first byte and
// its length.
type span struct{ off, n int64 }

// spans are the byte ranges of the deleted members listed from the file
// systems whose content lies in one run (diskimage.File.Contiguous):
// carving finds the same bytes in the free space, and does not list them
// again.
type spans map[span]bool

// expandDisk lists and hashes the files of every volume, and records the
// volumes in e.Acquisition. The file systems are listed on one goroutine
// while the files are hashed on every idle worker (runMembers). It
// returns the number of members listed and the spans of the deleted ones.
func (s *scanner) expandDisk(ctx context.Context, e *Entry, img *diskimage.Image, depth int) (int, spans) {
	n := 0
	var notes []string
	listed := spans{}
	s.runMembers(func(queue func(func())) {
		n, notes = s.listDisk(ctx, e, img, depth, listed, queue)
	})
	if len(notes) > 0 {
		e.Note = "disk image: " + strings.Join(notes, ", ")
	}
	return n, listed
}

// listDisk walks every volume's file system, queueing the hashing of each
// file and adding the span of each deleted one to listed; it returns the
// number of files listed and a note per volume.
func (s *scanner) listDisk(ctx context.Context, e *Entry, img *diskimage.Image, depth int, listed spans, queue func(func())) (n int, notes []string) {
	for _, v := range img.Volumes {
		vi := VolumeInfo{Name: v.Name, Offset: v.Offset, Size: v.Size, Scheme: v.Scheme, Type: v.Type}
		if v.Err != nil {
			vi.Error = v.Err.Error()
		}
		if v.FS == nil {
			e.Acquisition.Volumes = append(e.Acquisition.Volumes, vi)
			continue
		}
		vi.FileSystem = v.FS.Type()
		container := e.rawPath()
		if v.Name != "" {
			container += "!" + v.Name
		}
		err := v.FS.Walk(ctx, func(f *diskimage.File) error {
			if f.Deleted && s.disk.skipDeleted {
				return nil
			}
			m := &Entry{Source: e.Source, Container: container, Kind: KindFile, Size: f.Size, FSID: f.ID, Deleted: f.Deleted}
			m.setPath(container + "!" + f.Path)
			n++
			if off, ok := f.Contiguous(); ok && f.Deleted && f.Size > 0 {
				listed[span{v.Offset + off, f.Size}] = true
			}
			if s.isDone(m.key()) {
				return nil
			}
			m.Mtime, m.Atime, m.Ctime, m.Btime = formatTime(f.Mtime), formatTime(f.Atime), formatTime(f.Ctime), formatTime(f.Btime)
			if f.Deleted {
				m.Note = deletedNote
			}
			s.progress.AddTotal(1, max(f.Size, 0))
			queue(func() {
				r, err := f.Open()
				if err != nil {
					m.Error = fmt.Sprintf("read: %v", err)
				} else {
					s.hashMember(ctx, m, path.Base(f.Path), ctxReader{ctx, r}, f.Size, depth+1, nil)
				}
				s.emit(ctx, m)
			})
			return ctx.Err()
		})
		if err != nil && ctx.Err() == nil {
			vi.Error = err.Error()
			e.addError(fmt.Sprintf("volume %s: %v", volumeName(v.Name), err))
		}
		e.Acquisition.Volumes = append(e.Acquisition.Volumes, vi)
		notes = append(notes, fmt.Sprintf("%s %s", volumeName(v.Name), vi.FileSystem))
	}
	return n, notes
}

func volumeName(n string) string {
	if n == "" {
		return "whole image"
	}
	return n
}
