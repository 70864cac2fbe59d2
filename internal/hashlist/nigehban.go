package hashlist

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/signal"
)

// ErrHashFailed marks a `nigehban hash` record that reports an error (an
// unreadable or undecodable input): its hashes, if any, are incomplete, so
// the record is a bad line.
var ErrHashFailed = errors.New("the hash record reports an error")

// Names of the build stamp fields of a `nigehban hash` record, kept in the
// Extra of the perceptual-hash entries read from it.
const (
	ExtraToolVersion  = "tool_version"
	ExtraToolRevision = "tool_revision"
	ExtraJPEGDecoder  = "jpeg_decoder"
	// ExtraVariant names a bank-side variant signal (a central crop of an
	// original, "crop90"; internal/variant), ExtraVariantOf the PDQ hash
	// of the original it was cut from: its parent.
	ExtraVariant   = "variant"
	ExtraVariantOf = "variant_of"
)

// nigehbanReader reads `nigehban hash` output, JSONL or CSV (decided by the
// first line that is not blank or a comment), one record at a time, and
// hands out the record's entries one by one.
type nigehbanReader struct {
	lr    *lineReader
	rr    *recordReader // CSV rows after the header
	cols  map[string]int
	begun bool
	queue []Entry
	qi    int
	fail  error
}

func newNigehbanReader(r io.Reader, opts ReaderOptions) *nigehbanReader {
	return &nigehbanReader{lr: newLineReader(r, opts.MaxLineLength)}
}

func (n *nigehbanReader) Next() (Entry, error) {
	for {
		if n.qi < len(n.queue) {
			e := n.queue[n.qi]
			n.qi++
			return e, nil
		}
		if n.fail != nil {
			return Entry{}, n.fail
		}
		rec, line, err := n.next()
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) {
				n.fail = err
			}
			return Entry{}, err
		}
		entries, err := rec.entries(line)
		if err != nil {
			return Entry{}, lineErr(line, err)
		}
		n.queue, n.qi = entries, 0
	}
}

// next returns the next record and its line.
func (n *nigehbanReader) next() (hashRecord, int, error) {
	if n.rr != nil {
		row, err := n.rr.next()
		if err != nil {
			return hashRecord{}, 0, err
		}
		rec, err := n.csvRecord(row)
		if err != nil {
			return rec, n.rr.start, lineErr(n.rr.start, err)
		}
		return rec, n.rr.start, nil
	}
	for {
		raw, err := n.lr.next()
		if err != nil {
			return hashRecord{}, 0, err
		}
		line := bytes.TrimSpace(raw)
		if skippable(line) {
			continue
		}
		if !n.begun {
			n.begun = true
			if line[0] != '{' {
				if err := n.header(line); err != nil {
					return hashRecord{}, 0, err
				}
				n.rr = &recordReader{lr: n.lr}
				return n.next()
			}
		}
		rec, err := jsonRecord(line)
		if err != nil {
			return rec, n.lr.line, lineErr(n.lr.line, err)
		}
		return rec, n.lr.line, nil
	}
}

// header reads the CSV header `nigehban hash --format csv` writes: columns
// are found by name, so added columns do not matter; path is required.
func (n *nigehbanReader) header(line []byte) error {
	fields, err := splitCSV(line, nil)
	if err == nil {
		n.cols = map[string]int{}
		for i, f := range fields {
			name := strings.ToLower(strings.TrimSpace(f))
			if _, dup := n.cols[name]; dup {
				err = fmt.Errorf("%w: column %q appears twice in the header", ErrSyntax, name)
				break
			}
			n.cols[name] = i
		}
	}
	if err == nil {
		if _, ok := n.cols["path"]; !ok {
			err = fmt.Errorf("%w: no path column in header %q: not `nigehban hash` CSV output", ErrMissingField, truncate(string(line)))
		}
	}
	if err != nil {
		return &ListError{Line: n.lr.line, Err: fmt.Errorf("hashlist: nigehban csv header (line %d): %w", n.lr.line, err)}
	}
	return nil
}

// emptyDigests are the md5, sha1 and sha256 of zero bytes.
var emptyDigests = map[string]bool{
	"d41d8cd98f00b204e9800998ecf8427e":                                 true,
	"da39a3ee5e6b4b0d3255bfef95601890afd80709":                         true,
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855": true,
}

// hashRecord is what a `nigehban hash` record says that signals are made of.
type hashRecord struct {
	path                string
	size                int64 // -1: not given
	md5, sha1, sha256   string
	pdq                 string
	quality             int // -1: unknown
	crops               []cropRecord
	vpdq                string // compact vPDQ value, "" when none
	err                 string
	version, rev, jpegD string
}

func (n *nigehbanReader) csvRecord(row []string) (hashRecord, error) {
	if len(row) != len(n.cols) {
		return hashRecord{}, fmt.Errorf("%w: %d fields, the header has %d", ErrSyntax, len(row), len(n.cols))
	}
	cell := func(name string) string {
		if i, ok := n.cols[name]; ok {
			return strings.TrimSpace(row[i])
		}
		return ""
	}
	rec := hashRecord{path: row[n.cols["path"]], size: -1, md5: cell("md5"), sha1: cell("sha1"), sha256: cell("sha256"),
		pdq: cell("pdq"), err: cell("error"), version: cell(ExtraToolVersion), rev: cell(ExtraToolRevision), jpegD: cell(ExtraJPEGDecoder)}
	if s := cell("size"); s != "" {
		size, err := strconv.ParseInt(s, 10, 64)
		if err != nil || size < 0 {
			return rec, fmt.Errorf("%w: size %q is not a byte count", ErrSyntax, truncate(s))
		}
		rec.size = size
	}
	q, err := parseQuality(cell("quality"))
	if err != nil {
		return rec, err
	}
	rec.quality = q
	return rec, nil
}

// hashJSON is the JSONL record of `nigehban hash` (internal/fingerprint's
// Record plus the build stamp); other members are ignored.
type hashJSON struct {
	Path    *string `json:"path"`
	Size    *int64  `json:"size"`
	MD5     string  `json:"md5"`
	SHA1    string  `json:"sha1"`
	SHA256  string  `json:"sha256"`
	PDQ     string  `json:"pdq"`
	Quality *int    `json:"quality"`
	VPDQ    []struct {
		Timestamp float64 `json:"timestamp"`
		Quality   int     `json:"quality"`
		PDQ       string  `json:"pdq"`
	} `json:"vpdq"`
	// Variants are `nigehban hash` pdq_variants: the bank-side ones
	// (central crops, "crop…") are imported as signals linked to pdq.
	Variants []struct {
		Name    string `json:"name"`
		PDQ     string `json:"pdq"`
		Quality int    `json:"quality"`
	} `json:"pdq_variants"`
	Error        string `json:"error"`
	ToolVersion  string `json:"tool_version"`
	ToolRevision string `json:"tool_revision"`
	JPEGDecoder  string `json:"jpeg_decoder"`
}

func jsonRecord(line []byte) (hashRecord, error) {
	if line[0] != '{' {
		return hashRecord{}, fmt.Errorf("%w: not a JSON object", ErrSyntax)
	}
	var j hashJSON
	if err := json.Unmarshal(line, &j); err != nil {
		return hashRecord{}, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	if j.Path == nil {
		return hashRecord{}, fmt.Errorf("%w: path: not a `nigehban hash` record", ErrMissingField)
	}
	rec := hashRecord{path: *j.Path, size: -1, md5: j.MD5, sha1: j.SHA1, sha256: j.SHA256, pdq: j.PDQ, quality: -1,
		err: j.Error, version: j.ToolVersion, rev: j.ToolRevision, jpegD: j.JPEGDecoder}
	if j.Size != nil {
		if *j.Size < 0 {
			return rec, fmt.Errorf("%w: size %d", ErrSyntax, *j.Size)
		}
		rec.size = *j.Size
	}
	if j.Quality != nil {
		rec.quality = *j.Quality
	}
	for _, v := range j.Variants {
		if strings.HasPrefix(v.Name, "crop") && j.PDQ != "" {
			rec.crops = append(rec.crops, cropRecord{name: v.Name, pdq: v.PDQ, quality: v.Quality})
		}
	}
	if len(j.VPDQ) > 0 {
		frames := make([]signal.Frame, len(j.VPDQ))
		for i, f := range j.VPDQ {
			h, err := pdq.ParseHex(f.PDQ)
			if err != nil {
				return rec, fmt.Errorf("%w: vpdq frame %d: %v", ErrBadValue, i, err)
			}
			frames[i] = signal.Frame{Frame: i, PDQ: h, Quality: f.Quality, Timestamp: f.Timestamp}
		}
		rec.vpdq = signal.FormatVPDQ(frames)
	}
	return rec, nil
}

// entries turns a record into its signals: md5, sha1, sha256, pdq (with
// quality) and vpdq, each noted with the file's path. A record that reports
// an error, describes an empty file, holds no hash or holds a bad one gives
// none: it is a bad line as a whole.
func (rec hashRecord) entries(line int) ([]Entry, error) {
	if rec.err != "" {
		return nil, fmt.Errorf("%w: %s", ErrHashFailed, truncate(rec.err))
	}
	if rec.size == 0 || emptyDigests[strings.ToLower(rec.md5)] || emptyDigests[strings.ToLower(rec.sha1)] || emptyDigests[strings.ToLower(rec.sha256)] {
		return nil, fmt.Errorf("%w: an empty file (its digests would match every empty file)", ErrBadValue)
	}
	var out []Entry
	add := func(t signal.Type, v string, q int, extra map[string]string) {
		if v != "" {
			out = append(out, Entry{Type: t, Value: v, Quality: q, Note: rec.path, Line: line, Extra: extra})
		}
	}
	stamp := func(jpeg bool) map[string]string {
		m := map[string]string{}
		for k, v := range map[string]string{ExtraToolVersion: rec.version, ExtraToolRevision: rec.rev} {
			if v != "" {
				m[k] = v
			}
		}
		if jpeg && rec.jpegD != "" {
			m[ExtraJPEGDecoder] = rec.jpegD
		}
		return m
	}
	add(TypeMD5, rec.md5, -1, nil)
	add(TypeSHA1, rec.sha1, -1, nil)
	add(TypeSHA256, rec.sha256, -1, nil)
	add(TypePDQ, rec.pdq, rec.quality, stamp(true))
	for _, c := range rec.crops {
		m := stamp(true)
		m[ExtraVariant], m[ExtraVariantOf] = c.name, strings.ToLower(rec.pdq)
		add(TypePDQ, c.pdq, c.quality, m)
	}
	add(TypeVPDQ, rec.vpdq, -1, stamp(false))
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no hash in the record", ErrMissingField)
	}
	for i, e := range out {
		n, err := NormalizeEntry(e)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Type, err)
		}
		out[i] = n
	}
	return out, nil
}

// cropRecord is a bank-side variant of a record's image: a central crop.
type cropRecord struct {
	name, pdq string
	quality   int
}
