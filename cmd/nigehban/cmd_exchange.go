package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/jobs"
	"github.com/nigehban/nigehban/internal/progress"
	"github.com/nigehban/nigehban/internal/sealed"
	"github.com/nigehban/nigehban/internal/store"
)

func init() { rootCmd.AddCommand(newExchangeCommand()) }

func newExchangeCommand() *cobra.Command {
	var db, dataKey string
	cmd := &cobra.Command{
		Use:   "exchange",
		Short: "Keep banks in sync with hash-sharing exchanges (NCMEC, hash-list URLs) and send feedback",
		Long: `An exchange feeds one bank: additions, updates and deletions come in,
each page committed with the exchange's checkpoint in one transaction (a
killed fetch resumes where it stopped); review decisions go back as
opinions. Kinds: hashlist (any URL serving a list "bank import" reads,
fetched with conditional GET; values that leave the list are withdrawn),
ncmec (NCMEC Hash Sharing API v2; credentials user, password; settings:
member=ID,… to keep only those members), stopncii (FetchHashes;
credentials subscription_key, fetch_key, feedback_key), nigehban (a
partner instance's published bank; settings bank=, log_vkey=; credentials
token; see "exchange publish"). "serve --exchange-interval" fetches every enabled
exchange on a schedule (River jobs, one replica per exchange).
Credentials are sealed with the data key (--data-key).`,
	}
	cmd.PersistentFlags().StringVar(&db, "db", "", dbFlagHelp)
	cmd.PersistentFlags().StringVar(&dataKey, "data-key", "", dataKeyHelp)

	open := func(ctx context.Context) (store.Store, *exchange.Service, error) {
		keys, err := sealed.FromEnv(dataKey)
		if err != nil {
			return nil, nil, err
		}
		st, err := openStore(ctx, db)
		if err != nil {
			return nil, nil, err
		}
		return st, &exchange.Service{St: st, Banks: st, Keys: keys}, nil
	}

	var kind, bankName, url, credFile string
	var settings []string
	var stale time.Duration
	add := &cobra.Command{
		Use:   "add NAME --kind KIND --bank BANK --url URL",
		Short: "Configure an exchange feeding a bank (audited)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			x := exchange.Exchange{Name: args[0], Kind: exchange.Kind(kind), Bank: bankName, URL: url,
				Enabled: true, StaleAfter: stale}
			var err error
			if x.Settings, err = keyValues(settings); err != nil {
				return err
			}
			if credFile != "" {
				if x.Credentials, err = readCredentials(credFile); err != nil {
					return err
				}
			}
			st, svc, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			if _, err := svc.Add(cmd.Context(), x, audit.Actor{Name: defaultActor()}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "exchange %s added, feeding bank %s\n", x.Name, x.Bank)
			return nil
		},
	}
	add.Flags().StringVar(&kind, "kind", "", "hashlist, ncmec, stopncii or nigehban (a partner instance)")
	add.Flags().StringVar(&bankName, "bank", "", "bank the exchange feeds (one bank per exchange)")
	add.Flags().StringVar(&url, "url", "", "the list's URL, or the API's base URL")
	add.Flags().StringArrayVar(&settings, "setting", nil, "adapter setting KEY=VALUE (repeatable)")
	add.Flags().StringVar(&credFile, "credentials-file", "", "file of KEY=VALUE lines (ncmec: user, password; hashlist: token), sealed with the data key")
	add.Flags().DurationVar(&stale, "stale-after", 0, "refetch from scratch when the last good fetch is older than this (0: never)")
	for _, f := range []string{"kind", "bank", "url"} {
		add.MarkFlagRequired(f)
	}

	list := &cobra.Command{
		Use: "list", Short: "List exchanges with their state", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, _, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			xs, err := st.ListExchanges(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tBANK\tENABLED\tFETCHED\tLAST OK\tLAST ERROR")
			for _, x := range xs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%d\t%s\t%s\n", x.Name, x.Kind, x.Bank, x.Enabled, x.State.Fetched,
					fmtTime(x.State.LastOKAt), x.State.LastError)
			}
			return tw.Flush()
		},
	}

	show := &cobra.Command{
		Use: "show NAME", Short: "Show an exchange, its checkpoint, state, opinions and jobs (JSON)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, _, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			x, err := st.GetExchange(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("exchange %s: %w", args[0], err)
			}
			ops, err := st.ListOpinions(cmd.Context(), x.Name, 20)
			if err != nil {
				return err
			}
			out := struct {
				exchange.Exchange
				Credentials bool               `json:"credentials"`
				Staging     string             `json:"staging,omitempty"`
				Opinions    []exchange.Opinion `json:"opinions"`
			}{x, x.SealedCredentials != "", x.State.StagedNote(), ops}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}

	var queue bool
	fetch := &cobra.Command{
		Use:   "fetch NAME",
		Short: "Fetch an exchange now, with progress (or --queue it as a job for serve)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if queue {
				dsn, err := resolveDSN(db)
				if err != nil {
					return err
				}
				r, err := jobs.Open(ctx, dsn, nil)
				if err != nil {
					return err
				}
				defer r.Close()
				res, err := r.Insert(ctx, exchange.FetchArgs{Exchange: args[0]}, nil)
				if err != nil {
					return err
				}
				if res.UniqueSkippedAsDuplicate {
					fmt.Fprintf(cmd.ErrOrStderr(), "a fetch of %s is already queued or running (job %d)\n", args[0], res.Job.ID)
				} else {
					fmt.Fprintf(cmd.ErrOrStderr(), "fetch of %s queued (job %d)\n", args[0], res.Job.ID)
				}
				return nil
			}
			st, svc, err := open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			var applied atomic.Int64
			stop := func() {}
			if progress.IsTerminal(os.Stderr) {
				stop = showExchangeProgress(os.Stderr, args[0], &applied)
			}
			res, err := svc.Fetch(ctx, args[0], exchange.Syncer{By: audit.Actor{Name: defaultActor()},
				Log:      slog.New(slog.DiscardHandler), // the error is returned
				Progress: func(n int64) { applied.Store(n) }})
			stop()
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			return enc.Encode(res)
		},
	}
	fetch.Flags().BoolVar(&queue, "queue", false, "queue the fetch as a River job for a running serve instead of fetching here")

	setEnabled := func(use, short string, enabled bool) *cobra.Command {
		return &cobra.Command{
			Use: use + " NAME", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				st, _, err := open(cmd.Context())
				if err != nil {
					return err
				}
				defer st.Close()
				return st.SetExchangeEnabled(cmd.Context(), args[0], enabled, audit.Actor{Name: defaultActor()})
			},
		}
	}
	var partner string
	publish := &cobra.Command{
		Use:   "publish BANK… --partner NAME",
		Short: "Publish banks to a partner instance: prints its token once (audited)",
		Long: `Give a partner Nigehban instance read access to the change log of BANK…
at /partner/v1/banks/BANK/changes on "serve". The token is printed once
and stored hashed. The partner subscribes with

  nigehban exchange add NAME --kind nigehban --bank LOCAL_BANK --url https://US \
    --setting bank=BANK --setting log_vkey="$(cat our-log.vkey)" --credentials-file FILE

(token=… in FILE), and verifies our signed log checkpoints (serve --log-key).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, _, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			for _, b := range args {
				if _, err := st.GetBank(cmd.Context(), b); err != nil {
					return fmt.Errorf("bank %q: %w", b, err)
				}
			}
			secret, err := exchange.NewPartnerToken(cmd.Context(), st, partner, args, audit.Actor{Name: defaultActor()})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), secret)
			fmt.Fprintf(cmd.ErrOrStderr(), "partner %s may read %s; the token above is shown only once\n", partner, strings.Join(args, ", "))
			return nil
		},
	}
	publish.Flags().StringVar(&partner, "partner", "", "name of the partner")
	publish.MarkFlagRequired("partner")

	cmd.AddCommand(add, list, show, fetch, publish,
		setEnabled("disable", "Stop fetching an exchange (its signals stay; audited)", false),
		setEnabled("enable", "Fetch a disabled exchange again (audited)", true))
	return cmd
}

// keyValues parses KEY=VALUE arguments.
func keyValues(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("setting %q: want KEY=VALUE", kv)
		}
		m[k] = v
	}
	return m, nil
}

// readCredentials reads KEY=VALUE lines (blank lines and # comments
// skipped).
func readCredentials(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var kvs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kvs = append(kvs, line)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	m, err := keyValues(kvs)
	if err != nil {
		return nil, fmt.Errorf("credentials file %s: %w", path, errors.Unwrap(err))
	}
	return m, nil
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.DateTime)
}

// showExchangeProgress redraws "NAME: N applied, R/s" every half second
// until stopped.
func showExchangeProgress(w io.Writer, name string, applied *atomic.Int64) func() {
	start := time.Now()
	done := make(chan struct{})
	stopped := make(chan struct{})
	line := func() {
		n := applied.Load()
		rate := float64(n) / max(time.Since(start).Seconds(), 0.001)
		fmt.Fprintf(w, "\r%s: %d applied, %.0f/s   ", name, n, rate)
	}
	go func() {
		defer close(stopped)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				line()
				fmt.Fprintln(w)
				return
			case <-t.C:
				line()
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// resolveDSN returns dsn, or the default store's when empty.
func resolveDSN(dsn string) (string, error) {
	if dsn != "" {
		return dsn, nil
	}
	return store.DefaultDSN()
}
