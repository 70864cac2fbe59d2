package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/scan"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// custodySources makes a folder source and a file source and returns them
// with the file's sha256.
func custodySources(t *testing.T) (dir, file, fileSHA string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "evidence")
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("first file\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "sub", "b.bin"), []byte{0, 1, 2, 3, 4}, 0o644)
	file = filepath.Join(t.TempDir(), "image.dd")
	content := []byte("a disk image, in a manner of speaking\n")
	os.WriteFile(file, content, 0o644)
	sum := sha256.Sum256(content)
	return dir, file, hex.EncodeToString(sum[:])
}

// writeCustodyJSON replaces dir/custody.json with c.
func writeCustodyJSON(t *testing.T, dir string, c *scan.Custody) {
	t.Helper()
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, scan.CustodyName), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// flipLeafByte returns bundle with byte i of its embedded entry (the
// "extra" line's leaf) changed.
func flipLeafByte(t *testing.T, bundle string, i int) string {
	t.Helper()
	lines := strings.SplitN(bundle, "\n", 3)
	leaf, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[1], "extra "))
	if err != nil || !strings.HasPrefix(lines[1], "extra ") {
		t.Fatalf("bundle without an entry: %q", lines[1])
	}
	leaf[i%len(leaf)] ^= 0x01
	lines[1] = "extra " + base64.StdEncoding.EncodeToString(leaf)
	return strings.Join(lines, "\n")
}

// TestScanCustodyLog: on both engines, with and without a log signing key,
// a scan's custody events are in the log of --db, "audit verify" passes,
// the proofs in custody.json verify offline (also with "audit verify" on
// the bundles alone) and fail when one byte of an embedded entry changes,
// and "scan verify" logs its result.
func TestScanCustodyLog(t *testing.T) {
	srcDir, srcFile, fileSHA := custodySources(t)
	for _, e := range storetest.Engines {
		for _, signed := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/signed=%v", e.Name, signed), func(t *testing.T) {
				db := e.DSN(t)
				mustBankCLI(t, db, "create", "hotline")
				key, vkey := logKey(t)
				args := []string{"--case", "C-7", "--examiner", "tester", "--out", filepath.Join(t.TempDir(), "out"), "--db", db, "--bank", "hotline"}
				if signed {
					args = append(args, "--log-key", key)
				}
				out := args[5]
				stdout, stderr, err := scanCLI(t, append(args, srcDir, srcFile)...)
				if err != nil {
					t.Fatalf("scan: %v\n%s\n%s", err, stdout, stderr)
				}
				cust, err := scan.ReadCustody(out)
				if err != nil {
					t.Fatal(err)
				}
				cl := cust.Log
				if cl == nil || !cl.Logged || cl.Signed != signed || cl.TreeSize < 4 || cl.Checkpoint == "" {
					t.Fatalf("custody log %+v", cl)
				}
				var actions []string
				for _, le := range cl.Entries {
					actions = append(actions, le.Action)
					if le.Proof == "" {
						t.Errorf("entry %d has no proof", le.Seq)
					}
				}
				if want := []string{scan.ActScanStart, scan.ActScanSource, scan.ActScanEnd}; !slices.Equal(actions, want) {
					t.Errorf("logged %v, want %v", actions, want)
				}
				if signed != strings.Contains(cl.Checkpoint, "\n\n— nigehban.test/audit ") {
					t.Errorf("checkpoint (signed %v):\n%s", signed, cl.Checkpoint)
				}

				// The entries are in the database's log, as custody.json says.
				st, err := store.Open(context.Background(), db)
				if err != nil {
					t.Fatal(err)
				}
				all, err := st.ListAudit(context.Background(), 0, 1000)
				st.Close()
				if err != nil {
					t.Fatal(err)
				}
				bySeq := map[int64]audit.Entry{}
				for _, a := range all {
					bySeq[a.Seq] = a
				}
				for _, le := range cl.Entries {
					got := bySeq[le.Seq]
					if got.Action != le.Action || got.Target != "C-7" {
						t.Errorf("log entry %d is %s %q, custody.json says %s", le.Seq, got.Action, got.Target, le.Action)
					}
				}
				var src struct{ Path, SHA256 string }
				json.Unmarshal(bySeq[cl.Entries[1].Seq].Detail, &src)
				if src.SHA256 != fileSHA || src.Path != cust.Sources[1].Path {
					t.Errorf("source entry %s, want %s sha256 %s", bySeq[cl.Entries[1].Seq].Detail, cust.Sources[1].Path, fileSHA)
				}
				var end struct{ Outputs []scan.Output }
				json.Unmarshal(bySeq[cl.Entries[2].Seq].Detail, &end)
				if !slices.Equal(end.Outputs, cust.Outputs) || len(end.Outputs) != 4 { // manifest.jsonl, manifest.csv, report.html, report.pdf
					t.Errorf("end entry outputs %+v, custody.json %+v", end.Outputs, cust.Outputs)
				}

				// The whole log verifies (signed: against the checkpoint the scan signed).
				verifyArgs := []string{"--db", db, "verify"}
				if signed {
					verifyArgs = append(verifyArgs, "--vkey", vkey)
				}
				if o, _, err := runCLI(t, newAuditCommand(), verifyArgs...); err != nil || !strings.Contains(o, "audit log OK") {
					t.Fatalf("audit verify: %q %v", o, err)
				}
				if signed { // each bundle alone, offline, with nothing but the vkey
					for _, le := range cl.Entries {
						p := writeFile(t, fmt.Sprintf("e%d.tlog-proof", le.Seq), le.Proof)
						if o, _, err := runCLI(t, newAuditCommand(), "verify", "--vkey", vkey, p); err != nil || !strings.Contains(o, "OK: entry") {
							t.Errorf("audit verify %s: %q %v", p, o, err)
						}
					}
				}

				// scan verify checks the proofs offline and logs its result.
				vargs := []string{"verify", "--no-sources", "--json", "--db", db, out}
				if signed {
					vargs = append(vargs, "--vkey", vkey)
				}
				o, errOut, err := scanCLI(t, vargs...)
				var rep scan.VerifyReport
				if err != nil || json.Unmarshal([]byte(o), &rep) != nil || !rep.OK || rep.Log == nil || !rep.Log.Logged ||
					rep.Log.SignaturesChecked != signed || len(rep.Log.Entries) != 3 {
					t.Fatalf("scan verify: %v\n%s\n%s", err, o, errOut)
				}
				st, _ = store.Open(context.Background(), db)
				last, _ := st.ListAudit(context.Background(), all[len(all)-1].Seq, 10)
				st.Close()
				if len(last) != 1 || last[0].Action != scan.ActScanVerify || last[0].Target != "C-7" || !strings.Contains(string(last[0].Detail), `"ok":true`) {
					t.Errorf("after scan verify the log ends with %+v", last)
				}
				if signed { // an unsigned copy of the checkpoint or another key is refused
					_, otherVKey := logKey(t)
					if _, _, err := scanCLI(t, "verify", "--no-sources", "--no-log", "--vkey", otherVKey, out); err == nil {
						t.Error("scan verify with another log's key passed")
					}
				} else if o, _, err := scanCLI(t, "verify", "--no-sources", "--no-log", "--vkey", vkey, out); err == nil {
					t.Errorf("scan verify --vkey passed unsigned proofs:\n%s", o)
				}

				// One byte of any embedded entry changed: verify fails, naming it.
				for i, le := range cl.Entries {
					for _, at := range []int{30, 200, 1 << 20} {
						bad := *cust
						bad.Log = &scan.CustodyLog{}
						*bad.Log = *cl
						bad.Log.Entries = slices.Clone(cl.Entries)
						bad.Log.Entries[i].Proof = flipLeafByte(t, le.Proof, at)
						writeCustodyJSON(t, out, &bad)
						o, _, err := scanCLI(t, "verify", "--no-sources", "--no-log", out)
						if err == nil || !strings.Contains(o, fmt.Sprintf("log entry %-6d %-13s FAILED", le.Seq, le.Action)) {
							t.Errorf("entry %d byte %d changed: %v\n%s", le.Seq, at, err, o)
						}
					}
				}
				writeCustodyJSON(t, out, cust)
				if o, _, err := scanCLI(t, "verify", "--no-sources", "--no-log", out); err != nil {
					t.Errorf("restored custody.json: %v\n%s", err, o)
				}
			})
		}
	}
}

// TestScanNoLog: with --no-log, scan and scan verify need no database (the
// default one here cannot be opened), and custody.json says the scan was not
// logged; without it the same scan fails, pointing at --no-log.
func TestScanNoLog(t *testing.T) {
	srcDir, _, _ := custodySources(t)
	notADir := writeFile(t, "plain-file", "x")
	t.Setenv("NIGEHBAN_DB", filepath.Join(notADir, "nigehban.db"))
	out := filepath.Join(t.TempDir(), "out")
	if _, _, err := scanCLI(t, "--case", "C-8", "--examiner", "tester", "--out", out, srcDir); err == nil || !strings.Contains(err.Error(), "--no-log") {
		t.Fatalf("scan without a usable database: %v, want an error pointing at --no-log", err)
	}
	out = filepath.Join(t.TempDir(), "out")
	stdout, stderr, err := scanCLI(t, "--case", "C-8", "--examiner", "tester", "--out", out, "--no-log", srcDir)
	if err != nil || !strings.Contains(stdout, "not logged") {
		t.Fatalf("scan --no-log: %v\n%s\n%s", err, stdout, stderr)
	}
	cust, err := scan.ReadCustody(out)
	if err != nil {
		t.Fatal(err)
	}
	if cust.Log == nil || cust.Log.Logged || len(cust.Log.Entries) != 0 || !strings.Contains(cust.Log.Note, "--no-log") {
		t.Errorf("custody log %+v", cust.Log)
	}
	o, _, err := scanCLI(t, "verify", "--no-log", out)
	if err != nil || !strings.Contains(o, ": OK") || !strings.Contains(o, "not logged (--no-log)") {
		t.Errorf("scan verify --no-log: %v\n%s", err, o)
	}
	if _, _, err := scanCLI(t, "verify", out); err == nil {
		t.Error("scan verify logging to an unusable database passed")
	}
}

// TestScanCustodyLogResume: a resumed scan logs each run; every run's
// entries keep their proofs, and a run resumed with --no-log after logged
// ones is noted, not a failure, since the log cannot vouch for its outputs.
func TestScanCustodyLogResume(t *testing.T) {
	srcDir, _, _ := custodySources(t)
	storetest.ForEachEngine(t, func(t *testing.T, db string) {
		out := filepath.Join(t.TempDir(), "out")
		args := []string{"--case", "C-9", "--examiner", "tester", "--out", out, "--db", db}
		for i, extra := range [][]string{nil, {"--resume"}, {"--resume", "--no-log"}} {
			if o, e, err := scanCLI(t, slices.Concat(args, extra, []string{srcDir})...); err != nil {
				t.Fatalf("run %d: %v\n%s\n%s", i, err, o, e)
			}
		}
		cust, err := scan.ReadCustody(out)
		if err != nil {
			t.Fatal(err)
		}
		var runs []int
		for _, le := range cust.Log.Entries {
			runs = append(runs, le.Run)
			if le.Proof == "" {
				t.Errorf("entry %d of run %d has no proof", le.Seq, le.Run)
			}
		}
		if !slices.Equal(runs, []int{0, 0, 1, 1}) || !cust.Log.Logged || !strings.Contains(cust.Log.Note, "run 3 was not logged") {
			t.Errorf("runs of the logged entries %v, log %+v", runs, cust.Log)
		}
		o, _, err := scanCLI(t, "verify", "--no-sources", "--no-log", out)
		if err != nil || !strings.Contains(o, "the last run was not logged") {
			t.Errorf("scan verify: %v\n%s", err, o)
		}
	})
}
