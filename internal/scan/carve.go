package scan

import (
	"context"
	"fmt"
	"io"

	"github.com/nigehban/nigehban/internal/diskimage"
)

// carvedNote is the note of every carved member.
const carvedNote = "carved: recovered from unallocated space by its structure alone (no file system names it, no times); " +
	"contiguous files only; image_offset locates its first byte"

// carveBatch is the most extents carved as one stream: the extent list is
// all carving holds in memory (16 bytes each).
const carveBatch = 1 << 16

// carvedName names a carved member inside its volume (or the image, for
// the space outside every partition): "$carved/" and the byte offset of
// its first byte in the image (for E01, in the media), ten or more hex
// digits, and the format's extension: image.E01!p2!$carved/0x0001a2b000.jpg.
// No file system path starts with "$carved/" (they start with "/").
func carvedName(imageOffset int64, ext string) string {
	return fmt.Sprintf("$carved/0x%010x.%s", imageOffset, ext)
}

// carveDisk carves JPEG, PNG and MP4 files (listed on one goroutine,
// hashed on every idle worker: runMembers) from the unallocated space of
// every volume of img and from the space outside its partitions, and
// hashes them as members of e, marked Carved with their offsets. A carved
// file whose bytes are exactly a deleted member's already listed (same
// image offset and size) is not listed again: it is counted in
// e.Acquisition.CarvedListed. It returns the number of members listed.
func (s *scanner) carveDisk(ctx context.Context, e *Entry, img *diskimage.Image, r io.ReaderAt, size int64, depth int, listed spans) int {
	n := 0
	s.runMembers(func(queue func(func())) { n = s.listCarved(ctx, e, img, r, size, depth, listed, queue) })
	return n
}

// listCarved walks the unallocated space of img, queueing the hashing of
// each carved file not in listed; it returns the number of files carved
// and listed.
func (s *scanner) listCarved(ctx context.Context, e *Entry, img *diskimage.Image, r io.ReaderAt, size int64, depth int, listed spans, queue func(func())) int {
	n := 0
	var area diskimage.UnallocatedArea
	var batch []diskimage.Extent
	carve := func() error {
		if len(batch) == 0 {
			return nil
		}
		container := e.rawPath()
		if area.Volume != "" {
			container += "!" + area.Volume
		}
		a := area
		err := diskimage.Carve(ctx, diskimage.NewExtentReader(r, batch), diskimage.CarveOptions{}, func(c diskimage.Carved) error {
			if listed[span{c.ImageOffset, c.Size}] {
				e.Acquisition.CarvedListed++
				return ctx.Err()
			}
			name := carvedName(c.ImageOffset, c.Ext)
			off := c.ImageOffset
			m := &Entry{Source: e.Source, Container: container, Kind: KindFile, Size: c.Size, Carved: true, ImageOffset: &off, Note: carvedNote}
			if !a.Outside {
				vo := c.ImageOffset - a.VolumeOffset
				m.VolumeOffset = &vo
			}
			m.setPath(container + "!" + name)
			n++
			if s.isDone(m.key()) {
				return ctx.Err()
			}
			s.progress.AddTotal(1, c.Size)
			queue(func() {
				s.hashMember(ctx, m, name, ctxReader{ctx, io.NewSectionReader(r, c.ImageOffset, c.Size)}, c.Size, depth+1, nil)
				s.emit(ctx, m)
			})
			return ctx.Err()
		})
		batch = batch[:0]
		if err != nil && ctx.Err() == nil {
			where := "outside the partitions"
			if !a.Outside {
				where = "volume " + volumeName(a.Volume)
			}
			e.addError(fmt.Sprintf("carving %s: %v", where, err))
		}
		return ctx.Err()
	}
	err := img.Unallocated(ctx, r, size, func(a diskimage.UnallocatedArea, x diskimage.Extent) error {
		if a != area || len(batch) >= carveBatch {
			if err := carve(); err != nil {
				return err
			}
			area = a
		}
		batch = append(batch, x)
		return nil
	})
	if cerr := carve(); err == nil {
		err = cerr
	}
	if err != nil && ctx.Err() == nil {
		e.addError(fmt.Sprintf("carving: %v", err))
	}
	return n
}
