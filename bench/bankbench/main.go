// Command bankbench is the helper of bench/bank-import: it generates PDQ
// lists, measures baselines (what the database does with the same rows and
// none of the bank's bookkeeping), creates scratch PostgreSQL databases and
// times building the match index from a store. It is benchmark tooling, not
// part of nigehban.
//
//	bankbench gen -n N -o FILE            write N random PDQ hashes, one per line
//	bankbench baseline -db DSN -list FILE raw bulk insert of the list (rows/s)
//	bankbench createdb -url URL -name N   create database N, print its URL
//	bankbench dropdb -url URL -name N     drop database N
//	bankbench index -db DSN -bank NAME [-list FILE]
//	                                      time loading the bank's match index
//	                                      (against building it from FILE)
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nigehban/nigehban/internal/store/sqlite/sqlitedrv"

	"github.com/nigehban/nigehban/internal/index"
	"github.com/nigehban/nigehban/internal/match"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/store"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bankbench gen|baseline|createdb|dropdb|index …")
		os.Exit(2)
	}
	ctx := context.Background()
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	n := fs.Int("n", 10_000_000, "hashes to generate")
	out := fs.String("o", "", "output file")
	dsn := fs.String("db", "", "store DSN")
	list := fs.String("list", "", "PDQ list")
	u := fs.String("url", "", "PostgreSQL server URL")
	name := fs.String("name", "", "database name")
	bankName := fs.String("bank", "bench", "bank name")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile here")
	fs.Parse(os.Args[2:])
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bankbench:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(*n, *out)
	case "baseline":
		err = baseline(ctx, *dsn, *list)
	case "createdb", "dropdb":
		err = pgDB(ctx, os.Args[1], *u, *name)
	case "index":
		err = loadIndex(ctx, *dsn, *bankName, *list)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "bankbench:", err)
		os.Exit(1)
	}
}

func gen(n int, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(2026, 11))
	for range n {
		w.WriteString(pdq.Hash{r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64()}.String())
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// readKeys streams the list's hashes as 32-byte keys in batches.
func readKeys(path string, batch int, fn func([][]byte) error) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	keys := make([][]byte, 0, batch)
	total := 0
	for sc.Scan() {
		k, err := hex.DecodeString(strings.TrimSpace(sc.Text()))
		if err != nil {
			return total, err
		}
		keys = append(keys, k)
		if len(keys) == batch {
			if err := fn(keys); err != nil {
				return total, err
			}
			total += len(keys)
			keys = make([][]byte, 0, batch)
		}
	}
	if len(keys) > 0 {
		if err := fn(keys); err != nil {
			return total, err
		}
		total += len(keys)
	}
	return total, sc.Err()
}

// baseline inserts the list's keys into a bare table with one unique index,
// in one transaction, with the engine's fastest plain path: the cost of the
// rows themselves, without validation, metadata or change log.
func baseline(ctx context.Context, dsn, list string) error {
	start := time.Now()
	var n int
	var err error
	if store.IsPostgres(dsn) {
		n, err = baselinePG(ctx, dsn, list)
	} else {
		n, err = baselineSQLite(ctx, dsn, list)
	}
	if err != nil {
		return err
	}
	s := time.Since(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"rows": n, "seconds": s, "rows_per_s": float64(n) / s})
}

func baselineSQLite(ctx context.Context, path, list string) (int, error) {
	db, err := sqlitedrv.Open(path, sqlitedrv.Options{ // as the store's writer, through the same driver
		Pragmas: []string{"journal_mode = WAL", "synchronous = FULL", "cache_size = -1048576"}})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE raw (id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE) STRICT`); err != nil {
		return 0, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	const rows = 64
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO raw (key) VALUES `+strings.TrimSuffix(strings.Repeat("(?), ", rows), ", "))
	if err != nil {
		return 0, err
	}
	one, err := tx.PrepareContext(ctx, `INSERT INTO raw (key) VALUES (?)`)
	if err != nil {
		return 0, err
	}
	args := make([]any, rows)
	n, err := readKeys(list, 5000, func(keys [][]byte) error {
		for len(keys) >= rows {
			for i := range args {
				args[i] = keys[i]
			}
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return err
			}
			keys = keys[rows:]
		}
		for _, k := range keys {
			if _, err := one.ExecContext(ctx, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	return n, tx.Commit()
}

func baselinePG(ctx context.Context, url, list string) (int, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE raw (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, key bytea NOT NULL UNIQUE)`); err != nil {
		return 0, err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	n, err := readKeys(list, 5000, func(keys [][]byte) error {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"raw"}, []string{"key"}, pgx.CopyFromSlice(len(keys), func(i int) ([]any, error) {
			return []any{keys[i]}, nil
		}))
		return err
	})
	if err != nil {
		return n, err
	}
	return n, tx.Commit(ctx)
}

func pgDB(ctx context.Context, op, server, name string) error {
	if name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		return fmt.Errorf("database name %q: use lower-case letters, digits and _", name)
	}
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if op == "dropdb" {
		_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		return err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return err
	}
	u, err := url.Parse(server)
	if err != nil {
		return err
	}
	u.Path = "/" + name
	fmt.Println(u.String())
	return nil
}

// loadIndex times match.LoadStore over the bank (the store scan plus the
// index build) against building the same index straight from the list file
// (parse and build only: the floor the store path is compared with).
func loadIndex(ctx context.Context, dsn, bankName, list string) error {
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	runtime.GC()
	start := time.Now()
	x, err := match.LoadStore(ctx, st, []string{bankName}, match.DefaultStoreOptions())
	if err != nil {
		return err
	}
	fromStore := time.Since(start).Seconds()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r := rand.New(rand.NewPCG(7, 7))
	qs := time.Now()
	for range 100 {
		x.MatchPDQ(pdq.Hash{r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64()})
	}
	perQuery := time.Since(qs).Seconds() / 100
	res := map[string]any{"engine": st.Engine(), "store_seconds": fromStore, "heap_bytes": ms.HeapAlloc,
		"query_seconds": perQuery}
	if list != "" {
		x = nil
		runtime.GC()
		start = time.Now()
		var entries []index.Entry
		id := uint64(0)
		if _, err := readKeys(list, 5000, func(keys [][]byte) error {
			for _, k := range keys {
				id++
				entries = append(entries, index.Entry{ID: id, Hash: pdq.FromBytes([32]byte(k))})
			}
			return nil
		}); err != nil {
			return err
		}
		var px index.PDQ
		px.AddBatch(entries)
		fromFile := time.Since(start).Seconds()
		res["file_seconds"] = fromFile
		res["ratio"] = fromStore / fromFile
		res["signals"] = len(entries)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
