package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/pdq"
)

const sharedPDQ = "../../../shared/testdata/pdq"

func decodeJSONL(t *testing.T, out []byte) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad JSONL line %q: %v", line, err)
		}
		recs = append(recs, m)
	}
	return recs
}

// TestHashReferencePNG runs `hash` over the reference PNGs: every hash and
// quality must be identical to the reference implementation's.
func TestHashReferencePNG(t *testing.T) {
	f, err := os.Open(filepath.Join(sharedPDQ, "reference-png.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runHash(context.Background(), &out, nil, []string{filepath.Join(sharedPDQ, "png")}, hashOptions{format: "jsonl", workers: 2}); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]any{}
	for _, r := range decodeJSONL(t, out.Bytes()) {
		got[filepath.Base(r["path"].(string))] = r
	}
	for _, row := range rows[1:] {
		r, ok := got[row[2]]
		if !ok {
			t.Errorf("%s missing from output", row[2])
			continue
		}
		if r["pdq"] != row[0] || r["quality"] != mustFloat(t, row[1]) {
			t.Errorf("%s: got %v q=%v, want %s q=%s", row[2], r["pdq"], r["quality"], row[0], row[1])
		}
	}
}

func mustFloat(t *testing.T, s string) float64 {
	var f float64
	if err := json.Unmarshal([]byte(s), &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestHashErrorsAndFormats(t *testing.T) {
	dir := t.TempDir()
	jpg, err := os.ReadFile(filepath.Join(sharedPDQ, "images/misc-images/wee.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "good.jpg"), jpg, 0o644)
	os.WriteFile(filepath.Join(dir, "truncated.jpg"), jpg[:len(jpg)/3], 0o644)
	os.WriteFile(filepath.Join(dir, "empty"), nil, 0o644)
	missing := filepath.Join(dir, "missing.png")

	var out bytes.Buffer
	err = runHash(context.Background(), &out, nil, []string{dir, missing}, hashOptions{format: "jsonl", workers: 3, dihedral: true})
	if !errors.Is(err, errPartial) {
		t.Fatalf("err = %v, want errPartial", err)
	}
	recs := decodeJSONL(t, out.Bytes())
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4: %s", len(recs), out.String())
	}
	byName := map[string]map[string]any{}
	for _, r := range recs {
		byName[filepath.Base(r["path"].(string))] = r
	}
	if r := byName["good.jpg"]; r["error"] != nil || len(r["pdq_dihedral"].([]any)) != 8 || r["pdq"] != r["pdq_dihedral"].([]any)[0] {
		t.Errorf("good.jpg: %v", r)
	}
	for _, n := range []string{"truncated.jpg", "missing.png"} {
		if byName[n]["error"] == nil {
			t.Errorf("%s: no error: %v", n, byName[n])
		}
	}
	if r := byName["empty"]; r["error"] != nil || r["type"] != "other" || r["sha256"] != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("empty: %v", r)
	}

	// CSV: a header and one row per input, same hash as JSONL.
	out.Reset()
	if err := runHash(context.Background(), &out, nil, []string{filepath.Join(dir, "good.jpg")}, hashOptions{format: "csv", workers: 1}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&out).ReadAll()
	if err != nil || len(rows) != 2 || rows[0][7] != "pdq" {
		t.Fatalf("csv: %v %v", rows, err)
	}
	if _, err := pdq.ParseHex(rows[1][7]); err != nil || rows[1][7] != byName["good.jpg"]["pdq"] {
		t.Errorf("csv pdq %q vs jsonl %v", rows[1][7], byName["good.jpg"]["pdq"])
	}
}

func TestHashStdin(t *testing.T) {
	jpg, err := os.ReadFile(filepath.Join(sharedPDQ, "images/misc-images/wee.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runHash(context.Background(), &out, bytes.NewReader(jpg), []string{"-"}, hashOptions{format: "jsonl", workers: 1}); err != nil {
		t.Fatal(err)
	}
	r := decodeJSONL(t, out.Bytes())[0]
	if r["path"] != "-" || r["type"] != "image" || r["pdq"] == nil {
		t.Errorf("stdin: %v", r)
	}
}

func TestHashUsageErrors(t *testing.T) {
	for _, o := range []hashOptions{{format: "xml", workers: 1}, {format: "jsonl", workers: 0}} {
		if err := runHash(context.Background(), &bytes.Buffer{}, nil, []string{"."}, o); err == nil || errors.Is(err, errPartial) {
			t.Errorf("%+v: err = %v, want a usage error", o, err)
		}
	}
}
