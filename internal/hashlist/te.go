package hashlist

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// teAliases names the header spellings of ThreatExchange-style lists:
// pdq-photo-hasher ("hash,quality,filename"), "threatexchange dataset --csv"
// ("signal_type,signal_str,collab,category,tags") and the like.
var teAliases = map[string]int{
	"hash": fValue, "signal_str": fValue, "signal": fValue, "indicator": fValue, "value": fValue,
	"quality": fQuality,
	"file":    fNote, "filename": fNote, "path": fNote, "note": fNote,
	"signal_type": fType, "type": fType,
	"category": fCategory,
	"collab":   fSource, "source": fSource,
}

type teReader struct {
	lr    *lineReader
	rr    *recordReader // header mode only
	cols  *columnSet    // header mode only
	first bool          // the first data line has been seen
	fail  error
}

func newTEReader(r io.Reader, opts ReaderOptions) *teReader {
	return &teReader{lr: newLineReader(r, opts.MaxLineLength)}
}

func (t *teReader) Next() (Entry, error) {
	if t.fail != nil {
		return Entry{}, t.fail
	}
	if t.cols != nil {
		return t.nextRecord()
	}
	for {
		raw, err := t.lr.next()
		if err != nil {
			if _, ok := err.(*LineError); !ok {
				t.fail = err
			}
			return Entry{}, err
		}
		// Only the left is trimmed: trailing spaces belong to the file name.
		line := bytes.TrimLeft(raw, " \t")
		if skippable(bytes.TrimSpace(line)) {
			continue
		}
		if !t.first {
			t.first = true
			if isHeader(line) {
				return t.startHeader(line)
			}
		}
		e, err := parseTELine(line)
		if err != nil {
			return Entry{}, lineErr(t.lr.line, err)
		}
		e.Line = t.lr.line
		return e, nil
	}
}

// isHeader reports whether the first data line is a column header rather
// than a (possibly bad) data line: its first field is neither hex nor
// "hash=…", and one of its fields names a hash column.
func isHeader(line []byte) bool {
	first, _, _ := bytes.Cut(line, []byte{','})
	first = bytes.TrimSpace(first)
	if bytes.HasPrefix(first, []byte("hash=")) || isHex(first) {
		return false
	}
	for f := range bytes.SplitSeq(line, []byte{','}) {
		name := strings.ToLower(strings.Trim(string(bytes.TrimSpace(f)), `"`))
		if fi, ok := teAliases[name]; ok && fi == fValue {
			return true
		}
	}
	return false
}

// isHex reports whether b is non-empty and all hex digits.
func isHex(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// startHeader switches to CSV records: header files come from CSV writers
// (Python's csv module quotes), unlike pdq-photo-hasher's raw lines.
func (t *teReader) startHeader(line []byte) (Entry, error) {
	fields, err := splitCSV(line, nil)
	if err == nil {
		t.cols, err = parseHeader(fields, teAliases)
	}
	if err != nil {
		t.fail = &ListError{Line: t.lr.line, Err: fmt.Errorf("hashlist: te header (line %d): %w", t.lr.line, err)}
		return Entry{}, t.fail
	}
	t.rr = &recordReader{lr: t.lr}
	return t.nextRecord()
}

func (t *teReader) nextRecord() (Entry, error) {
	row, err := t.rr.next()
	if err != nil {
		return Entry{}, err
	}
	e, err := t.cols.entry(row, TypePDQ)
	if err != nil {
		return Entry{}, lineErr(t.rr.start, err)
	}
	e.Line = t.rr.start
	return e, nil
}

// parseTELine reads a headerless pdq-photo-hasher line: "hash,quality,file"
// or "hash=…,quality=…,filename=…". The file name is the rest of the line,
// commas included, because the tool does not quote it.
func parseTELine(line []byte) (Entry, error) {
	e := Entry{Type: TypePDQ, Quality: -1}
	if bytes.HasPrefix(line, []byte("hash=")) {
		return parseTEKeyValue(line, e)
	}
	parts := bytes.SplitN(line, []byte{','}, 3)
	if len(parts) < 3 {
		parts[len(parts)-1] = bytes.TrimRight(parts[len(parts)-1], " \t")
	}
	e.Value = string(parts[0])
	if len(parts) > 1 {
		q, err := parseQuality(string(parts[1]))
		if err != nil {
			return Entry{}, err
		}
		e.Quality = q
	}
	if len(parts) > 2 {
		e.Note = string(parts[2])
	}
	return NormalizeEntry(e)
}

func parseTEKeyValue(line []byte, e Entry) (Entry, error) {
	rest := line
	for len(rest) > 0 {
		var field []byte
		if i := bytes.IndexByte(rest, ','); i >= 0 {
			field, rest = rest[:i], rest[i+1:]
		} else {
			field, rest = rest, nil
		}
		k, v, ok := bytes.Cut(field, []byte{'='})
		if !ok {
			return Entry{}, fmt.Errorf("%w: %q is not key=value", ErrSyntax, truncate(string(field)))
		}
		key := strings.TrimSpace(string(k))
		if rest == nil && key != "filename" {
			v = bytes.TrimRight(v, " \t")
		}
		switch key {
		case "hash":
			e.Value = string(v)
		case "quality":
			q, err := parseQuality(string(v))
			if err != nil {
				return Entry{}, err
			}
			e.Quality = q
		case "filename":
			// Last on the line and unquoted: it may contain commas.
			if rest != nil {
				e.Note = string(v) + "," + string(rest)
			} else {
				e.Note = string(v)
			}
			rest = nil
		default:
			if e.Extra == nil {
				e.Extra = map[string]string{}
			}
			e.Extra[key] = string(v)
		}
	}
	return NormalizeEntry(e)
}

type teWriter struct {
	writerBase
	buf []byte
}

func newTEWriter(w io.Writer) *teWriter { return &teWriter{writerBase: newWriterBase(w)} }

// Write emits "hash,quality,note" as pdq-photo-hasher does; quality is empty
// when unknown.
func (t *teWriter) Write(e Entry) error {
	if err := t.ready(); err != nil {
		return err
	}
	e, err := NormalizeEntry(e)
	if err != nil {
		return err
	}
	if e.Type != TypePDQ {
		return fmt.Errorf("%w: te lists hold pdq hashes, not %s", ErrUnsupported, e.Type)
	}
	if strings.ContainsAny(e.Note, "\r\n") {
		return fmt.Errorf("%w: te note with a line break", ErrUnsupported)
	}
	b := append(append(t.buf[:0], e.Value...), ',')
	if e.Quality >= 0 {
		b = strconv.AppendInt(b, int64(e.Quality), 10)
	}
	if e.Note != "" {
		b = append(append(b, ','), e.Note...)
	}
	t.buf = append(b, '\n')
	return t.put(t.buf)
}

func (t *teWriter) Close() error { return t.finish() }
