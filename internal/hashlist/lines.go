package hashlist

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// bom is the UTF-8 byte-order mark some Windows tools put first.
var bom = []byte{0xEF, 0xBB, 0xBF}

// lineReader splits its input into physical lines without ever holding more
// than one line (bounded by max) in memory. It strips a leading BOM and the
// "\n" or "\r\n" terminator.
type lineReader struct {
	br      *bufio.Reader
	max     int
	line    int // number of the line last returned
	long    []byte
	started bool
	err     error // sticky read error (io.EOF at the end)
}

func newLineReader(r io.Reader, max int) *lineReader {
	size := 64 << 10
	if max+2 < size {
		size = max + 2 // room for the terminator; bufio needs at least 16
	}
	return &lineReader{br: bufio.NewReaderSize(r, size), max: max}
}

// next returns the next line, valid until the following call. At a line
// longer than max it skips the rest of that line and returns a *LineError
// wrapping ErrLineTooLong; the caller may continue. Other errors (io.EOF at
// the end, read errors) are final.
func (l *lineReader) next() ([]byte, error) {
	if l.err != nil {
		return nil, l.err
	}
	if !l.started {
		l.started = true
		if b, err := l.br.Peek(3); err == nil && bytes.Equal(b, bom) {
			l.br.Discard(3)
		}
	}
	l.long = l.long[:0]
	tooLong := false
	for {
		chunk, err := l.br.ReadSlice('\n')
		if !tooLong {
			if len(l.long)+len(chunk) > l.max+2 { // +2: the "\r\n" does not count
				tooLong = true
				l.long = l.long[:0]
			} else if err == bufio.ErrBufferFull || len(l.long) > 0 {
				l.long = append(l.long, chunk...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err != nil && err != io.EOF:
			l.err = fmt.Errorf("read line %d: %w", l.line+1, err)
			return nil, l.err
		case err == io.EOF && len(chunk) == 0 && len(l.long) == 0 && !tooLong:
			l.err = io.EOF
			return nil, io.EOF
		}
		l.line++
		if err == io.EOF {
			l.err = io.EOF // hand out this last line now, io.EOF next time
		}
		if tooLong {
			return nil, lineErr(l.line, fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, l.max))
		}
		line := chunk
		if len(l.long) > 0 {
			line = l.long
		}
		line = bytes.TrimSuffix(line, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) > l.max {
			return nil, lineErr(l.line, fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, l.max))
		}
		return line, nil
	}
}

// isEOF reports whether err ends the input normally.
func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// skippable reports whether a trimmed line is blank or a "#" comment.
func skippable(trimmed []byte) bool {
	return len(trimmed) == 0 || trimmed[0] == '#'
}
