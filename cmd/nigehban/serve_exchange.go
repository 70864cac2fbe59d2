package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/nigehban/nigehban/internal/api"
	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/jobs"
	"github.com/nigehban/nigehban/internal/retro"
	"github.com/nigehban/nigehban/internal/store"
)

// exchangeServeOpts are serve's flags for exchanges and retroactive
// matching.
type exchangeServeOpts struct {
	interval time.Duration // fetch every enabled exchange this often (0: off)
	retain   time.Duration // keep checked upload hashes this long (0: off)
}

var serveExchange exchangeServeOpts

// addExchangeServeFlags adds serve's exchange and retention flags.
func addExchangeServeFlags(f *pflag.FlagSet) {
	f.DurationVar(&serveExchange.interval, "exchange-interval", 0,
		"fetch every enabled exchange this often, as River jobs one replica runs each (0: no fetching here); also sends review opinions to exchanges")
	f.DurationVar(&serveExchange.retain, "retain-uploads", 0,
		"keep the hashes (never content) of checked uploads with their content_id this long, and match signals added later against them (retroactive matching; 0: off)")
}

// startExchanges starts what the flags ask for on st and sets cfg.Checked
// for retention (retroactive hits go to cfg.Reviews); the returned function
// stops it. jobsFn is the River client the console queues and lists fetch
// jobs with: the runner working them here, else an insert-only client
// opened on first use (another replica with --exchange-interval works the
// jobs).
func startExchanges(ctx context.Context, db string, st store.Store, cfg *api.Config, o exchangeServeOpts) (
	stop func(), jobsFn func(context.Context) (jobs.Runner, error), err error) {
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stops := []func(){cancel}
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	lazy := &lazyJobs{db: db}
	stops = append(stops, lazy.close)
	if o.retain > 0 {
		m := retro.New(st, o.retain)
		n, err := m.Load(ctx, time.Now())
		if err != nil {
			stop()
			return nil, nil, err
		}
		slog.Info("retained uploads loaded", "uploads", n, "retention", o.retain)
		cfg.Checked = func(ctx context.Context, submitter, contentID string, hs []retro.Hash) error {
			return m.Retain(ctx, time.Now(), submitter, contentID, hs)
		}
		// Retroactive hits go to the review queue (internal/retro.ToReview).
		rs := cfg.Reviews
		if rs == nil {
			rs = api.NewReviewService(st, *cfg, slog.Default())
		}
		f := &retro.Follower{M: m, Banks: st, History: st, Log: slog.Default(), OnHits: retro.ToReview(rs, slog.Default())}
		go f.Run(bg, time.Second)
	}
	if o.interval > 0 {
		dsn, err := resolveDSN(db)
		if err != nil {
			stop()
			return nil, nil, err
		}
		svc := &exchange.Service{St: st, Banks: st, Keys: cfg.DataKeys, Log: slog.Default()}
		r, err := exchange.Start(ctx, dsn, svc, exchange.Syncer{Log: slog.Default()}, o.interval)
		if err != nil {
			stop()
			return nil, nil, err
		}
		stops = append(stops, func() {
			sctx, c := context.WithTimeout(context.Background(), 30*time.Second)
			defer c()
			r.Stop(sctx)
			r.Close()
		})
		lazy.r = r
	}
	return stop, lazy.get, nil
}

// lazyJobs is the console's River client: the working runner, or an
// insert-only one opened on first use (River's schema migrated then, as
// "exchange fetch --queue" does).
type lazyJobs struct {
	db     string
	mu     sync.Mutex
	r      jobs.Runner
	opened bool // r was opened here: close it
}

func (l *lazyJobs) get(ctx context.Context) (jobs.Runner, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.r != nil {
		return l.r, nil
	}
	dsn, err := resolveDSN(l.db)
	if err != nil {
		return nil, err
	}
	r, err := jobs.Open(ctx, dsn, nil)
	if err != nil {
		return nil, err
	}
	l.r, l.opened = r, true
	return r, nil
}

func (l *lazyJobs) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.opened {
		l.r.Close()
	}
}
