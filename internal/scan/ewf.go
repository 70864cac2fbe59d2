package scan

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/nigehban/nigehban/internal/diskimage"
)

// isEWF reports whether head starts an EWF (E01) segment file.
func isEWF(head []byte) bool {
	_, ok := diskimage.IsEWF(head)
	return ok
}

// openEWF opens the E01 image whose first segment is c, with the segment
// files beside it (read-only, like every source file). Later segments, and
// E01 files inside archives, are hashed as files only.
func (s *scanner) openEWF(c *content) (*diskMedia, error) {
	if n, _ := diskimage.IsEWF(c.head); n != 1 || c.filePath == "" || within(c.filePath, s.tmp) {
		return nil, nil
	}
	paths := diskimage.EWFSegmentFiles(c.filePath)
	ras := []io.ReaderAt{c.file}
	sizes := []int64{c.size}
	var closers []func()
	closeAll := func() {
		for _, f := range closers {
			f()
		}
	}
	for _, p := range paths[1:] {
		f, err := s.open(p)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("E01 segment %s: %w", filepath.Base(p), err)
		}
		closers = append(closers, func() { f.Close() })
		st, err := f.Stat()
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("E01 segment %s: %w", filepath.Base(p), err)
		}
		ras, sizes = append(ras, f), append(sizes, st.Size())
	}
	img, err := diskimage.OpenEWF(ras, sizes)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("E01: %w", err)
	}
	acq := &Acquisition{Format: imageFormatEWF, MediaSize: img.Size, StoredMD5: img.StoredMD5, StoredSHA1: img.StoredSHA1,
		Metadata: img.Header}
	for _, p := range paths {
		acq.Segments = append(acq.Segments, filepath.Base(p))
	}
	verify := func(ctx context.Context) error {
		m, sh, err := img.MediaHashes(ctx)
		if err != nil {
			acq.Verification = VerifyNotDone
			return err
		}
		acq.MediaMD5, acq.MediaSHA1 = m, sh
		switch {
		case acq.StoredMD5 == "" && acq.StoredSHA1 == "":
			acq.Verification = VerifyNoHash
		case (acq.StoredMD5 == "" || acq.StoredMD5 == m) && (acq.StoredSHA1 == "" || acq.StoredSHA1 == sh):
			acq.Verification = VerifyOK
		default:
			acq.Verification = VerifyMismatch
		}
		return nil
	}
	return &diskMedia{r: img, size: img.Size, acq: acq, verify: verify, close: closeAll}, nil
}
