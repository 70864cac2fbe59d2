package match

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/hashlist"
	"github.com/nigehban/nigehban/internal/index"
	"github.com/nigehban/nigehban/internal/media"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/signal"
	"github.com/nigehban/nigehban/internal/vpdq"
)

// ErrNotHashList is returned (wrapped) for a bank or query file whose
// content is no hash list: binary data such as an image, or text in no
// format internal/hashlist knows.
var ErrNotHashList = errors.New("not a hash list")

// Labelled is the name LoadFiles gives the legacy "hex,label" line format
// of `nigehban match` (a PDQ hash and an optional label per line), which
// hashlist.Detect takes for te.
const Labelled = "labelled"

// FileOptions are the thresholds of a Matcher over hash-list files.
type FileOptions struct {
	// Type is the signal type of entries whose list does not say (every
	// line of a plain list; see hashlist.ReaderOptions.Type). Empty: by the
	// value's length, and 64 hex digits (sha256 or pdq) are an error.
	Type string
	// PDQThreshold is the Hamming distance PDQ matches may reach (0..256).
	PDQThreshold int
	// Video is the vPDQ rule.
	Video vpdq.MatchOptions
}

// DefaultFileOptions returns the default PDQ threshold and vPDQ rule, with
// no default type.
func DefaultFileOptions() FileOptions {
	return FileOptions{PDQThreshold: signal.DefaultPDQThreshold, Video: vpdq.DefaultMatchOptions()}
}

// LoadFiles reads the hash-list files at paths, each in the format
// hashlist.Detect finds (or the labelled "hex,label" lines), into a
// Matcher: one bank per file, named after the file (its path when two
// files share a name), action review. A bad line makes the whole file an
// error naming it and the line: a bank is never used half-read, since a
// missing signal is a missed match. A file that is no hash list is one
// error wrapping ErrNotHashList.
func LoadFiles(ctx context.Context, paths []string, opts FileOptions) (*Matcher, error) {
	if opts.PDQThreshold < 0 || opts.PDQThreshold > signal.MaxPDQThreshold {
		return nil, fmt.Errorf("PDQ threshold %d: want 0..%d", opts.PDQThreshold, signal.MaxPDQThreshold)
	}
	if err := opts.Video.Validate(); err != nil {
		return nil, err
	}
	if opts.Type != "" {
		if _, err := signal.ParseType(opts.Type); err != nil {
			return nil, err
		}
	}
	m := &Matcher{banks: map[string]*bankIndex{}, pdqMax: -1, video: opts.Video}
	names := map[string]bool{}
	for _, p := range paths {
		name := filepath.Base(p)
		if names[name] {
			name = p
		}
		names[name] = true
		b := bank.NewBank(name)
		b.PDQThreshold = opts.PDQThreshold
		bi := newBankIndex(b)
		if err := m.loadFile(ctx, bi, p, opts.Type); err != nil {
			return nil, err
		}
		m.banks[name] = bi
	}
	return m, nil
}

func (m *Matcher) loadFile(ctx context.Context, bi *bankIndex, path, typ string) error {
	info := &BankInfo{Name: bi.bank.Name, Kind: "file", Path: absPath(path), Enabled: true}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open bank: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	br := bufio.NewReaderSize(io.TeeReader(f, h), 64<<10)
	head, _ := br.Peek(hashlist.DetectSize)
	r, format, err := NewListReader(head, br, path, typ)
	if err != nil {
		return fmt.Errorf("bank %s: %w", path, err)
	}
	info.Format = format
	var pdqs, frames []index.Entry
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(err, hashlist.ErrAmbiguousType) {
				err = fmt.Errorf("%w (give the type of 64-digit lines: sha256 or pdq)", err)
			}
			var le *hashlist.LineError
			if errors.As(err, &le) {
				return fmt.Errorf("bank %s:%d: %w", path, le.Line, err)
			}
			return fmt.Errorf("bank %s: %w", path, err)
		}
		m.files = append(m.files, fileSignal{category: e.Category, label: e.Note})
		id := uint64(len(m.files))
		switch e.Type {
		case signal.PDQ:
			ph, err := pdq.ParseHex(e.Value)
			if err != nil {
				return fmt.Errorf("bank %s:%d: %w", path, e.Line, err)
			}
			pdqs = append(pdqs, index.Entry{ID: id, Hash: ph})
		case signal.VPDQ:
			fs, err := signal.ParseVPDQ(e.Value)
			if err != nil {
				return fmt.Errorf("bank %s:%d: %w", path, e.Line, err)
			}
			v := video{hashes: usable(fs, m.video.MinQuality), category: e.Category}
			frames = appendEntries(frames, id, v.hashes)
			bi.videos[id] = v
		default:
			if err := bi.addDigest(id, e.Type, e.Value); err != nil {
				return fmt.Errorf("bank %s:%d: %w", path, e.Line, err)
			}
		}
	}
	bi.pdq.AddBatch(pdqs)
	bi.frames.AddBatch(frames)
	// Drain what the reader did not need, so the digest covers the file.
	if _, err := io.Copy(io.Discard, br); err != nil {
		return fmt.Errorf("bank %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("bank %s: %w", path, err)
	}
	info.Size = st.Size()
	info.SHA256 = hex.EncodeToString(h.Sum(nil))
	bi.file = info
	return nil
}

// NewListReader returns a reader of the hash list whose first bytes are
// head (hashlist.DetectSize of them, or the whole list if shorter) and
// whose content r yields from the start, and the name of its format.
// name is the file's name (its extension helps hashlist.Detect); typ is
// the type of entries the list does not type. Binary content (an image, a
// video, anything with NUL bytes or invalid UTF-8) and text in no known
// format are one error wrapping ErrNotHashList.
func NewListReader(head []byte, r io.Reader, name, typ string) (hashlist.Reader, string, error) {
	if err := CheckText(head); err != nil {
		return nil, "", err
	}
	format := hashlist.Detect(head, name)
	if format == "" {
		return nil, "", fmt.Errorf("%w: cannot tell its format (plain, csv, jsonl, te or vics)", ErrNotHashList)
	}
	if format == hashlist.TE && labelled(head) {
		return newLabelledReader(r, typ), Labelled, nil
	}
	lr, err := hashlist.NewReader(r, format, hashlist.ReaderOptions{Type: typ})
	if err != nil {
		return nil, "", err
	}
	return lr, string(format), nil
}

// CheckText returns an error wrapping ErrNotHashList when head, the first
// bytes of a file, is not text: a hash list (or a file of query hashes)
// given an image, a video or other binary data is refused with one error
// instead of one per line.
func CheckText(head []byte) error {
	if what := binary(head); what != "" {
		return fmt.Errorf("%w: %s, not text (hash lists are plain, csv, jsonl, te or vics text)", ErrNotHashList, what)
	}
	return nil
}

// binary describes head when it is not text: the media type when
// internal/media knows it, else "binary data".
func binary(head []byte) string {
	if len(head) == 0 {
		return ""
	}
	if _, f := media.Sniff(head); f != "" {
		return fmt.Sprintf("%s data", f)
	}
	text := head
	if len(text) > utf8.UTFMax {
		// The peek may end inside a character.
		for i := 0; i < utf8.UTFMax && !utf8.Valid(text); i++ {
			text = text[:len(text)-1]
		}
	}
	if bytes.IndexByte(head, 0) >= 0 || !utf8.Valid(text) {
		return "binary data"
	}
	return ""
}

// labelled reports whether the first data line of head is "hex,label"
// with a label that is no quality (te's second column is a number).
func labelled(head []byte) bool {
	for rest := head; len(rest) > 0; {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte{'\n'})
		line = bytes.TrimFunc(line, func(r rune) bool { return unicode.IsSpace(r) || r == '\ufeff' })
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		fields := bytes.Split(line, []byte{','})
		if len(fields) != 2 {
			return false
		}
		label := bytes.TrimSpace(fields[1])
		if len(label) == 0 || bytes.HasPrefix(label, []byte("quality=")) {
			return false
		}
		_, err := strconv.Atoi(string(label))
		return err != nil
	}
	return false
}

// labelledReader reads "hex" and "hex,label" lines: the label is the
// entry's note, the type typ (pdq when empty). Blank lines and lines
// starting with # are skipped.
type labelledReader struct {
	sc   *bufio.Scanner
	typ  signal.Type
	line int
}

func newLabelledReader(r io.Reader, typ string) *labelledReader {
	t := signal.PDQ
	if typ != "" {
		t, _ = signal.ParseType(typ) // checked by the caller
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), hashlist.DefaultMaxLineLength)
	return &labelledReader{sc: sc, typ: t}
}

// Next implements hashlist.Reader.
func (l *labelledReader) Next() (hashlist.Entry, error) {
	for l.sc.Scan() {
		l.line++
		text := bytes.TrimFunc(l.sc.Bytes(), func(r rune) bool { return unicode.IsSpace(r) || r == '\ufeff' })
		if len(text) == 0 || text[0] == '#' {
			continue
		}
		v, label, _ := bytes.Cut(text, []byte{','})
		e := hashlist.Entry{Type: l.typ, Value: string(bytes.TrimSpace(v)), Note: string(bytes.TrimSpace(label)), Quality: -1, Line: l.line}
		e, err := hashlist.NormalizeEntry(e)
		if err != nil {
			return hashlist.Entry{}, &hashlist.LineError{Line: l.line, Err: err}
		}
		e.Line = l.line
		return e, nil
	}
	if err := l.sc.Err(); err != nil {
		return hashlist.Entry{}, err
	}
	return hashlist.Entry{}, io.EOF
}

// absPath returns p made absolute and clean (p itself if that fails).
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
