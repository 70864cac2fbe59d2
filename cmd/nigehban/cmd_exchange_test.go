package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/sealed"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// TestExchangeCLI: add (credentials sealed with the data key), fetch with
// its result, list and show with state, disable and enable, and queueing a
// fetch for serve once, on both engines.
func TestExchangeCLI(t *testing.T) {
	t.Setenv("NIGEHBAN_ACTOR", "curator@host")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret-token" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "%s\n%s\n", strings.Repeat("ab", 16), strings.Repeat("cd", 16))
	}))
	t.Cleanup(srv.Close) // the engines' subtests run in parallel, after this function returns
	dir := t.TempDir()
	keyFile, creds := filepath.Join(dir, "data.key"), filepath.Join(dir, "creds")
	line, _ := sealed.NewKeyLine("k1")
	os.WriteFile(keyFile, []byte(line+"\n"), 0o600)
	os.WriteFile(creds, []byte("# list token\ntoken=s3cret-token\n"), 0o600)

	storetest.ForEachEngine(t, func(t *testing.T, db string) {
		ctx := context.Background()
		st, err := store.Open(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := bank.NewService(st).CreateBank(ctx, bank.NewBank("hotline"), audit.Actor{Name: "t"}); err != nil {
			t.Fatal(err)
		}
		run := func(args ...string) (string, string, error) {
			return runCLI(t, newExchangeCommand(), append(args, "--db", db, "--data-key", keyFile)...)
		}
		if _, _, err := run("add", "hotline", "--kind", "hashlist", "--bank", "hotline", "--url", srv.URL+"/list.md5",
			"--credentials-file", creds); err != nil {
			t.Fatal(err)
		}
		out, _, err := run("fetch", "hotline")
		var res exchange.Result
		if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.Applied.Added != 2 {
			t.Fatalf("fetch: %v\n%s", err, out)
		}
		out, _, err = run("list")
		if err != nil || !strings.Contains(out, "hotline  hashlist") {
			t.Fatalf("list: %v\n%s", err, out)
		}
		out, _, err = run("show", "hotline")
		if err != nil || strings.Contains(out, "s3cret") || !strings.Contains(out, `"credentials": true`) ||
			!strings.Contains(out, `"fetched": 2`) {
			t.Fatalf("show: %v\n%s", err, out)
		}
		if _, _, err := run("disable", "hotline"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := run("fetch", "hotline"); err == nil || !strings.Contains(err.Error(), "disabled") {
			t.Fatalf("fetch of a disabled exchange: %v", err)
		}
		if _, _, err := run("enable", "hotline"); err != nil {
			t.Fatal(err)
		}
		_, errOut, err := run("fetch", "--queue", "hotline")
		if err != nil || !strings.Contains(errOut, "queued (job") {
			t.Fatalf("queue: %v %s", err, errOut)
		}
		_, errOut, err = run("fetch", "--queue", "hotline")
		if err != nil || !strings.Contains(errOut, "already queued") {
			t.Fatalf("queue again: %v %s", err, errOut)
		}
		tok, _, err := run("publish", "hotline", "--partner", "ngo-b")
		if err != nil || !strings.HasPrefix(tok, "nigp_") {
			t.Fatalf("publish: %v %q", err, tok)
		}
		if _, _, err := run("publish", "nope", "--partner", "ngo-c"); err == nil {
			t.Fatal("published a bank that does not exist")
		}
		if _, _, err := runCLI(t, newExchangeCommand(), "add", "other", "--kind", "hashlist", "--bank", "hotline",
			"--url", srv.URL, "--credentials-file", creds, "--db", db); err == nil || !strings.Contains(err.Error(), "data key") {
			t.Fatalf("credentials without a data key: %v", err)
		}
	})
}
