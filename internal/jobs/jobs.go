// Package jobs runs background work (exchange fetches, opinion delivery,
// retroactive matching; later report submission and large scans) on River
// (github.com/riverqueue/river), a job queue that lives in the same
// database as the store: PostgreSQL through pgx, SQLite through
// database/sql and the store's SQLite driver (internal/store/sqlite/sqlitedrv:
// the C library with cgo, modernc.org/sqlite without; one SQLite per
// process, since two copies would not see each other's file locks). It is not a home-made scheduler:
// River gives unique jobs (one fetch of an exchange at a time, whichever
// replica takes it), retries with backoff, periodic jobs with a leader
// elected among replicas, and a job table that shows state and errors.
//
// Why River: it is the one mature Go job engine with drivers for both our
// engines (riverpgxv5, riversqlite). The alternatives each miss one:
// gue/neoq/pgq are PostgreSQL-only, asynq and machinery need Redis,
// goqite is SQLite-only with no unique or periodic jobs, and a cron inside
// each replica would fetch every exchange once per replica. River's
// migrations (its own river_* tables, versioned by rivermigrate) run when a
// Runner is opened, apart from the store's own migrations.
//
// SQLite: River's driver wants a single connection (SQLITE_BUSY
// otherwise); Open gives it its own one-connection pool on the store's file
// with a busy timeout, WAL and synchronous=FULL (set, not left to the
// driver's default, which differs between the two builds), next to the
// store's writer.
package jobs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/nigehban/nigehban/internal/store/sqlite/sqlitedrv"
)

// Runner is a River client on the store's database.
type Runner interface {
	// Start starts working jobs (and, on the elected leader, periodic
	// jobs) until Stop.
	Start(ctx context.Context) error
	// Stop waits for running jobs to finish (or ctx to end).
	Stop(ctx context.Context) error
	// Insert queues a job; a unique job already queued is not repeated
	// (the result says UniqueSkippedAsDuplicate).
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	// Jobs lists the newest jobs of kind (all kinds if ""), for state
	// displays.
	Jobs(ctx context.Context, kind string, limit int) ([]*rivertype.JobRow, error)
	// Close stops nothing but releases the database handles; call after
	// Stop.
	Close() error
}

// IsPostgres reports whether dsn is a PostgreSQL URL (as store.IsPostgres).
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open returns a Runner on the database dsn names (a store DSN), with
// River's schema migrated up. cfg may be nil to only insert and list jobs
// (a CLI); a working runner sets Workers and Queues.
func Open(ctx context.Context, dsn string, cfg *river.Config) (Runner, error) {
	if cfg == nil {
		cfg = &river.Config{}
	}
	if IsPostgres(dsn) {
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("jobs: open postgres: %w", err)
		}
		r, err := newRunner(ctx, riverpgxv5.New(pool), cfg, func() error { pool.Close(); return nil })
		if err != nil {
			pool.Close()
		}
		return r, err
	}
	path := strings.TrimPrefix(dsn, "sqlite:")
	db, err := sqlitedrv.Open(path, sqlitedrv.Options{
		Pragmas:   []string{"busy_timeout = 30000", "journal_mode = WAL", "synchronous = FULL"},
		Immediate: true,
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: open sqlite: %w", err)
	}
	db.SetMaxOpenConns(1)
	r, err := newRunner(ctx, riversqlite.New(db), cfg, db.Close)
	if err != nil {
		db.Close()
	}
	return r, err
}

func newRunner[TTx any](ctx context.Context, drv riverdriver.Driver[TTx], cfg *river.Config, closeFn func() error) (Runner, error) {
	m, err := rivermigrate.New(drv, nil)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("jobs: migrate river schema: %w", err)
	}
	c, err := river.NewClient(drv, cfg)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	return &runner[TTx]{c: c, closeFn: closeFn}, nil
}

type runner[TTx any] struct {
	c       *river.Client[TTx]
	closeFn func() error
}

func (r *runner[TTx]) Start(ctx context.Context) error { return r.c.Start(ctx) }
func (r *runner[TTx]) Stop(ctx context.Context) error  { return r.c.Stop(ctx) }
func (r *runner[TTx]) Close() error                    { return r.closeFn() }

func (r *runner[TTx]) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return r.c.Insert(ctx, args, opts)
}

func (r *runner[TTx]) Jobs(ctx context.Context, kind string, limit int) ([]*rivertype.JobRow, error) {
	p := river.NewJobListParams().First(limit).OrderBy(river.JobListOrderByID, river.SortOrderDesc)
	if kind != "" {
		p = p.Kinds(kind)
	}
	res, err := r.c.JobList(ctx, p)
	if err != nil {
		return nil, err
	}
	return res.Jobs, nil
}

// UniqueWhileQueued are the job states in which a unique job blocks
// another with the same arguments: queued, running or waiting to retry.
var UniqueWhileQueued = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled,
}

// DefaultPoll is how often a runner looks for jobs on SQLite, which has no
// LISTEN/NOTIFY.
const DefaultPoll = time.Second
