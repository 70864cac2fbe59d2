package store_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

func TestDefaultDSN(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	tests := []struct {
		env, xdg, want string
	}{
		{"", "", filepath.Join(home, ".local/share/nigehban/nigehban.db")},
		{"", "/data", "/data/nigehban/nigehban.db"},
		{"", "relative/ignored", filepath.Join(home, ".local/share/nigehban/nigehban.db")},
		{"postgres://db/x", "/data", "postgres://db/x"},
		{"/srv/banks.db", "", "/srv/banks.db"},
	}
	for _, tt := range tests {
		t.Setenv("NIGEHBAN_DB", tt.env)
		t.Setenv("XDG_DATA_HOME", tt.xdg)
		got, err := store.DefaultDSN()
		if err != nil || got != tt.want {
			t.Errorf("DefaultDSN(NIGEHBAN_DB=%q, XDG_DATA_HOME=%q) = %q, %v; want %q", tt.env, tt.xdg, got, err, tt.want)
		}
	}
}

func TestRedact(t *testing.T) {
	if got := store.Redact("postgres://u:secret@h/db"); strings.Contains(got, "secret") {
		t.Errorf("Redact kept the password: %q", got)
	}
	if got := store.Redact("/path/x.db"); got != "/path/x.db" {
		t.Errorf("store.Redact(path) = %q", got)
	}
}

func TestOpenPicksEngine(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "dir", "n.db")
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open(sqlite path): %v", err)
	}
	if st.Engine() != "sqlite" {
		t.Errorf("engine %q, want sqlite", st.Engine())
	}
	if _, err := st.CreateBank(ctx, bank.NewBank("b"), "t"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := store.Open(ctx, "/tmp/bad?name.db"); err == nil {
		t.Error("Open accepted a path with '?'")
	}
	pg := storetest.PostgresURL(t)
	st, err = store.Open(ctx, pg)
	if err != nil {
		t.Fatalf("Open(postgres URL): %v", err)
	}
	defer st.Close()
	if st.Engine() != "postgres" {
		t.Errorf("engine %q, want postgres", st.Engine())
	}
	if err := st.Check(ctx); err != nil {
		t.Errorf("Check on a new database: %v", err)
	}
}
