package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/scan"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// bankCLIStdin runs `nigehban bank ARGS --db DB --json` with stdin.
func bankCLIStdin(t *testing.T, db string, stdin []byte, args ...string) (map[string]any, error) {
	t.Helper()
	cmd := newBankCommand()
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(bytes.NewReader(stdin))
	cmd.SetArgs(append(args, "--db", db, "--actor", "tester", "--json"))
	err := cmd.ExecuteContext(context.Background())
	var m map[string]any
	if jerr := json.Unmarshal(out.Bytes(), &m); jerr != nil {
		t.Fatalf("bank %v: output %q (%v), stderr %q, err %v", args, out.String(), jerr, errOut.String(), err)
	}
	return m, err
}

// TestImportHashOutput pipes `nigehban hash` output (JSONL and CSV) of
// benign test images and a video into `bank import`, then finds the same
// files with `scan` and an edited copy of the photo with `match`.
func TestImportHashOutput(t *testing.T) {
	files := []string{
		filepath.Join(sharedPDQ, "images/bridge-mods/aaa-orig.jpg"),
		filepath.Join(sharedPDQ, "images/misc-images/wee.jpg"),
		filepath.Join(sharedPDQ, "../vpdq/videos/test-padded-dimensions.mp4"),
	}
	hashOut := func(format string, paths ...string) []byte {
		var out bytes.Buffer
		if err := runHash(context.Background(), &out, nil, paths, hashOptions{format: format, workers: 2}); err != nil {
			t.Fatalf("hash: %v", err)
		}
		return out.Bytes()
	}
	jsonl, csv := hashOut("jsonl", files...), hashOut("csv", files...)
	edited := decodeJSONL(t, hashOut("jsonl", filepath.Join(sharedPDQ, "images/bridge-mods/blur-a-lot.jpg")))[0]["pdq"].(string)

	root := t.TempDir()
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(root, strings.Repeat("x", i+1)+filepath.Ext(f)), b, 0o644)
	}

	for _, e := range storetest.Engines {
		t.Run(e.Name, func(t *testing.T) {
			db := e.DSN(t)
			mustBankCLI(t, db, "create", "hotline")
			mustBankCLI(t, db, "create", "fromcsv")
			// JSONL from stdin, format detected: md5, sha1, sha256 and pdq
			// of each image, md5, sha1, sha256 and vpdq of the video.
			res, err := bankCLIStdin(t, db, jsonl, "import", "hotline", "-")
			if err != nil || res["format"] != "nigehban" || res["added"] != 12.0 || res["bad"] != 0.0 {
				t.Fatalf("import JSONL: %v %v", res, err)
			}
			// CSV carries no vPDQ: 11 signals.
			res, err = bankCLIStdin(t, db, csv, "import", "fromcsv", "-", "--format", "nigehban")
			if err != nil || res["added"] != 11.0 {
				t.Fatalf("import CSV: %v %v", res, err)
			}
			// The signals keep the path and, for PDQ, the build.
			exported := mustBankCLI(t, db, "export", "hotline", "--format", "jsonl")
			if !strings.Contains(exported, `"note":"`+files[0]+`"`) || !strings.Contains(exported, `"jpeg_decoder":"`) {
				t.Errorf("exported signals lack path or decoder:\n%s", exported)
			}

			// scan finds every file (digests, PDQ, vPDQ).
			out := filepath.Join(t.TempDir(), "out")
			stdout, stderr, err := scanCLI(t, "--case", "H-1", "--examiner", "tester", "--out", out, "--db", db, "--bank", "hotline", "--json", root)
			if err != nil {
				t.Fatalf("scan: %v\n%s\n%s", err, stdout, stderr)
			}
			var sum scan.Summary
			if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum.Counts == nil || sum.Counts.Matched != 3 {
				t.Errorf("scan summary %s (%v)", stdout, err)
			}

			// match finds the edited photo by its PDQ hash.
			cmd := newMatchCommand()
			var mout bytes.Buffer
			cmd.SetOut(&mout)
			cmd.SetIn(strings.NewReader(edited + "\n"))
			cmd.SetArgs([]string{"--db", db, "--bank", "hotline"})
			if err := cmd.ExecuteContext(context.Background()); err != nil {
				t.Fatalf("match: %v", err)
			}
			if !strings.Contains(mout.String(), `"distance":`) || strings.Contains(mout.String(), `"matches":[]`) {
				t.Errorf("edited photo not matched: %s", mout.String())
			}
		})
	}
}

// TestImportHashOutputBadRecords: records that report an error are bad
// lines; an atomic import then imports nothing.
func TestImportHashOutputBadRecords(t *testing.T) {
	var out bytes.Buffer
	missing := filepath.Join(t.TempDir(), "missing.jpg")
	runHash(context.Background(), &out, nil, []string{filepath.Join(sharedPDQ, "images/misc-images/wee.jpg"), missing}, hashOptions{format: "jsonl", workers: 1})
	db := storetest.SQLitePath(t)
	mustBankCLI(t, db, "create", "b")
	res, err := bankCLIStdin(t, db, out.Bytes(), "import", "b", "-")
	bad, _ := res["bad_lines"].([]any)
	if err == nil || res["added"] != 0.0 || len(bad) != 1 || bad[0].(map[string]any)["line"] != 2.0 ||
		!strings.Contains(bad[0].(map[string]any)["error"].(string), "missing.jpg") {
		t.Errorf("import with a failed record: %v %v", res, err)
	}
	if n := strings.Count(mustBankCLI(t, db, "export", "b", "--format", "plain"), "\n"); n != 0 {
		t.Errorf("%d signals after an atomic import with a bad record", n)
	}
}
