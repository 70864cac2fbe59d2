package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/store"
)

// flipBits returns h with the first n bits flipped.
func flipBits(h pdq.Hash, n int) pdq.Hash {
	for b := range n {
		h[b/64] ^= 1 << (b % 64)
	}
	return h
}

type matchLine struct {
	Query   string `json:"query"`
	Matches *[]struct {
		Hash     string `json:"hash"`
		Distance int    `json:"distance"`
		Label    string `json:"label"`
		Bank     string `json:"bank"`
		SignalID int64  `json:"signal_id"`
		Category string `json:"category"`
	} `json:"matches"`
	Error string `json:"error"`
}

func parseMatchOutput(t *testing.T, out string) []matchLine {
	t.Helper()
	var lines []matchLine
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m matchLine
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("bad output line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestMatchFileBank(t *testing.T) {
	dir := t.TempDir()
	base := pdq.MustParseHex("d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22")
	bankFile := filepath.Join(dir, "bank.txt")
	content := "# known hashes\n" + base.String() + ",bridge\n\n" + flipBits(base, 20).String() + ",edited\n" + flipBits(base, 60).String() + "\n"
	if err := os.WriteFile(bankFile, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	queries := flipBits(base, 3).String() + "\nnot-a-hash\n" + strings.ToUpper(flipBits(base, 100).String()) + "\n"
	var out bytes.Buffer
	err := runMatch(context.Background(), &out, strings.NewReader(queries), nil, matchOptions{banks: []string{bankFile}, threshold: 31, format: "jsonl"})
	if !errors.Is(err, errPartial) {
		t.Fatalf("err = %v, want errPartial for the bad query", err)
	}
	lines := parseMatchOutput(t, out.String())
	if len(lines) != 3 {
		t.Fatalf("%d lines: %s", len(lines), out.String())
	}
	m := *lines[0].Matches
	if len(m) != 2 || m[0].Label != "bridge" || m[0].Distance != 3 || m[1].Label != "edited" || m[1].Distance != 17 {
		t.Errorf("matches %+v, want bridge at 3 then edited at 17", m)
	}
	if lines[1].Error == "" || !strings.Contains(lines[1].Error, "-:2") || lines[1].Matches != nil {
		t.Errorf("bad query line: %+v", lines[1])
	}
	if lines[2].Matches == nil || len(*lines[2].Matches) != 0 || lines[2].Query != flipBits(base, 100).String() {
		t.Errorf("far query: %+v (want [] and a normalised query)", lines[2])
	}

	// A corrupt bank is refused with its file and line, before any output.
	os.WriteFile(bankFile, []byte(base.String()+"\nxyz,oops\n"), 0o644)
	out.Reset()
	err = runMatch(context.Background(), &out, strings.NewReader(base.String()), nil, matchOptions{banks: []string{bankFile}, threshold: 31, format: "jsonl"})
	if err == nil || !strings.Contains(err.Error(), "bank.txt:2") || out.Len() != 0 {
		t.Errorf("corrupt bank: err=%v output=%q", err, out.String())
	}
	t.Setenv("NIGEHBAN_DB", filepath.Join(dir, "default.db")) // no bank file: the default database, here empty
	if err := runMatch(context.Background(), &out, nil, nil, matchOptions{threshold: 31, format: "jsonl"}); err == nil {
		t.Error("no bank: no error")
	}
}

func TestMatchStoredBanks(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "n.db")
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	svc := bank.NewService(st)
	base := pdq.MustParseHex("e4cc89d91c623842f8d1f1d9a398e78c9f199a3bf87925f2b7e11e0bf061b064")
	for _, name := range []string{"ngo", "victims"} {
		if _, err := svc.CreateBank(ctx, bank.NewBank(name), audit.Actor{Name: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := svc.AddSignal(ctx, "ngo", bank.Signal{Type: bank.PDQ, Value: base.String(), Category: "A1", Quality: 100}, audit.Actor{Name: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.AddSignal(ctx, "victims", bank.Signal{Type: bank.PDQ, Value: flipBits(base, 10).String(), Quality: 100}, audit.Actor{Name: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		banks     []string
		threshold int
		want      []string
	}{
		{nil, -1, []string{"ngo", "victims"}},
		{[]string{"victims"}, -1, []string{"victims"}},
		{nil, 5, []string{"ngo"}},
	} {
		var out bytes.Buffer
		err := runMatch(ctx, &out, strings.NewReader(flipBits(base, 2).String()+"\n"), nil,
			matchOptions{db: db, banks: tt.banks, threshold: tt.threshold, format: "jsonl"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range *parseMatchOutput(t, out.String())[0].Matches {
			got = append(got, m.Bank)
			if m.Bank == "ngo" && (m.Category != "A1" || m.Hash != base.String() || m.Distance != 2 || m.SignalID == 0) {
				t.Errorf("ngo match %+v", m)
			}
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("banks %v threshold %d: matched %v, want %v", tt.banks, tt.threshold, got, tt.want)
		}
	}
}

// TestMatchCommand runs the built binary: flags, query files and stdin,
// JSONL on stdout, exit status 1 with file:line for a bad query, and a
// refused bank naming its bad line.
func TestMatchCommand(t *testing.T) {
	bin := buildNigehban(t)
	dir := t.TempDir()
	base := pdq.MustParseHex("f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22")
	bankFile, queryFile := filepath.Join(dir, "bank.txt"), filepath.Join(dir, "queries.txt")
	putFile(t, bankFile, base.String()+",original\n"+flipBits(base, 30).String()+",crop\n"+flipBits(base, 40).String()+",far\n")
	putFile(t, queryFile, flipBits(base, 1).String()+"\n")

	run := func(stdin string, args ...string) (stdout, stderr string, code int) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"match"}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		return o.String(), e.String(), cmd.ProcessState.ExitCode()
	}

	out, stderr, code := run("", "--bank", bankFile, "--format", "jsonl", queryFile)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	m := *parseMatchOutput(t, out)[0].Matches
	if len(m) != 2 || m[0].Label != "original" || m[0].Distance != 1 || m[1].Label != "crop" || m[1].Distance != 29 {
		t.Errorf("default threshold 31: %+v", m)
	}
	out, _, code = run(flipBits(base, 1).String()+"\n", "--bank", bankFile, "--threshold", "0", "-")
	if code != 0 || len(*parseMatchOutput(t, out)[0].Matches) != 0 {
		t.Errorf("threshold 0 from stdin: exit %d, %s", code, out)
	}

	putFile(t, queryFile, base.String()+"\nnot-hex\n")
	out, stderr, code = run("", "--bank", bankFile, queryFile)
	lines := parseMatchOutput(t, out)
	if code != 1 || len(lines) != 2 || !strings.Contains(lines[1].Error, "queries.txt:2") || !strings.Contains(stderr, "1 queries failed") {
		t.Errorf("bad query: exit %d, stdout %s, stderr %s", code, out, stderr)
	}

	putFile(t, bankFile, base.String()+"\n"+base.String()[:60]+",short\n")
	out, stderr, code = run(base.String(), "--bank", bankFile)
	if code != 1 || out != "" || !strings.Contains(stderr, "bank.txt:2") {
		t.Errorf("bad bank: exit %d, stdout %q, stderr %s", code, out, stderr)
	}
	if _, stderr, code = run("", "--bank", bankFile, "--threshold", "300"); code != 1 || !strings.Contains(stderr, "threshold") {
		t.Errorf("threshold 300: exit %d, %s", code, stderr)
	}
}

func putFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMatchBankFormats: --bank takes every hash-list format (here CSV with a
// type column and JSONL), and the earlier "hex,label" lines.
func TestMatchBankFormats(t *testing.T) {
	dir := t.TempDir()
	base := pdq.MustParseHex("c8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22")
	csvBank, jsonlBank := filepath.Join(dir, "hotline.csv"), filepath.Join(dir, "ngo.jsonl")
	putFile(t, csvBank, "type,value,category,note\nmd5,d41d8cd98f00b204e9800998ecf8427e,,\npdq,"+base.String()+",A1,bridge\n")
	putFile(t, jsonlBank, `{"type":"pdq","value":"`+flipBits(base, 8).String()+`","note":"crop"}`+"\n")
	var out bytes.Buffer
	err := runMatch(context.Background(), &out, strings.NewReader(flipBits(base, 2).String()+"\n"), nil,
		matchOptions{banks: []string{csvBank, jsonlBank}, threshold: -1, format: "jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	m := *parseMatchOutput(t, out.String())[0].Matches
	if len(m) != 2 || m[0].Bank != "hotline.csv" || m[0].Label != "bridge" || m[0].Distance != 2 || m[0].Hash != base.String() ||
		m[1].Bank != "ngo.jsonl" || m[1].Label != "crop" || m[1].Distance != 6 {
		t.Errorf("matches %+v", m)
	}
}

// TestMatchDefaultDatabase: without a bank file, match uses the default
// database (NIGEHBAN_DB here) with its enabled banks, or the ones named.
func TestMatchDefaultDatabase(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "default.db")
	t.Setenv("NIGEHBAN_DB", db)
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	svc := bank.NewService(st)
	base := pdq.MustParseHex("a4cc89d91c623842f8d1f1d9a398e78c9f199a3bf87925f2b7e11e0bf061b064")
	for i, name := range []string{"ngo", "victims"} {
		if _, err := svc.CreateBank(ctx, bank.NewBank(name), audit.Actor{Name: "test"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.AddSignal(ctx, name, bank.Signal{Type: bank.PDQ, Value: flipBits(base, 4*i).String(), Category: "A1", Note: name, Quality: 100}, audit.Actor{Name: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	for _, tt := range []struct {
		banks []string
		want  string
	}{
		{nil, "ngo,victims"},
		{[]string{"victims"}, "victims"},
	} {
		var out bytes.Buffer
		if err := runMatch(ctx, &out, strings.NewReader(base.String()+"\n"), nil, matchOptions{banks: tt.banks, threshold: -1, format: "jsonl"}); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range *parseMatchOutput(t, out.String())[0].Matches {
			got = append(got, m.Bank)
			if m.Label != m.Bank || m.Category != "A1" || m.SignalID == 0 {
				t.Errorf("match %+v", m)
			}
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("--bank %v: matched %v, want %s", tt.banks, got, tt.want)
		}
	}
	var out bytes.Buffer
	if err := runMatch(ctx, &out, strings.NewReader(base.String()), nil, matchOptions{banks: []string{"nope"}, threshold: -1, format: "jsonl"}); !errors.Is(err, bank.ErrNotFound) {
		t.Errorf("unknown bank: %v", err)
	}
}

// TestMatchRefusesImages runs the binary with a JPEG as the bank and as the
// queries: one error line naming the file each time, nothing on stdout.
func TestMatchRefusesImages(t *testing.T) {
	bin := buildNigehban(t)
	dir := t.TempDir()
	var img bytes.Buffer
	if err := jpeg.Encode(&img, image.NewGray(image.Rect(0, 0, 256, 256)), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	photo, bankFile := filepath.Join(dir, "photo.jpg"), filepath.Join(dir, "bank.txt")
	putFile(t, photo, img.String())
	putFile(t, bankFile, "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22,x\n")
	for _, args := range [][]string{
		{"match", "--bank", photo, "-"},
		{"match", "--bank", bankFile, photo},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Stdin = strings.NewReader("")
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		cmd.Run()
		lines := strings.Split(strings.TrimSpace(e.String()), "\n")
		if cmd.ProcessState.ExitCode() != 1 || o.Len() != 0 || len(lines) != 1 ||
			!strings.Contains(lines[0], "photo.jpg") || !strings.Contains(lines[0], "not a hash list") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, cmd.ProcessState.ExitCode(), o.String(), e.String())
		}
	}
}
