package scan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/nigehban/nigehban/internal/buildinfo"
)

// CustodyFormat identifies the layout of custody.json.
const CustodyFormat = "nigehban-scan-custody/1"

// Run statuses.
const (
	StatusRunning     = "running"     // written when a run starts
	StatusComplete    = "complete"    // every source listed, outputs written
	StatusInterrupted = "interrupted" // stopped (Ctrl-C, cancelled); resume with --resume
	StatusCrashed     = "crashed"     // found "running" by a later --resume: no end was recorded
)

// Custody is custody.json: who scanned what, when, with which tool and
// banks, and the hashes of the other outputs, so that anyone can check
// that manifest, CSV and report are the ones this scan wrote.
type Custody struct {
	Format   string `json:"format"`
	Case     string `json:"case"`
	Examiner string `json:"examiner"`
	// Notes and Declaration are the examiner's, for the court report;
	// Categories names the banks' category codes there.
	Notes       string            `json:"notes,omitempty"`
	Declaration string            `json:"declaration,omitempty"`
	Categories  map[string]string `json:"categories,omitempty"`
	Tool        Tool              `json:"tool"`
	Host        string            `json:"host"`
	OSUser      string            `json:"os_user"`
	// Started is the start of the first run, Ended the end of the last.
	Started string       `json:"started"`
	Ended   string       `json:"ended,omitempty"`
	Status  string       `json:"status"`
	Runs    []RunInfo    `json:"runs"`
	Sources []SourceInfo `json:"sources"`
	Options Settings     `json:"options"`
	Counts  *Counts      `json:"counts,omitempty"`
	// Outputs are the other files of the directory with their sha256.
	Outputs []Output `json:"outputs,omitempty"`
	// Log is the scan's record in the audit log, with proofs (nil in
	// custody.json written before scans were logged).
	Log *CustodyLog `json:"log,omitempty"`
}

// Tool names the program that wrote the outputs: its version and VCS
// revision, and the JPEG decoder compiled in, since the libjpeg-turbo and
// pure-Go builds can give PDQ hashes a few bits apart on the same
// low-quality JPEG.
type Tool struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go,omitempty"`
	// JPEGDecoder is buildinfo.DecoderTurbo or buildinfo.DecoderGo.
	JPEGDecoder string `json:"jpeg_decoder,omitempty"`
}

// CurrentTool describes the running binary (see package buildinfo).
func CurrentTool() Tool {
	in := buildinfo.Get()
	return Tool{Name: "nigehban", Version: in.Version, Revision: in.Revision, Modified: in.Modified, Go: in.Go,
		JPEGDecoder: in.JPEGDecoder}
}

// RunInfo is one invocation: the first scan or a resumption.
type RunInfo struct {
	Started     string      `json:"started"`
	Ended       string      `json:"ended,omitempty"`
	Status      string      `json:"status"`
	Resumed     bool        `json:"resumed,omitempty"`
	Examiner    string      `json:"examiner"`
	Host        string      `json:"host"`
	OSUser      string      `json:"os_user"`
	PID         int         `json:"pid"`
	Tool        Tool        `json:"tool"`
	CommandLine []string    `json:"command_line"`
	Banks       []BankInfo  `json:"banks"`
	Known       []KnownInfo `json:"known_lists,omitempty"`
	// Variants is the PDQ variant set images were matched with (none,
	// borders or all; internal/variant).
	Variants string `json:"variants"`
	// Entries is the number of manifest lines this run wrote.
	Entries int64 `json:"entries"`
	// Retried is the number of files that had failed in the earlier runs
	// and that this run tried again (their old lines left the manifest).
	Retried int `json:"retried,omitempty"`
}

// SourceInfo describes one SOURCE: as given, resolved, its type, and for
// a file its own hashes (taken from its manifest entry).
type SourceInfo struct {
	Arg    string `json:"arg"`
	Path   string `json:"path"`
	Type   string `json:"type"` // directory, file or special
	Size   int64  `json:"size,omitempty"`
	Mtime  string `json:"mtime,omitempty"`
	MD5    string `json:"md5,omitempty"`
	SHA1   string `json:"sha1,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// Settings are the options that shape the manifest; a resumed run must use
// the same.
type Settings struct {
	Limits     Limits `json:"limits"`
	MinQuality int    `json:"pdq_min_quality"`
	SkipVideo  bool   `json:"skip_video,omitempty"`
	// SkipDiskImages records disk images as files without opening them;
	// SkipDeleted leaves out the deleted files their file systems describe.
	SkipDiskImages bool `json:"skip_disk_images,omitempty"`
	SkipDeleted    bool `json:"skip_deleted,omitempty"`
	// Carve records that their unallocated space was carved (Options
	// SkipCarve unset). It is positive so that custody.json files written
	// before carving existed read as not carved.
	Carve bool `json:"carve,omitempty"`
	// Dihedral matches rotated and mirrored copies of images too.
	Dihedral bool `json:"dihedral,omitempty"`
}

// Counts summarise the manifest.
type Counts struct {
	Entries  int            `json:"entries"`
	Files    int            `json:"files"`  // regular files and members
	Hashed   int            `json:"hashed"` // entries with digests
	Bytes    int64          `json:"bytes"`  // of the hashed entries
	ByType   map[string]int `json:"by_type"`
	ByFormat map[string]int `json:"by_format"`
	Archives int            `json:"archives_expanded"`
	Members  int            `json:"archive_members"`
	// DiskImages counts the disk images opened (also counted as archives);
	// Deleted and Carved their members so marked; CarvedListed the carved
	// files not listed again, being deleted members already listed.
	DiskImages          int            `json:"disk_images,omitempty"`
	Deleted             int            `json:"deleted,omitempty"`
	Carved              int            `json:"carved,omitempty"`
	CarvedListed        int            `json:"carved_already_listed,omitempty"`
	Symlinks            int            `json:"symlinks"`
	Special             int            `json:"special_files"`
	Known               int            `json:"known"`
	Matched             int            `json:"matched_files"`
	Matches             int            `json:"matches"`
	MatchesByBank       map[string]int `json:"matches_by_bank"`
	MatchesByCategory   map[string]int `json:"matches_by_category"`
	Errors              int            `json:"errors"`
	ExtensionMismatches int            `json:"extension_mismatches"`
}

// Output is one output file and its sha256.
type Output struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

func newCounts() *Counts {
	return &Counts{ByType: map[string]int{}, ByFormat: map[string]int{}, MatchesByBank: map[string]int{},
		MatchesByCategory: map[string]int{}}
}

// add counts one entry.
func (c *Counts) add(e *Entry) {
	c.Entries++
	switch e.Kind {
	case KindFile:
		c.Files++
	case KindSymlink, KindHardlink:
		c.Symlinks++
	case KindSpecial:
		c.Special++
	}
	if e.hasDigests() {
		c.Hashed++
		c.Bytes += e.Size
	}
	if e.Type != "" {
		c.ByType[string(e.Type)]++
	}
	if e.Format != "" {
		c.ByFormat[string(e.Format)]++
	} else if e.Kind == KindFile && e.hasDigests() {
		c.ByFormat["unrecognised"]++
	}
	if e.Members != nil {
		c.Archives++
	}
	if e.Container != "" {
		c.Members++
	}
	if e.Acquisition != nil {
		c.DiskImages++
		c.CarvedListed += e.Acquisition.CarvedListed
	}
	if e.Deleted {
		c.Deleted++
	}
	if e.Carved {
		c.Carved++
	}
	if e.Known {
		c.Known++
	}
	if len(e.Matches) > 0 {
		c.Matched++
		c.Matches += len(e.Matches)
		for _, m := range e.Matches {
			c.MatchesByBank[m.Bank]++
			cat := m.Category
			if cat == "" {
				cat = "(none)"
			}
			c.MatchesByCategory[cat]++
		}
	}
	if e.Error != "" {
		c.Errors++
	}
	if e.ExtensionMismatch {
		c.ExtensionMismatches++
	}
}

// hashFile returns the size and sha256 of a file.
func hashFile(path string) (Output, error) {
	out := Output{Name: filepath.Base(path)}
	f, err := os.Open(path)
	if err != nil {
		return out, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return out, fmt.Errorf("hash %s: %w", out.Name, err)
	}
	out.Size, out.SHA256 = n, hex.EncodeToString(h.Sum(nil))
	return out, nil
}

// hashOutputs hashes the named files of dir, in order.
func hashOutputs(dir string, names ...string) ([]Output, error) {
	var outs []Output
	for _, n := range names {
		o, err := hashFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		outs = append(outs, o)
	}
	return outs, nil
}

// ReadCustody reads dir/custody.json.
func ReadCustody(dir string) (*Custody, error) {
	b, err := os.ReadFile(filepath.Join(dir, CustodyName))
	if err != nil {
		return nil, err
	}
	var c Custody
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("read %s: %w", CustodyName, err)
	}
	if c.Format != CustodyFormat {
		return nil, fmt.Errorf("read %s: format %q, want %q", CustodyName, c.Format, CustodyFormat)
	}
	return &c, nil
}

// writeCustody writes dir/custody.json atomically and returns its sha256.
func writeCustody(dir string, c *Custody) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return "", fmt.Errorf("encode %s: %w", CustodyName, err)
	}
	b := buf.Bytes()
	if err := writeFileAtomic(filepath.Join(dir, CustodyName), func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}); err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// sortedKeys returns the keys of m ordered by descending count, then name.
func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}
