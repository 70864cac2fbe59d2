package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/history"
	"github.com/nigehban/nigehban/internal/report"
	"github.com/nigehban/nigehban/internal/sealed"
	"github.com/nigehban/nigehban/internal/store"
)

// TestReportExportVerifyCLI: a case approved from the CLI by a second
// person, a file preserved in the vault, the case exported to a directory
// and to a zip; "report verify" passes on both and fails once a byte of
// the packet changes.
func TestReportExportVerifyCLI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dsn := filepath.Join(dir, "n.db")
	dataKey := filepath.Join(dir, "data.key")
	var sink bytes.Buffer
	if err := runDataKeyGenerate(&sink, dataKey, ""); err != nil {
		t.Fatal(err)
	}
	ring, err := sealed.Load(dataKey)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile("../../../shared/testdata/pdq/images/misc-images/small.jpg") // benign
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RecordHits(ctx, []history.Hit{{At: time.Now().UTC(), Submitter: "key:1 (p)", Bank: "known", SignalID: 1,
		Type: "md5", Value: "0123456789abcdef0123456789abcdef"}}); err != nil {
		t.Fatal(err)
	}
	svc := &report.Service{Store: st, Keys: ring}
	c, err := svc.OpenCase(ctx, audit.Actor{Name: "alice"}, report.OpenRequest{HitIDs: []int64{1},
		Uploader:     history.Uploader{AccountID: "acct-42", IP: "203.0.113.7", Port: 4242, At: time.Now().UTC()},
		Destinations: []string{report.DestNCCIA}, Legal: report.Legal{FIR: "FIR 1/2026", Agency: "NCCIA"}})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	id := "1"
	if c.ID != 1 {
		t.Fatalf("case %d", c.ID)
	}
	common := []string{"--db", dsn, "--data-key", dataKey}
	if _, _, err := runCLI(t, newReportCommand(), append([]string{"approve", id, "--actor", "alice"}, common...)...); err == nil ||
		!strings.Contains(err.Error(), "second person") {
		t.Fatalf("approval by the opener: %v", err)
	}
	if out, _, err := runCLI(t, newReportCommand(), append([]string{"approve", id, "--actor", "bob"}, common...)...); err != nil {
		t.Fatalf("approve: %q %v", out, err)
	}
	// The other case subcommands: list, show (the case with its content),
	// retry refused for a submitted case, a bad case number, no data key.
	if out, _, err := runCLI(t, newReportCommand(), append([]string{"list"}, common...)...); err != nil ||
		!strings.HasPrefix(out, "1\tsubmitted\t") || !strings.Contains(out, "approved by bob") {
		t.Fatalf("list: %q %v", out, err)
	}
	if out, _, err := runCLI(t, newReportCommand(), append([]string{"show", id, "--actor", "carol"}, common...)...); err != nil ||
		!strings.Contains(out, `"case"`) || !strings.Contains(out, "acct-42") {
		t.Fatalf("show: %q %v", out, err)
	}
	if _, _, err := runCLI(t, newReportCommand(), append([]string{"retry", id}, common...)...); err == nil {
		t.Fatal("retry of a submitted case succeeded")
	}
	if _, _, err := runCLI(t, newReportCommand(), append([]string{"show", "x"}, common...)...); err == nil ||
		!strings.Contains(err.Error(), "positive number") {
		t.Fatalf("show x: %v", err)
	}
	if _, _, err := runCLI(t, newReportCommand(), "show", id, "--db", dsn, "--data-key", ""); err == nil ||
		!strings.Contains(err.Error(), "personal data") {
		t.Fatalf("show without a data key: %v", err)
	}
	legal, _ := age.GenerateX25519Identity()
	src := filepath.Join(dir, "evidence.jpg")
	os.WriteFile(src, img, 0o600)
	vdir := filepath.Join(dir, "vault")
	if out, _, err := runCLI(t, newVaultCommand(), "preserve", "--db", dsn, "--dir", vdir, "--case", id,
		"--recipient", legal.Recipient().String(), src); err != nil || !strings.Contains(out, "item 1") {
		t.Fatalf("preserve: %q %v", out, err)
	}
	idFile := filepath.Join(dir, "legal.key")
	os.WriteFile(idFile, []byte(legal.String()+"\n"), 0o600)
	opened := filepath.Join(dir, "opened.jpg")
	if _, _, err := runCLI(t, newVaultCommand(), "open", "1", "--db", dsn, "--dir", vdir, "--identity", idFile, "--out", opened); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(opened); !bytes.Equal(b, img) {
		t.Fatal("vault open returned other bytes")
	}
	key, vkey := logKey(t)
	for _, out := range []string{filepath.Join(dir, "packet"), filepath.Join(dir, "packet.zip")} {
		if o, _, err := runCLI(t, newReportCommand(), append([]string{"export", id, "--out", out, "--log-key", key}, common...)...); err != nil {
			t.Fatalf("export: %q %v", o, err)
		}
		o, _, err := runCLI(t, newReportCommand(), "verify", out, "--vkey", vkey)
		if err != nil || !strings.HasPrefix(o, "OK: case 1") {
			t.Fatalf("verify %s: %q %v", out, o, err)
		}
	}
	csvPath := filepath.Join(dir, "packet", "items.csv")
	b, _ := os.ReadFile(csvPath)
	b[len(b)/2] ^= 0x20
	os.WriteFile(csvPath, b, 0o600)
	o, _, err := runCLI(t, newReportCommand(), "verify", filepath.Join(dir, "packet"), "--vkey", vkey)
	if err == nil || !strings.Contains(o, "FAILED") || !strings.Contains(o, "items.csv") {
		t.Fatalf("verify after a changed byte: %q %v", o, err)
	}
	cs, _ := os.ReadFile(filepath.Join(dir, "packet", "custody.json"))
	if !bytes.Contains(cs, []byte("vault.access")) || !bytes.Contains(cs, []byte("vault.preserve")) {
		t.Fatal("the vault's acts are not in the case's custody")
	}
}
