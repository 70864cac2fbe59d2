package hashlist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/nigehban/nigehban/internal/signal"
)

// errOpenQuote means a record ends inside a quoted field: the next physical
// line continues it.
var errOpenQuote = errors.New("unterminated quoted field")

// splitCSV splits one RFC 4180 record into fields, appending to dst. A field
// that starts with a double quote is quoted ("" inside is a quote) and must
// be followed by a comma or the end; quotes inside unquoted fields are taken
// literally.
func splitCSV(rec []byte, dst []string) ([]string, error) {
	dst = dst[:0]
	i := 0
	for {
		if i < len(rec) && rec[i] == '"' {
			var sb []byte
			j := i + 1
			for {
				k := bytes.IndexByte(rec[j:], '"')
				if k < 0 {
					return dst, errOpenQuote
				}
				sb = append(sb, rec[j:j+k]...)
				j += k + 1
				if j < len(rec) && rec[j] == '"' {
					sb = append(sb, '"')
					j++
					continue
				}
				break
			}
			dst = append(dst, string(sb))
			if j == len(rec) {
				return dst, nil
			}
			if rec[j] != ',' {
				return dst, fmt.Errorf("%w: %q after a closing quote in field %d", ErrSyntax, rec[j], len(dst))
			}
			i = j + 1
			continue
		}
		k := bytes.IndexByte(rec[i:], ',')
		if k < 0 {
			dst = append(dst, string(rec[i:]))
			return dst, nil
		}
		dst = append(dst, string(rec[i:i+k]))
		i += k + 1
	}
}

// recordReader yields CSV records (a quoted field may span lines), skipping
// blank lines and "#" comments between records.
type recordReader struct {
	lr     *lineReader
	buf    []byte
	fields []string
	start  int   // line the last record started on
	fail   error // sticky fatal error
}

func newRecordReader(r io.Reader, max int) *recordReader {
	return &recordReader{lr: newLineReader(r, max)}
}

// next returns the fields of the next record, valid until the following call.
// Errors: *LineError (skip and continue), io.EOF, or fatal.
func (c *recordReader) next() ([]string, error) {
	if c.fail != nil {
		return nil, c.fail
	}
	for {
		line, err := c.lr.next()
		if err != nil {
			if _, ok := err.(*LineError); !ok {
				c.fail = err
			}
			return nil, err
		}
		if skippable(bytes.TrimSpace(line)) {
			continue
		}
		c.start = c.lr.line
		c.fields, err = splitCSV(line, c.fields)
		if err == nil {
			return c.fields, nil
		}
		if err != errOpenQuote {
			return nil, lineErr(c.start, err)
		}
		return c.continued(line)
	}
}

// continued reads further physical lines until the open quoted field closes,
// keeping the whole record within the line-length bound.
func (c *recordReader) continued(first []byte) ([]string, error) {
	c.buf = append(c.buf[:0], first...)
	for {
		line, err := c.lr.next()
		if err != nil {
			if _, ok := err.(*LineError); ok {
				// Too long: give up on the record; what follows resyncs.
				return nil, lineErr(c.start, err.(*LineError).Err)
			}
			if isEOF(err) {
				return nil, lineErr(c.start, fmt.Errorf("%w: %v", ErrSyntax, errOpenQuote))
			}
			c.fail = err
			return nil, err
		}
		if len(c.buf)+1+len(line) > c.lr.max {
			if bytes.Count(line, []byte{'"'})%2 == 0 {
				c.skipOpenRecord() // the quote is still open after this line
			}
			return nil, lineErr(c.start, fmt.Errorf("%w: record longer than %d bytes", ErrLineTooLong, c.lr.max))
		}
		c.buf = append(append(c.buf, '\n'), line...)
		c.fields, err = splitCSV(c.buf, c.fields)
		if err == nil {
			return c.fields, nil
		}
		if err != errOpenQuote {
			return nil, lineErr(c.start, err)
		}
	}
}

// skipOpenRecord discards lines until the quote left open by an over-long
// record closes (an odd number of quotes on a line flips the state, since
// escaped quotes come in pairs), so its remainder is not taken for records.
func (c *recordReader) skipOpenRecord() {
	open := true // the record so far ends inside quotes
	for open {
		line, err := c.lr.next()
		if err != nil {
			if _, ok := err.(*LineError); ok {
				continue
			}
			return // EOF or fatal: the next call reports it
		}
		if bytes.Count(line, []byte{'"'})%2 == 1 {
			open = false
		}
	}
}

// columnSet maps the columns of a header to the standard fields.
type columnSet struct {
	idx   [numFields]int // -1 when absent
	names []string       // header as written, for Extra keys
	extra []int          // columns not mapped to a standard field
}

const (
	fType = iota
	fValue
	fCategory
	fSource
	fNote
	fQuality
	numFields
)

var fieldNames = [numFields]string{"type", "value", "category", "source", "note", "quality"}

// csvAliases names the header spellings the csv format accepts.
var csvAliases = map[string]int{
	"type": fType, "signal_type": fType,
	"value": fValue, "hash": fValue, "signal": fValue, "signal_str": fValue,
	"category": fCategory, "source": fSource, "note": fNote, "quality": fQuality,
}

// parseHeader maps a header row through aliases. Duplicate mappings are an
// error: the file is ambiguous.
func parseHeader(fields []string, aliases map[string]int) (*columnSet, error) {
	cs := &columnSet{names: make([]string, len(fields))}
	for i := range cs.idx {
		cs.idx[i] = -1
	}
	seen := map[string]bool{}
	for i, f := range fields {
		name := strings.TrimSpace(f)
		cs.names[i] = name
		key := strings.ToLower(name)
		if name == "" {
			cs.extra = append(cs.extra, i) // kept only if a row fills it; named by position
			continue
		}
		if seen[key] {
			return nil, fmt.Errorf("%w: column %q appears twice in the header", ErrSyntax, name)
		}
		seen[key] = true
		if fi, ok := aliases[key]; ok {
			if cs.idx[fi] >= 0 {
				return nil, fmt.Errorf("%w: columns %q and %q both give the %s", ErrSyntax, cs.names[cs.idx[fi]], name, fieldNames[fi])
			}
			cs.idx[fi] = i
			continue
		}
		cs.extra = append(cs.extra, i)
	}
	if cs.idx[fValue] < 0 {
		return nil, fmt.Errorf("%w: no value column in header %q", ErrMissingField, truncate(strings.Join(fields, ",")))
	}
	return cs, nil
}

// entry builds an entry from a row; defType fills an empty type.
func (cs *columnSet) entry(row []string, defType signal.Type) (Entry, error) {
	if len(row) > len(cs.names) {
		for _, f := range row[len(cs.names):] {
			if strings.TrimSpace(f) != "" {
				return Entry{}, fmt.Errorf("%w: %d fields, the header has %d", ErrSyntax, len(row), len(cs.names))
			}
		}
	}
	get := func(fi int) string {
		if i := cs.idx[fi]; i >= 0 && i < len(row) {
			return row[i]
		}
		return ""
	}
	e := Entry{
		Type:     signal.Type(strings.TrimSpace(get(fType))),
		Value:    get(fValue),
		Category: get(fCategory),
		Source:   get(fSource),
		Note:     get(fNote),
	}
	if e.Type == "" {
		e.Type = defType
	}
	if e.Type == "" {
		return Entry{}, fmt.Errorf("%w: type (no type in the row and no default type)", ErrMissingField)
	}
	q, err := parseQuality(get(fQuality))
	if err != nil {
		return Entry{}, err
	}
	e.Quality = q
	for _, i := range cs.extra {
		if i >= len(row) || row[i] == "" {
			continue
		}
		name := cs.names[i]
		if name == "" {
			name = "column" + strconv.Itoa(i+1)
		}
		if e.Extra == nil {
			e.Extra = make(map[string]string, len(cs.extra))
		}
		e.Extra[name] = row[i]
	}
	return NormalizeEntry(e)
}

type csvReader struct {
	rr      *recordReader
	defType signal.Type
	cols    *columnSet
}

func newCSVReader(r io.Reader, opts ReaderOptions) *csvReader {
	return &csvReader{rr: newRecordReader(r, opts.MaxLineLength), defType: signal.Type(opts.Type)}
}

func (c *csvReader) Next() (Entry, error) {
	for {
		row, err := c.rr.next()
		if err != nil {
			return Entry{}, err
		}
		if c.cols == nil {
			cols, err := parseHeader(row, csvAliases)
			if err == nil && cols.idx[fType] < 0 && c.defType == "" {
				err = fmt.Errorf("%w: no type column in the header and no default type", ErrMissingField)
			}
			if err != nil {
				c.rr.fail = &ListError{Line: c.rr.start, Err: fmt.Errorf("hashlist: csv header (line %d): %w", c.rr.start, err)}
				return Entry{}, c.rr.fail
			}
			c.cols = cols
			continue
		}
		e, err := c.cols.entry(row, c.defType)
		if err != nil {
			return Entry{}, lineErr(c.rr.start, err)
		}
		e.Line = c.rr.start
		return e, nil
	}
}

// appendCSVField appends s, quoted when a reader would otherwise misread it.
func appendCSVField(dst []byte, s string, first bool) []byte {
	quote := strings.ContainsAny(s, ",\"\r\n") ||
		(s != "" && (s[0] == ' ' || s[0] == '\t' || s[len(s)-1] == ' ' || s[len(s)-1] == '\t')) ||
		(first && (strings.HasPrefix(s, "#") || strings.HasPrefix(s, "\ufeff")))
	if !quote {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		dst = append(dst, s[:i+1]...)
		dst = append(dst, '"')
		s = s[i+1:]
	}
	dst = append(dst, s...)
	return append(dst, '"')
}

type csvWriter struct {
	writerBase
	extra  []string
	header bool
	buf    []byte
}

func newCSVWriter(w io.Writer, opts WriterOptions) (*csvWriter, error) {
	seen := map[string]bool{}
	for _, c := range opts.ExtraColumns {
		key := strings.ToLower(strings.TrimSpace(c))
		if key == "" || key != strings.ToLower(c) {
			return nil, fmt.Errorf("hashlist: csv extra column %q: empty or padded with spaces", c)
		}
		if _, std := csvAliases[key]; std {
			return nil, fmt.Errorf("hashlist: csv extra column %q clashes with a standard column", c)
		}
		if err := signal.CheckText("column name", c, 0, false); err != nil {
			return nil, fmt.Errorf("hashlist: csv extra column %q: %v", c, err)
		}
		if seen[key] {
			return nil, fmt.Errorf("hashlist: csv extra column %q given twice", c)
		}
		seen[key] = true
	}
	return &csvWriter{writerBase: newWriterBase(w), extra: opts.ExtraColumns}, nil
}

func (c *csvWriter) writeHeader() error {
	c.header = true
	c.buf = c.buf[:0]
	for i, n := range fieldNames {
		if i > 0 {
			c.buf = append(c.buf, ',')
		}
		c.buf = append(c.buf, n...)
	}
	for _, n := range c.extra {
		c.buf = appendCSVField(append(c.buf, ','), n, false)
	}
	return c.put(append(c.buf, '\n'))
}

func (c *csvWriter) Write(e Entry) error {
	if err := c.ready(); err != nil {
		return err
	}
	e, err := NormalizeEntry(e)
	if err != nil {
		return err
	}
	if !c.header {
		if err := c.writeHeader(); err != nil {
			return err
		}
	}
	b := appendCSVField(c.buf[:0], string(e.Type), true)
	b = appendCSVField(append(b, ','), e.Value, false)
	b = appendCSVField(append(b, ','), e.Category, false)
	b = appendCSVField(append(b, ','), e.Source, false)
	b = appendCSVField(append(b, ','), e.Note, false)
	b = append(b, ',')
	if e.Quality >= 0 {
		b = strconv.AppendInt(b, int64(e.Quality), 10)
	}
	for _, n := range c.extra {
		b = appendCSVField(append(b, ','), e.Extra[n], false)
	}
	c.buf = append(b, '\n')
	return c.put(c.buf)
}

// Close writes the header if nothing was written, so an empty export is
// still a valid list, and flushes.
func (c *csvWriter) Close() error {
	if !c.closed && c.err == nil && !c.header {
		c.writeHeader()
	}
	return c.finish()
}
