package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHashMatchVariants: hash --variants writes the variants of a
// pillarboxed copy of a photo, and match takes that record as a query:
// with borders (the default) the copy matches the photo's plain hash and
// names the variant; with none it does not match.
func TestHashMatchVariants(t *testing.T) {
	dir := t.TempDir()
	orig := "../../../shared/testdata/pdq/images/bridge-mods/aaa-orig.jpg"
	data, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	src, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b := src.Bounds()
	boxed := image.NewRGBA(image.Rect(0, 0, b.Dx()*3/2, b.Dy()))
	draw.Draw(boxed, boxed.Bounds(), image.Black, image.Point{}, draw.Src)
	draw.Draw(boxed, b.Add(image.Pt(b.Dx()/4, 0)), src, b.Min, draw.Src)
	var buf bytes.Buffer
	if err := png.Encode(&buf, boxed); err != nil {
		t.Fatal(err)
	}
	boxedPath := filepath.Join(dir, "boxed.png")
	putFile(t, boxedPath, buf.String())

	out, _, err := runCLI(t, newHashCommand(), "--variants", "none", orig)
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		PDQ        string `json:"pdq"`
		VariantSet string `json:"variant_set"`
	}
	if err := json.Unmarshal([]byte(out), &rec); err != nil || rec.PDQ == "" || rec.VariantSet != "" {
		t.Fatalf("hash --variants none: %v %q", err, out)
	}
	bankFile := filepath.Join(dir, "bank.txt")
	putFile(t, bankFile, rec.PDQ+",bridge\n")

	for _, tc := range []struct {
		set, want string // want: the variant named, "" for no match
	}{{"borders", "borders"}, {"all", "borders"}, {"none", ""}} {
		out, _, err := runCLI(t, newHashCommand(), "--variants", tc.set, boxedPath)
		if err != nil {
			t.Fatal(err)
		}
		if tc.set != "none" && !strings.Contains(out, `"variant_set":"`+tc.set+`"`) {
			t.Errorf("hash --variants %s: no variant_set in %s", tc.set, out)
		}
		queries := filepath.Join(dir, "q-"+tc.set+".jsonl")
		putFile(t, queries, out)
		out, _, err = runCLI(t, newMatchCommand(), "--bank", bankFile, "--variants", tc.set, queries)
		if err != nil {
			t.Fatal(err)
		}
		ms := *parseMatchOutput(t, out)[0].Matches
		switch {
		case tc.want == "" && len(ms) != 0:
			t.Errorf("--variants none matched a pillarboxed copy: %s", out)
		case tc.want != "" && (len(ms) != 1 || ms[0].Label != "bridge" || !strings.Contains(out, `"variant":"`+tc.want+`"`)):
			t.Errorf("--variants %s: %s, want one match by %s", tc.set, out, tc.want)
		}
	}
}
