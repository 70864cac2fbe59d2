package main

import (
	"context"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// TestUserCLI: a created user gets a setup token (stdout alone) that sets
// their password once; list shows state; disable and reset take effect.
func TestUserCLI(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(e.Name, func(t *testing.T) {
			db := e.DSN(t)
			ctx := context.Background()
			out, errOut, err := runCLI(t, newUserCommand(), "create", "--db", db, "--role", "curator", "ana")
			tok := strings.TrimSpace(out)
			if err != nil || !strings.HasPrefix(tok, "nigu_") || !strings.Contains(errOut, "setup token") {
				t.Fatalf("create: %v\nstdout %q\nstderr %q", err, out, errOut)
			}
			if _, _, err := runCLI(t, newUserCommand(), "create", "--db", db, "--role", "root", "bob"); err == nil ||
				!strings.Contains(err.Error(), "unknown role") {
				t.Errorf("bad role: %v", err)
			}
			if out, _, err := runCLI(t, newUserCommand(), "list", "--db", db); err != nil || !strings.Contains(out, "setup pending") {
				t.Errorf("list before setup: %v\n%s", err, out)
			}
			st, err := store.Open(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			svc := account.NewService(st, st, account.Config{KDF: account.KDF{Time: 1, Memory: 1024, Threads: 1}})
			if _, err := svc.FirstLogin(ctx, tok, "a long enough password", "127.0.0.1"); err != nil {
				t.Fatalf("the printed token does not work: %v", err)
			}
			if out, _, err := runCLI(t, newUserCommand(), "list", "--db", db); err != nil || !strings.Contains(out, "active") ||
				!strings.Contains(out, "curator") {
				t.Errorf("list: %v\n%s", err, out)
			}
			if _, _, err := runCLI(t, newUserCommand(), "disable", "--db", db, "ana"); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Login(ctx, "ana", "a long enough password", "127.0.0.1"); err == nil {
				t.Error("disabled user logged in")
			}
			out, _, err = runCLI(t, newUserCommand(), "reset", "--db", db, "ana")
			if tok2 := strings.TrimSpace(out); err != nil || !strings.HasPrefix(tok2, "nigu_") || tok2 == tok {
				t.Fatalf("reset: %v %q", err, out)
			}
			if _, _, err := runCLI(t, newUserCommand(), "disable", "--db", db, "--enable", "ana"); err != nil {
				t.Fatal(err)
			}
			if out, _, _ := runCLI(t, newUserCommand(), "list", "--db", db); !strings.Contains(out, "setup pending") {
				t.Errorf("after reset and enable:\n%s", out)
			}
			if _, _, err := runCLI(t, newUserCommand(), "reset", "--db", db, "nobody"); err == nil {
				t.Error("reset of an unknown user succeeded")
			}
		})
	}
}
