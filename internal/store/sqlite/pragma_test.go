package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/nigehban/nigehban/internal/store/sqlite/sqlitedrv"
)

// TestPragmas: whichever driver the build links (cgo or not), the writer
// and the readers run with the documented settings: WAL, synchronous=FULL
// (the cgo build's SQLite would default to NORMAL in WAL mode), the busy
// timeout, foreign keys, the 1 GiB writer cache, temp storage in memory,
// read-only readers; and the writer's BEGIN takes the write lock at once.
func TestPragmas(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t.Logf("driver: %s", sqlitedrv.Impl)
	tests := []struct {
		name   string
		db     *sql.DB
		pragma string
		want   string
	}{
		{"writer", db.w, "journal_mode", "wal"},
		{"writer", db.w, "synchronous", "2"},
		{"writer", db.w, "busy_timeout", "30000"},
		{"writer", db.w, "foreign_keys", "1"},
		{"writer", db.w, "cache_size", "-1048576"},
		{"writer", db.w, "journal_size_limit", "67108864"},
		{"writer", db.w, "temp_store", "2"},
		{"writer", db.w, "wal_autocheckpoint", "50000"},
		{"writer", db.w, "query_only", "0"},
		{"reader", db.r, "journal_mode", "wal"},
		{"reader", db.r, "synchronous", "2"},
		{"reader", db.r, "busy_timeout", "30000"},
		{"reader", db.r, "query_only", "1"},
	}
	for _, tt := range tests {
		var got string
		if err := tt.db.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Errorf("%s: PRAGMA %s: %v", tt.name, tt.pragma, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s: PRAGMA %s = %s, want %s", tt.name, tt.pragma, got, tt.want)
		}
	}
	if _, err := db.r.ExecContext(ctx, `CREATE TABLE nope (x INTEGER)`); err == nil {
		t.Error("reader created a table")
	}
	// BEGIN IMMEDIATE: a second connection cannot start a write while the
	// writer's transaction is open, even before the writer has written.
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	other, err := sqlitedrv.Open(path, sqlitedrv.Options{Pragmas: []string{"busy_timeout = 0"}, Immediate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.BeginTx(ctx, nil); err == nil {
		t.Error("a second BEGIN IMMEDIATE got the write lock while the writer held it")
	}
}
