package scan

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
)

// PKT is Pakistan Standard Time (UTC+5, no daylight saving): the court
// report gives every time in it, with UTC beside it.
var PKT = time.FixedZone("PKT", 5*3600)

// DefaultCategories names the Project VIC (VICS, US flavour) category
// codes; banks that use other codes name them with Options.Categories.
var DefaultCategories = map[string]string{
	"0": "Non-pertinent",
	"1": "Child abuse material (CAM)",
	"2": "Child exploitive (non-CAM) / age difficult",
	"3": "CGI / animation, child exploitive",
	"4": "Comparison images",
}

// DefaultDeclaration is the examiner's declaration printed when none is
// given; %s is the examiner's name.
const DefaultDeclaration = "I, %s, ran the tool named in this report over the sources listed in it. The tool read them " +
	"without writing to them and without mounting disk images. The hashes, matches, times and paths in this report are " +
	"as the tool computed and read them; no person viewed the content of any matched file to produce it. The manifest " +
	"and custody record that accompany this report are those the tool wrote, as their recorded sha256 digests show."

// categoryName renders a bank category for people: its name where the
// code is known, with the code in brackets.
func (r *reportData) categoryName(code string) string {
	if code == "" {
		return "uncategorised"
	}
	if n, ok := r.categories[code]; ok {
		return n + " [" + code + "]"
	}
	if n, ok := DefaultCategories[code]; ok && r.categories == nil {
		return n + " [" + code + "]"
	}
	return code
}

// bothTimes renders an RFC 3339 time as "2026-01-02 15:04:05 PKT (10:04:05 UTC)".
func bothTimes(ts string) string {
	if ts == "" {
		return ""
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return ts
	}
	u := t.UTC()
	p := t.In(PKT)
	if p.Format("2006-01-02") == u.Format("2006-01-02") {
		return p.Format("2006-01-02 15:04:05 PKT") + " (" + u.Format("15:04:05 UTC") + ")"
	}
	return p.Format("2006-01-02 15:04:05 PKT") + " (" + u.Format("2006-01-02 15:04:05 UTC") + ")"
}

// timelineEvent is one time of one matched file.
type timelineEvent struct {
	Time  string // RFC 3339 UTC
	What  string // modified, accessed, changed, created
	Path  string
	Flags string
}

// courtFields are the parts of the report only a court needs.
type courtFields struct {
	Notes, Declaration string
	categories         map[string]string
	// Sheets holds every matched file (the evidence sheets); Images every
	// disk image with what its acquisition records.
	Sheets []*Entry
	Images []*Entry
}

// addCourt keeps what the court report needs of an entry.
func (r *reportData) addCourt(e *Entry) {
	if len(e.Matches) > 0 {
		c := *e
		c.VPDQ = nil // frames are not shown; keep memory to the sheets' needs
		r.Sheets = append(r.Sheets, &c)
	}
	if e.Acquisition != nil {
		c := *e
		r.Images = append(r.Images, &c)
	}
}

// Timeline lists the file-system times of the matched files, oldest first.
func (r *reportData) Timeline() []timelineEvent {
	var out []timelineEvent
	for _, e := range r.Sheets {
		flags := entryFlags(e)
		for _, t := range []struct{ ts, what string }{{e.Btime, "created"}, {e.Mtime, "modified"}, {e.Ctime, "changed"}, {e.Atime, "accessed"}} {
			if t.ts != "" {
				out = append(out, timelineEvent{Time: t.ts, What: t.what, Path: e.Path, Flags: flags})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b timelineEvent) int {
		ta, _ := time.Parse(time.RFC3339Nano, a.Time)
		tb, _ := time.Parse(time.RFC3339Nano, b.Time)
		return cmp.Or(ta.Compare(tb), strings.Compare(a.Path, b.Path))
	})
	return out
}

// entryFlags says whether an entry is deleted or carved.
func entryFlags(e *Entry) string {
	var f []string
	if e.Deleted {
		f = append(f, "deleted")
	}
	if e.Carved {
		f = append(f, "carved")
	}
	return strings.Join(f, ", ")
}

// declaration returns the examiner's declaration, or the standard one.
func (r *reportData) declaration() string {
	if r.Declaration != "" {
		return r.Declaration
	}
	return fmt.Sprintf(DefaultDeclaration, r.Custody.Examiner)
}

// splitContainer splits a member path into the image or archive on disk
// and the path inside it.
func splitContainer(p string) (outer, inner string) {
	if i := strings.IndexByte(p, '!'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return p, ""
}

// carvedAt describes where a carved entry lies: its byte offsets in the
// image and in its volume; "" for other entries.
func carvedAt(e *Entry) string {
	if !e.Carved || e.ImageOffset == nil {
		return ""
	}
	s := fmt.Sprintf("byte %d (0x%x) of the image", *e.ImageOffset, *e.ImageOffset)
	if e.VolumeOffset != nil {
		s += fmt.Sprintf(", byte %d (0x%x) of its volume", *e.VolumeOffset, *e.VolumeOffset)
	} else {
		s += ", outside every partition"
	}
	return s + ", contiguous"
}

// namesOf returns a map's keys in order.
func namesOf(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// ReadCategories reads a CSV file of code,name rows (a header row
// "code,name" is skipped) naming bank category codes for the report.
func ReadCategories(p string) (map[string]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("categories: %w", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("categories %s: %w", p, err)
	}
	out := map[string]string{}
	for i, r := range rows {
		if len(r) < 2 {
			return nil, fmt.Errorf("categories %s line %d: want code,name", p, i+1)
		}
		if i == 0 && strings.EqualFold(r[0], "code") {
			continue
		}
		out[strings.TrimSpace(r[0])] = strings.TrimSpace(r[1])
	}
	return out, nil
}
