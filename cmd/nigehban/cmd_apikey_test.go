package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/store/sqlite/sqlitedrv"

	"github.com/spf13/cobra"

	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// runCLI runs a command tree in-process with args and returns stdout,
// stderr and its error.
func runCLI(t *testing.T, cmd *cobra.Command, args ...string) (string, string, error) {
	t.Helper()
	cmd.SilenceUsage, cmd.SilenceErrors = true, true // as under rootCmd
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// TestAPIKeyAndAuditCLI: keys are created (secret printed once, on stdout
// alone), listed, revoked, and every act is in a verifiable audit log.
func TestAPIKeyAndAuditCLI(t *testing.T) {
	for _, eng := range storetest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			db := eng.DSN(t)
			out, errOut, err := runCLI(t, newAPIKeyCommand(), "create", "--db", db, "--role", "admin", "--name", "ops")
			secret := strings.TrimSpace(out)
			if err != nil || !strings.HasPrefix(secret, "nig_") || strings.Count(out, "\n") != 1 || !strings.Contains(errOut, "shown only now") {
				t.Fatalf("create: %v\nstdout %q\nstderr %q", err, out, errOut)
			}
			if _, _, err := runCLI(t, newAPIKeyCommand(), "create", "--db", db, "--role", "root", "--name", "x"); err == nil ||
				!strings.Contains(err.Error(), "unknown role") {
				t.Errorf("bad role: %v", err)
			}
			st, err := store.Open(context.Background(), db)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			k, err := apikey.Authenticate(context.Background(), st, secret)
			if err != nil || k.Role != apikey.Admin || k.Name != "ops" {
				t.Fatalf("the printed secret does not authenticate: %+v %v", k, err)
			}
			if out, _, err := runCLI(t, newAPIKeyCommand(), "list", "--db", db); err != nil || !strings.Contains(out, "ops") ||
				strings.Contains(out, secret) {
				t.Errorf("list: %v\n%s", err, out)
			}
			if _, _, err := runCLI(t, newAPIKeyCommand(), "revoke", "--db", db, "x1"); err == nil {
				t.Error("revoke of a non-number accepted")
			}
			if _, _, err := runCLI(t, newAPIKeyCommand(), "revoke", "--db", db, "99"); !errors.Is(err, apikey.ErrNotFound) {
				t.Errorf("revoke of a missing key: %v", err)
			}
			if _, _, err := runCLI(t, newAPIKeyCommand(), "revoke", "--db", db, "1"); err != nil {
				t.Fatal(err)
			}
			if _, err := apikey.Authenticate(context.Background(), st, secret); !errors.Is(err, apikey.ErrRevoked) {
				t.Errorf("revoked key: %v", err)
			}

			out, _, err = runCLI(t, newAuditCommand(), "verify", "--db", db)
			if err != nil || !strings.Contains(out, "audit log OK: 2 entries") {
				t.Errorf("verify: %v %q", err, out)
			}
			out, _, err = runCLI(t, newAuditCommand(), "log", "--db", db, "--since", "1")
			var e struct{ Seq int64 }
			if err != nil || strings.Count(out, "\n") != 1 || json.Unmarshal([]byte(out), &e) != nil || e.Seq != 2 ||
				!strings.Contains(out, `"apikey.revoke"`) {
				t.Errorf("log --since 1: %v %q", err, out)
			}

			if eng.Name != "sqlite" {
				return
			}
			// Edit an entry behind the program's back: verify must fail.
			raw, err := sqlitedrv.Open(strings.TrimPrefix(db, "sqlite:"), sqlitedrv.Options{Pragmas: []string{"busy_timeout = 30000"}})
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if _, err := raw.Exec(`UPDATE audit SET actor = 'someone else' WHERE seq = 1`); err != nil {
				t.Fatal(err)
			}
			if _, _, err := runCLI(t, newAuditCommand(), "verify", "--db", db); err == nil || !strings.Contains(err.Error(), "entry 1") {
				t.Errorf("verify after tampering: %v", err)
			}
		})
	}
}
