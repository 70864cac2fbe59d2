//go:build cgo

package sqlitedrv

import _ "github.com/mattn/go-sqlite3" // registers "sqlite3": SQLite's C library through cgo

// defaultName is the database/sql driver this build uses.
const defaultName = "sqlite3"

// Impl names the SQLite implementation this build links.
const Impl = "mattn/go-sqlite3 (C, cgo)"
