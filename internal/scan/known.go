package scan

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
)

// ErrKnownList is returned (wrapped, with the file and line) for a
// known-file list that cannot be read.
var ErrKnownList = errors.New("invalid known-file list")

// KnownSet is a set of md5, sha1 and sha256 digests of known, benign files
// (operating systems, applications): files whose digest is in it are marked
// Known and not matched. It is built once and read concurrently.
type KnownSet struct {
	md5    digestSet
	sha1   digestSet
	sha256 digestSet
	info   []KnownInfo
}

// digestSet is a sorted array of fixed-width digests in one allocation:
// NSRL lists hold tens of millions, so no per-digest overhead.
type digestSet struct {
	width int
	data  []byte
}

func (d *digestSet) Len() int           { return len(d.data) / d.width }
func (d *digestSet) at(i int) []byte    { return d.data[i*d.width : (i+1)*d.width] }
func (d *digestSet) Less(i, j int) bool { return bytes.Compare(d.at(i), d.at(j)) < 0 }
func (d *digestSet) Swap(i, j int) {
	var tmp [32]byte
	a, b := d.at(i), d.at(j)
	copy(tmp[:], a)
	copy(a, b)
	copy(b, tmp[:d.width])
}

// finish sorts the set and removes repeats.
func (d *digestSet) finish() {
	sort.Sort(d)
	n := 0
	for i := 0; i < d.Len(); i++ {
		if n > 0 && bytes.Equal(d.at(i), d.at(n-1)) {
			continue
		}
		copy(d.at(n), d.at(i))
		n++
	}
	d.data = slices.Clip(d.data[:n*d.width])
}

func (d *digestSet) contains(hexDigest string) bool {
	if d.width == 0 || len(hexDigest) != 2*d.width {
		return false
	}
	var buf [32]byte
	q := buf[:d.width]
	if _, err := hex.Decode(q, []byte(hexDigest)); err != nil {
		return false
	}
	i := sort.Search(d.Len(), func(i int) bool { return bytes.Compare(d.at(i), q) >= 0 })
	return i < d.Len() && bytes.Equal(d.at(i), q)
}

// KnownInfo describes one known-file list, for custody.json.
type KnownInfo struct {
	Path    string         `json:"path"`
	Format  string         `json:"format"` // nsrl, hashdeep or plain
	Size    int64          `json:"size"`
	SHA256  string         `json:"sha256"`
	Digests map[string]int `json:"digests"` // by type
}

// LoadKnown reads known-file lists. Each may be:
//
//   - the NSRL RDS NSRLFile.txt CSV: a header row naming "SHA-1" and "MD5"
//     (and "SHA-256" if present) columns, quoted or not;
//   - hashdeep output: "%%%% HASHDEEP-1.0", then a "%%%% size,md5,…"
//     line naming the columns;
//   - a plain list: one digest per line, its type told by its length (32
//     md5, 40 sha1, 64 sha256), optionally followed by white space or a
//     comma and anything else (md5sum output works); blank lines and lines
//     starting with # are skipped.
//
// A line that does not parse is an error naming the file and line.
func LoadKnown(ctx context.Context, paths []string) (*KnownSet, error) {
	k := &KnownSet{md5: digestSet{width: 16}, sha1: digestSet{width: 20}, sha256: digestSet{width: 32}}
	for _, p := range paths {
		info, err := k.load(ctx, p)
		if err != nil {
			return nil, err
		}
		k.info = append(k.info, info)
	}
	k.md5.finish()
	k.sha1.finish()
	k.sha256.finish()
	return k, nil
}

func (k *KnownSet) load(ctx context.Context, path string) (KnownInfo, error) {
	info := KnownInfo{Path: absPath(path), Digests: map[string]int{}}
	f, err := os.Open(path)
	if err != nil {
		return info, fmt.Errorf("open known-file list: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	br := bufio.NewReaderSize(io.TeeReader(f, h), 256<<10)
	err = k.parse(ctx, br, &info)
	if err == nil {
		_, err = io.Copy(io.Discard, br)
	}
	if err != nil {
		return info, fmt.Errorf("known-file list %s: %w", path, err)
	}
	info.SHA256 = hex.EncodeToString(h.Sum(nil))
	if st, err := f.Stat(); err == nil {
		info.Size = st.Size()
	}
	return info, nil
}

// parse reads one list from br, detecting its format from the first line.
func (k *KnownSet) parse(ctx context.Context, br *bufio.Reader, info *KnownInfo) error {
	if bom, _ := br.Peek(3); string(bom) == "\ufeff" {
		br.Discard(3)
	}
	first, _ := br.Peek(4096)
	line, _, _ := bytes.Cut(first, []byte{'\n'})
	lower := strings.ToLower(string(line))
	switch {
	case strings.HasPrefix(lower, "%%%% hashdeep"):
		info.Format = "hashdeep"
		return k.parseHashdeep(ctx, br, info)
	case strings.Contains(lower, "sha-1") && strings.Contains(lower, "md5"):
		info.Format = "nsrl"
		return k.parseNSRL(ctx, br, info)
	}
	info.Format = "plain"
	return k.parsePlain(ctx, br, info)
}

// add records one hex digest, its type told by its length.
func (k *KnownSet) add(s string, info *KnownInfo) error {
	s = strings.TrimSpace(strings.Trim(strings.TrimSpace(s), `"`))
	var set *digestSet
	var typ string
	switch len(s) {
	case 32:
		set, typ = &k.md5, "md5"
	case 40:
		set, typ = &k.sha1, "sha1"
	case 64:
		set, typ = &k.sha256, "sha256"
	default:
		return fmt.Errorf("%w: %q is not an md5, sha1 or sha256 digest", ErrKnownList, truncate(s, 80))
	}
	n := len(set.data)
	set.data = append(set.data, make([]byte, set.width)...)
	if _, err := hex.Decode(set.data[n:], []byte(s)); err != nil {
		set.data = set.data[:n]
		return fmt.Errorf("%w: %q is not hex", ErrKnownList, truncate(s, 80))
	}
	info.Digests[typ]++
	return nil
}

func (k *KnownSet) parsePlain(ctx context.Context, br *bufio.Reader, info *KnownInfo) error {
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if n%65536 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		text := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff"))
		if text == "" || text[0] == '#' {
			continue
		}
		tok := text
		if i := strings.IndexAny(text, " \t,"); i >= 0 {
			tok = text[:i]
		}
		if err := k.add(tok, info); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrKnownList, err)
	}
	return nil
}

// csvColumns finds the digest columns of a header row.
func csvColumns(header []string, names map[string]string) map[int]string {
	cols := map[int]string{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if t, ok := names[h]; ok {
			cols[i] = t
		}
	}
	return cols
}

func (k *KnownSet) parseNSRL(ctx context.Context, br *bufio.Reader, info *KnownInfo) error {
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("%w: header: %v", ErrKnownList, err)
	}
	cols := csvColumns(header, map[string]string{"sha-1": "sha1", "md5": "md5", "sha-256": "sha256", "sha256": "sha256"})
	return k.readCSV(ctx, r, cols, info)
}

func (k *KnownSet) readCSV(ctx context.Context, r *csv.Reader, cols map[int]string, info *KnownInfo) error {
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrKnownList, err)
		}
		line, _ := r.FieldPos(0)
		if line%65536 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if len(rec) > 0 && strings.HasPrefix(rec[0], "#") {
			continue
		}
		for i, t := range cols {
			if i >= len(rec) || strings.TrimSpace(rec[i]) == "" {
				continue
			}
			if err := k.add(rec[i], info); err != nil {
				return fmt.Errorf("line %d: %s column: %w", line, t, err)
			}
		}
	}
}

func (k *KnownSet) parseHashdeep(ctx context.Context, br *bufio.Reader, info *KnownInfo) error {
	// "%%%% HASHDEEP-1.0", "%%%% size,md5,sha256,filename", then "##" comment
	// lines and one CSV row per file.
	var cols map[int]string
	n := 0
	for {
		line, err := br.ReadString('\n')
		n++
		if err != nil && line == "" {
			return fmt.Errorf("%w: no column line", ErrKnownList)
		}
		if strings.HasPrefix(line, "%%%% ") && n == 2 {
			cols = csvColumns(strings.Split(strings.TrimSpace(line[5:]), ","),
				map[string]string{"md5": "md5", "sha1": "sha1", "sha256": "sha256"})
			break
		}
		if n >= 2 {
			return fmt.Errorf("line %d: %w: want %q", n, ErrKnownList, "%%%% size,md5,…,filename")
		}
	}
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	r.Comment = '#'
	r.ReuseRecord = true
	return k.readCSV(ctx, r, cols, info)
}

// Contains reports whether any of the digests is known.
func (k *KnownSet) Contains(md5, sha1, sha256 string) bool {
	if k == nil {
		return false
	}
	return k.md5.contains(md5) || k.sha1.contains(sha1) || k.sha256.contains(sha256)
}

// Lists describes the lists loaded, for custody.json.
func (k *KnownSet) Lists() []KnownInfo {
	if k == nil {
		return nil
	}
	return slices.Clone(k.info)
}

// Len returns the number of distinct digests of each type.
func (k *KnownSet) Len() (md5, sha1, sha256 int) { return k.md5.Len(), k.sha1.Len(), k.sha256.Len() }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
