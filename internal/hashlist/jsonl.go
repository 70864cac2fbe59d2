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

	"github.com/nigehban/nigehban/internal/signal"
)

type jsonlReader struct {
	lr      *lineReader
	defType signal.Type
	fail    error
}

func newJSONLReader(r io.Reader, opts ReaderOptions) *jsonlReader {
	return &jsonlReader{lr: newLineReader(r, opts.MaxLineLength), defType: signal.Type(opts.Type)}
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
func parseJSONObject(line []byte, defType signal.Type) (Entry, error) {
	if line[0] != '{' {
		return Entry{}, fmt.Errorf("%w: not a JSON object", ErrSyntax)
	}
	if !json.Valid(line) {
		var v any
		err := json.Unmarshal(line, &v) // for the message
		return Entry{}, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	e := Entry{Quality: -1}
	var set [numFields]bool
	err := eachMember(line, func(k, v []byte) error {
		fi := -1
		inner := k[1 : len(k)-1]
		for i, n := range fieldNames {
			if len(inner) == len(n) && bytes.EqualFold(inner, []byte(n)) {
				fi = i
				break
			}
		}
		if fi < 0 {
			// Not a plain spelling of a field: decode the name (it may
			// be an escaped one, like "\u0076alue").
			name, err := jsonString(k)
			if err != nil {
				return err
			}
			for i, n := range fieldNames {
				if strings.EqualFold(name, n) {
					fi = i
				}
			}
			if fi < 0 {
				s, err := jsonText(v)
				if err != nil {
					return fmt.Errorf("field %q: %w", truncate(name), err)
				}
				if e.Extra == nil {
					e.Extra = make(map[string]string)
				}
				if _, dup := e.Extra[name]; dup {
					return fmt.Errorf("%w: field %q given twice", ErrSyntax, truncate(name))
				}
				e.Extra[name] = s
				return nil
			}
		}
		if set[fi] {
			return fmt.Errorf("%w: field %q given twice", ErrSyntax, fieldNames[fi])
		}
		set[fi] = true
		var err error
		switch fi {
		case fType:
			var s string
			s, err = jsonString(v)
			e.Type = signal.Type(s)
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
			return fmt.Errorf("field %q: %w", fieldNames[fi], err)
		}
		return nil
	})
	if err != nil {
		return Entry{}, err
	}
	if e.Type == "" {
		e.Type = defType
	}
	return NormalizeEntry(e)
}

// eachMember calls fn with the raw name (quotes included) and raw value of
// every member of obj, a JSON object that json.Valid has accepted. It spares
// the map and the reflection of json.Unmarshal, which dominated JSONL reads.
func eachMember(obj []byte, fn func(k, v []byte) error) error {
	i := skipWS(obj, 1)
	if obj[i] == '}' {
		return nil
	}
	for {
		kEnd := stringEnd(obj, i)
		k := obj[i:kEnd]
		i = skipWS(obj, kEnd) + 1 // past ':'
		i = skipWS(obj, i)
		vEnd := valueEnd(obj, i)
		if err := fn(k, obj[i:vEnd]); err != nil {
			return err
		}
		i = skipWS(obj, vEnd)
		if obj[i] == '}' {
			return nil
		}
		i = skipWS(obj, i+1) // past ','
	}
}

// eachElem calls fn with every element of arr, a valid JSON array, and the
// element's offset in arr.
func eachElem(arr []byte, fn func(v []byte, at int)) {
	i := skipWS(arr, 1)
	if arr[i] == ']' {
		return
	}
	for {
		end := valueEnd(arr, i)
		fn(arr[i:end], i)
		i = skipWS(arr, end)
		if arr[i] == ']' {
			return
		}
		i = skipWS(arr, i+1) // past ','
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the string starting at b[i] == '"'.
func stringEnd(b []byte, i int) int {
	for i++; b[i] != '"'; i++ {
		if b[i] == '\\' {
			i++
		}
	}
	return i + 1
}

// valueEnd returns the index just past the valid JSON value at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for {
			switch b[i] {
			case '"':
				i = stringEnd(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
	}
	for i < len(b) && !strings.ContainsRune(",}] \t\r\n", rune(b[i])) {
		i++
	}
	return i
}

// jsonString accepts a JSON string or null.
func jsonString(v json.RawMessage) (string, error) {
	if string(v) == "null" {
		return "", nil
	}
	if len(v) == 0 || v[0] != '"' {
		return "", fmt.Errorf("%w: want a string, got %s", ErrSyntax, truncate(string(v)))
	}
	plain := true
	for _, c := range v[1 : len(v)-1] {
		if c < 0x20 || c >= utf8.RuneSelf || c == '\\' || c == '"' {
			plain = false
			break
		}
	}
	if plain {
		return string(v[1 : len(v)-1]), nil
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
	b = appendJSONString(b, string(e.Type))
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
