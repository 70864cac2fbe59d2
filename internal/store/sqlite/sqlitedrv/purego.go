//go:build !cgo

package sqlitedrv

import _ "modernc.org/sqlite" // registers "sqlite": SQLite translated to Go

// defaultName is the database/sql driver this build uses.
const defaultName = "sqlite"

// Impl names the SQLite implementation this build links.
const Impl = "modernc.org/sqlite (pure Go)"
