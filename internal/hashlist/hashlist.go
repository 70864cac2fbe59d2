// Package hashlist reads and writes the hash-list formats banks are exchanged
// in, one entry (one signal) at a time, so that a list of ten million lines
// never has to fit in memory.
//
// # Entries
//
// An [Entry] is one signal: a type (md5, sha1, sha256, pdq, vpdq), a value in
// canonical form (lower-case hex of the right length; vPDQ is an opaque
// string), and what the list says about it: category, source, note and PDQ
// quality (-1 when unknown). Readers and writers both pass every entry through
// [NormalizeEntry], so what a reader returns is always canonical and a writer
// never emits something its reader would reject.
//
// # Reading
//
// [NewReader] returns a [Reader]; call Next until it returns io.EOF. A bad line
// (or bad VICS Media object) yields a *[LineError] carrying its 1-based line
// number; Next may then be called again and continues with the next line, so
// an import can count and report rejects instead of aborting. Any other error
// (a read error, a CSV header without a value column, malformed JSON in a VICS
// document) is fatal: Next keeps returning it.
//
// # Writing
//
// [NewWriter] returns a [Writer]. Write checks the entry first: an entry the
// format cannot hold returns an error wrapping [ErrUnsupported] (or a
// validation sentinel such as [ErrBadValue]) and writes nothing, and the
// writer stays usable, so an export can skip and count such entries. Write
// errors from the underlying io.Writer are sticky. Close flushes and finishes
// the document (VICS needs its closing brackets); it does not close the
// io.Writer. Fields a format does not carry are dropped silently.
//
// # Formats
//
// plain ([Plain]): one hash per line. "#" comments and blank lines are
// skipped. The type comes from [ReaderOptions].Type or, when that is empty,
// from the length (32 md5, 40 sha1; 64 is sha256 or pdq and needs the option,
// else each such line is a *LineError wrapping [ErrAmbiguousType]).
// md5sum-style lines ("HASH  name", "HASH *name") are accepted: the name goes
// to Note. For vpdq the whole trimmed line is the value. The writer emits the
// value only.
//
// csv ([CSV]): a header row naming the columns type, value, category, source,
// note, quality in any order ("hash", "signal" or "signal_str" may name the
// value column, "signal_type" the type column). value is required, and type
// unless [ReaderOptions].Type supplies it. Other columns are kept in
// Entry.Extra (non-empty cells only). RFC 4180 quoting, including quoted line
// breaks; "#" comment lines and blank lines are skipped. The writer emits the
// six standard columns, then [WriterOptions].ExtraColumns.
//
// jsonl ([JSONL]): one JSON object per line with the same field names. quality
// is a number (or null/absent: unknown); category may be a string or a number.
// Other members are kept in Extra (strings as is, other JSON values as their
// compact JSON text). The writer omits empty fields and unknown quality and
// writes Extra as string members after the standard ones.
//
// te ([TE]): ThreatExchange-style PDQ lists as Meta's tools write them:
//   - headerless "hash,quality,filename" rows, as pdq-photo-hasher prints by
//     default (the filename is the rest of the line, commas included, and
//     goes to Note; quality may be empty or absent: unknown);
//   - headerless "hash=…,quality=…,filename=…" rows, as pdq-photo-hasher -d
//     prints (other keys such as norm and delta go to Extra);
//   - a CSV header naming a hash column (hash, signal_str, signal, indicator)
//     plus optionally quality, file/filename (Note), signal_type (pdq,
//     video_md5, vpdq, …), category, collab/source, note; other columns go to
//     Extra. This covers "threatexchange dataset --csv" output and hash lists
//     like "hash,quality,file".
//
// The type is pdq unless a signal_type column says otherwise. The cached
// "simple.*.te" state files of python-threatexchange (hash, descriptor id,
// time, labels) are not this format: their second column is an id, which
// fails the 0..100 quality check on every line. The writer emits pdq entries
// only, as headerless "hash,quality,note" lines, quality empty when unknown;
// a note containing a line break is refused.
//
// vics ([VICS]): Project VIC VICS JSON, v1.x ("odata.metadata") and v2.0
// ("@odata.context") envelopes alike; "value" may hold Media objects (a hash
// set) or Case objects with a "Media" array; a bare top-level array is
// accepted too. The document is streamed, never loaded whole: envelope and
// Cases member by member, each Media object on its own (memory is bounded by
// the largest Media, and by MaxVICSToken per JSON token). Member names match
// case-insensitively. Each Media yields one entry per hash:
// MD5, SHA1 (and a SHA256 member if present), then AlternativeHashes items
// ({"HashName": "SHA1"|"SHA256"|"PDQ"|"MD5", "HashValue": …}) not already seen;
// other hash names (PhotoDNA…) are ignored. All entries of a Media share its
// Category (an integer, kept as its decimal string; null or absent is ""),
// Comments (Note), and Extra["MediaID"] and Extra["Series"] when present.
// Line is the line of the Media object's opening brace. A Media with a bad
// hash yields a *LineError for that hash and entries for the good ones.
//
// The VICS writer emits a VICS 2.0 "#Media" document, one Media per line. An
// md5 entry starts a Media (MD5 and SHA1 written in upper case, as Project VIC
// sets are); a following sha1, sha256 or pdq entry with the same non-empty
// Extra["MediaID"] is added to that Media (sha1 as SHA1, the others as
// AlternativeHashes items, which VICS has no dedicated member for). Any other
// sha1/sha256/pdq entry, every vpdq entry, and a category that is not an
// integer are refused with [ErrUnsupported]: a Media without an MD5 is not
// valid VICS, and guessing which file a hash belongs to would be worse than
// leaving it out. Reading a VICS document and writing its entries back in
// order therefore reproduces its Media. The writer does not deduplicate: give
// it distinct values. MediaID is Extra["MediaID"] when set (a JSON number if
// it is an integer), else a running counter from 1.
//
// nigehban ([Nigehban]): what `nigehban hash` prints, read only (NewWriter
// refuses it with [ErrUnsupported]). JSONL when the first line that is not
// blank or a "#" comment starts with "{", else CSV with the header
// `nigehban hash --format csv` writes (columns found by name; path is
// required). Each record yields its md5, sha1, sha256, pdq (with quality)
// and vpdq as entries in that order, all with the record's line and its
// path as Note; the pdq entry keeps the build stamp (tool_version,
// tool_revision, jpeg_decoder) in Extra, the vpdq entry tool_version and
// tool_revision. CSV output carries no vPDQ (only a frame count), so videos
// give their digests only; read the JSONL to import vPDQ. A record is a bad
// line as a whole (*LineError) when it reports an error ([ErrHashFailed]),
// describes an empty file (whose digests would match every empty file),
// holds no hash or a bad one. Types are explicit: ReaderOptions.Type is not
// applied.
package hashlist

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"

	"github.com/nigehban/nigehban/internal/signal"
)

// Format names a hash-list format. The values are what users type on the
// command line.
type Format string

// The supported formats; see the package documentation for each.
const (
	Plain Format = "plain"
	CSV   Format = "csv"
	JSONL Format = "jsonl"
	TE    Format = "te"
	VICS  Format = "vics"
	// Nigehban is the output of `nigehban hash` (JSONL or CSV), read only.
	Nigehban Format = "nigehban"
)

// Formats returns every supported format, for help texts and flag checks.
func Formats() []Format { return []Format{Plain, CSV, JSONL, TE, VICS, Nigehban} }

// Writable reports whether NewWriter can write f; Nigehban is read only.
func (f Format) Writable() bool { return f != Nigehban }

// ParseFormat returns the Format named s (case-insensitive), or an error
// wrapping ErrUnknownFormat.
func ParseFormat(s string) (Format, error) {
	f := Format(strings.ToLower(strings.TrimSpace(s)))
	for _, k := range Formats() {
		if f == k {
			return f, nil
		}
	}
	return "", fmt.Errorf("%w %q (want one of plain, csv, jsonl, te, vics, nigehban)", ErrUnknownFormat, s)
}

// Signal types, as stored in Entry.Type: internal/signal's.
const (
	TypeMD5    = signal.MD5
	TypeSHA1   = signal.SHA1
	TypeSHA256 = signal.SHA256
	TypePDQ    = signal.PDQ
	TypeVPDQ   = signal.VPDQ
)

// Limits that keep hostile lists from exhausting memory.
const (
	// DefaultMaxLineLength bounds a line (or a CSV record) when
	// ReaderOptions.MaxLineLength is 0. A one-hour vPDQ at one frame a
	// second is about 300 KB.
	DefaultMaxLineLength = 1 << 20
	// MaxVPDQLength bounds a vPDQ value.
	MaxVPDQLength = signal.MaxVPDQLen
	// MaxTextLength bounds Category, Source, Note and each Extra value.
	MaxTextLength = 64 << 10
)

// Sentinel errors callers branch on (with errors.Is).
var (
	ErrUnknownFormat = errors.New("unknown hash-list format")
	ErrUnknownType   = signal.ErrUnknownType
	ErrAmbiguousType = signal.ErrAmbiguousType
	ErrBadValue      = signal.ErrBadValue
	ErrBadQuality    = errors.New("invalid quality")
	ErrBadText       = signal.ErrBadText
	ErrMissingField  = errors.New("missing field")
	ErrSyntax        = errors.New("syntax error")
	ErrLineTooLong   = errors.New("line too long")
	// ErrUnsupported is returned by Writer.Write for an entry the format
	// cannot represent; the entry is skipped and the writer stays usable.
	ErrUnsupported = errors.New("not representable in this format")
	// ErrClosed is returned by Write after Close.
	ErrClosed = errors.New("writer closed")
)

// Entry is one signal in a hash list.
type Entry struct {
	Type     signal.Type
	Value    string // canonical: lower-case hex of the type's length; vPDQ opaque
	Category string // as the list spells it; VICS integers as decimal strings
	Source   string
	Note     string
	Quality  int // PDQ quality 0..100, -1 when unknown
	Line     int // 1-based line the entry was read from; ignored by writers
	// Extra holds fields the format carries beyond the standard ones (unknown
	// CSV columns, VICS MediaID and Series, …); nil when there are none.
	Extra map[string]string
}

// ExtraMediaID is the Extra key holding a VICS MediaID; the VICS writer uses
// it to put the md5, sha1 and other hashes of one file in one Media.
const ExtraMediaID = "MediaID"

// LineError reports a bad line (or VICS Media object). It is not fatal: the
// Reader continues with the next line.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap returns the underlying error, for errors.Is.
func (e *LineError) Unwrap() error { return e.Err }

// ListError is a fatal reader error at a known line: the list is malformed
// there (a CSV or te header without a value column, broken VICS JSON) and
// cannot be read past it. Its message is the wrapped error's.
type ListError struct {
	Line int
	Err  error
}

func (e *ListError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error, for errors.Is.
func (e *ListError) Unwrap() error { return e.Err }

// ErrorLine returns the 1-based line a reader error refers to (that of a
// *LineError or a *ListError in its chain), or 0 when it names none.
func ErrorLine(err error) int {
	var le *LineError
	if errors.As(err, &le) {
		return le.Line
	}
	var fe *ListError
	if errors.As(err, &fe) {
		return fe.Line
	}
	return 0
}

// Reader yields the entries of a hash list in order. Next returns io.EOF at
// the end; a *LineError for a bad line, after which Next may be called again;
// any other error is fatal and repeated.
type Reader interface {
	Next() (Entry, error)
}

// Writer writes entries in one format. See the package documentation for
// what Write refuses; Close flushes and completes the document.
type Writer interface {
	Write(Entry) error
	Close() error
}

// ReaderOptions tunes a Reader. The zero value works for every format except
// plain lists of 64-digit hashes, which need Type.
type ReaderOptions struct {
	// Type is the signal type for entries whose list does not say: every
	// line of a plain list, CSV rows with an empty or absent type column,
	// JSONL objects without "type". It is not applied to te (pdq unless
	// stated) or VICS (types are explicit). Aliases as ParseType accepts.
	Type string
	// MaxLineLength bounds a line or CSV record in bytes; 0 means
	// DefaultMaxLineLength. Longer lines are skipped with a *LineError
	// wrapping ErrLineTooLong.
	MaxLineLength int
}

// WriterOptions tunes a Writer. The zero value is fine for every format.
type WriterOptions struct {
	// ExtraColumns are CSV columns written after the standard six, filled
	// from Entry.Extra. Ignored by other formats.
	ExtraColumns []string
	// VICSFlavor is the data-model flavour in the VICS 2.0 context URL: US,
	// UK, CUSTOM or Default. Empty means US. It tells readers which category
	// scheme the numbers follow.
	VICSFlavor string
}

// NewReader returns a Reader of format f over r. It reads nothing yet.
func NewReader(r io.Reader, f Format, opts ReaderOptions) (Reader, error) {
	if opts.MaxLineLength < 0 {
		return nil, fmt.Errorf("hashlist: negative MaxLineLength %d", opts.MaxLineLength)
	}
	if opts.MaxLineLength == 0 {
		opts.MaxLineLength = DefaultMaxLineLength
	}
	if opts.Type != "" {
		t, err := ParseType(opts.Type)
		if err != nil {
			return nil, fmt.Errorf("hashlist: default type: %w", err)
		}
		opts.Type = string(t)
	}
	switch f {
	case Plain:
		return newPlainReader(r, opts), nil
	case CSV:
		return newCSVReader(r, opts), nil
	case JSONL:
		return newJSONLReader(r, opts), nil
	case TE:
		return newTEReader(r, opts), nil
	case VICS:
		return newVICSReader(r, opts), nil
	case Nigehban:
		return newNigehbanReader(r, opts), nil
	}
	return nil, fmt.Errorf("hashlist: %w %q", ErrUnknownFormat, f)
}

// NewWriter returns a Writer of format f over w.
func NewWriter(w io.Writer, f Format, opts WriterOptions) (Writer, error) {
	switch f {
	case Plain:
		return newPlainWriter(w), nil
	case CSV:
		return newCSVWriter(w, opts)
	case JSONL:
		return newJSONLWriter(w), nil
	case TE:
		return newTEWriter(w), nil
	case VICS:
		return newVICSWriter(w, opts)
	case Nigehban:
		return nil, fmt.Errorf("hashlist: %w: the nigehban format is read only (it is what `nigehban hash` prints)", ErrUnsupported)
	}
	return nil, fmt.Errorf("hashlist: %w %q", ErrUnknownFormat, f)
}

// ParseType returns the canonical signal type for s, with the aliases
// internal/signal.ParseType accepts.
func ParseType(s string) (signal.Type, error) { return signal.ParseType(s) }

// InferType returns the type a bare hex value of this length must be
// (internal/signal.InferType).
func InferType(value string) (signal.Type, error) { return signal.InferType(value) }

// NormalizeValue returns the canonical form of value for the type typ
// (internal/signal.Normalize): surrounding white space and U+FEFF removed,
// hex lower-cased and checked for length, vPDQ validated frame by frame.
func NormalizeValue(typ signal.Type, value string) (string, error) {
	return signal.Normalize(typ, value)
}

// NormalizeEntry canonicalises e (type name, value, trimmed Category and
// Source) and checks every field: text fields valid UTF-8 without NUL and at
// most MaxTextLength bytes, Category and Source also without control
// characters, Quality -1..100. CRLF in Note and Extra values becomes LF. Readers apply it to what they read and writers
// to what they are given. Line is kept as is; an empty Extra becomes nil.
func NormalizeEntry(e Entry) (Entry, error) {
	if e.Type == "" {
		return e, fmt.Errorf("%w: type", ErrMissingField)
	}
	t, err := signal.ParseType(string(e.Type))
	if err != nil {
		return e, err
	}
	e.Type = t
	if strings.TrimSpace(e.Value) == "" {
		return e, fmt.Errorf("%w: value", ErrMissingField)
	}
	if e.Value, err = NormalizeValue(t, e.Value); err != nil {
		return e, err
	}
	if e.Quality < -1 || e.Quality > 100 {
		return e, fmt.Errorf("%w: %d not in 0..100", ErrBadQuality, e.Quality)
	}
	e.Category = strings.TrimSpace(e.Category)
	e.Source = strings.TrimSpace(e.Source)
	if err := checkField("category", e.Category, false); err != nil {
		return e, err
	}
	if err := checkField("source", e.Source, false); err != nil {
		return e, err
	}
	e.Note = crlfToLF(e.Note)
	if err := checkField("note", e.Note, true); err != nil {
		return e, err
	}
	if len(e.Extra) == 0 {
		e.Extra = nil
	}
	copied := false
	for k, v := range e.Extra {
		if strings.Contains(v, "\r\n") {
			if !copied {
				e.Extra = maps.Clone(e.Extra) // never modify the caller's map
				copied = true
			}
			v = crlfToLF(v)
			e.Extra[k] = v
		}
		if k == "" {
			return e, fmt.Errorf("%w: extra field with empty name", ErrBadText)
		}
		if err := checkField("extra name", k, false); err != nil {
			return e, err
		}
		if err := checkField("extra "+strconv.Quote(truncate(k)), v, true); err != nil {
			return e, err
		}
	}
	return e, nil
}

// crlfToLF turns CRLF line breaks into LF: CSV splits records at LF, so a
// CRLF inside a quoted field would otherwise not survive a round trip. It
// repeats until no CRLF is left ("\r\r\n" becomes "\r\n" in one pass, then
// "\n"), so its result reads back as written.
func crlfToLF(s string) string {
	for strings.Contains(s, "\r\n") {
		s = strings.ReplaceAll(s, "\r\n", "\n")
	}
	return s
}

// checkField applies internal/signal.CheckText with the MaxTextLength bound
// to one field.
func checkField(name, s string, allowControl bool) error {
	return signal.CheckText(name, s, MaxTextLength, allowControl)
}

// parseQuality parses a quality cell: empty is unknown (-1).
func parseQuality(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return -1, nil
	}
	q, err := strconv.Atoi(s)
	if err != nil || q < 0 || q > 100 {
		return 0, fmt.Errorf("%w: %q is not an integer in 0..100", ErrBadQuality, truncate(s))
	}
	return q, nil
}

// truncate shortens s for error messages so a hostile line does not blow up
// logs.
func truncate(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// lineErr wraps err with the line number.
func lineErr(line int, err error) *LineError { return &LineError{Line: line, Err: err} }
