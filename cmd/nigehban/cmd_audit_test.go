package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/store/sqlite/sqlitedrv"

	"github.com/jackc/pgx/v5"

	"github.com/nigehban/nigehban/internal/api"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
	"github.com/nigehban/nigehban/internal/witness"
)

// rawExec runs SQL on the database behind the program's back.
func rawExec(t *testing.T, dsn string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	if store.IsPostgres(dsn) {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		for _, s := range stmts {
			if _, err := conn.Exec(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
		return
	}
	db, err := sqlitedrv.Open(strings.TrimPrefix(dsn, "sqlite:"), sqlitedrv.Options{Pragmas: []string{"busy_timeout = 30000"}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// fillAudit appends n entries through the store.
func fillAudit(t *testing.T, dsn string, n int) {
	t.Helper()
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range n {
		if _, err := st.AppendAudit(context.Background(), audit.Entry{Actor: "tester", Action: "bank.create", Target: fmt.Sprint("bank", i+1),
			Detail: []byte(fmt.Sprintf(`{"i":%d}`, i+1))}); err != nil {
			t.Fatal(err)
		}
	}
}

// logKey makes a log key with the CLI and returns its file and vkey.
func logKey(t *testing.T) (string, string) {
	t.Helper()
	key := filepath.Join(t.TempDir(), "log.key")
	out, _, err := runCLI(t, newAuditCommand(), "keygen", "--origin", "nigehban.test/audit", "--key", key)
	if err != nil || !strings.HasPrefix(out, "nigehban.test/audit+") {
		t.Fatalf("keygen: %q %v", out, err)
	}
	return key, strings.TrimSpace(out)
}

// rehash recomputes the hash chain from entry `from` on, as someone
// covering an edit would.
func rehash(t *testing.T, dsn string, from int64) {
	t.Helper()
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	es, err := st.ListAudit(context.Background(), 0, 1000)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	prev := ""
	var stmts []string
	for _, e := range es {
		if e.Seq >= from {
			audit.Seal(&e, prev)
			stmts = append(stmts, fmt.Sprintf(`UPDATE audit SET prev = '%s', hash = '%s' WHERE seq = %d`, e.Prev, e.Hash, e.Seq))
		}
		prev = e.Hash
	}
	if store.IsPostgres(dsn) {
		stmts = append(stmts, `UPDATE audit_head SET hash = (SELECT hash FROM audit ORDER BY seq DESC LIMIT 1)`)
	}
	rawExec(t, dsn, stmts...)
}

// auditDBs returns, per engine, a function giving a new database's DSN.
func auditDBs() map[string]func(t *testing.T) string {
	m := map[string]func(t *testing.T) string{}
	for _, e := range storetest.Engines {
		m[e.Name] = func(t *testing.T) string { return e.DSN(t) }
	}
	return m
}

func mentions(s, want string) bool {
	return regexp.MustCompile(`\b` + want + `\b`).MatchString(s)
}

// TestAuditTamperingCLI: on both engines, editing or deleting any one row
// (also at the end, also with the chain re-hashed) makes "audit verify"
// fail naming the entry.
func TestAuditTamperingCLI(t *testing.T) {
	cases := []struct {
		name string
		do   func(t *testing.T, dsn string)
		want string
	}{
		{"edit a middle entry", func(t *testing.T, dsn string) {
			rawExec(t, dsn, `UPDATE audit SET actor = 'someone else' WHERE seq = 3`)
		}, "entry 3"},
		{"edit the last entry", func(t *testing.T, dsn string) { rawExec(t, dsn, `UPDATE audit SET detail = '{}' WHERE seq = 6`) }, "entry 6"},
		{"delete a middle entry", func(t *testing.T, dsn string) { rawExec(t, dsn, `DELETE FROM audit WHERE seq = 4`) }, "entry 4"},
		{"delete the last entry", func(t *testing.T, dsn string) { rawExec(t, dsn, `DELETE FROM audit WHERE seq = 6`) }, "entry 6"},
		{"delete the last two entries", func(t *testing.T, dsn string) { rawExec(t, dsn, `DELETE FROM audit WHERE seq >= 5`) }, "entry 5"},
		{"delete the last entry and its tree hashes", func(t *testing.T, dsn string) {
			rawExec(t, dsn, `DELETE FROM audit WHERE seq = 6`, `DELETE FROM audit_tree WHERE idx >= 8`)
		}, "entry 6"},
		{"edit an entry and re-hash the chain", func(t *testing.T, dsn string) {
			rawExec(t, dsn, `UPDATE audit SET target = 'elsewhere' WHERE seq = 2`)
			rehash(t, dsn, 2)
		}, "entry 2"},
	}
	for engine, newDB := range auditDBs() {
		for _, tc := range cases {
			t.Run(engine+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				dsn := newDB(t)
				fillAudit(t, dsn, 6)
				key, vkey := logKey(t)
				if _, _, err := runCLI(t, newAuditCommand(), "checkpoint", "--db", dsn, "--key", key); err != nil {
					t.Fatal(err)
				}
				if out, _, err := runCLI(t, newAuditCommand(), "verify", "--db", dsn, "--vkey", vkey); err != nil || !strings.Contains(out, "audit log OK: 6 entries") {
					t.Fatalf("intact log: %q %v", out, err)
				}
				tc.do(t, dsn)
				_, _, err := runCLI(t, newAuditCommand(), "verify", "--db", dsn, "--vkey", vkey)
				if err == nil || !strings.Contains(err.Error(), "FAILED") || !mentions(err.Error(), tc.want) {
					t.Errorf("verify after tampering: %v, want FAILED naming %q", err, tc.want)
				}
			})
		}
	}
}

// TestAuditRewriteCLI: the whole log rewritten consistently (an entry
// edited, the chain re-hashed, the tree rebuilt by the migration's
// backfill): the log's signer refuses to sign it; signed anyway by an
// insider without the signer's state, verification against a checkpoint
// saved earlier fails; a proof bundle made before still verifies offline,
// and fails when a byte of its entry changes.
func TestAuditRewriteCLI(t *testing.T) {
	for engine, newDB := range auditDBs() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			dsn := newDB(t)
			dir := t.TempDir()
			fillAudit(t, dsn, 5)
			key, vkey := logKey(t)
			vkeyFile := filepath.Join(dir, "log.vkey")
			os.WriteFile(vkeyFile, []byte(vkey+"\n"), 0o644)
			saved := filepath.Join(dir, "seen.checkpoint")
			if _, _, err := runCLI(t, newAuditCommand(), "checkpoint", "--db", dsn, "--key", key); err != nil {
				t.Fatal(err)
			}
			if _, _, err := runCLI(t, newAuditCommand(), "verify", "--db", dsn, "--vkey", vkeyFile, "--save", saved); err != nil {
				t.Fatal(err)
			}
			if out, _, err := runCLI(t, newAuditCommand(), "prove", "--db", dsn, "2", "4", "--out", dir); err != nil || strings.Count(out, ".tlog-proof") != 2 {
				t.Fatalf("prove: %q %v", out, err)
			}
			proof := filepath.Join(dir, "entry-4.tlog-proof")
			if out, _, err := runCLI(t, newAuditCommand(), "verify", "--vkey", vkey, proof, filepath.Join(dir, "entry-2.tlog-proof")); err != nil || strings.Count(out, ": OK: entry ") != 2 {
				t.Fatalf("verify proofs: %q %v", out, err)
			}

			rawExec(t, dsn, `UPDATE audit SET target = 'rewritten' WHERE seq = 2`)
			rehash(t, dsn, 2)
			rawExec(t, dsn, `DELETE FROM audit_tree`, `DELETE FROM audit_checkpoints`)
			fillAudit(t, dsn, 1) // reopening rebuilds the tree from the rewritten chain
			if _, _, err := runCLI(t, newAuditCommand(), "checkpoint", "--db", dsn, "--key", key); err == nil || !strings.Contains(err.Error(), "refusing to sign") {
				t.Fatalf("the log's signer signed a rewritten log: %v", err)
			}
			os.Remove(key + ".state")
			if _, _, err := runCLI(t, newAuditCommand(), "checkpoint", "--db", dsn, "--key", key); err != nil {
				t.Fatal(err)
			}
			if _, _, err := runCLI(t, newAuditCommand(), "verify", "--db", dsn, "--vkey", vkey); err != nil {
				t.Fatalf("the rewritten log alone verifies (the signature is the insider's): %v", err)
			}
			_, _, err := runCLI(t, newAuditCommand(), "verify", "--db", dsn, "--vkey", vkey, "--since", saved)
			if err == nil || !strings.Contains(err.Error(), "rewritten") {
				t.Errorf("rewrite not caught against the saved checkpoint: %v", err)
			}

			// The old proof of entry 4 still proves entry 4 of the tree it was made against.
			if _, _, err := runCLI(t, newAuditCommand(), "verify", "--vkey", vkey, proof); err != nil {
				t.Errorf("old proof: %v", err)
			}
			b, _ := os.ReadFile(proof)
			lines := strings.SplitN(string(b), "\n", 3)
			leaf, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[1], "extra "))
			leaf[len(leaf)-3] ^= 1
			forged := filepath.Join(dir, "forged.tlog-proof")
			os.WriteFile(forged, []byte(lines[0]+"\nextra "+base64.StdEncoding.EncodeToString(leaf)+"\n"+lines[2]), 0o644)
			if _, _, err := runCLI(t, newAuditCommand(), "verify", "--vkey", vkey, forged); err == nil || !strings.Contains(err.Error(), "FAILED") {
				t.Errorf("a proof with an edited entry verified: %v", err)
			}
		})
	}
}

// TestAuditVerifyAgainstServe: "audit verify --log URL" against a running
// service, with nothing but the verifier keys: the service signs on its
// schedule, a witness cosigns, a 1-of-1 witness policy holds; an edited row
// is named.
func TestAuditVerifyAgainstServe(t *testing.T) {
	for engine, newDB := range auditDBs() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			dsn := newDB(t)
			fillAudit(t, dsn, 300)
			key, vkey := logKey(t)

			wkey := filepath.Join(t.TempDir(), "w.key")
			wout, _, err := runCLI(t, newWitnessCommand(), "keygen", "--name", "witness.test/w", "--key", wkey)
			if err != nil {
				t.Fatal(err)
			}
			wvkey := strings.TrimSpace(wout)
			wskey, _ := audit.ReadKeyFile(wkey)
			w, err := witness.New(wskey, []string{vkey}, filepath.Join(t.TempDir(), "w.state"), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			wsrv := httptest.NewServer(w.Handler())
			defer wsrv.Close()

			st, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			l, err := openLog(st, key, []string{wsrv.URL + "," + wvkey})
			if err != nil {
				t.Fatal(err)
			}
			srv := api.New(st, api.Config{Log: l, LogInterval: 50 * time.Millisecond, NoDeliver: true}, slog.New(slog.DiscardHandler))
			go srv.Run(ctx)
			hs := httptest.NewServer(srv.Handler())
			defer hs.Close()
			base := hs.URL + "/log"
			deadline := time.Now().Add(20 * time.Second)
			for {
				cp, err := (&audit.Client{Base: base}).Checkpoint(ctx)
				if err == nil && strings.Contains(string(cp), "— witness.test/w ") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no cosigned checkpoint within 20 s: %q %v", cp, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			out, _, err := runCLI(t, newAuditCommand(), "verify", "--log", base, "--vkey", vkey, "--witness-key", wvkey, "--witnesses", "1")
			if err != nil || !strings.Contains(out, "audit log OK: 300 entries") {
				t.Fatalf("verify --log: %q %v", out, err)
			}
			if resp, err := http.Get(base + "/tile/0/000"); err != nil || resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
				t.Errorf("full tile: %v %v", resp, err)
			}
			rawExec(t, dsn, `UPDATE audit SET actor = 'someone else' WHERE seq = 257`)
			_, _, err = runCLI(t, newAuditCommand(), "verify", "--log", base, "--vkey", vkey)
			if err == nil || !mentions(err.Error(), "entry 257") {
				t.Errorf("verify --log after an edit: %v", err)
			}
		})
	}
}

// TestAuditBackfill: a log written before the tree (simulated by emptying
// audit_tree) gets its tree when the store opens, after its hash chain is
// checked; a broken chain is refused, naming the entry.
func TestAuditBackfill(t *testing.T) {
	for engine, newDB := range auditDBs() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			dsn := newDB(t)
			fillAudit(t, dsn, 40)
			rawExec(t, dsn, `DELETE FROM audit_tree`)
			if out, _, err := runCLI(t, newAuditCommand(), "verify", "--db", dsn); err != nil || !strings.Contains(out, "audit log OK: 40 entries") {
				t.Fatalf("after backfill: %q %v", out, err)
			}
			rawExec(t, dsn, `DELETE FROM audit_tree`, `UPDATE audit SET actor = 'x' WHERE seq = 17`)
			if _, err := store.Open(context.Background(), dsn); err == nil || !mentions(err.Error(), "entry 17") {
				t.Errorf("backfill over a broken chain: %v", err)
			}
		})
	}
}

// TestAuditServeBinary runs `nigehban serve --log-key` as a process and
// verifies its log with `nigehban audit verify --log` and the verifier key
// alone, then a proof bundle offline.
func TestAuditServeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildNigehban(t)
	dir := t.TempDir()
	db, key := filepath.Join(dir, "n.db"), filepath.Join(dir, "log.key")
	vkey := strings.TrimSpace(runNigehban(t, bin, "audit", "keygen", "--origin", "nigehban.test/audit", "--key", key))
	adminKey(t, bin, db)
	adminKey(t, bin, db)
	addr := freeAddr(t)
	srv := exec.Command(bin, "serve", "--db", db, "--addr", addr, "--log-key", key, "--log-interval", "100ms")
	var stderr bytes.Buffer
	srv.Stderr = &stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Signal(syscall.SIGTERM); srv.Wait() }()
	base := "http://" + addr + "/log"
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/checkpoint")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint served:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	out := runNigehban(t, bin, "audit", "verify", "--log", base, "--vkey", vkey)
	if !strings.Contains(out, "audit log OK: 2 entries") {
		t.Errorf("verify --log: %q", out)
	}
	proof := filepath.Join(dir, "e1.tlog-proof")
	b := runNigehban(t, bin, "audit", "prove", "--db", db, "1")
	os.WriteFile(proof, []byte(b), 0o644)
	if out := runNigehban(t, bin, "audit", "verify", "--vkey", vkey, proof); !strings.Contains(out, "OK: entry 1 ") {
		t.Errorf("verify proof: %q", out)
	}
}
