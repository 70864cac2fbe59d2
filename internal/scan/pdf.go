package scan

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"

	"github.com/nigehban/nigehban/internal/progress"
)

// PDFName is the court report as PDF, written beside report.html and
// stating the same.
const PDFName = "report.pdf"

// pdfFonts are the Unicode faces the PDF embeds when the system has them
// (Debian fonts-noto-core); otherwise the PDF's core Helvetica is used and
// characters outside Windows-1252 are written as U+XXXX.
var pdfFonts = struct{ regular, bold string }{
	regular: "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
	bold:    "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf",
}

// pdfDoc lays the report out on A4 pages.
type pdfDoc struct {
	f      *fpdf.Fpdf
	family string
	tr     func(string) string
	width  float64 // usable width
}

func newPDFDoc(title, caseID string) *pdfDoc {
	f := fpdf.New("P", "mm", "A4", "")
	d := &pdfDoc{f: f, family: "Helvetica", tr: func(s string) string { return s }}
	regular, err1 := os.ReadFile(pdfFonts.regular)
	bold, err2 := os.ReadFile(pdfFonts.bold)
	if err1 == nil && err2 == nil {
		f.AddUTF8FontFromBytes("noto", "", regular)
		f.AddUTF8FontFromBytes("noto", "B", bold)
		d.family = "noto"
	} else {
		cp := f.UnicodeTranslatorFromDescriptor("")
		d.tr = func(s string) string { return cp(cp1252Safe(s)) }
	}
	f.SetMargins(15, 15, 15)
	f.SetAutoPageBreak(true, 15)
	f.SetTitle(title, true)
	f.SetCreator("nigehban", true)
	f.SetCatalogSort(true)
	f.AliasNbPages("{nb}")
	f.SetFooterFunc(func() {
		f.SetY(-12)
		f.SetFont(d.family, "", 8)
		f.CellFormat(0, 5, d.tr(fmt.Sprintf("Case %s: page %d of {nb}", caseID, f.PageNo())), "", 0, "C", false, 0, "")
	})
	f.AddPage()
	w, _ := f.GetPageSize()
	l, _, r, _ := f.GetMargins()
	d.width = w - l - r
	return d
}

// cp1252Safe replaces characters the core fonts cannot show with U+XXXX.
func cp1252Safe(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x80 || (r >= 0xA0 && r <= 0xFF) || strings.ContainsRune("€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ", r) {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "U+%04X", r)
		}
	}
	return b.String()
}

func (d *pdfDoc) h1(s string) {
	d.f.SetFont(d.family, "B", 15)
	d.f.MultiCell(0, 7, d.tr(s), "", "L", false)
	d.f.Ln(2)
}

func (d *pdfDoc) h2(s string) {
	_, h := d.f.GetPageSize()
	if d.f.GetY() > h-40 {
		d.f.AddPage()
	}
	d.f.Ln(3)
	d.f.SetFont(d.family, "B", 12)
	d.f.MultiCell(0, 6, d.tr(s), "B", "L", false)
	d.f.Ln(1)
}

func (d *pdfDoc) h3(s string) {
	d.f.Ln(1)
	d.f.SetFont(d.family, "B", 9.5)
	d.f.MultiCell(0, 5, d.tr(s), "", "L", false)
}

func (d *pdfDoc) para(s string) {
	d.f.SetFont(d.family, "", 9)
	d.f.MultiCell(0, 4.5, d.tr(s), "", "L", false)
	d.f.Ln(1)
}

// table draws rows with wrapped cells; widths are fractions of the page.
func (d *pdfDoc) table(widths []float64, head []string, rows [][]string) {
	const lh = 4.2
	draw := func(cells []string, bold bool) {
		style := ""
		if bold {
			style = "B"
		}
		d.f.SetFont(d.family, style, 8)
		var lines [][]string
		n := 1
		for i, c := range cells {
			w := widths[i] * d.width
			var ls []string
			for _, part := range strings.Split(d.tr(c), "\n") {
				ls = append(ls, d.split(part, w-2)...)
			}
			if len(ls) == 0 {
				ls = []string{""}
			}
			lines = append(lines, ls)
			n = max(n, len(ls))
		}
		hgt := float64(n)*lh + 1
		_, ph := d.f.GetPageSize()
		if d.f.GetY()+hgt > ph-15 {
			d.f.AddPage()
		}
		x, y := d.f.GetX(), d.f.GetY()
		for i, ls := range lines {
			w := widths[i] * d.width
			d.f.Rect(x, y, w, hgt, "D")
			for k, l := range ls {
				d.f.SetXY(x+1, y+0.5+float64(k)*lh)
				d.f.CellFormat(w-2, lh, l, "", 0, "L", false, 0, "")
			}
			x += w
		}
		l, _, _, _ := d.f.GetMargins()
		d.f.SetXY(l, y+hgt)
	}
	if head != nil {
		draw(head, true)
	}
	for _, r := range rows {
		draw(r, false)
	}
	d.f.Ln(1.5)
}

// split wraps s to lines at most w wide in the current font: at spaces
// where it can, inside words (paths, hashes) where it must.
func (d *pdfDoc) split(s string, w float64) []string {
	var lines []string
	var cur []rune
	width, lastSpace := 0.0, -1
	for _, r := range s {
		cw := d.f.GetStringWidth(string(r))
		if width+cw > w && len(cur) > 0 {
			if lastSpace > 0 {
				lines = append(lines, string(cur[:lastSpace]))
				cur = append([]rune{}, cur[lastSpace+1:]...)
			} else {
				lines = append(lines, string(cur))
				cur = cur[:0]
			}
			width, lastSpace = d.f.GetStringWidth(string(cur)), -1
		}
		if r == ' ' {
			lastSpace = len(cur)
		}
		cur = append(cur, r)
		width += cw
	}
	if len(cur) > 0 || len(lines) == 0 {
		lines = append(lines, string(cur))
	}
	return lines
}

// kv draws a two-column table of labels and values.
func (d *pdfDoc) kv(rows [][2]string) {
	var rs [][]string
	for _, r := range rows {
		rs = append(rs, []string{r[0], r[1]})
	}
	d.table([]float64{0.25, 0.75}, nil, rs)
}

// renderPDF writes the court report as PDF: the same statements as
// report.html, in the same order.
func (r *reportData) renderPDF(w io.Writer) error {
	c := r.Custody
	d := newPDFDoc("Forensic scan report: case "+c.Case, c.Case)
	if t, err := time.Parse(time.RFC3339Nano, c.Ended); err == nil {
		d.f.SetCreationDate(t)
		d.f.SetModificationDate(t)
	}
	d.h1("Forensic scan report: case " + c.Case)
	d.para("This report shows no image content. Every file is listed in manifest.jsonl and manifest.csv; custody.json records the sha256 of each output file. Check them with nigehban scan verify. Times are Pakistan Standard Time (PKT, UTC+5) with UTC in brackets.")
	commit := "not recorded"
	if c.Tool.Revision != "" {
		commit = c.Tool.Revision
		if c.Tool.Modified {
			commit += " (modified)"
		}
	}
	tool := fmt.Sprintf("%s version %s, commit %s (%s", c.Tool.Name, c.Tool.Version, commit, c.Tool.Go)
	if c.Tool.JPEGDecoder != "" {
		tool += ", JPEG decoder " + c.Tool.JPEGDecoder
	}
	tool += ")"
	runs := strconv.Itoa(len(c.Runs))
	for _, run := range c.Runs {
		runs += fmt.Sprintf("\n%s → %s: %s, %d entries, by %s", bothTimes(run.Started), bothTimes(run.Ended), run.Status, run.Entries, run.Examiner)
	}
	d.kv([][2]string{{"Case", c.Case}, {"Examiner", c.Examiner}, {"Tool", tool}, {"Host / user", c.Host + " / " + c.OSUser},
		{"Started", bothTimes(c.Started)}, {"Ended", bothTimes(c.Ended)}, {"Runs", runs}})

	d.h2("Examiner's notes")
	if r.Notes != "" {
		d.para(r.Notes)
	} else {
		d.para("None given.")
	}
	d.h2("Declaration")
	d.para(r.declaration())
	if r.Declaration == "" {
		d.para("(Standard text: the examiner gave no declaration of their own.)")
	}
	d.para(fmt.Sprintf("Signed: ______________________ (%s)    Date: ______________", c.Examiner))

	d.h2("Sources")
	var rows [][]string
	for _, s := range c.Sources {
		h := "a folder: each file's hashes are in the manifest"
		if s.SHA256 != "" {
			h = "md5 " + s.MD5 + "\nsha1 " + s.SHA1 + "\nsha256 " + s.SHA256
		}
		size := ""
		if s.Size != 0 {
			size = strconv.FormatInt(s.Size, 10)
		}
		rows = append(rows, []string{s.Path, s.Type, size, h})
	}
	d.table([]float64{0.3, 0.1, 0.12, 0.48}, []string{"Source", "Type", "Size", "Acquisition hashes"}, rows)

	d.h2("Disk images")
	if len(r.Images) == 0 {
		d.para("No disk image among the sources.")
	}
	for _, e := range r.Images {
		a := e.Acquisition
		img := e.Path + " (" + a.Format
		if len(a.Segments) > 0 {
			img += ", segments " + strings.Join(a.Segments, ", ")
		}
		img += ")"
		kv := [][2]string{{"Image", img}, {"Image file hashes", "md5 " + e.MD5 + "\nsha1 " + e.SHA1 + "\nsha256 " + e.SHA256},
			{"Media size", fmt.Sprintf("%d bytes", a.MediaSize)}}
		if a.Format == imageFormatEWF {
			kv = append(kv, [2]string{"Stored hashes", "md5 " + cmpOr(a.StoredMD5, "none") + "\nsha1 " + cmpOr(a.StoredSHA1, "none")},
				[2]string{"Media hashes now", "md5 " + a.MediaMD5 + "\nsha1 " + a.MediaSHA1},
				[2]string{"Verification", a.Verification})
			for _, k := range namesOf(a.Metadata) {
				kv = append(kv, [2]string{"E01 " + k, a.Metadata[k]})
			}
		} else {
			kv = append(kv, [2]string{"Verification", "raw image: its own hashes above are the acquisition hashes to compare with the acquisition record"})
		}
		var vols []string
		for _, v := range a.Volumes {
			s := cmpOr(v.Name, "whole image") + ": " + cmpOr(v.FileSystem, "no file system read")
			if v.Scheme != "" {
				s += ", " + v.Scheme + " type " + v.Type
			}
			s += fmt.Sprintf(", offset %d, %d bytes", v.Offset, v.Size)
			if v.Error != "" {
				s += ", error: " + v.Error
			}
			vols = append(vols, s)
		}
		members := 0
		if e.Members != nil {
			members = *e.Members
		}
		kv = append(kv, [2]string{"Volumes", strings.Join(vols, "\n")}, [2]string{"Files listed", strconv.Itoa(members)})
		d.kv(kv)
	}

	n := r.Counts
	d.h2("Summary")
	d.kv([][2]string{{strconv.Itoa(n.Matched), "files matched a bank"}, {strconv.Itoa(n.Entries), "entries"},
		{strconv.Itoa(n.Hashed), "files hashed (" + progress.Bytes(n.Bytes) + ")"},
		{strconv.Itoa(n.Archives), fmt.Sprintf("archives opened (%d members)", n.Members)},
		{strconv.Itoa(n.DiskImages), diskSummary(n)},
		{strconv.Itoa(n.Known), "known files"}, {strconv.Itoa(n.ExtensionMismatches), "extension mismatches"}, {strconv.Itoa(n.Errors), "errors"}})

	d.h2("Matches by category")
	if len(n.MatchesByCategory) == 0 {
		d.para("No file matched a bank.")
	} else {
		rows = nil
		for _, k := range sortedKeys(n.MatchesByCategory) {
			rows = append(rows, []string{r.categoryName(k), strconv.Itoa(n.MatchesByCategory[k])})
		}
		d.table([]float64{0.8, 0.2}, []string{"Category", "Matches"}, rows)
		rows = nil
		for _, k := range sortedKeys(n.MatchesByBank) {
			rows = append(rows, []string{k, strconv.Itoa(n.MatchesByBank[k])})
		}
		d.table([]float64{0.8, 0.2}, []string{"Bank", "Matches"}, rows)
	}

	d.h2("Matched files")
	if len(r.Matched) == 0 {
		d.para("None.")
	}
	rows = nil
	for _, m := range r.Matched {
		rows = append(rows, []string{m.Path, m.Type, strconv.FormatInt(m.Size, 10), r.matchLines(m.Matches, false)})
	}
	if len(rows) > 0 {
		d.table([]float64{0.4, 0.12, 0.1, 0.38}, []string{"Path", "Type", "Size", "Matches"}, rows)
	}
	if r.MoreMatched > 0 {
		d.para(fmt.Sprintf("… and %d more: see the manifest.", r.MoreMatched))
	}

	d.h2("Evidence sheets")
	if len(r.Sheets) == 0 {
		d.para("No file matched a bank.")
	}
	for i, e := range r.Sheets {
		d.h3(fmt.Sprintf("Item %d: %s", i+1, e.Path))
		outer, inner := splitContainer(e.Path)
		kv := [][2]string{{"Source", e.Source}, {"File on the source", outer}}
		if e.Container != "" {
			kv = append(kv, [2]string{"Path inside", inner})
		}
		if e.FSID != "" {
			kv = append(kv, [2]string{"File-system id", e.FSID})
		}
		if at := carvedAt(e); at != "" {
			kv = append(kv, [2]string{"Carved at", at})
		}
		kv = append(kv, [2]string{"State", cmpOr(entryFlags(e), "allocated (live)")}, [2]string{"Size", fmt.Sprintf("%d bytes", e.Size)})
		typ := string(e.Type) + " " + string(e.Format)
		if e.Width > 0 {
			typ += fmt.Sprintf(" %d×%d", e.Width, e.Height)
		}
		hashes := "md5 " + e.MD5 + "\nsha1 " + e.SHA1 + "\nsha256 " + e.SHA256
		if e.PDQ != nil {
			q := 0
			if e.Quality != nil {
				q = *e.Quality
			}
			hashes += fmt.Sprintf("\npdq %s (quality %d)", e.PDQ, q)
		}
		var times []string
		for _, t := range []struct{ what, ts string }{{"created", e.Btime}, {"modified", e.Mtime}, {"changed", e.Ctime}, {"accessed", e.Atime}} {
			if t.ts != "" {
				times = append(times, t.what+" "+bothTimes(t.ts))
			}
		}
		kv = append(kv, [2]string{"Type", typ}, [2]string{"Hashes", hashes}, [2]string{"Times", strings.Join(times, "\n")},
			[2]string{"Matches", r.matchLines(e.Matches, true)})
		d.kv(kv)
	}

	d.h2("Timeline of matched files")
	tl := r.Timeline()
	if len(tl) == 0 {
		d.para("No times recorded for matched files.")
	} else {
		rows = nil
		for _, ev := range tl {
			what := ev.What
			if ev.Flags != "" {
				what += " (" + ev.Flags + ")"
			}
			rows = append(rows, []string{bothTimes(ev.Time), what, ev.Path})
		}
		d.table([]float64{0.32, 0.18, 0.5}, []string{"Time", "Event", "File"}, rows)
	}

	d.h2("Files by type")
	rows = nil
	for _, k := range sortedKeys(n.ByType) {
		rows = append(rows, []string{k, strconv.Itoa(n.ByType[k])})
	}
	d.table([]float64{0.8, 0.2}, []string{"Type", "Files"}, rows)
	rows = nil
	for _, k := range sortedKeys(n.ByFormat) {
		rows = append(rows, []string{k, strconv.Itoa(n.ByFormat[k])})
	}
	d.table([]float64{0.8, 0.2}, []string{"Format (from content)", "Files"}, rows)
	d.para(fmt.Sprintf("%d links and %d special files were recorded without being followed or read.", n.Symlinks, n.Special))

	d.h2("Extension mismatches")
	if len(r.Mismatches) == 0 {
		d.para("None.")
	} else {
		d.para("The name's extension does not fit the content: a common way of hiding pictures and videos.")
		rows = nil
		for _, m := range r.Mismatches {
			rows = append(rows, []string{m.Path, m.Detail, strconv.FormatInt(m.Size, 10)})
		}
		d.table([]float64{0.6, 0.25, 0.15}, []string{"Path", "Detected", "Size"}, rows)
		if r.MoreMismatches > 0 {
			d.para(fmt.Sprintf("… and %d more: see the manifest.", r.MoreMismatches))
		}
	}

	d.h2("Errors")
	if len(r.Errors) == 0 {
		d.para("None.")
	} else {
		rows = nil
		for _, m := range r.Errors {
			rows = append(rows, []string{m.Path, m.Type, m.Detail})
		}
		d.table([]float64{0.45, 0.12, 0.43}, []string{"Path", "Type", "Error"}, rows)
		if r.MoreErrors > 0 {
			d.para(fmt.Sprintf("… and %d more: see the manifest.", r.MoreErrors))
		}
	}

	d.h2("Banks")
	if len(c.Runs) > 0 {
		last := c.Runs[len(c.Runs)-1]
		if len(last.Banks) == 0 {
			d.para("No bank was given: files were hashed, not matched.")
		} else {
			rows = nil
			for _, b := range last.Banks {
				id := b.Path + "\nsha256 " + b.SHA256
				if b.SHA256 == "" {
					id = fmt.Sprintf("%s at change %d", b.Store, b.ChangeSeq)
				}
				var sig []string
				for _, t := range sortedKeys(b.Signals) {
					sig = append(sig, fmt.Sprintf("%s %d", t, b.Signals[t]))
				}
				rows = append(rows, []string{b.Name, b.Kind, id, strings.Join(sig, " ")})
			}
			d.table([]float64{0.18, 0.1, 0.52, 0.2}, []string{"Bank", "Kind", "Identity", "Signals"}, rows)
		}
		if len(last.Known) > 0 {
			var ks []string
			for _, k := range last.Known {
				ks = append(ks, k.Path+" (sha256 "+k.SHA256+")")
			}
			d.para("Known-file lists: " + strings.Join(ks, " "))
		}
	}

	d.h2("Custody record")
	rows = nil
	for i, run := range c.Runs {
		st := run.Status
		if run.Resumed {
			st += " (resumed)"
		}
		rows = append(rows, []string{strconv.Itoa(i + 1), bothTimes(run.Started), bothTimes(run.Ended), st,
			fmt.Sprintf("%s, %s, %s (pid %d)", run.Examiner, run.Host, run.OSUser, run.PID), strings.Join(run.CommandLine, " ")})
	}
	d.table([]float64{0.05, 0.17, 0.17, 0.11, 0.2, 0.3}, []string{"Run", "Started", "Ended", "Status", "Examiner, host, user", "Command line"}, rows)
	switch lg := c.Log; {
	case lg == nil:
		d.para("Not written to a transparency log.")
	case !lg.Logged:
		d.para("Not written to a transparency log: " + lg.Note)
	default:
		signed := "unsigned"
		if lg.Signed {
			signed = "signed"
		}
		origin := ""
		if lg.Origin != "" {
			origin = " (" + lg.Origin + ")"
		}
		d.para(fmt.Sprintf("Custody events in the transparency log %s%s: tree size %d, root hash %s, checkpoint %s. custody.json carries an inclusion proof for each:",
			lg.Log, origin, lg.TreeSize, lg.RootHash, signed))
		rows = nil
		for _, le := range lg.Entries {
			rows = append(rows, []string{strconv.FormatInt(le.Seq, 10), le.Action, strconv.Itoa(le.Run + 1)})
		}
		d.table([]float64{0.2, 0.6, 0.2}, []string{"Log entry", "Event", "Run"}, rows)
	}
	d.para("The sha256 of manifest.jsonl, manifest.csv, report.html and report.pdf are recorded in custody.json, written after them.")
	if err := d.f.Error(); err != nil {
		return fmt.Errorf("render %s: %w", PDFName, err)
	}
	return d.f.Output(w)
}

// matchLines renders matches one per line, as the HTML does.
func (r *reportData) matchLines(ms []Match, sheet bool) string {
	var out []string
	for _, m := range ms {
		var s string
		if sheet {
			s = fmt.Sprintf("bank %s, category %s, %s", m.Bank, r.categoryName(m.Category), m.SignalType)
			switch m.SignalType {
			case "pdq":
				s += fmt.Sprintf(", distance %d", m.Distance)
			case "vpdq":
				s += fmt.Sprintf(", %.0f%% of frames", m.QueryPercent)
			default:
				s += ", exact"
			}
		} else {
			s = m.Bank
			if m.Category != "" {
				s += " / " + r.categoryName(m.Category)
			}
			s += ": " + m.SignalType
			switch m.SignalType {
			case "pdq":
				s += fmt.Sprintf(" distance %d", m.Distance)
			case "vpdq":
				s += fmt.Sprintf(" %.0f%% of frames", m.QueryPercent)
			}
		}
		if m.Transform != "" {
			s += " [" + m.Transform + "]"
		}
		if m.Label != "" {
			s += " (" + m.Label + ")"
		}
		out = append(out, s)
	}
	return strings.Join(out, "\n")
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// diskSummary is the summary's line on disk images.
func diskSummary(n *Counts) string {
	if n.CarvedListed > 0 {
		return fmt.Sprintf("disk images opened (%d deleted files, %d carved, %d carved files already listed)", n.Deleted, n.Carved, n.CarvedListed)
	}
	return fmt.Sprintf("disk images opened (%d deleted files, %d carved)", n.Deleted, n.Carved)
}
