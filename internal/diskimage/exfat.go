package diskimage

import (
	"io"
)

func openExFAT(r io.ReaderAt, size int64, lim Limits) (FS, error) {
	return nil, ErrNotImage
}
