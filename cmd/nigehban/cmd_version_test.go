package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/buildinfo"
	"github.com/nigehban/nigehban/internal/media"
	"github.com/nigehban/nigehban/internal/scan"
)

func TestVersionOutput(t *testing.T) {
	in := buildinfo.Info{Module: "github.com/nigehban/nigehban", Version: "v0.3.1", Revision: "36c895b00d0ba8d06f8fca82c1788c26ad9ddec0",
		Time: "2026-12-01T19:22:54Z", Modified: true, Go: "go1.26.8", JPEGDecoder: buildinfo.DecoderTurbo}
	var out bytes.Buffer
	if err := runVersion(&out, in, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"nigehban v0.3.1\n", "revision:     36c895b00d0ba8d06f8fca82c1788c26ad9ddec0\n",
		"built:        2026-12-01T19:22:54Z\n", "modified:     true\n", "go:           go1.26.8\n", "jpeg decoder: libjpeg-turbo\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := runVersion(&out, in, true); err != nil {
		t.Fatal(err)
	}
	var got buildinfo.Info
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got != in {
		t.Errorf("--json: %s (%v), want %+v", out.String(), err, in)
	}

	// The command itself reports this binary's decoder.
	cmd := newVersionCommand()
	out.Reset()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--json"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if want := map[bool]string{true: buildinfo.DecoderTurbo, false: buildinfo.DecoderGo}[media.TurboJPEG]; got.JPEGDecoder != want {
		t.Errorf("jpeg_decoder %q, want %q", got.JPEGDecoder, want)
	}
	if !strings.Contains(rootCmd.Version, "JPEG decoder "+got.JPEGDecoder) {
		t.Errorf("--version says %q", rootCmd.Version)
	}
}

// TestHashRecordsBuild checks that every hash record, JSONL and CSV, says
// which build and which JPEG decoder produced it.
func TestHashRecordsBuild(t *testing.T) {
	want := buildinfo.Get().Stamp()
	jpg := filepath.Join(sharedPDQ, "images/misc-images/wee.jpg")
	missing := filepath.Join(t.TempDir(), "missing.jpg")

	var out bytes.Buffer
	runHash(context.Background(), &out, nil, []string{jpg, missing}, hashOptions{format: "jsonl", workers: 1})
	recs := decodeJSONL(t, out.Bytes())
	if len(recs) != 2 {
		t.Fatalf("%d records: %s", len(recs), out.String())
	}
	for _, r := range recs {
		if r["tool_version"] != want.Version || r["jpeg_decoder"] != want.JPEGDecoder || (want.Revision != "" && r["tool_revision"] != want.Revision) {
			t.Errorf("record %v lacks the build stamp %+v", r, want)
		}
	}
	if recs[0]["pdq"] == nil || recs[1]["error"] == nil {
		t.Errorf("records %v", recs)
	}

	for _, dihedral := range []bool{false, true} {
		out.Reset()
		if err := runHash(context.Background(), &out, nil, []string{jpg}, hashOptions{format: "csv", workers: 1, dihedral: dihedral}); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&out).ReadAll()
		if err != nil || len(rows) != 2 {
			t.Fatalf("csv %v %v", rows, err)
		}
		col := map[string]string{}
		for i, h := range rows[0] {
			col[h] = rows[1][i]
		}
		if col["tool_version"] != want.Version || col["tool_revision"] != want.Revision || col["jpeg_decoder"] != want.JPEGDecoder {
			t.Errorf("dihedral=%v: csv row %v, want stamp %+v", dihedral, col, want)
		}
		if n := len(rows[0]); rows[0][n-1] != "jpeg_decoder" || rows[0][7] != "pdq" {
			t.Errorf("header %v", rows[0])
		}
	}
}

// TestScanCustodyRecordsBuild checks that custody.json names the build and
// the JPEG decoder, for the scan and for each run.
func TestScanCustodyRecordsBuild(t *testing.T) {
	root := t.TempDir()
	jpg, err := os.ReadFile(filepath.Join(sharedPDQ, "images/misc-images/wee.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "a.jpg"), jpg, 0o644)
	out := filepath.Join(t.TempDir(), "out")
	if stdout, stderr, err := scanCLI(t, "--case", "V-1", "--examiner", "tester", "--out", out, root); err != nil {
		t.Fatalf("scan: %v\n%s\n%s", err, stdout, stderr)
	}
	c, err := scan.ReadCustody(out)
	if err != nil {
		t.Fatal(err)
	}
	in := buildinfo.Get()
	for _, tool := range []scan.Tool{c.Tool, c.Runs[0].Tool} {
		if tool.Name != "nigehban" || tool.Version != in.Version || tool.Revision != in.Revision || tool.JPEGDecoder != in.JPEGDecoder || tool.Go == "" {
			t.Errorf("custody tool %+v, want build %+v", tool, in)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(out, scan.CustodyName))
	if !bytes.Contains(raw, []byte(`"jpeg_decoder": "`+in.JPEGDecoder+`"`)) {
		t.Errorf("custody.json lacks jpeg_decoder:\n%s", raw)
	}
}
