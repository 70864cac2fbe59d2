package scan

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nigehban/nigehban/internal/media"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/variant"
	"github.com/nigehban/nigehban/internal/vpdq"
)

// Kinds of entries (Entry.Kind): what the file system or archive says the
// entry is, before its content is looked at.
const (
	KindFile      = "file"      // a regular file (or archive member): hashed
	KindSymlink   = "symlink"   // a symbolic link: recorded, not followed
	KindHardlink  = "hardlink"  // a tar hard-link entry (its target is listed separately)
	KindSpecial   = "special"   // fifo, socket, device: recorded, never opened
	KindDirectory = "directory" // listed only when it could not be read
)

// Entry is one line of manifest.jsonl. The JSON field order is the struct
// order and is part of the format: path, path_raw, source, container, kind,
// size, mtime, atime, ctime, btime, mode, uid, gid, link_target, fs_id,
// deleted, carved, image_offset, volume_offset, acquisition, md5, sha1, sha256, type, format, extension_mismatch, width, height, duration, pdq,
// quality, vpdq, members, known, matches, note, error. Empty fields are
// omitted, except path, source, kind and size.
type Entry struct {
	// Path is relative to Source, slash-separated; archive members are
	// "container!member".
	Path string `json:"path"`
	// PathRaw holds the exact bytes of Path (base64 in JSON) when they are
	// not valid UTF-8, which JSON cannot carry.
	PathRaw []byte `json:"path_raw,omitempty"`
	// Source is the absolute path of the SOURCE argument the entry was found under.
	Source string `json:"source"`
	// Container is the Path of the archive holding a member.
	Container string `json:"container,omitempty"`
	Kind      string `json:"kind"`
	Size      int64  `json:"size"`

	// Times in RFC 3339 UTC; Btime is the birth (creation) time.
	Mtime string `json:"mtime,omitempty"`
	Atime string `json:"atime,omitempty"`
	Ctime string `json:"ctime,omitempty"`
	Btime string `json:"btime,omitempty"`
	// Mode is the permission and type string, as ls prints it.
	Mode       string  `json:"mode,omitempty"`
	UID        *uint32 `json:"uid,omitempty"`
	GID        *uint32 `json:"gid,omitempty"`
	LinkTarget string  `json:"link_target,omitempty"`

	// FSID is the file system's own identifier of a disk image member: its
	// MFT record and sequence number ("mft:35-1"), inode ("inode:12") or
	// FAT directory entry.
	FSID string `json:"fs_id,omitempty"`
	// Deleted marks a member the file system no longer lists as allocated
	// but still describes; its content may have been overwritten since.
	Deleted bool `json:"deleted,omitempty"`
	// Carved marks a member recovered from a disk image's unallocated
	// space by its content's structure alone (no file system names it).
	// ImageOffset is the byte offset of its first byte in the image (for
	// E01, in the media) and VolumeOffset in its volume (absent outside
	// every partition); the member's bytes are contiguous from there.
	Carved       bool   `json:"carved,omitempty"`
	ImageOffset  *int64 `json:"image_offset,omitempty"`
	VolumeOffset *int64 `json:"volume_offset,omitempty"`
	// Acquisition describes a disk image: its format, volumes and, for
	// E01, the hashes the acquiring tool stored and whether the media still
	// matches them.
	Acquisition *Acquisition `json:"acquisition,omitempty"`

	MD5    string `json:"md5,omitempty"`
	SHA1   string `json:"sha1,omitempty"`
	SHA256 string `json:"sha256,omitempty"`

	// Type and Format come from the content (magic bytes), never the name.
	Type   media.Kind   `json:"type,omitempty"`
	Format media.Format `json:"format,omitempty"`
	// ExtensionMismatch is set when the name's extension is not a usual one
	// for the detected format, or claims an image or video format the
	// content is not: a classic way of hiding pictures.
	ExtensionMismatch bool `json:"extension_mismatch,omitempty"`

	Width    int          `json:"width,omitempty"`
	Height   int          `json:"height,omitempty"`
	Duration float64      `json:"duration,omitempty"`
	PDQ      *pdq.Hash    `json:"pdq,omitempty"`
	Quality  *int         `json:"quality,omitempty"`
	VPDQ     []vpdq.Frame `json:"vpdq,omitempty"`
	// variants are the image's PDQ variants other than the original,
	// matched with it; the variant set is in custody.json.
	variants []variant.Hash
	// vpdqTrimmed are a video's frames without black bars, hashed with
	// the variant set (vpdq.Options.TrimBorders): matched, not listed.
	vpdqTrimmed []vpdq.Frame

	// Members is the number of entries an expanded archive contained
	// (its own line is written after them).
	Members *int `json:"members,omitempty"`
	// Known marks a file found in a known-file list: not matched.
	Known   bool    `json:"known,omitempty"`
	Matches []Match `json:"matches,omitempty"`
	// Note records observations that are not failures (a dangling symlink).
	Note string `json:"note,omitempty"`
	// Error says what could not be done; digests are present only if the
	// whole content was read.
	Error string `json:"error,omitempty"`

	// dihedral holds the 8 dihedral PDQ hashes with --dihedral, for matching only.
	dihedral []pdq.Hash
}

// Match is one bank signal an entry matched. Distance is the PDQ Hamming
// distance (0 for exact digest matches); vPDQ matches report the shares of
// query and target frames matched instead, and no Value (signals can be
// megabytes long).
type Match struct {
	Bank          string  `json:"bank"`
	Category      string  `json:"category,omitempty"`
	SignalType    string  `json:"signal_type"`
	Value         string  `json:"value,omitempty"`
	Distance      int     `json:"distance"`
	QueryPercent  float64 `json:"query_match_percent,omitempty"`
	TargetPercent float64 `json:"target_match_percent,omitempty"`
	// Variant names the image variant a PDQ match came from ("original",
	// "borders", "caption", "rotate90", …; internal/variant), or for vPDQ
	// whether the video's frames matched as they are ("original") or only
	// with their black bars trimmed ("borders"); empty when the video was
	// hashed without variants.
	Variant  string `json:"variant,omitempty"`
	Label    string `json:"label,omitempty"`
	SignalID int64  `json:"signal_id,omitempty"`
	// Transform names the rotation or mirroring of the file that matched
	// (--dihedral), empty for the file as it is.
	Transform string `json:"transform,omitempty"`
}

// rawPath returns the exact bytes of the entry's path.
func (e *Entry) rawPath() string {
	if e.PathRaw != nil {
		return string(e.PathRaw)
	}
	return e.Path
}

// setPath sets Path, and PathRaw when p is not valid UTF-8.
func (e *Entry) setPath(p string) {
	e.Path = p
	e.PathRaw = nil
	if !utf8.ValidString(p) {
		e.PathRaw = []byte(p)
	}
}

// key identifies an entry across runs (resume) and in Verify: the source,
// the exact path and the nesting depth. The depth keeps a file on disk
// literally named "a.zip!b" apart from member b of a.zip.
func (e *Entry) key() string {
	return entryKey(e.Source, e.rawPath(), strings.Count(e.Container, "!")+boolInt(e.Container != ""))
}

func entryKey(source, rawPath string, depth int) string {
	return source + "\x00" + rawPath + "\x00" + strconv.Itoa(depth)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// hasDigests reports whether the entry carries the three digests.
func (e *Entry) hasDigests() bool { return e.MD5 != "" && e.SHA1 != "" && e.SHA256 != "" }

// clearContent drops everything derived from content: used when the read
// did not reach the end, so no partial digest passes for a file's hash.
func (e *Entry) clearContent() {
	e.MD5, e.SHA1, e.SHA256 = "", "", ""
	e.PDQ, e.Quality, e.VPDQ, e.dihedral, e.vpdqTrimmed = nil, nil, nil, nil, nil
	e.Width, e.Height, e.Duration = 0, 0, 0
}

// addError appends msg to the entry's error.
func (e *Entry) addError(msg string) {
	if e.Error == "" {
		e.Error = msg
	} else if !strings.Contains(e.Error, msg) {
		e.Error += "; " + msg
	}
}

// formatTime renders t as RFC 3339 UTC with nanoseconds; "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// CSVColumns are the columns of manifest.csv, in order: the Entry fields,
// with vpdq as a frame count and matches flattened; the disk image fields
// come last, so that older readers of the columns keep their positions.
var CSVColumns = []string{
	"path", "path_raw", "source", "container", "kind", "size", "mtime", "atime", "ctime", "btime", "mode",
	"uid", "gid", "link_target", "md5", "sha1", "sha256", "type", "format", "extension_mismatch",
	"width", "height", "duration", "pdq", "quality", "vpdq_frames", "members", "known", "matches",
	"note", "error", "fs_id", "deleted", "carved", "image_offset", "volume_offset",
}

// csvRecord renders e as a manifest.csv row (CSVColumns).
func (e *Entry) csvRecord() []string {
	opt := func(p *uint32) string {
		if p == nil {
			return ""
		}
		return strconv.FormatUint(uint64(*p), 10)
	}
	num := func(n int) string {
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	var raw, pdqHex, quality, members, duration, frames string
	if e.PathRaw != nil {
		raw = base64.StdEncoding.EncodeToString(e.PathRaw)
	}
	if e.PDQ != nil {
		pdqHex = e.PDQ.String()
	}
	if e.Quality != nil {
		quality = strconv.Itoa(*e.Quality)
	}
	if e.Members != nil {
		members = strconv.Itoa(*e.Members)
	}
	if e.Duration != 0 {
		duration = strconv.FormatFloat(e.Duration, 'f', -1, 64)
	}
	if e.VPDQ != nil {
		frames = strconv.Itoa(len(e.VPDQ))
	}
	ms := make([]string, len(e.Matches))
	for i, m := range e.Matches {
		ms[i] = m.summary()
	}
	return []string{
		e.Path, raw, e.Source, e.Container, e.Kind, strconv.FormatInt(e.Size, 10),
		e.Mtime, e.Atime, e.Ctime, e.Btime, e.Mode, opt(e.UID), opt(e.GID), e.LinkTarget,
		e.MD5, e.SHA1, e.SHA256, string(e.Type), string(e.Format), boolText(e.ExtensionMismatch),
		num(e.Width), num(e.Height), duration, pdqHex, quality, frames, members, boolText(e.Known),
		strings.Join(ms, "; "), e.Note, e.Error, e.FSID, boolText(e.Deleted),
		boolText(e.Carved), optInt64(e.ImageOffset), optInt64(e.VolumeOffset),
	}
}

// summary renders a match for one CSV cell or report line.
func (m Match) summary() string {
	s := m.Bank
	if m.Category != "" {
		s += "/" + m.Category
	}
	s += " " + m.SignalType
	switch {
	case m.SignalType == "vpdq":
		s += fmt.Sprintf(" %.0f%%/%.0f%%", m.QueryPercent, m.TargetPercent)
	case m.SignalType == "pdq":
		s += fmt.Sprintf(" d=%d", m.Distance)
	}
	if m.Transform != "" {
		s += " [" + m.Transform + "]"
	}
	if m.Label != "" {
		s += " (" + m.Label + ")"
	}
	return s
}

func optInt64(p *int64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatInt(*p, 10)
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return ""
}
