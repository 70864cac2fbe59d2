package scan

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/nigehban/nigehban/internal/diskimage/imagetest"
	"github.com/nigehban/nigehban/internal/fingerprint"
)

// TestCourtReport scans an E01 image holding benign photos, two of them
// in a bank (one by sha256 under category 1, one by PDQ under category
// 2, that one deleted before imaging), and checks the court report:
// report.html states the case, notes, declaration, PKT times, category
// names, the acquisition verification and an evidence sheet per matched
// file; report.pdf renders on every page (pdftoppm) and states every
// statement of report.html (pdftotext).
func TestCourtReport(t *testing.T) {
	if testing.Short() {
		t.Skip("builds disk images with mkfs tools and ewfacquire")
	}
	ctx := context.Background()
	work, src := t.TempDir(), t.TempDir()
	photos := imagetest.Photos(21, 6)
	exact, near := photos[0], photos[4]
	fat := filepath.Join(work, "fat.img")
	imagetest.FAT(t, fat, 16, 16384, photos, []string{near.Path})
	raw := filepath.Join(work, "disk.dd")
	imagetest.Partitioned(t, raw, "dos", []string{fat})
	imagetest.EWF(t, raw, filepath.Join(src, "seized"), "64MiB")

	rec := fingerprint.Reader(ctx, near.Path, bytes.NewReader(near.Data), fingerprint.Options{})
	if rec.PDQ == nil {
		t.Fatal("no PDQ for the benign photo")
	}
	bank := filepath.Join(work, "bank.csv")
	writeFile(t, bank, []byte(fmt.Sprintf("type,value,category,source,note\nsha256,%s,1,test,exact copy\npdq,%s,2,test,near copy\n",
		sha256hex(exact.Data), rec.PDQ)))
	banks, err := LoadFileBanks(ctx, []string{bank}, DefaultFileBankOptions())
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	notes := "Laptop seized at the repair shop; imaged with ewfacquire by the lab.\nSecond line of notes."
	_, err = Run(ctx, Options{Case: "NCCIA-2026-017", Examiner: "Sadia Khan", Out: out, Sources: []string{src}, Workers: 2,
		Matcher: banks, Notes: notes, Tool: Tool{Version: "v1.2.3", Revision: "0123456789abcdef"}})
	if err != nil {
		t.Fatal(err)
	}
	page := string(readFile(t, filepath.Join(out, ReportName)))
	exactPath := "seized.E01!p1!/" + exact.Path
	// FAT loses a deleted name's first character (8.3 names: mtools wrote
	// no long name); the Sleuth Kit shows it as "_" too.
	dir, base := path.Split(near.Path)
	nearPath := "seized.E01!p1!/" + dir + "_" + base[1:]
	for _, s := range []string{"NCCIA-2026-017", "Sadia Khan", "Second line of notes.", "I, Sadia Khan, ran the tool",
		"v1.2.3", "0123456789abcdef", " PKT (", " UTC)", "Child abuse material (CAM) [1]", "Child exploitive (non-CAM) / age difficult [2]",
		"verified", "case_number", "CASE-17", html.EscapeString(exactPath), html.EscapeString(nearPath), sha256hex(exact.Data),
		sha1hex(near.Data), "deleted", "distance 0", "Timeline of matched files", "Custody record", "fat:dirent@"} {
		if !strings.Contains(page, s) {
			t.Errorf("report.html lacks %q", s)
		}
	}
	got := readEntries(t, out)
	if e := got[nearPath]; e == nil || !e.Deleted || len(e.Matches) == 0 {
		t.Errorf("deleted near copy: %+v", e)
	}

	// The PDF: every page renders, and it states what the HTML does.
	pdf := filepath.Join(out, PDFName)
	pages := filepath.Join(t.TempDir(), "page")
	imagetest.Run(t, "pdftoppm", "-r", "30", "-png", pdf, pages)
	info := string(imagetest.Run(t, "pdfinfo", pdf))
	m := regexp.MustCompile(`Pages:\s+(\d+)`).FindStringSubmatch(info)
	rendered, _ := filepath.Glob(pages + "*.png")
	if m == nil || fmt.Sprint(len(rendered)) != m[1] || len(rendered) < 2 {
		t.Fatalf("pdftoppm rendered %d pages; pdfinfo says %v", len(rendered), m)
	}
	text := squash(string(imagetest.Run(t, "pdftotext", "-enc", "UTF-8", pdf, "-")))
	for _, s := range htmlStatements(page) {
		if !strings.Contains(text, squash(s)) {
			t.Errorf("report.pdf does not state %q", s)
		}
	}
	if os.Getenv("NIGEHBAN_KEEP_REPORT") != "" {
		_ = exec.Command("cp", "-r", out, os.Getenv("NIGEHBAN_KEEP_REPORT")).Run()
	}
	if _, err := os.Stat(filepath.Join(out, PDFName)); err != nil {
		t.Fatal(err)
	}
	cust, err := ReadCustody(out)
	if err != nil {
		t.Fatal(err)
	}
	var listed bool
	for _, o := range cust.Outputs {
		listed = listed || o.Name == PDFName
	}
	if !listed {
		t.Error("custody.json does not record report.pdf's hash")
	}
}

// htmlStatements returns the text of every leaf element of the report's
// body: the statements the PDF must make too.
func htmlStatements(page string) []string {
	body := page[strings.Index(page, "<body>"):]
	body = regexp.MustCompile(`(?s)<style>.*?</style>`).ReplaceAllString(body, "")
	var out []string
	for _, part := range regexp.MustCompile(`<[^>]*>`).Split(body, -1) {
		s := strings.TrimSpace(html.UnescapeString(part))
		s = strings.Trim(s, ":,()")
		if s == "" || s == "/" || s == "→" || s == "…" {
			continue
		}
		out = append(out, s)
	}
	return out
}

// squash folds case and drops whitespace, which the PDF's line wrapping
// moves.
func squash(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
}
