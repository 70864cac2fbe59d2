package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/testtool"

	"golang.org/x/mod/sumdb/note"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/report"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
	"github.com/nigehban/nigehban/internal/vault"
)

// exportCase opens, approves and exports a case; it returns the packet
// and the verifier key.
func exportCase(t *testing.T, st store.Store) (map[string][]byte, string, *env) {
	t.Helper()
	ctx := context.Background()
	e := newEnv(t, st, 2)
	skey, vkey, err := audit.GenerateLogKey("nigehban.example.org/audit")
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(t.TempDir(), "log.key")
	if err := audit.WriteKeyFile(keyPath, skey); err != nil {
		t.Fatal(err)
	}
	signer, err := audit.OpenSigner(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.svc.OpenCase(ctx, alice, report.OpenRequest{HitIDs: []int64{e.hits[0].ID, e.hits[1].ID}, Uploader: uploader("acct-42", 51234),
		Subject:      report.Subject{Names: []string{"علی احمد"}, Emails: []string{"user@mail.example"}},
		Destinations: []string{report.DestNCCIA}, Note: "دونوں فائلیں ایک ہی اکاؤنٹ سے",
		Legal: report.Legal{FIR: "FIR 12/2026 PS Cyber Crime Lahore", Agency: "NCCIA", Court: "Sessions Court Lahore"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Approve(ctx, bob, c.ID); err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(st, t.TempDir(), []string{mustRecipient(t)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Preserve(ctx, alice, c.ID, bytes.NewReader(e.files[e.hits[0].Value])); err != nil {
		t.Fatal(err)
	}
	files, err := report.Export(ctx, report.ExportOptions{Service: e.svc, Log: st, LogName: "test", Signer: signer, Key: ns,
		Vault: st, Actor: audit.Actor{Name: "carol"}}, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	return files, vkey, e
}

func TestPacketVerifies(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		files, vkey, e := exportCase(t, st)
		for _, want := range []string{"case.json", "custody.json", "items.csv", "hashes/sha256.txt", "hashes/vics.json",
			"report-en.html", "report-ur.html", "report-en.pdf", "report-ur.pdf", "checkpoint", report.ManifestFile, report.ManifestSig} {
			if files[want] == nil {
				t.Errorf("packet lacks %s", want)
			}
		}
		got, err := report.Verify(files, vkey)
		if err != nil {
			t.Fatal(err)
		}
		var cust report.Custody
		json.Unmarshal(files["custody.json"], &cust)
		var acts []string
		for _, ce := range cust.Entries {
			acts = append(acts, ce.Entry.Action)
		}
		if want := "report.open report.approve vault.preserve report.export"; strings.Join(acts, " ") != want || got.Entries != 4 {
			t.Fatalf("custody %q, want %q", strings.Join(acts, " "), want)
		}
		for _, h := range e.hits {
			if !bytes.Contains(files["hashes/sha256.txt"], []byte(h.Value)) || !bytes.Contains(files["report-en.html"], []byte(h.Value)) {
				t.Fatalf("hash %s missing from the packet", h.Value)
			}
		}
		for name, img := range e.files {
			for p, b := range files {
				if bytes.Contains(b, img[200:600]) {
					t.Fatalf("content of %s entered the packet (%s)", name[:8], p)
				}
			}
		}
		if !bytes.Contains(files["report-ur.html"], []byte(`dir="rtl"`)) || !bytes.Contains(files["report-ur.html"], []byte("تحویل کا سلسلہ")) {
			t.Fatal("the Urdu report is not Urdu")
		}
		// Each proof also passes the log's own offline check.
		policy, _ := audit.NewPolicy(vkey, nil, 0)
		for _, ce := range cust.Entries {
			if _, _, err := audit.VerifyProof(files["proofs/"+itoa(ce.Entry.Seq)+".tlog-proof"], policy); err != nil {
				t.Fatal(err)
			}
		}
		// Round trip through a directory and a zip.
		dir := filepath.Join(t.TempDir(), "packet")
		zipPath := filepath.Join(t.TempDir(), "packet.zip")
		for _, out := range []string{dir, zipPath} {
			if err := report.WritePacket(files, out); err != nil {
				t.Fatal(err)
			}
			back, err := report.ReadPacket(out)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := report.Verify(back, vkey); err != nil {
				t.Fatalf("%s: %v", out, err)
			}
		}
		pdfText(t, files)
	})
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func mustRecipient(t *testing.T) string {
	t.Helper()
	id, err := ageIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// pdfText checks the PDFs with poppler's pdftotext: English text is
// extractable, the Urdu PDF carries Arabic-script text.
func pdfText(t *testing.T, files map[string][]byte) {
	t.Helper()
	pdftotext := testtool.Path(t, "pdftotext")
	for _, tc := range []struct{ file, want string }{
		{"report-en.pdf", "Report to law enforcement"},
		{"report-en.pdf", "PECA 2016 s.22-A"},
		{"report-ur.pdf", "PECA 2016 s.22"},
	} {
		p := filepath.Join(t.TempDir(), "r.pdf")
		os.WriteFile(p, files[tc.file], 0o600)
		out, err := exec.Command(pdftotext, "-enc", "UTF-8", p, "-").CombinedOutput()
		if err != nil {
			t.Fatalf("pdftotext %s: %v %s", tc.file, err, out)
		}
		if !strings.Contains(string(out), tc.want) {
			t.Fatalf("%s: no %q in its text:\n%s", tc.file, tc.want, out)
		}
		if tc.file == "report-ur.pdf" && !strings.ContainsFunc(string(out), func(r rune) bool { return r >= 0x0600 && r <= 0x06FF || r >= 0xFB50 && r <= 0xFEFF }) {
			t.Fatal("the Urdu PDF has no Urdu text")
		}
	}
}

func TestPacketTamperFails(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		files, vkey, _ := exportCase(t, st)
		clone := func() map[string][]byte {
			c := map[string][]byte{}
			for k, v := range files {
				c[k] = bytes.Clone(v)
			}
			return c
		}
		// Any byte of any file.
		for _, p := range slices.Sorted(func(yield func(string) bool) {
			for k := range files {
				if !yield(k) {
					return
				}
			}
		}) {
			for _, at := range []int{0, len(files[p]) / 2, len(files[p]) - 1} {
				c := clone()
				c[p][at] ^= 0x01
				if _, err := report.Verify(c, vkey); !errors.Is(err, report.ErrVerify) {
					t.Fatalf("%s byte %d changed: verify = %v", p, at, err)
				}
			}
		}
		// A file added or removed.
		c := clone()
		c["extra.txt"] = []byte("x")
		if _, err := report.Verify(c, vkey); !errors.Is(err, report.ErrVerify) {
			t.Fatalf("extra file: %v", err)
		}
		c = clone()
		delete(c, "items.csv")
		if _, err := report.Verify(c, vkey); !errors.Is(err, report.ErrVerify) {
			t.Fatalf("missing file: %v", err)
		}
		// A proved entry changed and the manifest re-made by someone
		// without the log key: the proof or the signature fails.
		var cust report.Custody
		json.Unmarshal(files["custody.json"], &cust)
		cust.Entries[0].Entry.Actor = "mallory"
		c = clone()
		c["custody.json"], _ = json.MarshalIndent(cust, "", "  ")
		if _, err := report.Verify(c, vkey); !errors.Is(err, report.ErrVerify) {
			t.Fatalf("changed entry: %v", err)
		}
		// The entry inside a proof bundle changed: the inclusion proof fails.
		if _, err := report.VerifyCustody(tamperProof(t, files), vkey, cust.Entries[0].Entry.Target); err == nil {
			t.Fatal("a proof of a changed entry verified")
		}
		// Another key.
		_, other, _ := audit.GenerateLogKey("nigehban.example.org/audit")
		if _, err := report.Verify(files, other); err == nil {
			t.Fatal("verified with another log's key")
		}
	})
}

// tamperProof returns custody.json with one byte of the first proved
// entry (in its bundle) changed, entry and bundle kept consistent.
func tamperProof(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var cust report.Custody
	if err := json.Unmarshal(files["custody.json"], &cust); err != nil {
		t.Fatal(err)
	}
	b := []byte(cust.Entries[0].Proof)
	i := bytes.Index(b, []byte("\nextra "))
	if i < 0 {
		t.Fatal("no extra line in the proof")
	}
	j := i + len("\nextra ") + 10
	if b[j] == 'A' {
		b[j] = 'B'
	} else {
		b[j] = 'A'
	}
	cust.Entries[0].Proof = string(b)
	out, _ := json.Marshal(cust)
	return out
}
