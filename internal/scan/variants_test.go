package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/draw"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/nigehban/nigehban/internal/fingerprint"
	"github.com/nigehban/nigehban/internal/testtool"
	"github.com/nigehban/nigehban/internal/variant"
)

// TestScanVariants: a pillarboxed copy of a banked photo matches only when
// the scan matches variants, the match names the variant, and custody.json
// records each run's variant set.
func TestScanVariants(t *testing.T) {
	ctx := context.Background()
	bridge := readFile(t, imagePath("bridge-mods/aaa-orig.jpg"))
	rec := fingerprint.Reader(ctx, "x", bytes.NewReader(bridge), fingerprint.Options{})
	bankFile := filepath.Join(t.TempDir(), "bank.txt")
	writeFile(t, bankFile, []byte(rec.PDQ.String()+"\n"))

	src := decode(t, bridge)
	b := src.Bounds()
	boxed := image.NewRGBA(image.Rect(0, 0, b.Dx()*3/2, b.Dy()))
	draw.Draw(boxed, boxed.Bounds(), image.Black, image.Point{}, draw.Src)
	draw.Draw(boxed, b.Add(image.Pt(b.Dx()/4, 0)), src, b.Min, draw.Src)
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "boxed.jpg"), encodeJPEG(t, boxed, 90))

	for _, tc := range []struct {
		set  variant.Set
		want string // the variant matched; "" for no match
	}{{variant.None, ""}, {variant.Borders, "borders"}, {variant.All, "borders"}} {
		opts := DefaultFileBankOptions()
		opts.Type = "pdq"
		fb, err := LoadFileBanks(ctx, []string{bankFile}, opts)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out")
		if _, err := Run(ctx, Options{Case: "V", Examiner: "E", Out: out, Sources: []string{root}, Matcher: fb, Variants: tc.set}); err != nil {
			t.Fatal(err)
		}
		m := readEntries(t, out)["boxed.jpg"].Matches
		switch {
		case tc.want == "" && len(m) != 0:
			t.Errorf("%s: a pillarboxed copy matched plain PDQ: %+v", tc.set, m)
		case tc.want != "" && (len(m) != 1 || m[0].Variant != tc.want):
			t.Errorf("%s: %+v, want one match by %s", tc.set, m, tc.want)
		}
		c, err := ReadCustody(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Runs[0].Variants; got != tc.set.String() {
			t.Errorf("custody variants %q, want %q", got, tc.set)
		}
	}
}

// TestScanVideoTrimming: a pillarboxed copy of a banked clip (its plain,
// reference vPDQ in a `nigehban hash` JSONL bank) matches only when the
// scan hashes variants, and the match says the trimmed frames made it.
func TestScanVideoTrimming(t *testing.T) {
	ffmpeg := testtool.Path(t, "ffmpeg")
	ctx := context.Background()
	dir, root := t.TempDir(), t.TempDir()
	orig, boxed := filepath.Join(dir, "orig.mp4"), filepath.Join(root, "boxed.mp4")
	for _, c := range []struct{ out, vf string }{
		{orig, "scale=320:240"},
		{boxed, "scale=240:180,pad=320:180:40:0:black"},
	} {
		args := []string{"-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10", "-t", "6",
			"-vf", c.vf + ",format=yuv420p", "-an", "-c:v", "mpeg4", "-q:v", "3", c.out}
		if out, err := exec.CommandContext(ctx, ffmpeg, args...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v: %s", err, out)
		}
	}
	rec := fingerprint.File(ctx, orig, fingerprint.Options{Variants: variant.None})
	if len(rec.VPDQ) == 0 || len(rec.VPDQTrimmed) != 0 {
		t.Fatalf("original: %d frames, %d trimmed (%s)", len(rec.VPDQ), len(rec.VPDQTrimmed), rec.Error)
	}
	line, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	bankFile := filepath.Join(dir, "bank.jsonl")
	writeFile(t, bankFile, append(line, '\n'))
	for _, tc := range []struct {
		set  variant.Set
		want string // the variant matched; "" for no match
	}{{variant.None, ""}, {variant.Borders, "borders"}} {
		fb, err := LoadFileBanks(ctx, []string{bankFile}, DefaultFileBankOptions())
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out")
		if _, err := Run(ctx, Options{Case: "V", Examiner: "E", Out: out, Sources: []string{root}, Matcher: fb, Variants: tc.set}); err != nil {
			t.Fatal(err)
		}
		e := readEntries(t, out)["boxed.mp4"]
		if e == nil || len(e.VPDQ) == 0 {
			t.Fatalf("%s: entry %+v", tc.set, e)
		}
		switch m := e.Matches; {
		case tc.want == "" && len(m) != 0:
			t.Errorf("%s: a pillarboxed copy matched plain vPDQ: %+v", tc.set, m)
		case tc.want != "" && (len(m) != 1 || m[0].Variant != tc.want || m[0].SignalType != "vpdq"):
			t.Errorf("%s: %+v, want one vPDQ match by %s", tc.set, m, tc.want)
		}
	}
}
