package hashlist

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

type jsonlReader struct {
	lr      *lineReader
	defType string
	fail    error
}

func newJSONLReader(r io.Reader, opts ReaderOptions) *jsonlReader {
	return &jsonlReader{lr: newLineReader(r, opts.MaxLineLength), defType: opts.Type}
}

func (j *jsonlReader) Next() (Entry, error) {
	if j.fail != nil {
		return Entry{}, j.fail
	}
	for {
		raw, err := j.lr.next()
		if err != nil {
			if _, ok := err.(*LineError); !ok {
				j.fail = err
			}
			return Entry{}, err
		}
		line := bytes.TrimSpace(raw)
		if skippable(line) {
			continue
		}
		e, err := parseJSONObject(line, j.defType)
		if err != nil {
			return Entry{}, lineErr(j.lr.line, err)
		}
		e.Line = j.lr.line
		return e, nil
	}
}

// parseJSONObject reads one JSONL object. Member names match
// case-insensitively; a field given twice under different spellings is an
// error.
func parseJSONObject(line []byte, defType string) (Entry, error) {
	if line[0] != '{' {
		return Entry{}, fmt.Errorf("%w: not a JSON object", ErrSyntax)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return Entry{}, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	e := Entry{Quality: -1}
	var set [numFields]bool
	for k, v := range m {
		fi := -1
		for i, n := range fieldNames {
			if strings.EqualFold(k, n) {
				fi = i
				break
			}
		}
		if fi < 0 {
			s, err := jsonText(v)
			if err != nil {
				return Entry{}, fmt.Errorf("field %q: %w", truncate(k), err)
			}
			if e.Extra == nil {
				e.Extra = make(map[string]string)
			}
			e.Extra[k] = s
			continue
		}
		if set[fi] {
			return Entry{}, fmt.Errorf("%w: field %q given twice", ErrSyntax, fieldNames[fi])
		}
		set[fi] = true
		var err error
		switch fi {
		case fType:
			e.Type, err = jsonString(v)
		case fValue:
			e.Value, err = jsonString(v)
		case fCategory:
			e.Category, err = jsonCategory(v)
		case fSource:
			e.Source, err = jsonString(v)
		case fNote:
			e.Note, err = jsonString(v)
		case fQuality:
			e.Quality, err = jsonQuality(v)
		}
		if err != nil {
			return Entry{}, fmt.Errorf("field %q: %w", fieldNames[fi], err)
		}
	}
	if e.Type == "" {
		e.Type = defType
	}
	return NormalizeEntry(e)
}

// jsonString accepts a JSON string or null.
func jsonString(v json.RawMessage) (string, error) {
	if string(v) == "null" {
		return "", nil
	}
	if len(v) == 0 || v[0] != '"' {
		return "", fmt.Errorf("%w: want a string, got %s", ErrSyntax, truncate(string(v)))
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	return s, nil
}

// jsonCategory accepts a string, an integer (kept as its decimal text, as
// VICS categories are) or null.
func jsonCategory(v json.RawMessage) (string, error) {
	if len(v) > 0 && (v[0] == '-' || ('0' <= v[0] && v[0] <= '9')) {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return "", fmt.Errorf("%w: category %s is not an integer", ErrSyntax, truncate(string(v)))
		}
		return strconv.FormatInt(n, 10), nil
	}
	return jsonString(v)
}

// jsonQuality accepts an integer 0..100, a string holding one, or null.
func jsonQuality(v json.RawMessage) (int, error) {
	switch {
	case string(v) == "null":
		return -1, nil
	case len(v) > 0 && v[0] == '"':
		s, err := jsonString(v)
		if err != nil {
			return 0, err
		}
		return parseQuality(s)
	}
	return parseQuality(string(v))
}

// jsonText returns a string member as is and any other value as its compact
// JSON text.
func jsonText(v json.RawMessage) (string, error) {
	if len(v) > 0 && v[0] == '"' {
		return jsonString(v)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return "", fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	return b.String(), nil
}

// appendJSONString appends s as a JSON string. s is valid UTF-8 (entries are
// normalised first); HTML characters are left alone.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			if c < utf8.RuneSelf {
				i++
				continue
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == '\u2028' || r == '\u2029' {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\u202`...)
				dst = append(dst, hex[r&0xf])
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

type jsonlWriter struct {
	writerBase
	buf  []byte
	keys []string
}

func newJSONLWriter(w io.Writer) *jsonlWriter { return &jsonlWriter{writerBase: newWriterBase(w)} }

func (j *jsonlWriter) Write(e Entry) error {
	if err := j.ready(); err != nil {
		return err
	}
	e, err := NormalizeEntry(e)
	if err != nil {
		return err
	}
	j.keys = j.keys[:0]
	for k := range e.Extra {
		for _, n := range fieldNames {
			if strings.EqualFold(k, n) {
				return fmt.Errorf("%w: extra field %q clashes with a standard field", ErrUnsupported, k)
			}
		}
		j.keys = append(j.keys, k)
	}
	slices.Sort(j.keys)
	b := append(j.buf[:0], `{"type":`...)
	b = appendJSONString(b, e.Type)
	b = append(b, `,"value":`...)
	b = appendJSONString(b, e.Value)
	for _, f := range [...]struct{ name, v string }{{"category", e.Category}, {"source", e.Source}, {"note", e.Note}} {
		if f.v != "" {
			b = append(append(append(b, ',', '"'), f.name...), '"', ':')
			b = appendJSONString(b, f.v)
		}
	}
	if e.Quality >= 0 {
		b = strconv.AppendInt(append(b, `,"quality":`...), int64(e.Quality), 10)
	}
	for _, k := range j.keys {
		b = appendJSONString(append(b, ','), k)
		b = appendJSONString(append(b, ':'), e.Extra[k])
	}
	j.buf = append(b, '}', '\n')
	return j.put(j.buf)
}

func (j *jsonlWriter) Close() error { return j.finish() }
