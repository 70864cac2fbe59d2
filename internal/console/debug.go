package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/fingerprint"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/signal"
	"github.com/nigehban/nigehban/internal/vpdq"
)

// The matching debugger: two files or hashes side by side with every
// algorithm's distance, to see why something did or did not match. Files
// are hashed in memory (a video is spooled to a temporary file for ffmpeg
// and deleted) and never stored or shown.

// maxDebugUpload bounds the two files of one comparison together.
const maxDebugUpload = 64 << 20

// debugSide is one side of a comparison: what was given and its hashes.
type debugSide struct {
	Label  string // file name, or the hash's type
	Kind   string // "image", "video", "hash", other media kinds
	Size   int64
	MD5    string
	SHA1   string
	SHA256 string
	PDQ    string
	Qual   *int
	Dihed  []pdq.Hash
	VPDQ   []vpdq.Frame
	Error  string
}

// debugRow is one algorithm's verdict.
type debugRow struct {
	Algorithm string
	Distance  string // distance, or "same"/"different"
	Threshold string
	Match     bool
	Note      string
}

func (c *Console) debugger(w http.ResponseWriter, r *http.Request, v *visit) error {
	c.render(w, r, v, http.StatusOK, "debug", "Compare two files or hashes", map[string]any{"Types": signalTypes})
	return nil
}

// debugCompare answers POST /ui/debug (multipart: file_a/file_b, or
// hash_a/hash_b with type_a/type_b).
func (c *Console) debugCompare(w http.ResponseWriter, r *http.Request, v *visit) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxDebugUpload)
	mr, err := r.MultipartReader()
	if err != nil {
		return &httpError{http.StatusBadRequest, "Use the form on this page."}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	fields := map[string]string{}
	files := map[string]*debugSide{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return &httpError{http.StatusRequestEntityTooLarge, "The files are too large to compare here (64 MiB together at most)."}
		}
		name := p.FormName()
		if (name == "file_a" || name == "file_b") && p.FileName() != "" {
			files[name] = hashUpload(ctx, p)
			continue
		}
		b, err := io.ReadAll(io.LimitReader(p, 1<<20))
		if err != nil {
			return &httpError{http.StatusBadRequest, "The form was cut short."}
		}
		fields[name] = strings.TrimSpace(string(b))
	}
	side := func(k string) (*debugSide, error) {
		if f := files["file_"+k]; f != nil {
			return f, nil
		}
		val := fields["hash_"+k]
		if val == "" {
			return nil, fmt.Errorf("give side %s a file or a hash", strings.ToUpper(k))
		}
		return hashSide(signal.Type(fields["type_"+k]), val)
	}
	a, errA := side("a")
	b, errB := side("b")
	if err := errors.Join(errA, errB); err != nil {
		c.render(w, r, v, http.StatusBadRequest, "debug", "Compare two files or hashes",
			map[string]any{"Types": signalTypes, "Error": err.Error()})
		return nil
	}
	c.render(w, r, v, http.StatusOK, "debug", "Compare two files or hashes",
		map[string]any{"Types": signalTypes, "A": a, "B": b, "Rows": compareSides(a, b)})
	return nil
}

func hashUpload(ctx context.Context, p *multipart.Part) *debugSide {
	rec := fingerprint.Reader(ctx, p.FileName(), p, fingerprint.Options{Dihedral: true})
	s := &debugSide{Label: p.FileName(), Kind: string(rec.Type), Size: rec.Size, MD5: rec.MD5, SHA1: rec.SHA1,
		SHA256: rec.SHA256, Qual: rec.Quality, Dihed: rec.PDQDihedral, VPDQ: rec.VPDQ, Error: rec.Error}
	if rec.PDQ != nil {
		s.PDQ = rec.PDQ.String()
	}
	return s
}

// hashSide reads a typed hash value.
func hashSide(t signal.Type, val string) (*debugSide, error) {
	if t == "" {
		t = signal.PDQ
	}
	canon, err := signal.Normalize(t, val)
	if err != nil {
		return nil, err
	}
	s := &debugSide{Label: string(t) + " hash", Kind: "hash"}
	switch t {
	case signal.MD5:
		s.MD5 = canon
	case signal.SHA1:
		s.SHA1 = canon
	case signal.SHA256:
		s.SHA256 = canon
	case signal.PDQ:
		s.PDQ = canon
	case signal.VPDQ:
		if s.VPDQ, err = vpdq.Decode(canon); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// compareSides lists every algorithm both sides have.
func compareSides(a, b *debugSide) []debugRow {
	var rows []debugRow
	exact := func(name, x, y string) {
		if x == "" || y == "" {
			return
		}
		row := debugRow{Algorithm: name, Distance: "different", Threshold: "identical"}
		if x == y {
			row.Distance, row.Match = "same", true
		}
		rows = append(rows, row)
	}
	exact("MD5", a.MD5, b.MD5)
	exact("SHA-1", a.SHA1, b.SHA1)
	exact("SHA-256", a.SHA256, b.SHA256)
	if a.PDQ != "" && b.PDQ != "" {
		ha, _ := pdq.ParseHex(a.PDQ)
		hb, _ := pdq.ParseHex(b.PDQ)
		d := pdq.Distance(ha, hb)
		rows = append(rows, debugRow{Algorithm: "PDQ", Distance: fmt.Sprint(d),
			Threshold: fmt.Sprintf("≤ %d (default)", signal.DefaultPDQThreshold), Match: d <= signal.DefaultPDQThreshold,
			Note: qualityNote(a.Qual, b.Qual)})
		// Dihedral: the closest of one side's 8 rotations and mirrors to the
		// other side's plain hash (what --dihedral matching does).
		best, which := -1, 0
		for i, h := range a.Dihed {
			if d := pdq.Distance(h, hb); best < 0 || d < best {
				best, which = d, i
			}
		}
		for i, h := range b.Dihed {
			if d := pdq.Distance(h, ha); best < 0 || d < best {
				best, which = d, i
			}
		}
		if best >= 0 {
			rows = append(rows, debugRow{Algorithm: "PDQ, rotated or mirrored", Distance: fmt.Sprint(best),
				Threshold: fmt.Sprintf("≤ %d", signal.DefaultPDQThreshold), Match: best <= signal.DefaultPDQThreshold,
				Note: "closest of the 8 dihedral forms: " + dihedralNames[which]})
		}
	}
	if len(a.VPDQ) > 0 && len(b.VPDQ) > 0 {
		res := vpdq.Match(a.VPDQ, b.VPDQ, vpdq.DefaultMatchOptions())
		rows = append(rows, debugRow{Algorithm: "vPDQ", Distance: fmt.Sprintf("%.1f %% of A's frames, %.1f %% of B's", res.QueryPercent, res.TargetPercent),
			Threshold: fmt.Sprintf("frames ≤ %d apart, ≥ %.0f %% of A", vpdq.DefaultDistance, vpdq.DefaultQueryPercent), Match: res.Match,
			Note: fmt.Sprintf("%d and %d frames", len(a.VPDQ), len(b.VPDQ))})
	}
	return rows
}

// dihedralNames are the 8 forms in pdq.Dihedral's order.
var dihedralNames = [8]string{
	pdq.Original: "original", pdq.Rotate90: "rotated 90°", pdq.Rotate180: "rotated 180°", pdq.Rotate270: "rotated 270°",
	pdq.FlipX: "flipped top to bottom", pdq.FlipY: "flipped left to right",
	pdq.FlipPlus1: "transposed", pdq.FlipMinus1: "anti-transposed"}

func qualityNote(a, b *int) string {
	var parts []string
	for i, q := range []*int{a, b} {
		if q != nil {
			s := fmt.Sprintf("%c quality %d", 'A'+i, *q)
			if *q < pdq.MinQuality {
				s += " (too low to trust)"
			}
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}
