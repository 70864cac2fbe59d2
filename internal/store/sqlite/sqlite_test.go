package sqlite_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nigehban/nigehban/internal/store/sqlite/sqlitedrv"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"

	"github.com/nigehban/nigehban/internal/store/migrate"
	"github.com/nigehban/nigehban/internal/store/sqlite"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

func TestConformance(t *testing.T) { storetest.RunEngine(t, storetest.SQLite) }

func BenchmarkImport(b *testing.B) {
	storetest.BenchImport(b, storetest.OpenBench(b, storetest.SQLite), 50_000)
}

func BenchmarkScan(b *testing.B) {
	storetest.BenchScan(b, storetest.OpenBench(b, storetest.SQLite), 100_000)
}

func TestSchemaTooNew(t *testing.T) {
	ctx := context.Background()
	path := storetest.SQLitePath(t)
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := db.SchemaVersion(ctx); err != nil || v < 1 {
		t.Fatalf("SchemaVersion = %d, %v", v, err)
	}
	db.Close()
	raw, err := sqlitedrv.Open(strings.TrimPrefix(path, "sqlite:"), sqlitedrv.Options{Pragmas: []string{"busy_timeout = 30000"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if _, err := sqlite.Open(ctx, path); !errors.Is(err, migrate.ErrTooNew) {
		t.Errorf("Open of a newer schema: err = %v, want ErrTooNew", err)
	}
}

func TestOpenBadPath(t *testing.T) {
	ctx := context.Background()
	for _, p := range []string{"", "a?b", "x#y"} {
		if _, err := sqlite.Open(ctx, p); err == nil {
			t.Errorf("Open(%q) succeeded", p)
		}
	}
	// A directory where the file should be.
	if _, err := sqlite.Open(ctx, t.TempDir()); err == nil {
		t.Error("Open of a directory succeeded")
	}
	// Not a database.
	junk := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(junk, []byte("this is not a database, just text that is long enough to be a header......"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(ctx, junk); err == nil {
		t.Error("Open of a text file succeeded")
	}
}

// TestTwoWriters writes through two handles on one file at once, as two
// nigehban processes would: BEGIN IMMEDIATE and the busy timeout must make
// them wait for each other instead of failing with "database is locked".
func TestTwoWriters(t *testing.T) {
	ctx := context.Background()
	path := storetest.SQLitePath(t)
	var dbs [2]*sqlite.DB
	for i := range dbs {
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs[i] = db
	}
	if _, err := dbs[0].CreateBank(ctx, bank.NewBank("b"), audit.Actor{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i, db := range dbs {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 7))
			for range 20 {
				err := db.WriteSignals(ctx, "b", audit.Actor{Name: "t"}, func(w bank.SignalWriter) error {
					sigs := make([]bank.Signal, 200)
					for j := range sigs {
						sigs[j] = bank.Signal{Type: bank.PDQ, Value: storetest.RandomPDQ(r), Quality: -1}
					}
					_, err := w.Add(ctx, sigs)
					return err
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("writer: %v", err)
	}
	if err := dbs[1].Check(ctx); err != nil {
		t.Error(err)
	}
	if st, _ := dbs[1].BankStats(ctx, "b"); st.Active[bank.PDQ] != 2*20*200 {
		t.Errorf("%d signals, want %d", st.Active[bank.PDQ], 2*20*200)
	}
}

// TestPrivateFiles: the database, its -wal and -shm files and the
// directories Open creates are readable by their owner only, whatever the
// umask allows.
func TestPrivateFiles(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	path := filepath.Join(root, "a", "b", "n.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.CreateBank(ctx, bank.NewBank("b"), audit.Actor{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]os.FileMode{
		filepath.Join(root, "a"):      0o700 | os.ModeDir,
		filepath.Join(root, "a", "b"): 0o700 | os.ModeDir,
		path:                          0o600,
		path + "-wal":                 0o600,
		path + "-shm":                 0o600,
	}
	for p, mode := range want {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), mode)
		}
	}
}
