// Package migrate loads the versioned schema migrations each store engine
// embeds. Engines apply them themselves (each has its own locking: SQLite's
// write lock, PostgreSQL's advisory lock) and record the applied versions in
// a schema_migrations table; this package only finds, orders and checks the
// files, so both engines follow the same rules:
//
//   - one file per version, named NNNN_description.sql (NNNN from 0001);
//   - versions are contiguous: no gap, no duplicate;
//   - a file is applied once, in one transaction with its version record;
//   - an applied file is never edited: a change is a new version.
package migrate

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// ErrTooNew is returned (wrapped) by engines when the database has a schema
// version newer than this binary knows: an older binary must not write to a
// schema it does not understand.
var ErrTooNew = errors.New("database schema is newer than this program")

// Migration is one versioned schema change.
type Migration struct {
	Version int
	Name    string // file name
	SQL     string
}

// Load reads the migrations in dir of fsys.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	ents, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []Migration
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: name must be NNNN_description.sql", name)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migration %q: %w", name, err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %q: version %d, want %d (versions must be contiguous from 1)", m.Name, m.Version, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("no migrations in %q", dir)
	}
	return ms, nil
}

// Pending returns the migrations after version current, or ErrTooNew when
// current is beyond the last one.
func Pending(ms []Migration, current int) ([]Migration, error) {
	if current > len(ms) {
		return nil, fmt.Errorf("%w: schema version %d, this program knows up to %d", ErrTooNew, current, len(ms))
	}
	return ms[current:], nil
}
