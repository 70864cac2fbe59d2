package exchange

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"strings"
	"unicode/utf8"
)

// NCMEC response decoding.
//
// An initial sync decodes millions of entries, and encoding/xml's
// reflection-driven Unmarshal (a token, a name and a string per element)
// was the largest cost of the fetching goroutine. decodeNCMEC first runs a
// scanner over the body (one pass, no tokens, one string per entry for the
// entry's own values) that fills the same NCMECResult encoding/xml would,
// following encoding/xml's rules where they decide the result: character
// and entity references (the five predefined ones and numeric ones), CDATA
// sections, comments, "\r\n" and "\r" read as "\n", attributes in any
// order, namespace prefixes and default namespaces (elements are matched
// by their local name, as the struct tags do; an entry's XMLName gets its
// namespace), repeated elements (the last one wins, as in encoding/xml),
// unknown elements skipped and the text of nested elements left out, and
// anything after the root ignored. Every byte it accepts is checked as
// encoding/xml checks it (UTF-8, characters allowed in XML, names,
// matching end tags).
//
// Whatever the scanner is not sure of (a DOCTYPE, a name outside ASCII, a
// reference to a surrogate, malformed input of any kind) makes it give up,
// and the document is decoded again by encoding/xml, whose answer (result
// or error) is then the answer. So the scanner never decides that a
// document is malformed, and never accepts one encoding/xml would reject:
// FuzzNCMECDecode and TestNCMECDecodeDifferential compare the two.

// decodeNCMEC decodes a GET /v2/entries document.
func decodeNCMEC(data []byte) (*NCMECResult, error) {
	if res, ok := scanNCMEC(data); ok {
		return res, nil
	}
	var res NCMECResult
	if err := xml.Unmarshal(data, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// scanNCMEC is the fast path of decodeNCMEC; ok is false when it gave up
// (the document is then for encoding/xml to decode or reject).
func scanNCMEC(data []byte) (res *NCMECResult, ok bool) {
	d := ncmecScanner{data: data, res: new(NCMECResult)}
	if !d.run() {
		return nil, false
	}
	return d.res, true
}

// frameKind says what an open element stands for in NCMECResult.
type frameKind uint8

const (
	kIgnore       frameKind = iota // unknown element: skipped (still checked)
	kRoot                          // <queryResult>
	kEntries                       // <images>, <videos>
	kDeletions                     // <deletedImages>, <deletedVideos>
	kEntry                         // one entry of a list
	kMember                        // <member id="…">name</member>
	kFingerprints                  // <fingerprints>
	kPaging                        // <paging>
	kText                          // a string field: its own text, not its children's
)

// frame is an open element.
type frame struct {
	name   []byte // its name as written (prefix:local), for the end tag
	nsTop  int    // len(ns) before its own namespace declarations
	kind   frameKind
	list   *[]NCMECEntry // kEntries, kDeletions: where entries go
	entry  *NCMECEntry   // kEntry, kMember, kFingerprints, kText within an entry
	target *string       // kText, kMember: the field its text sets
	intern bool          // kText, kMember: a value repeated across entries
}

// nsBinding is a namespace declaration in scope (prefix "" for xmlns=).
type nsBinding struct{ prefix, url string }

// attr is an attribute as written: its raw value, checked but not decoded.
type attr struct{ name, raw []byte }

type ncmecScanner struct {
	data   []byte
	pos    int
	res    *NCMECResult
	stk    []frame
	ns     []nsBinding
	attrs  []attr
	text   []byte // decoded text of the innermost kText or kMember element
	tmp    []byte // scratch for attribute values and ignored text
	intern map[string]string
	// The entry's own values (id, timestamp, fingerprints) are gathered
	// in ebuf and made one string when the entry closes; fix says which
	// field gets which part.
	ebuf []byte
	fix  []fixup
}

// fixup is a field of the open entry and where its value is in ebuf.
type fixup struct {
	target *string
	off, n int
}

func (d *ncmecScanner) top() *frame {
	if len(d.stk) == 0 {
		return nil
	}
	return &d.stk[len(d.stk)-1]
}

// run scans the document up to the end of its root element.
func (d *ncmecScanner) run() bool {
	for {
		i := bytes.IndexByte(d.data[d.pos:], '<')
		if i < 0 {
			return false // no root, or a root never closed
		}
		if i > 0 && !d.chars(d.data[d.pos:d.pos+i]) {
			return false
		}
		d.pos += i + 1
		if d.pos >= len(d.data) {
			return false
		}
		var ok, done bool
		switch d.data[d.pos] {
		case '/':
			done, ok = d.endTag()
		case '?':
			ok = d.procInst()
		case '!':
			ok = d.bang()
		default:
			done, ok = d.startTag()
		}
		if !ok {
			return false
		}
		if done {
			return true
		}
	}
}

// chars handles character data s (raw) inside the current element: the
// text of a string field is collected, any other is only checked.
func (d *ncmecScanner) chars(s []byte) bool {
	if t := d.top(); t != nil && (t.kind == kText || t.kind == kMember) {
		var ok bool
		d.text, ok = appendText(d.text, s, true, true)
		return ok
	}
	for _, c := range s {
		if c != ' ' && c != '\n' && c != '\t' && c != '\r' {
			var ok bool
			d.tmp, ok = appendText(d.tmp[:0], s, true, true)
			return ok
		}
	}
	return true
}

// bang handles "<!": a comment or a CDATA section; a DOCTYPE or any other
// declaration gives up.
func (d *ncmecScanner) bang() bool {
	rest := d.data[d.pos:]
	switch {
	case bytes.HasPrefix(rest, []byte("!--")):
		j := bytes.Index(rest[3:], []byte("--"))
		if j < 0 || 3+j+2 >= len(rest) || rest[3+j+2] != '>' {
			return false // "--" inside a comment, or no end
		}
		d.pos += 3 + j + 3
		return true
	case bytes.HasPrefix(rest, []byte("![CDATA[")):
		body := rest[8:]
		j := bytes.Index(body, []byte("]]>"))
		if j < 0 {
			return false
		}
		d.pos += 8 + j + 3
		if t := d.top(); t != nil && (t.kind == kText || t.kind == kMember) {
			var ok bool
			d.text, ok = appendText(d.text, body[:j], false, false)
			return ok
		}
		var ok bool
		d.tmp, ok = appendText(d.tmp[:0], body[:j], false, false)
		return ok
	}
	return false
}

// procInst handles "<?target …?>". encoding/xml checks only the <?xml?>
// declaration (version and encoding), and the scanner lets it check that
// one (a few hundred bytes at the start of a document).
func (d *ncmecScanner) procInst() bool {
	start := d.pos - 1
	j := bytes.Index(d.data[d.pos+1:], []byte("?>"))
	if j < 0 {
		return false
	}
	end := d.pos + 1 + j + 2
	pi := d.data[start:end]
	tok, err := xml.NewDecoder(bytes.NewReader(pi)).RawToken()
	if err != nil {
		return false
	}
	if _, ok := tok.(xml.ProcInst); !ok {
		return false
	}
	d.pos = end
	return true
}

// name reads an XML name at d.pos: the scanner accepts only ASCII names,
// with at most one prefix (anything else gives up).
func (d *ncmecScanner) name() ([]byte, bool) {
	i := d.pos
	for i < len(d.data) && isNameByte(d.data[i]) {
		i++
	}
	n := d.data[d.pos:i]
	if i >= len(d.data) || d.data[i] >= utf8.RuneSelf || !validName(n) {
		return nil, false
	}
	d.pos = i
	return n, true
}

func isNameByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '_' || c == ':' || c == '.' || c == '-'
}

// validName: [A-Za-z_][A-Za-z0-9._-]*, optionally twice with a colon
// between.
func validName(n []byte) bool {
	first := true
	colons := 0
	for _, c := range n {
		switch {
		case c == ':':
			if first {
				return false
			}
			colons++
			first = true
			continue
		case first && !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '_'):
			return false
		}
		first = false
	}
	return !first && colons <= 1
}

// split splits a name into its prefix and local part.
func split(n []byte) (prefix, local []byte) {
	if i := bytes.IndexByte(n, ':'); i >= 0 {
		return n[:i], n[i+1:]
	}
	return nil, n
}

func (d *ncmecScanner) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\n', '\t', '\r':
			d.pos++
		default:
			return
		}
	}
}

// startTag reads "<name attr='v'…>" or "…/>" (d.pos after "<") and opens
// the element; done is true when an empty root closed the document.
func (d *ncmecScanner) startTag() (done, ok bool) {
	name, ok := d.name()
	if !ok {
		return false, false
	}
	d.attrs = d.attrs[:0]
	empty := false
	for {
		d.space()
		if d.pos >= len(d.data) {
			return false, false
		}
		c := d.data[d.pos]
		if c == '/' {
			if d.pos+1 >= len(d.data) || d.data[d.pos+1] != '>' {
				return false, false
			}
			d.pos += 2
			empty = true
			break
		}
		if c == '>' {
			d.pos++
			break
		}
		an, ok := d.name()
		if !ok {
			return false, false
		}
		d.space()
		if d.pos >= len(d.data) || d.data[d.pos] != '=' {
			return false, false
		}
		d.pos++
		d.space()
		if d.pos >= len(d.data) || (d.data[d.pos] != '"' && d.data[d.pos] != '\'') {
			return false, false
		}
		q := d.data[d.pos]
		d.pos++
		j := bytes.IndexByte(d.data[d.pos:], q)
		if j < 0 {
			return false, false
		}
		raw := d.data[d.pos : d.pos+j]
		d.pos += j + 1
		if bytes.IndexByte(raw, '<') >= 0 {
			return false, false
		}
		if d.tmp, ok = appendText(d.tmp[:0], raw, true, false); !ok {
			return false, false
		}
		d.attrs = append(d.attrs, attr{an, raw})
	}
	f := frame{name: name, nsTop: len(d.ns)}
	for _, a := range d.attrs {
		p, l := split(a.name)
		switch {
		case p == nil && string(l) == "xmlns":
			d.ns = append(d.ns, nsBinding{"", d.attrString(a.raw, true)})
		case string(p) == "xmlns":
			d.ns = append(d.ns, nsBinding{string(l), d.attrString(a.raw, true)})
		}
	}
	prefix, local := split(name)
	if string(prefix) == "xml" || string(prefix) == "xmlns" || prefix == nil && string(local) == "xmlns" {
		return false, false // names encoding/xml translates otherwise; never sent
	}
	parent := d.top()
	switch {
	case parent == nil:
		if string(local) != "queryResult" {
			return false, false // encoding/xml's error
		}
		f.kind = kRoot
		d.res.XMLName = xml.Name{Space: d.nsURL(prefix), Local: "queryResult"}
	case parent.kind == kRoot:
		switch string(local) {
		case "images":
			f.kind, f.list = kEntries, &d.res.Images.Entries
			if !d.listAttrs(&d.res.Images.Count, &d.res.Images.MaxTimestamp) {
				return false, false
			}
		case "videos":
			f.kind, f.list = kEntries, &d.res.Videos.Entries
			if !d.listAttrs(&d.res.Videos.Count, &d.res.Videos.MaxTimestamp) {
				return false, false
			}
		case "deletedImages":
			f.kind, f.list = kDeletions, &d.res.DeletedImages.Entries
			if !d.listAttrs(&d.res.DeletedImages.Count, nil) {
				return false, false
			}
		case "deletedVideos":
			f.kind, f.list = kDeletions, &d.res.DeletedVideos.Entries
			if !d.listAttrs(&d.res.DeletedVideos.Count, nil) {
				return false, false
			}
		case "paging":
			f.kind = kPaging
		}
	case parent.kind == kEntries || parent.kind == kDeletions:
		// Every element of a list is an entry (xml:",any").
		*parent.list = append(*parent.list, NCMECEntry{})
		e := &(*parent.list)[len(*parent.list)-1]
		e.XMLName = xml.Name{Space: d.nsURL(prefix), Local: d.str(local, true)}
		f.kind, f.entry = kEntry, e
	case parent.kind == kEntry:
		e := parent.entry
		f.entry = e
		switch string(local) {
		case "member":
			f.kind, f.target, f.intern = kMember, &e.Member.Name, true
			for _, a := range d.attrs {
				if _, l := split(a.name); string(l) == "id" {
					e.Member.ID = d.attrString(a.raw, true)
				}
			}
		case "timestamp":
			f.kind, f.target = kText, &e.Timestamp
		case "id":
			f.kind, f.target = kText, &e.ID
		case "classification":
			f.kind, f.target, f.intern = kText, &e.Classification, true
		case "fingerprints":
			f.kind = kFingerprints
		}
	case parent.kind == kFingerprints:
		e := parent.entry
		f.entry = e
		switch string(local) {
		case "md5":
			f.kind, f.target = kText, &e.Fingerprints.MD5
		case "sha1":
			f.kind, f.target = kText, &e.Fingerprints.SHA1
		case "pdq":
			f.kind, f.target = kText, &e.Fingerprints.PDQ
		}
	case parent.kind == kPaging:
		if string(local) == "next" {
			f.kind, f.target = kText, &d.res.Paging.Next
		}
	}
	if f.kind == kText || f.kind == kMember {
		d.text = d.text[:0]
	}
	d.stk = append(d.stk, f)
	if empty {
		return d.close(), true
	}
	return false, true
}

// listAttrs sets a list's count and maxTimestamp from its attributes
// (matched by local name, the last one winning, as encoding/xml does).
func (d *ncmecScanner) listAttrs(count *int, maxTS *string) bool {
	for _, a := range d.attrs {
		_, l := split(a.name)
		switch {
		case string(l) == "count":
			v := d.attrString(a.raw, false)
			if v == "" {
				*count = 0
				continue
			}
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return false
			}
			*count = int(n)
		case string(l) == "maxTimestamp" && maxTS != nil:
			*maxTS = d.attrString(a.raw, false)
		}
	}
	return true
}

// nsURL returns the namespace of an element name's prefix, as
// encoding/xml translates it: the innermost declaration, else the prefix
// itself ("" without a prefix).
func (d *ncmecScanner) nsURL(prefix []byte) string {
	for i := len(d.ns) - 1; i >= 0; i-- {
		if d.ns[i].prefix == string(prefix) {
			return d.ns[i].url
		}
	}
	return d.str(prefix, true)
}

// attrString decodes an attribute's raw value (already checked).
func (d *ncmecScanner) attrString(raw []byte, intern bool) string {
	d.tmp, _ = appendText(d.tmp[:0], raw, true, false)
	return d.str(d.tmp, intern)
}

// str returns b as a string; values repeated across entries (members,
// classifications, names) are shared within the document.
func (d *ncmecScanner) str(b []byte, intern bool) string {
	if len(b) == 0 {
		return ""
	}
	if !intern || len(b) > 128 {
		return string(b)
	}
	if s, ok := d.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if d.intern == nil {
		d.intern = map[string]string{}
	}
	if len(d.intern) < 1024 {
		d.intern[s] = s
	}
	return s
}

// endTag reads "</name>" (d.pos after "<") and closes the element; done
// is true when it closed the root.
func (d *ncmecScanner) endTag() (done, ok bool) {
	d.pos++
	name, ok := d.name()
	if !ok {
		return false, false
	}
	d.space()
	if d.pos >= len(d.data) || d.data[d.pos] != '>' {
		return false, false
	}
	d.pos++
	t := d.top()
	if t == nil || !bytes.Equal(t.name, name) {
		return false, false
	}
	return d.close(), true
}

// close closes the innermost element; it reports whether that was the
// root.
func (d *ncmecScanner) close() bool {
	f := d.stk[len(d.stk)-1]
	d.stk = d.stk[:len(d.stk)-1]
	d.ns = d.ns[:f.nsTop]
	switch {
	case f.target != nil && f.entry != nil && !f.intern:
		d.fix = append(d.fix, fixup{f.target, len(d.ebuf), len(d.text)})
		d.ebuf = append(d.ebuf, d.text...)
		d.text = d.text[:0]
	case f.target != nil:
		*f.target = d.str(d.text, f.intern)
		d.text = d.text[:0]
	case f.kind == kEntry && len(d.fix) > 0:
		// One allocation for the entry's values, in the order written
		// (a repeated element's later value wins).
		s := string(d.ebuf)
		for _, x := range d.fix {
			*x.target = s[x.off : x.off+x.n]
		}
		d.ebuf, d.fix = d.ebuf[:0], d.fix[:0]
	}
	return len(d.stk) == 0
}

// appendText checks raw character data s as encoding/xml's Decoder does
// and appends its decoded form to dst: references replaced (when refs),
// "\r\n" and "\r" read as "\n", only UTF-8 characters XML allows. cdEnd
// rejects "]]>" (text outside CDATA). ok is false for anything encoding/xml
// would reject and for references the scanner leaves to it.
func appendText(dst, s []byte, refs, cdEnd bool) ([]byte, bool) {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf {
			switch {
			case c == '&' && refs:
				r, n, ok := charRef(s[i:])
				if !ok {
					return dst, false
				}
				dst = utf8.AppendRune(dst, r)
				i += n
				continue
			case c == '>' && cdEnd && i >= 2 && s[i-1] == ']' && s[i-2] == ']':
				return dst, false
			}
			dst = append(dst, c)
			i++
			continue
		}
		switch {
		case c == '\t' || c == '\n':
			dst = append(dst, c)
			i++
		case c == '\r':
			dst = append(dst, '\n')
			i++
			if i < len(s) && s[i] == '\n' {
				i++
			}
		case c < 0x20:
			return dst, false
		default:
			r, n := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && n == 1 || !inCharRange(r) {
				return dst, false
			}
			dst = append(dst, s[i:i+n]...)
			i += n
		}
	}
	return dst, true
}

// charRef decodes the reference at the start of s ("&…;"): one of the
// five predefined entities or a character reference to a character XML
// allows (not a surrogate, which encoding/xml turns into U+FFFD).
func charRef(s []byte) (r rune, n int, ok bool) {
	for _, e := range [...]struct {
		name string
		r    rune
	}{{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}} {
		if bytes.HasPrefix(s, []byte(e.name)) {
			return e.r, len(e.name), true
		}
	}
	if len(s) < 3 || s[1] != '#' {
		return 0, 0, false
	}
	i, base := 2, rune(10)
	if s[i] == 'x' {
		i, base = 3, 16
	}
	digits := 0
	for ; i < len(s) && s[i] != ';'; i++ {
		var v rune
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			v = rune(c - '0')
		case base == 16 && 'a' <= c && c <= 'f':
			v = rune(c-'a') + 10
		case base == 16 && 'A' <= c && c <= 'F':
			v = rune(c-'A') + 10
		default:
			return 0, 0, false
		}
		r = r*base + v
		digits++
		if r > utf8.MaxRune {
			return 0, 0, false
		}
	}
	if i >= len(s) || digits == 0 || !inCharRange(r) || 0xD800 <= r && r <= 0xDFFF {
		return 0, 0, false
	}
	return r, i + 1, true
}

// inCharRange reports whether XML 1.0 allows r (encoding/xml's rule).
func inCharRange(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
