package hashlist

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/nigehban/nigehban/internal/signal"
)

// MaxVICSToken bounds a single JSON token (string or number) in a VICS
// document, which is all the decoder ever has to buffer.
const MaxVICSToken = 16 << 20

// lineIndex counts lines in what the JSON decoder reads, so that byte offsets
// (Decoder.InputOffset) map to line numbers without keeping the document: it
// remembers only the newlines the decoder has read ahead of the last query.
type lineIndex struct {
	r    io.Reader
	dec  *json.Decoder
	pos  int64   // bytes read so far
	nl   []int64 // offsets of newlines at or after the last query
	head int
	line int // line of the last query
}

func (li *lineIndex) Read(p []byte) (int, error) {
	if li.dec != nil && li.pos-li.dec.InputOffset() > MaxVICSToken {
		return 0, fmt.Errorf("%w: a JSON token near line %d is longer than %d bytes", ErrLineTooLong, li.line, MaxVICSToken)
	}
	n, err := li.r.Read(p)
	for i := 0; i < n; {
		j := bytes.IndexByte(p[i:n], '\n')
		if j < 0 {
			break
		}
		li.nl = append(li.nl, li.pos+int64(i+j))
		i += j + 1
	}
	li.pos += int64(n)
	return n, err
}

// lineAt returns the 1-based line holding byte offset off. Offsets must not
// decrease from one call to the next (an earlier one gets the later line).
func (li *lineIndex) lineAt(off int64) int {
	for li.head < len(li.nl) && li.nl[li.head] < off {
		li.head++
		li.line++
	}
	if li.head >= 1024 && li.head*2 >= len(li.nl) {
		n := copy(li.nl, li.nl[li.head:])
		li.nl = li.nl[:n]
		li.head = 0
	}
	return li.line
}

type vicsState uint8

const (
	stInit      vicsState = iota
	stTop                 // in the envelope object
	stValue               // in the "value" array (or a bare top-level array)
	stElem                // in an element of "value": a Case or a Media
	stCaseMedia           // in a Case's "Media" array
)

type result struct {
	e   Entry
	err error
}

type vicsReader struct {
	dec   *json.Decoder
	li    *lineIndex
	stack []vicsState
	elem  *media // the element being walked in stElem
	queue []result
	qi    int
	fail  error // sticky: fatal error, or io.EOF at the end
	// mediaDoc is set when the envelope names a "#Media" document.
	mediaDoc bool
}

func newVICSReader(r io.Reader, opts ReaderOptions) *vicsReader {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, bom) {
		br.Discard(3)
	}
	li := &lineIndex{r: br, line: 1}
	dec := json.NewDecoder(li)
	dec.UseNumber()
	li.dec = dec
	return &vicsReader{dec: dec, li: li, stack: []vicsState{stInit}}
}

func (r *vicsReader) Next() (Entry, error) {
	for {
		if r.qi < len(r.queue) {
			res := r.queue[r.qi]
			r.queue[r.qi] = result{}
			r.qi++
			return res.e, res.err
		}
		r.queue, r.qi = r.queue[:0], 0
		if r.fail != nil {
			return Entry{}, r.fail
		}
		if err := r.step(); err != nil {
			r.fail = err
		}
	}
}

// decodeErr turns a decoder error into a fatal error with a line number.
func (r *vicsReader) decodeErr(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		line := r.li.lineAt(se.Offset)
		return &ListError{Line: line, Err: fmt.Errorf("hashlist: vics line %d: %w: %v", line, ErrSyntax, se)}
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		line := r.li.lineAt(max(r.li.pos-1, 0))
		return &ListError{Line: line, Err: fmt.Errorf("hashlist: vics: %w: document ends early (line %d)", ErrSyntax, line)}
	case errors.Is(err, ErrLineTooLong):
		return fmt.Errorf("hashlist: vics: %w", err)
	}
	return fmt.Errorf("hashlist: vics: read near line %d: %w", r.li.lineAt(r.dec.InputOffset()), err)
}

// token reads the next token.
func (r *vicsReader) token() (json.Token, error) {
	tok, err := r.dec.Token()
	if err != nil {
		return nil, r.decodeErr(err)
	}
	return tok, nil
}

// raw reads the next value whole and returns it with the line it starts on.
// Only Media objects (and small envelope members) are read this way, so the
// document is still never held whole.
func (r *vicsReader) raw() (json.RawMessage, int, error) {
	var v json.RawMessage
	if err := r.dec.Decode(&v); err != nil {
		return nil, 0, r.decodeErr(err)
	}
	return v, r.li.lineAt(r.dec.InputOffset() - int64(len(v))), nil
}

// key reads an object member name.
func (r *vicsReader) key() (string, error) {
	tok, err := r.token()
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("hashlist: vics: %w: member name expected, got %v", ErrSyntax, tok)
	}
	return s, nil
}

func (r *vicsReader) push(s vicsState) { r.stack = append(r.stack, s) }
func (r *vicsReader) pop()             { r.stack = r.stack[:len(r.stack)-1] }

func (r *vicsReader) bad(line int, format string, args ...any) {
	r.queue = append(r.queue, result{err: lineErr(line, fmt.Errorf(format, args...))})
}

// closeLevel consumes the closing delimiter of the current array or object
// when it comes, reporting whether it did.
func (r *vicsReader) closeLevel() (bool, error) {
	if r.dec.More() {
		return false, nil
	}
	if _, err := r.token(); err != nil {
		return false, err
	}
	r.pop()
	return true, nil
}

// step advances by one member or array element, queueing what it yields.
//
// Media objects are read whole (json.RawMessage) and picked apart by
// eachMember, which is several times faster than walking tokens. Cases are
// walked member by member so that a Case holding millions of Media streams.
// A "value" item is taken for a Media without looking when the envelope says
// "#Media"; otherwise its members are walked, as it may be a Case.
func (r *vicsReader) step() error {
	if len(r.stack) == 0 {
		return r.end()
	}
	switch r.stack[len(r.stack)-1] {
	case stInit:
		tok, err := r.token()
		if err != nil {
			return err
		}
		r.pop()
		switch tok {
		case json.Delim('{'):
			r.push(stTop)
		case json.Delim('['):
			r.push(stValue)
		default:
			return fmt.Errorf("hashlist: vics: %w: document is not a JSON object", ErrSyntax)
		}
	case stTop:
		if done, err := r.closeLevel(); done || err != nil {
			return err
		}
		k, err := r.key()
		if err != nil {
			return err
		}
		if !strings.EqualFold(k, "value") {
			v, _, err := r.raw()
			if err != nil {
				return err
			}
			if strings.EqualFold(k, "@odata.context") || strings.EqualFold(k, "odata.metadata") {
				ctx, _ := jsonString(v)
				r.mediaDoc = strings.HasSuffix(strings.TrimSpace(ctx), "#Media")
			}
			return nil
		}
		tok, err := r.token()
		if err != nil {
			return err
		}
		switch tok {
		case nil:
		case json.Delim('['):
			r.push(stValue)
		default:
			line := r.li.lineAt(r.dec.InputOffset() - 1)
			return &ListError{Line: line, Err: fmt.Errorf("hashlist: vics line %d: %w: \"value\" is not an array", line, ErrSyntax)}
		}
	case stValue:
		if done, err := r.closeLevel(); done || err != nil {
			return err
		}
		if r.mediaDoc {
			v, line, err := r.raw()
			if err != nil {
				return err
			}
			r.mediaRaw(v, line, true)
			return nil
		}
		tok, err := r.token()
		if err != nil {
			return err
		}
		line := r.li.lineAt(r.dec.InputOffset() - 1)
		if tok != json.Delim('{') {
			r.bad(line, "%w: a \"value\" item is not an object", ErrSyntax)
			return r.skip(tok)
		}
		r.elem = &media{line: line}
		r.push(stElem)
	case stElem:
		if done, err := r.closeLevel(); done || err != nil {
			if done {
				if m := r.elem; m.any {
					r.emit(m)
				}
				r.elem = nil
			}
			return err
		}
		k, err := r.key()
		if err != nil {
			return err
		}
		if !strings.EqualFold(k, "Media") {
			v, _, err := r.raw()
			if err != nil {
				return err
			}
			r.elem.member([]byte(k), v)
			return nil
		}
		tok, err := r.token()
		if err != nil {
			return err
		}
		switch tok {
		case nil:
		case json.Delim('['):
			r.push(stCaseMedia)
		default:
			r.bad(r.elem.line, "%w: a Case's \"Media\" is not an array", ErrSyntax)
			return r.skip(tok)
		}
	case stCaseMedia:
		if done, err := r.closeLevel(); done || err != nil {
			return err
		}
		v, line, err := r.raw()
		if err != nil {
			return err
		}
		r.mediaRaw(v, line, false)
	}
	return nil
}

// skip consumes the rest of a value whose first token was tok.
func (r *vicsReader) skip(tok json.Token) error {
	d, ok := tok.(json.Delim)
	if !ok || d == '}' || d == ']' {
		return nil
	}
	for depth, n := 1, 0; depth > 0; n++ {
		tok, err := r.token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
		if n%1024 == 0 {
			r.li.lineAt(r.dec.InputOffset()) // forget newlines behind us
		}
	}
	return nil
}

// mediaRaw handles one Media object read whole, starting on line. In a
// "#Media" document (orCase) an item that turns out to be a Case is
// accepted too; its Media are found in v with their own line numbers.
func (r *vicsReader) mediaRaw(v []byte, line int, orCase bool) {
	if v[0] != '{' {
		r.bad(line, "%w: a Media item is not an object", ErrSyntax)
		return
	}
	m := &media{line: line, any: !orCase}
	eachMember(v, func(k, val []byte) error {
		name := memberName(k)
		if orCase && bytes.EqualFold(name, []byte("Media")) && val[0] == '[' {
			off := cap(v) - cap(val) // val is a subslice of v
			eachElem(val, func(item []byte, at int) {
				r.mediaRaw(item, line+bytes.Count(v[:off+at], []byte{'\n'}), false)
			})
			return nil
		}
		m.member(name, val)
		return nil
	})
	if m.any {
		r.emit(m)
	}
}

// end checks that nothing but white space follows the document.
func (r *vicsReader) end() error {
	if tok, err := r.dec.Token(); err != io.EOF {
		if err != nil {
			return fmt.Errorf("hashlist: vics: %w after the document: %v", ErrSyntax, err)
		}
		return fmt.Errorf("hashlist: vics: %w: data after the document (%v)", ErrSyntax, tok)
	}
	return io.EOF
}

// media collects the members of one Media object that become entries.
type media struct {
	line     int
	any      bool // has Media members (an element of "value" may be a Case)
	hashes   [][2]string
	category string
	note     string
	id       string
	series   string
	errs     []error
	// badCategory drops the Media's entries: importing them uncategorised
	// would misstate what the list says.
	badCategory bool
}

// memberName unquotes a member name as eachMember yields it.
func memberName(k []byte) []byte {
	if bytes.IndexByte(k, '\\') < 0 {
		return k[1 : len(k)-1]
	}
	s, _ := jsonString(k)
	return []byte(s)
}

// text reads a string, number or null member as text.
func (m *media) text(name string, v []byte) string {
	switch {
	case v[0] == '"':
		s, err := jsonString(v)
		if err != nil {
			m.errs = append(m.errs, fmt.Errorf("%s: %w", name, err))
		}
		return s
	case string(v) == "null":
		return ""
	case v[0] == '-' || ('0' <= v[0] && v[0] <= '9'):
		return string(v)
	}
	m.errs = append(m.errs, fmt.Errorf("%w: %s is not a string", ErrSyntax, name))
	return ""
}

// member takes one member of a Media (or of a "value" item that may be
// one): its unquoted name and its raw JSON value.
func (m *media) member(name, v []byte) {
	is := func(s string) bool { return bytes.EqualFold(name, []byte(s)) }
	switch {
	case is("MD5"), is("SHA1"), is("SHA256"):
		m.any = true
		if s := m.text(string(name), v); strings.TrimSpace(s) != "" {
			m.hashes = append(m.hashes, [2]string{string(name), s})
		}
	case is("Category"):
		m.any = true
		switch {
		case string(v) == "null":
		case v[0] == '"':
			m.category = m.text("Category", v)
		case v[0] == '-' || ('0' <= v[0] && v[0] <= '9'):
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				m.errs = append(m.errs, fmt.Errorf("%w: Category %s is not an integer", ErrSyntax, truncate(string(v))))
				m.badCategory = true
				return
			}
			m.category = strconv.FormatInt(n, 10)
		default:
			m.errs = append(m.errs, fmt.Errorf("%w: Category is not a number", ErrSyntax))
			m.badCategory = true
		}
	case is("MediaID"):
		m.any = true
		m.id = m.text("MediaID", v)
	case is("Comments"):
		m.note = m.text("Comments", v)
	case is("Series"):
		m.series = m.text("Series", v)
	case is("AlternativeHashes"):
		m.any = true
		switch {
		case string(v) == "null":
		case v[0] != '[':
			m.errs = append(m.errs, fmt.Errorf("%w: AlternativeHashes is not an array", ErrSyntax))
		default:
			eachElem(v, func(item []byte, _ int) {
				if item[0] != '{' {
					m.errs = append(m.errs, fmt.Errorf("%w: an AlternativeHashes item is not an object", ErrSyntax))
					return
				}
				var hname, hvalue string
				eachMember(item, func(k, v []byte) error {
					switch n := memberName(k); {
					case bytes.EqualFold(n, []byte("HashName")):
						hname = m.text("HashName", v)
					case bytes.EqualFold(n, []byte("HashValue")):
						hvalue = m.text("HashValue", v)
					}
					return nil
				})
				if _, err := ParseType(hname); err == nil && strings.TrimSpace(hvalue) != "" {
					m.hashes = append(m.hashes, [2]string{hname, hvalue})
				}
			})
		}
	}
}

// emit queues the entries of m, one per distinct hash, and its errors.
func (r *vicsReader) emit(m *media) {
	for _, err := range m.errs {
		r.queue = append(r.queue, result{err: lineErr(m.line, err)})
	}
	if m.badCategory {
		return
	}
	if len(m.hashes) == 0 && len(m.errs) == 0 {
		r.bad(m.line, "%w: Media without MD5 or SHA1", ErrMissingField)
		return
	}
	start := len(r.queue)
	for _, h := range m.hashes {
		e := Entry{Type: signal.Type(h[0]), Value: h[1], Category: m.category, Note: m.note, Quality: -1, Line: m.line}
		if m.id != "" || m.series != "" {
			e.Extra = make(map[string]string, 2)
			if m.id != "" {
				e.Extra[ExtraMediaID] = m.id
			}
			if m.series != "" {
				e.Extra["Series"] = m.series
			}
		}
		e, err := NormalizeEntry(e)
		if err != nil {
			r.bad(m.line, "%s: %w", h[0], err)
			continue
		}
		dup := false
		for _, q := range r.queue[start:] {
			if q.err == nil && q.e.Type == e.Type && q.e.Value == e.Value {
				dup = true
				break
			}
		}
		if !dup {
			r.queue = append(r.queue, result{e: e})
		}
	}
}

// vicsMedia is the Media the writer is assembling.
type vicsMedia struct {
	id       string // Extra MediaID, "" when the counter supplies it
	category string
	note     string
	series   string
	md5      string
	sha1     string
	alt      [][2]string
}

type vicsWriter struct {
	writerBase
	context string
	started bool
	n       int
	nextID  int64
	cur     *vicsMedia
	buf     []byte
}

func newVICSWriter(w io.Writer, opts WriterOptions) (*vicsWriter, error) {
	flavor := opts.VICSFlavor
	switch strings.ToUpper(flavor) {
	case "":
		flavor = "US"
	case "US", "UK", "CUSTOM":
		flavor = strings.ToUpper(flavor)
	case "DEFAULT":
		flavor = "Default"
	default:
		return nil, fmt.Errorf("hashlist: VICS flavour %q (want US, UK, CUSTOM or Default)", opts.VICSFlavor)
	}
	return &vicsWriter{
		writerBase: newWriterBase(w),
		context:    "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/" + flavor + "/$metadata#Media",
	}, nil
}

func (v *vicsWriter) Write(e Entry) error {
	if err := v.ready(); err != nil {
		return err
	}
	e, err := NormalizeEntry(e)
	if err != nil {
		return err
	}
	if e.Type == TypeVPDQ {
		return fmt.Errorf("%w: VICS has no place for vpdq", ErrUnsupported)
	}
	if e.Category != "" {
		if !isInteger(e.Category) {
			return fmt.Errorf("%w: VICS categories are decimal integers, not %q", ErrUnsupported, truncate(e.Category))
		}
	}
	id := e.Extra[ExtraMediaID]
	if e.Type == TypeMD5 {
		if err := v.flush(); err != nil {
			return err
		}
		v.cur = &vicsMedia{id: id, category: e.Category, note: e.Note, series: e.Extra["Series"], md5: e.Value}
		return nil
	}
	c := v.cur
	if c == nil || id == "" || c.id != id {
		return fmt.Errorf("%w: a VICS Media needs an MD5: write a %s entry right after the md5 entry with the same MediaID", ErrUnsupported, e.Type)
	}
	if e.Category != c.category {
		return fmt.Errorf("%w: %s category %q differs from its Media's %q", ErrUnsupported, e.Type, e.Category, c.category)
	}
	if e.Type == TypeSHA1 && (c.sha1 == "" || c.sha1 == e.Value) {
		c.sha1 = e.Value
		return nil
	}
	name := strings.ToUpper(string(e.Type))
	for _, a := range c.alt {
		if a[0] == name && a[1] == e.Value {
			return nil
		}
	}
	c.alt = append(c.alt, [2]string{name, e.Value})
	return nil
}

func (v *vicsWriter) header() error {
	v.started = true
	b := append(v.buf[:0], `{"@odata.context":`...)
	b = appendJSONString(b, v.context)
	v.buf = append(b, `,"value":[`...)
	return v.put(v.buf)
}

// flush writes the pending Media, one per line.
func (v *vicsWriter) flush() error {
	if !v.started {
		if err := v.header(); err != nil {
			return err
		}
	}
	c := v.cur
	if c == nil {
		return nil
	}
	v.cur = nil
	b := v.buf[:0]
	if v.n > 0 {
		b = append(b, ',')
	}
	v.n++
	b = append(b, "\n{\"MediaID\":"...)
	switch {
	case c.id == "":
		v.nextID++
		b = strconv.AppendInt(b, v.nextID, 10)
	case isInteger(c.id):
		b = append(b, c.id...)
	default:
		b = appendJSONString(b, c.id)
	}
	if c.category != "" {
		b = append(append(b, `,"Category":`...), c.category...)
	}
	b = appendJSONString(append(b, `,"MD5":`...), strings.ToUpper(c.md5))
	if c.sha1 != "" {
		b = appendJSONString(append(b, `,"SHA1":`...), strings.ToUpper(c.sha1))
	}
	if c.note != "" {
		b = appendJSONString(append(b, `,"Comments":`...), c.note)
	}
	if c.series != "" {
		b = appendJSONString(append(b, `,"Series":`...), c.series)
	}
	if len(c.alt) > 0 {
		b = append(b, `,"AlternativeHashes":[`...)
		for i, a := range c.alt {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(append(b, `{"HashName":`...), a[0])
			b = appendJSONString(append(b, `,"HashValue":`...), a[1])
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	v.buf = append(b, '}')
	return v.put(v.buf)
}

// isInteger reports whether s is a JSON-safe decimal integer.
func isInteger(s string) bool {
	n, err := strconv.ParseInt(s, 10, 64)
	return err == nil && strconv.FormatInt(n, 10) == s
}

// Close writes the last Media and closes the document.
func (v *vicsWriter) Close() error {
	if !v.closed && v.err == nil {
		if err := v.flush(); err == nil {
			v.put([]byte("\n]}\n"))
		}
	}
	return v.finish()
}
