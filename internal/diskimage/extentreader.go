package diskimage

import (
	"errors"
	"fmt"
	"io"
	"sort"
)

// ExtentReader reads extents of an image (its unallocated space, say) as
// one stream of bytes, and maps every stream offset back to the image.
// It is an io.Reader and an io.ReaderAt; it holds only the extent list.
type ExtentReader struct {
	r      io.ReaderAt
	ext    []Extent
	starts []int64 // stream offset of each extent
	size   int64
	pos    int64 // of Read
}

// NewExtentReader reads the given extents of r in order (empty ones are
// dropped).
func NewExtentReader(r io.ReaderAt, ext []Extent) *ExtentReader {
	x := &ExtentReader{r: r}
	for _, e := range ext {
		if e.N <= 0 {
			continue
		}
		x.ext = append(x.ext, e)
		x.starts = append(x.starts, x.size)
		x.size += e.N
	}
	return x
}

// Size is the number of bytes in the stream.
func (x *ExtentReader) Size() int64 { return x.size }

// Extents returns how many extents the stream joins.
func (x *ExtentReader) Extents() int { return len(x.ext) }

// find returns the index of the extent holding stream offset off.
func (x *ExtentReader) find(off int64) int {
	return sort.Search(len(x.starts), func(i int) bool { return x.starts[i] > off }) - 1
}

// ImageOffset maps a stream offset to its offset in the image; -1 when
// off is outside the stream.
func (x *ExtentReader) ImageOffset(off int64) int64 {
	if off < 0 || off >= x.size {
		return -1
	}
	i := x.find(off)
	return x.ext[i].Off + off - x.starts[i]
}

// Run returns the stream offsets [start, end) of the extent holding off:
// bytes that are contiguous in the image. Both are 0 outside the stream.
func (x *ExtentReader) Run(off int64) (start, end int64) {
	if off < 0 || off >= x.size {
		return 0, 0
	}
	i := x.find(off)
	return x.starts[i], x.starts[i] + x.ext[i].N
}

// ReadAt reads stream bytes at off, across extents.
func (x *ExtentReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("diskimage: negative offset")
	}
	n := 0
	for len(p) > 0 {
		if off >= x.size {
			return n, io.EOF
		}
		i := x.find(off)
		in := off - x.starts[i]
		k := min(int64(len(p)), x.ext[i].N-in)
		m, err := x.r.ReadAt(p[:k], x.ext[i].Off+in)
		n += m
		if int64(m) < k {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return n, fmt.Errorf("read image at %d: %w", x.ext[i].Off+in+int64(m), err)
		}
		p, off = p[k:], off+k
	}
	return n, nil
}

// Read reads the stream from its start, in order.
func (x *ExtentReader) Read(p []byte) (int, error) {
	if x.pos >= x.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), x.size-x.pos)]
	n, err := x.ReadAt(p, x.pos)
	x.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}
