package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// bankCLI runs `nigehban bank ARGS --db db` in-process and returns stdout,
// stderr and the command's error.
func bankCLI(t *testing.T, db string, args ...string) (string, string, error) {
	t.Helper()
	cmd := newBankCommand()
	cmd.SilenceUsage, cmd.SilenceErrors = true, true // as under rootCmd
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(""))
	cmd.SetArgs(append(args, "--db", db, "--actor", "tester"))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func mustBankCLI(t *testing.T, db string, args ...string) string {
	t.Helper()
	out, errOut, err := bankCLI(t, db, args...)
	if err != nil {
		t.Fatalf("bank %v: %v\nstdout: %s\nstderr: %s", args, err, out, errOut)
	}
	return out
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBankCLI(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			db := e.DSN(t)
			mustBankCLI(t, db, "create", "ncmec", "--description", "hotline list", "--action", "block", "--pdq-threshold", "20")
			if _, _, err := bankCLI(t, db, "create", "ncmec"); !errors.Is(err, bank.ErrExists) {
				t.Errorf("create twice: err = %v, want ErrExists", err)
			}
			if _, _, err := bankCLI(t, db, "create", "Bad Name"); !errors.Is(err, bank.ErrInvalid) {
				t.Errorf("create with a bad name: err = %v, want ErrInvalid", err)
			}
			var banks []bank.Bank
			if err := json.Unmarshal([]byte(mustBankCLI(t, db, "list", "--json")), &banks); err != nil || len(banks) != 1 ||
				banks[0].Name != "ncmec" || banks[0].Action != bank.ActionBlock || banks[0].PDQThreshold != 20 || banks[0].CreatedBy != "tester" {
				t.Errorf("list --json = %+v, %v", banks, err)
			}
			if out := mustBankCLI(t, db, "list"); !strings.Contains(out, "ncmec") || !strings.Contains(out, "hotline list") {
				t.Errorf("list = %q", out)
			}

			// add: acknowledged one line per value; a repeat is unchanged.
			out := mustBankCLI(t, db, "add", "ncmec", "--type", "md5", "--category", "A1",
				"D41D8CD98F00B204E9800998ECF8427E", "0cc175b9c0f1b6a831c399e269772661", "d41d8cd98f00b204e9800998ecf8427e")
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 3 || !strings.HasPrefix(lines[0], "added md5 signal ") || !strings.HasPrefix(lines[2], "unchanged md5 signal ") ||
				!strings.HasSuffix(lines[0], "d41d8cd98f00b204e9800998ecf8427e") {
				t.Errorf("add output = %q", out)
			}
			if _, _, err := bankCLI(t, db, "add", "ncmec", "--type", "md5", "xyz"); !errors.Is(err, bank.ErrInvalid) {
				t.Errorf("add of a bad value: err = %v, want ErrInvalid", err)
			}
			if _, _, err := bankCLI(t, db, "add", "nope", "--type", "md5", "0cc175b9c0f1b6a831c399e269772661"); !errors.Is(err, bank.ErrNotFound) {
				t.Errorf("add to an unknown bank: err = %v, want ErrNotFound", err)
			}

			// remove by value, then by ID (already removed), and the reason is required.
			if _, _, err := bankCLI(t, db, "remove", "ncmec", "--type", "md5", "d41d8cd98f00b204e9800998ecf8427e"); err == nil {
				t.Error("remove without --reason succeeded")
			}
			var rm struct {
				Removed bool        `json:"removed"`
				Signal  bank.Signal `json:"signal"`
			}
			out = mustBankCLI(t, db, "remove", "ncmec", "--type", "md5", "D41D8CD98F00B204E9800998ECF8427E", "--reason", "empty file", "--json")
			if err := json.Unmarshal([]byte(out), &rm); err != nil || !rm.Removed || rm.Signal.RemovedReason != "empty file" {
				t.Errorf("remove --json = %s (%v)", out, err)
			}
			out = mustBankCLI(t, db, "remove", "ncmec", fmt.Sprint(rm.Signal.ID), "--reason", "again")
			if !strings.Contains(out, "already removed") || !strings.Contains(out, "empty file") {
				t.Errorf("second remove = %q", out)
			}
			if _, _, err := bankCLI(t, db, "remove", "ncmec", "abc", "--reason", "x"); err == nil {
				t.Error("remove with a non-numeric ID and no --type succeeded")
			}

			// update and show.
			mustBankCLI(t, db, "update", "ncmec", "--disable", "--pdq-threshold", "10")
			var shown struct {
				bank.Bank
				Signals bank.BankStats `json:"signals"`
			}
			if err := json.Unmarshal([]byte(mustBankCLI(t, db, "show", "ncmec", "--json")), &shown); err != nil ||
				shown.Enabled || shown.PDQThreshold != 10 || shown.Signals.Active[bank.MD5] != 1 || shown.Signals.Removed[bank.MD5] != 1 {
				t.Errorf("show --json = %+v, %v", shown, err)
			}
			if out := mustBankCLI(t, db, "show", "ncmec"); !strings.Contains(out, "enabled:       false") {
				t.Errorf("show = %q", out)
			}
			if _, _, err := bankCLI(t, db, "update", "ncmec"); err == nil {
				t.Error("update without changes succeeded")
			}

			// log: everything, then --since, in JSON lines.
			out = mustBankCLI(t, db, "log", "--json")
			var ops []string
			var seqs []int64
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				var c bank.Change
				if err := json.Unmarshal([]byte(l), &c); err != nil {
					t.Fatalf("log line %q: %v", l, err)
				}
				ops, seqs = append(ops, string(c.Op)), append(seqs, c.Seq)
			}
			want := []string{"bank.create", "signal.add", "signal.add", "signal.remove", "bank.update"}
			if strings.Join(ops, ",") != strings.Join(want, ",") {
				t.Errorf("log ops = %v, want %v", ops, want)
			}
			out = mustBankCLI(t, db, "log", "--json", "--since", fmt.Sprint(seqs[2]))
			if n := strings.Count(out, "\n"); n != 2 || !strings.Contains(out, `"signal.remove"`) {
				t.Errorf("log --since %d = %q", seqs[2], out)
			}
			if out := mustBankCLI(t, db, "log", "--limit", "2"); strings.Count(out, "\n") != 3 {
				t.Errorf("log --limit 2 = %q", out)
			}
			if out := mustBankCLI(t, db, "check"); !strings.HasPrefix(out, "ok: ") {
				t.Errorf("check = %q", out)
			}
		})
	}
}

func TestBankCLIImport(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	var good []string
	for range 12 {
		good = append(good, storetest.RandomPDQ(r))
	}
	list := strings.Join(good[:5], "\n") + "\nnot-a-hash\n" + strings.Join(good[5:], "\n") + "\n" + good[0][:60] + "\n"
	for _, e := range storetest.Engines {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			db := e.DSN(t)
			mustBankCLI(t, db, "create", "b")
			file := writeFile(t, "list.txt", list)

			// Atomic (the default): bad lines listed with their numbers, nothing imported.
			out, _, err := bankCLI(t, db, "import", "b", file, "--type", "pdq")
			if !errors.Is(err, errPartial) {
				t.Errorf("atomic import with bad lines: err = %v, want errPartial", err)
			}
			if !strings.Contains(out, "line 6: ") || !strings.Contains(out, "line 14: ") || !strings.Contains(out, "nothing imported") {
				t.Errorf("atomic import output = %q", out)
			}
			if n := countSignals(t, db, "b"); n != 0 {
				t.Errorf("atomic import with bad lines left %d signals", n)
			}
			// Without --type a plain list of 64-digit hashes is ambiguous: every line is bad.
			if _, _, err := bankCLI(t, db, "import", "b", file); !errors.Is(err, errPartial) {
				t.Errorf("import without --type: err = %v", err)
			}

			// Not atomic: the good lines go in, the bad ones are reported, exit status 1.
			out, _, err = bankCLI(t, db, "import", "b", file, "--type", "pdq", "--atomic=false", "--batch", "3",
				"--category", "A1", "--source", "hotline", "--json")
			if !errors.Is(err, errPartial) {
				t.Errorf("non-atomic import with bad lines: err = %v, want errPartial", err)
			}
			var res struct {
				bank.ImportResult
				Format string `json:"format"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil || res.Added != 12 || res.Committed != 12 || res.Bad != 2 ||
				res.Format != "plain" || len(res.BadLines) != 2 || res.BadLines[1].Line != 14 {
				t.Errorf("non-atomic import result = %+v (%v)", res, err)
			}
			if n := countSignals(t, db, "b"); n != 12 {
				t.Errorf("%d signals after non-atomic import, want 12", n)
			}

			// Export in each format to a file and import it into a new bank.
			for _, f := range []string{"jsonl", "csv", "te", "plain"} {
				path := filepath.Join(t.TempDir(), "out."+f)
				_, errOut, err := bankCLI(t, db, "export", "b", path, "--format", f)
				if err != nil || !strings.Contains(errOut, "exported 12 signals") {
					t.Fatalf("export %s: %v, %q", f, err, errOut)
				}
				dst := "copy-" + f
				mustBankCLI(t, db, "create", dst)
				args := []string{"import", dst, path}
				if f == "plain" {
					args = append(args, "--type", "pdq")
				}
				if out := mustBankCLI(t, db, args...); !strings.Contains(out, "12 added") {
					t.Errorf("import of the %s export: %q", f, out)
				}
				if n := countSignals(t, db, dst); n != 12 {
					t.Errorf("%s copy has %d signals", f, n)
				}
			}
			// A format that cannot hold pdq: reported, exit status 1, no file left behind.
			dir := t.TempDir()
			if _, errOut, err := bankCLI(t, db, "export", "b", filepath.Join(dir, "x.json"), "--format", "vics"); !errors.Is(err, errPartial) ||
				!strings.Contains(errOut, "skipped 12 signals") {
				t.Errorf("vics export of pdq signals: %v, %q", err, errOut)
			}
			if _, _, err := bankCLI(t, db, "export", "nope", filepath.Join(dir, "y.jsonl")); !errors.Is(err, bank.ErrNotFound) {
				t.Errorf("export of an unknown bank: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "y.jsonl")); !os.IsNotExist(err) {
				t.Errorf("failed export left a file: %v", err)
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if strings.HasSuffix(e.Name(), ".tmp") {
					t.Errorf("temporary file left behind: %s", e.Name())
				}
			}
			// A file whose format cannot be told.
			odd := writeFile(t, "list.bin", "???\n")
			if _, _, err := bankCLI(t, db, "import", "b", odd); err == nil || !strings.Contains(err.Error(), "--format") {
				t.Errorf("import of an unrecognisable file: %v", err)
			}
		})
	}
}

func countSignals(t *testing.T, dsn, name string) int64 {
	t.Helper()
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stats, err := st.BankStats(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, c := range stats.Active {
		n += c
	}
	return n
}

// TestCLIChangesAudited: bank and key changes made through the CLI are in
// the audit log, each once, by the CLI's actor, and the chain verifies.
func TestCLIChangesAudited(t *testing.T) {
	list := writeFile(t, "list.csv", "type,value\nmd5,0cc175b9c0f1b6a831c399e269772661\nsha1,86f7e437faa5a7fce15d1ddcb9eaeaea377667b8\n")
	storetest.ForEachEngine(t, func(t *testing.T, db string) {
		mustBankCLI(t, db, "create", "hotline")
		mustBankCLI(t, db, "update", "hotline", "--description", "from the hotline")
		mustBankCLI(t, db, "update", "hotline", "--description", "from the hotline") // no change: not audited
		mustBankCLI(t, db, "add", "hotline", "--type", "md5", "d41d8cd98f00b204e9800998ecf8427e")
		mustBankCLI(t, db, "import", "hotline", list)
		mustBankCLI(t, db, "remove", "hotline", "--type", "md5", "d41d8cd98f00b204e9800998ecf8427e", "--reason", "empty file")
		if _, errOut, err := runCLI(t, newAPIKeyCommand(), "create", "--db", db, "--role", "curator", "--name", "ops"); err != nil {
			t.Fatalf("apikey create: %v %s", err, errOut)
		}
		if _, errOut, err := runCLI(t, newAPIKeyCommand(), "revoke", "--db", db, "1"); err != nil {
			t.Fatalf("apikey revoke: %v %s", err, errOut)
		}

		st, err := store.Open(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		es, err := st.ListAudit(context.Background(), 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range es {
			got = append(got, e.Action+" "+e.Target)
			if e.Remote != "" {
				t.Errorf("CLI entry %d has a remote address %q", e.Seq, e.Remote)
			}
			if strings.HasPrefix(e.Action, "bank.") || strings.HasPrefix(e.Action, "signal.") {
				if e.Actor != "tester" {
					t.Errorf("entry %d by %q, want the --actor tester", e.Seq, e.Actor)
				}
			}
		}
		want := []string{"bank.create hotline", "bank.update hotline", "signal.add hotline", "bank.import hotline",
			"signal.remove hotline", "apikey.create 1", "apikey.revoke 1"}
		if !slices.Equal(got, want) {
			t.Errorf("audit log:\n got %q\nwant %q", got, want)
		}
		if n, err := audit.VerifyStore(context.Background(), st); err != nil || n != len(want) {
			t.Errorf("verify: %d entries, %v", n, err)
		}
	})
}

// TestBankExclusionsCLI: a removed signal stays removed through re-imports
// and adds, until "bank exclusions remove" allows it again.
func TestBankExclusionsCLI(t *testing.T) {
	const md5 = "0cc175b9c0f1b6a831c399e269772661"
	list := writeFile(t, "list.csv", "type,value\nmd5,"+md5+"\nsha1,86f7e437faa5a7fce15d1ddcb9eaeaea377667b8\n")
	storetest.ForEachEngine(t, func(t *testing.T, db string) {
		mustBankCLI(t, db, "create", "b")
		mustBankCLI(t, db, "import", "b", list)
		mustBankCLI(t, db, "remove", "b", "--type", "md5", md5, "--reason", "false positive")
		if out := mustBankCLI(t, db, "import", "b", list); !strings.Contains(out, "0 added, 1 unchanged, 0 bad lines, 1 excluded") {
			t.Errorf("re-import: %q", out)
		}
		if out := mustBankCLI(t, db, "add", "b", "--type", "md5", strings.ToUpper(md5)); !strings.HasPrefix(out, "excluded md5 signal "+md5) {
			t.Errorf("add of a removed value: %q", out)
		}
		out := mustBankCLI(t, db, "exclusions", "list", "b", "--json")
		var xs []bank.Exclusion
		if err := json.Unmarshal([]byte(out), &xs); err != nil || len(xs) != 1 || xs[0].Value != md5 ||
			xs[0].Reason != "false positive" || xs[0].CreatedBy != "tester" {
			t.Fatalf("exclusions list: %v %q", err, out)
		}
		if _, _, err := bankCLI(t, db, "exclusions", "add", "b", "--type", "sha256", "nothex", "--reason", "x"); !errors.Is(err, bank.ErrInvalid) {
			t.Errorf("exclusions add of a bad value: %v", err)
		}
		sha256 := "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
		if out := mustBankCLI(t, db, "exclusions", "add", "b", "--type", "sha256", sha256, "--reason", "known benign"); !strings.HasPrefix(out, "excluded sha256") {
			t.Errorf("exclusions add: %q", out)
		}
		if out := mustBankCLI(t, db, "exclusions", "list", "b"); strings.Count(out, "\n") != 3 || !strings.Contains(out, "known benign") {
			t.Errorf("exclusions list: %q", out)
		}
		mustBankCLI(t, db, "exclusions", "remove", "b", "--type", "md5", md5)
		if _, _, err := bankCLI(t, db, "exclusions", "remove", "b", "--type", "md5", md5); !errors.Is(err, bank.ErrNotFound) {
			t.Errorf("exclusions remove twice: %v", err)
		}
		if out := mustBankCLI(t, db, "add", "b", "--type", "md5", md5); !strings.HasPrefix(out, "added md5 signal") {
			t.Errorf("add after the exclusion was removed: %q", out)
		}
		mustBankCLI(t, db, "check")
	})
}
