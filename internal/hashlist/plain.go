package hashlist

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"unicode"

	"github.com/nigehban/nigehban/internal/signal"
)

type plainReader struct {
	lr   *lineReader
	typ  signal.Type // default type, "" = infer from length
	fail error       // sticky fatal error
}

func newPlainReader(r io.Reader, opts ReaderOptions) *plainReader {
	return &plainReader{lr: newLineReader(r, opts.MaxLineLength), typ: signal.Type(opts.Type)}
}

func (p *plainReader) Next() (Entry, error) {
	if p.fail != nil {
		return Entry{}, p.fail
	}
	for {
		raw, err := p.lr.next()
		if err != nil {
			if _, ok := err.(*LineError); ok {
				return Entry{}, err
			}
			p.fail = err
			return Entry{}, err
		}
		line := bytes.TrimFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || r == '\ufeff' })
		if skippable(line) {
			continue
		}
		e, err := p.parse(line)
		if err != nil {
			return Entry{}, lineErr(p.lr.line, err)
		}
		e.Line = p.lr.line
		return e, nil
	}
}

// parse reads "HASH", or md5sum's "HASH  name" / "HASH *name"; a vPDQ line is
// the value as a whole.
func (p *plainReader) parse(line []byte) (Entry, error) {
	e := Entry{Type: p.typ, Quality: -1}
	value := line
	if p.typ != TypeVPDQ {
		if i := bytes.IndexAny(line, " \t"); i >= 0 {
			value = line[:i]
			name := bytes.TrimLeft(line[i:], " \t")
			if len(name) > 0 && name[0] == '*' && i+1 < len(line) && line[i+1] == '*' {
				name = name[1:] // md5sum binary-mode marker right after one space
			}
			e.Note = string(name)
		}
	}
	e.Value = string(value)
	if e.Type == "" {
		t, err := InferType(e.Value)
		if err != nil {
			return Entry{}, err
		}
		e.Type = t
	}
	return NormalizeEntry(e)
}

// writerBase holds what every line writer shares: buffering, the sticky
// I/O error, and the closed state.
type writerBase struct {
	bw     *bufio.Writer
	err    error
	closed bool
}

func newWriterBase(w io.Writer) writerBase { return writerBase{bw: bufio.NewWriterSize(w, 64<<10)} }

// ready checks that Write may proceed.
func (b *writerBase) ready() error {
	if b.closed {
		return ErrClosed
	}
	return b.err
}

// put writes p, remembering the first I/O error.
func (b *writerBase) put(p []byte) error {
	if _, err := b.bw.Write(p); err != nil {
		b.err = fmt.Errorf("hashlist: write: %w", err)
		return b.err
	}
	return nil
}

// finish flushes; later calls return the same result.
func (b *writerBase) finish() error {
	if b.closed {
		return b.err
	}
	b.closed = true
	if b.err != nil {
		return b.err
	}
	if err := b.bw.Flush(); err != nil {
		b.err = fmt.Errorf("hashlist: flush: %w", err)
	}
	return b.err
}

type plainWriter struct {
	writerBase
	buf []byte
}

func newPlainWriter(w io.Writer) *plainWriter { return &plainWriter{writerBase: newWriterBase(w)} }

// Write emits the value alone; the type is not recorded, so mixing sha256
// and pdq in one plain list loses which is which. A (vPDQ) value starting
// with "#" is refused: it would read back as a comment.
func (p *plainWriter) Write(e Entry) error {
	if err := p.ready(); err != nil {
		return err
	}
	e, err := NormalizeEntry(e)
	if err != nil {
		return err
	}
	if e.Value[0] == '#' {
		return fmt.Errorf("%w: a plain list would read a value starting with # as a comment", ErrUnsupported)
	}
	p.buf = append(append(p.buf[:0], e.Value...), '\n')
	return p.put(p.buf)
}

func (p *plainWriter) Close() error { return p.finish() }
