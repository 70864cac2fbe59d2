package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
		if _, err := svc.CreateBank(ctx, bank.NewBank(name), "test"); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := svc.AddSignal(ctx, "ngo", bank.Signal{Type: bank.PDQ, Value: base.String(), Category: "A1", Quality: 100}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.AddSignal(ctx, "victims", bank.Signal{Type: bank.PDQ, Value: flipBits(base, 10).String(), Quality: 100}, "test"); err != nil {
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
