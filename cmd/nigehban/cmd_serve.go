package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/nigehban/nigehban/internal/alert"
	"github.com/nigehban/nigehban/internal/api"
	"github.com/nigehban/nigehban/internal/clientip"
	"github.com/nigehban/nigehban/internal/console"
	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/history"
	"github.com/nigehban/nigehban/internal/protect"
	"github.com/nigehban/nigehban/internal/sealed"
	"github.com/nigehban/nigehban/internal/variant"
)

func init() { rootCmd.AddCommand(newServeCommand()) }

func newServeCommand() *cobra.Command {
	var (
		addr, db, cpuProfile string
		metricsAddr          string
		trustedProxies       []string
		cfg                  api.Config
		logKey               string
		witnesses            []string
		ui                   console.Config
		retention            time.Duration
		dataKey              string
		alertsFile           string
		protectKey           string
	)
	cmd := &cobra.Command{
		Use:   "serve [--addr 127.0.0.1:8080] [--db …]",
		Short: "Run the matching service (HTTP/JSON API, webhooks, audit)",
		Long: `Serve the HTTP/JSON API a platform's upload pipeline calls: hash media, match
media or hashes against the banks, curate banks, manage keys. The OpenAPI
document is at /openapi.json, metrics at /metrics, health at /healthz and
/readyz. Every /v1 call needs an API key: create the first with
"nigehban apikey create --role admin". The web console is at /ui/ for
people with accounts ("nigehban user create NAME --role admin"). The public
page /protect lets people hash their own images on their device and submit
only the hashes (no login). Several replicas can share one
PostgreSQL database; each follows the bank change log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			var err error
			if cfg.TrustedProxies, err = clientip.ParsePrefixes(trustedProxies); err != nil {
				return err
			}
			cfg.MetricsSeparate = metricsAddr != ""
			if cfg.DataKeys, err = sealed.FromEnv(dataKey); err != nil {
				return err
			}
			ui.DataKeys = cfg.DataKeys
			ui.WebhookAllowPrivate = cfg.WebhookAllowPrivate
			if alertsFile != "" {
				desk, err := alert.LoadConfig(alertsFile)
				if err != nil {
					return err
				}
				cfg.AlertDesk = &desk
			}
			if ui.PreviewDefault != "blur" && ui.PreviewDefault != "clear" {
				return fmt.Errorf("--preview-default %q: want blur or clear", ui.PreviewDefault)
			}
			if _, err := variant.ParseSet(cfg.Variants); err != nil {
				return fmt.Errorf("--variants: %w", err)
			}
			if cfg.Protect.ProofKey, err = protectProofKey(protectKey); err != nil {
				return err
			}
			return runServe(cmd.Context(), addr, metricsAddr, db, cfg, logKey, witnesses, ui, retention)
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on")
	f.StringVar(&db, "db", "", dbFlagHelp)
	f.StringVar(&metricsAddr, "metrics-addr", "", "serve /metrics without a key on this separate address (keep it internal); without it /metrics on --addr needs a curator key")
	f.Int64Var(&cfg.MaxUploadBytes, "max-upload", 0, "largest media upload in bytes (default 64 MiB)")
	f.StringVar(&cfg.Variants, "variants", variant.Default.String(), "PDQ variants of uploaded images tried beside them: none, borders or all (a request may choose with the variants field)")
	f.Float64Var(&cfg.RatePerSecond, "rate", 0, "requests per second allowed per API key (default 2000)")
	f.IntVar(&cfg.Burst, "burst", 0, "burst allowed per API key (default 4000)")
	f.StringSliceVar(&trustedProxies, "trusted-proxy", nil, "reverse proxy (address or CIDR, repeatable) whose X-Forwarded-For names the client")
	f.StringVar(&logKey, "log-key", "", logKeyHelp+"; without it /log/ serves the checkpoints signed by \"audit checkpoint\"")
	f.DurationVar(&cfg.LogInterval, "log-interval", time.Minute, "how often to sign a checkpoint of the audit log when it grew")
	f.StringArrayVar(&witnesses, "witness", nil, "witness to ask for cosignatures, as URL,VKEY (repeatable)")
	f.DurationVar(&retention, "match-retention", 365*24*time.Hour, "keep the match history this long (0 keeps it forever)")
	f.BoolVar(&ui.InsecureCookies, "insecure-cookies", false, "console session cookies without Secure, for plain HTTP on localhost only")
	f.BoolVar(&cfg.WebhookAllowPrivate, "webhook-allow-private", false, "allow webhooks to loopback, private and link-local addresses (receivers inside your own network)")
	f.IntVar(&cfg.WebhookPerHost, "webhook-per-host", 0, "concurrent webhook deliveries to one destination host (default 8)")
	f.DurationVar(&cfg.WebhookRetention, "webhook-retention", 7*24*time.Hour, "how long delivered webhook events are kept before pruning (negative: forever)")
	f.StringVar(&protectKey, "protect-key", os.Getenv("NIGEHBAN_PROTECT_KEY_FILE"), protectKeyHelp)
	f.IntVar(&cfg.Protect.Difficulty, "protect-difficulty", 0, "proof of work a /protect submission needs, in leading zero bits of SHA-256 (default 18)")
	f.StringVar(&dataKey, "data-key", "", dataKeyHelp)
	f.StringVar(&alertsFile, "alerts", "", "enable the missing-child desk (ZARRA intake, two-hour clock, CAP alerts at /alerts/feed.atom) with this JSON configuration (mode 0600: sender, base_url, escalation chain and partners with their webhook secrets); needs --data-key")
	f.StringVar(&ui.PreviewDefault, "preview-default", "blur", "how review previews show for reviewers who chose nothing: blur (blurred and greyscale until clicked) or clear")
	f.DurationVar(&cfg.Flood.Window, "flood-window", 0, "flood quarantine: the window whose hits of a signal are compared with its baseline (default 1h; negative turns the quarantine off)")
	f.Float64Var(&cfg.Flood.Factor, "flood-factor", 0, "flood quarantine: pause a signal hit more than this many times its baseline rate (default 10)")
	f.Int64Var(&cfg.Flood.MinHits, "flood-min-hits", 0, "flood quarantine: never pause a signal with fewer hits than this in the window (default 20)")
	addExchangeServeFlags(f)
	f.StringVar(&cfg.VaultDir, "vault-dir", os.Getenv("NIGEHBAN_VAULT_DIR"), "evidence vault whose expired items are destroyed hourly (see \"nigehban vault\")")
	f.DurationVar(&cfg.ReportInterval, "report-interval", 30*time.Second, "how often the CyberTipline outbox is worked (needs --data-key)")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile to this file until shutdown (for performance work)")
	return cmd
}

func runServe(ctx context.Context, addr, metricsAddr, db string, cfg api.Config, logKey string, witnesses []string, ui console.Config, retention time.Duration) error {
	st, err := openStore(ctx, db)
	if err != nil {
		return err
	}
	defer st.Close()
	if cfg.Log, err = openLog(st, logKey, witnesses); err != nil {
		return err
	}
	// One review service (bank policy, queue, flood quarantine) for the
	// API, the console and retroactive matching.
	cfg.Reviews = api.NewReviewService(st, cfg, slog.Default())
	ui.Reviews = cfg.Reviews
	stopExchanges, exchangeJobs, err := startExchanges(ctx, db, st, &cfg, serveExchange)
	if err != nil {
		return err
	}
	defer stopExchanges()
	ui.Jobs, ui.ExchangeInterval = exchangeJobs, serveExchange.interval
	srv := api.New(st, cfg, slog.Default())
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ui.IndexSizes = srv.IndexSizes
	ui.Alerts = srv.Alerts()
	ui.Clients = clientip.Resolver{Trusted: cfg.TrustedProxies}
	con, err := console.New(st, ui)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	mux.Handle(console.Prefix, con.Handler()) // the web console, /ui/
	web, err := protect.NewWeb()
	if err != nil {
		return err
	}
	mux.Handle(protect.Prefix, web.Handler()) // the public self-hashing page
	mux.Handle(protect.Prefix+"/", web.Handler())
	// Banks published to partner instances (exchange publish).
	mux.Handle(exchange.PublishPrefix, &exchange.Publisher{Partners: st, ChangeLog: &exchange.ChangeLog{St: st}, Log: slog.Default()})
	hs := api.NewHTTPServer(mux)
	slog.Info("serving", "addr", ln.Addr().String(), "engine", st.Engine())

	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	runErr := make(chan error, 1)
	go func() { runErr <- srv.Run(bg) }()
	go history.Prune(bg, st, retention, time.Hour, func(err error) { slog.Warn("prune match history", "err", err) })
	serveErr := make(chan error, 2)
	go func() { serveErr <- hs.Serve(ln) }()
	if metricsAddr != "" {
		mln, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			stopBG()
			hs.Close()
			return fmt.Errorf("listen for metrics: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", srv.MetricsHandler())
		ms := api.NewHTTPServer(mux)
		defer ms.Close()
		slog.Info("serving metrics", "addr", mln.Addr().String())
		go func() { serveErr <- ms.Serve(mln) }()
	}

	var result error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		result = err
	case err := <-runErr:
		result = err // the banks could not be loaded
	}
	slog.Info("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		slog.Warn("shutdown", "err", err)
	}
	stopBG()
	select {
	case err := <-runErr:
		if result == nil && err != nil {
			result = err
		}
	case <-sctx.Done():
	}
	if errors.Is(result, http.ErrServerClosed) {
		result = nil
	}
	return result
}
