// Package sqlitedrv opens SQLite databases through the one SQLite
// implementation this build links: the C library through cgo
// (github.com/mattn/go-sqlite3) when cgo is on, the pure-Go translation
// (modernc.org/sqlite) when it is off (CGO_ENABLED=0). Both are the same
// SQLite (same file format, locking and WAL), so a database written by one
// build is read by the other.
//
// Everything in a process that opens the store's file must go through
// this package: two copies of SQLite in one process do not see each other's
// POSIX locks, and closing a file in one drops the locks the other holds on
// it, which can corrupt the database. The store (internal/store/sqlite) and
// the job queue (internal/jobs, River's riversqlite driver) share the file.
//
// Connections are configured by PRAGMA statements run, in order, on every
// new connection before its first use, the same way for both drivers
// (driver-specific DSN options are not used, except the transaction lock:
// Options.Immediate).
package sqlitedrv

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
)

// Name is the registered database/sql driver Open uses: this build's
// (see Impl). Only a benchmark changes it, to compare the two drivers in
// one run (the pure-Go "sqlite" in a cgo build, after importing
// modernc.org/sqlite), and only for files no other connection has open.
var Name = defaultName

// Options configures the connections of a pool.
type Options struct {
	// Pragmas are run, in order, as "PRAGMA <p>" on every new connection,
	// e.g. "busy_timeout = 30000", "journal_mode = WAL".
	Pragmas []string
	// Immediate makes BEGIN take the write lock at once (BEGIN IMMEDIATE).
	Immediate bool
}

// Open returns a pool of connections to the SQLite file at path (a plain
// file name, without '?' or '#'), configured by o. Like sql.Open, it
// connects lazily.
func Open(path string, o Options) (*sql.DB, error) {
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite path %q: must be a file name without '?' or '#'", path)
	}
	dsn := path
	if o.Immediate {
		dsn += "?_txlock=immediate"
	}
	probe, err := sql.Open(Name, "")
	if err != nil {
		return nil, fmt.Errorf("sqlite driver %s: %w", Name, err)
	}
	drv := probe.Driver()
	probe.Close()
	return sql.OpenDB(&connector{drv: drv, dsn: dsn, pragmas: o.Pragmas}), nil
}

// connector opens driver connections and runs the pragmas on each.
type connector struct {
	drv     driver.Driver
	dsn     string
	pragmas []string
}

// Connect implements driver.Connector.
func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		conn.Close()
		return nil, errors.New("sqlite driver cannot execute statements")
	}
	for _, p := range c.pragmas {
		if _, err := ex.ExecContext(ctx, "PRAGMA "+p, nil); err != nil {
			conn.Close()
			return nil, fmt.Errorf("PRAGMA %s: %w", p, err)
		}
	}
	return conn, nil
}

// Driver implements driver.Connector.
func (c *connector) Driver() driver.Driver { return c.drv }
