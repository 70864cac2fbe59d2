package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/nigehban/nigehban/internal/review"

	"github.com/spf13/pflag"

	"github.com/nigehban/nigehban/internal/api"
	"github.com/nigehban/nigehban/internal/exchange"
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
// for retention; the returned function stops it.
func startExchanges(ctx context.Context, db string, st store.Store, cfg *api.Config, o exchangeServeOpts) (func(), error) {
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stops := []func(){cancel}
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if o.retain > 0 {
		m := retro.New(st, o.retain)
		n, err := m.Load(ctx, time.Now())
		if err != nil {
			stop()
			return nil, err
		}
		slog.Info("retained uploads loaded", "uploads", n, "retention", o.retain)
		cfg.Checked = func(ctx context.Context, submitter, contentID string, hs []retro.Hash) error {
			return m.Retain(ctx, time.Now(), submitter, contentID, hs)
		}
		// Retroactive hits go to the review queue (internal/retro.ToReview).
		rs := review.NewService(st, cfg.DataKeys)
		f := &retro.Follower{M: m, Banks: st, History: st, Log: slog.Default(), OnHits: retro.ToReview(rs, slog.Default())}
		go f.Run(bg, time.Second)
	}
	if o.interval > 0 {
		dsn, err := resolveDSN(db)
		if err != nil {
			stop()
			return nil, err
		}
		svc := &exchange.Service{St: st, Banks: st, Keys: cfg.DataKeys, Log: slog.Default()}
		r, err := exchange.Start(ctx, dsn, svc, exchange.Syncer{Log: slog.Default()}, o.interval)
		if err != nil {
			stop()
			return nil, err
		}
		stops = append(stops, func() {
			sctx, c := context.WithTimeout(context.Background(), 30*time.Second)
			defer c()
			r.Stop(sctx)
			r.Close()
		})
	}
	return stop, nil
}
