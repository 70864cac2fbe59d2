package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/hashlist"
	"github.com/nigehban/nigehban/internal/progress"
	"github.com/nigehban/nigehban/internal/store"
)

func init() { rootCmd.AddCommand(newBankCommand()) }

// bankGlobals are the flags every bank subcommand shares.
type bankGlobals struct {
	db    string
	json  bool
	actor string
}

// dbFlagHelp documents --db for every command that opens the store.
const dbFlagHelp = "database: a SQLite file path, or a postgres:// URL (default $NIGEHBAN_DB, else $XDG_DATA_HOME/nigehban/nigehban.db)"

// openStore opens the store dsn names, or the default one when dsn is empty.
// Commands that read banks (bank, match) share it.
func openStore(ctx context.Context, dsn string) (store.Store, error) {
	if dsn == "" {
		var err error
		if dsn, err = store.DefaultDSN(); err != nil {
			return nil, err
		}
	}
	return store.Open(ctx, dsn)
}

// defaultActor names who makes changes when --actor is not given:
// $NIGEHBAN_ACTOR, else user@host.
func defaultActor() string {
	if a := os.Getenv("NIGEHBAN_ACTOR"); a != "" {
		return a
	}
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	if host == "" {
		return name
	}
	return name + "@" + host
}

func newBankCommand() *cobra.Command {
	g := &bankGlobals{}
	cmd := &cobra.Command{
		Use:   "bank",
		Short: "Manage hash banks: create, import, export, add, remove, and read the change log",
		Long: `Manage hash banks: named collections of signals (md5, sha1, sha256, pdq, vpdq).

Every change (a bank created or updated, a signal added or removed) is kept in
an ordered change log with increasing sequence numbers ("bank log --since N").
Signals are never deleted: "bank remove" marks a false positive removed, with
who, when and why. Banks live in a SQLite file by default, or in PostgreSQL
when --db is a postgres:// URL.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&g.db, "db", "", dbFlagHelp)
	pf.BoolVar(&g.json, "json", false, "machine-readable JSON output")
	pf.StringVar(&g.actor, "actor", "", "who makes the change, recorded in the log (default $NIGEHBAN_ACTOR, else user@host)")
	cmd.AddCommand(
		newBankCreateCommand(g), newBankUpdateCommand(g), newBankListCommand(g), newBankShowCommand(g),
		newBankImportCommand(g), newBankExportCommand(g), newBankAddCommand(g), newBankRemoveCommand(g),
		newBankLogCommand(g), newBankCheckCommand(g), newBankExclusionsCommand(g),
	)
	return cmd
}

// withService opens the store, runs fn with a Service on it and closes it.
func (g *bankGlobals) withService(ctx context.Context, fn func(*bank.Service, store.Store) error) error {
	st, err := openStore(ctx, g.db)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(bank.NewService(st), st)
}

// who is the actor of the command's changes: a local user, no remote
// address.
func (g *bankGlobals) who() audit.Actor {
	if g.actor != "" {
		return audit.Actor{Name: g.actor}
	}
	return audit.Actor{Name: defaultActor()}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newBankCreateCommand(g *bankGlobals) *cobra.Command {
	b := bank.NewBank("")
	var disabled bool
	var action string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a bank",
		Long: `Create a bank. NAME is 1-64 lower-case letters, digits, '-', '_' and '.'.

--action is what a match should lead to by default: review (queue for a
person), block, report, or log. --pdq-threshold is the Hamming distance at
or below which a PDQ hash matches (default 31, as the PDQ authors advise).
--review-above N sends PDQ hits farther than N to the review queue whatever
the action; --negative makes an allow list whose hits suppress the hits of
every other bank for the same content.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b.Name, b.Enabled, b.Action = args[0], !disabled, bank.Action(action)
			return g.withService(cmd.Context(), func(svc *bank.Service, _ store.Store) error {
				created, err := svc.CreateBank(cmd.Context(), b, g.who())
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(cmd.OutOrStdout(), created)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "created bank %s\n", created.Name)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&b.Description, "description", "", "what the bank holds and where it comes from")
	f.StringVar(&action, "action", string(bank.ActionReview), "default action on a match: review, block, report or log")
	f.IntVar(&b.PDQThreshold, "pdq-threshold", bank.DefaultPDQThreshold, "PDQ match distance (0-256)")
	f.BoolVar(&disabled, "disabled", false, "create the bank disabled (not matched against)")
	f.IntVar(&b.ReviewAbove, "review-above", 0, "queue PDQ hits farther than this for review whatever the action (0: off)")
	f.BoolVar(&b.Negative, "negative", false, "a negative bank (allow list): its hits suppress every other bank's hits")
	return cmd
}

func newBankUpdateCommand(g *bankGlobals) *cobra.Command {
	var desc, action string
	var threshold, reviewAbove int
	var enable, disable, negative bool
	cmd := &cobra.Command{
		Use:   "update NAME",
		Short: "Change a bank's description, default action, PDQ threshold, or enable/disable it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var u bank.BankUpdate
			fl := cmd.Flags()
			if fl.Changed("description") {
				u.Description = &desc
			}
			if fl.Changed("action") {
				a := bank.Action(action)
				u.Action = &a
			}
			if fl.Changed("pdq-threshold") {
				u.PDQThreshold = &threshold
			}
			if fl.Changed("review-above") {
				u.ReviewAbove = &reviewAbove
			}
			if fl.Changed("negative") {
				u.Negative = &negative
			}
			switch {
			case enable && disable:
				return errors.New("--enable and --disable together")
			case enable || disable:
				u.Enabled = &enable
			}
			if u.Empty() {
				return errors.New("nothing to change: give --description, --action, --pdq-threshold, --review-above, --negative, --enable or --disable")
			}
			return g.withService(cmd.Context(), func(svc *bank.Service, _ store.Store) error {
				b, changed, err := svc.UpdateBank(cmd.Context(), args[0], u, g.who())
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(cmd.OutOrStdout(), map[string]any{"bank": b, "changed": changed})
				}
				if changed {
					fmt.Fprintf(cmd.OutOrStdout(), "updated bank %s\n", b.Name)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "bank %s unchanged\n", b.Name)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&desc, "description", "", "new description")
	f.StringVar(&action, "action", "", "new default action: review, block, report or log")
	f.IntVar(&threshold, "pdq-threshold", 0, "new PDQ match distance (0-256)")
	f.BoolVar(&enable, "enable", false, "enable the bank")
	f.BoolVar(&disable, "disable", false, "disable the bank (its signals stop matching)")
	f.IntVar(&reviewAbove, "review-above", 0, "queue PDQ hits farther than this for review whatever the action (0: off)")
	f.BoolVar(&negative, "negative", false, "make the bank negative (an allow list; --negative=false undoes it)")
	return cmd
}

func newBankListCommand(g *bankGlobals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List banks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(cmd.Context(), func(svc *bank.Service, _ store.Store) error {
				bs, err := svc.ListBanks(cmd.Context())
				if err != nil {
					return err
				}
				if g.json {
					if bs == nil {
						bs = []bank.Bank{}
					}
					return printJSON(cmd.OutOrStdout(), bs)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tENABLED\tACTION\tPDQ\tCREATED\tDESCRIPTION")
				for _, b := range bs {
					fmt.Fprintf(tw, "%s\t%v\t%s\t%d\t%s\t%s\n", b.Name, b.Enabled, b.Action, b.PDQThreshold,
						b.CreatedAt.Format(time.DateOnly), firstLine(b.Description, 60))
				}
				return tw.Flush()
			})
		},
	}
}

func newBankShowCommand(g *bankGlobals) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show a bank and how many signals of each type it holds",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withService(cmd.Context(), func(svc *bank.Service, _ store.Store) error {
				b, err := svc.GetBank(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				stats, err := svc.BankStats(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(cmd.OutOrStdout(), struct {
						bank.Bank
						Signals bank.BankStats `json:"signals"`
					}{b, stats})
				}
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "name:          %s\n", b.Name)
				fmt.Fprintf(w, "enabled:       %v\n", b.Enabled)
				fmt.Fprintf(w, "action:        %s\n", b.Action)
				fmt.Fprintf(w, "pdq threshold: %d\n", b.PDQThreshold)
				if b.ReviewAbove > 0 {
					fmt.Fprintf(w, "review above:  %d\n", b.ReviewAbove)
				}
				if b.Negative {
					fmt.Fprintf(w, "negative:      true (its hits suppress other banks' hits)\n")
				}
				fmt.Fprintf(w, "created:       %s by %s\n", b.CreatedAt.Format(time.RFC3339), b.CreatedBy)
				fmt.Fprintf(w, "updated:       %s by %s\n", b.UpdatedAt.Format(time.RFC3339), b.UpdatedBy)
				if b.Description != "" {
					fmt.Fprintf(w, "description:   %s\n", strings.ReplaceAll(b.Description, "\n", "\n               "))
				}
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
				fmt.Fprintln(tw, "TYPE\tACTIVE\tREMOVED\t")
				var ta, tr int64
				for _, t := range bank.Types {
					a, r := stats.Active[t], stats.Removed[t]
					ta, tr = ta+a, tr+r
					fmt.Fprintf(tw, "%s\t%d\t%d\t\n", t, a, r)
				}
				fmt.Fprintf(tw, "total\t%d\t%d\t\n", ta, tr)
				return tw.Flush()
			})
		},
	}
}

type bankImportOptions struct {
	format, typ, category, source string
	atomic                        bool
	batch                         int
	maxBad                        int
}

func newBankImportCommand(g *bankGlobals) *cobra.Command {
	var o bankImportOptions
	cmd := &cobra.Command{
		Use:   "import NAME FILE",
		Short: "Import a hash list into a bank (plain, csv, jsonl, te, vics, nigehban hash output; streamed)",
		Long: `Import a hash list into a bank. FILE may be "-" for stdin. The list is
streamed: its size does not matter.

Formats (--format, default auto: from the content, then the file name):
  plain  one hash per line; give --type for 64-digit hashes (sha256 or pdq)
  csv    header with type,value,category,source,note,quality (+ other columns)
  jsonl  one JSON object per line with the same fields
  te     ThreatExchange-style PDQ lists: hash,quality,filename
  vics   Project VIC VICS JSON (MD5, SHA1, Category per Media)
  nigehban  what "nigehban hash" prints (JSONL or CSV): each file's md5, sha1,
         sha256, pdq with quality and vpdq (JSONL only), noted with its path;
         records with an error and empty files are bad lines

With --atomic (the default) the import is all or nothing: one bad line and
nothing is imported; every bad line is listed with its line number. With
--atomic=false good lines are imported in batches and bad lines skipped and
listed; the command then exits with status 1. Signals already active in the
bank are counted as unchanged. --category and --source fill entries that have
none.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withService(cmd.Context(), func(svc *bank.Service, _ store.Store) error {
				return runBankImport(cmd.Context(), svc, cmd.OutOrStdout(), cmd.InOrStdin(), args[0], args[1], o, g)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "auto", "list format: auto, plain, csv, jsonl, te, vics or nigehban (hash output)")
	f.StringVar(&o.typ, "type", "", "signal type for entries that do not say (plain lists): md5, sha1, sha256, pdq, vpdq")
	f.StringVar(&o.category, "category", "", "category for entries without one")
	f.StringVar(&o.source, "source", "", "source for entries without one (e.g. the partner or file it came from)")
	f.BoolVar(&o.atomic, "atomic", true, "all or nothing: any bad line or error imports nothing")
	f.IntVar(&o.batch, "batch", bank.DefaultBatchSize, "signals per database round trip (and per commit with --atomic=false)")
	f.IntVar(&o.maxBad, "max-bad-lines", bank.DefaultMaxBadLines, "how many bad lines to list (all are counted)")
	return cmd
}

// countingReader counts the bytes read through it, for the progress line.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func runBankImport(ctx context.Context, svc *bank.Service, stdout io.Writer, stdin io.Reader, name, path string, o bankImportOptions, g *bankGlobals) error {
	var in io.Reader = stdin
	var size int64
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
		in = f
	}
	cr := &countingReader{r: in}
	br := bufio.NewReaderSize(cr, 256<<10)
	format := hashlist.Format(o.format)
	if o.format == "auto" {
		head, _ := br.Peek(hashlist.DetectSize)
		if format = hashlist.Detect(head, path); format == "" {
			return fmt.Errorf("cannot tell the format of %s: give --format (%s)", path, formatNames())
		}
	} else if _, err := hashlist.ParseFormat(o.format); err != nil {
		return err
	}
	r, err := hashlist.NewReader(br, format, hashlist.ReaderOptions{Type: o.typ})
	if err != nil {
		return err
	}

	var last atomic.Pointer[bank.ImportResult]
	opts := bank.ImportOptions{Format: format,
		Actor: g.who(), Atomic: o.atomic, Category: o.category, Source: o.source,
		BatchSize: o.batch, MaxBadLines: o.maxBad,
		Progress: func(r bank.ImportResult) { last.Store(&r) },
	}
	stop := func() {}
	if progress.IsTerminal(os.Stderr) {
		stop = showImportProgress(os.Stderr, &last, cr, size)
	}
	start := time.Now()
	res, err := svc.Import(ctx, name, r, opts)
	elapsed := time.Since(start)
	last.Store(&res)
	stop() // the final progress line, before the summary
	if errors.Is(err, context.Canceled) {
		return err
	}
	if g.json {
		out := struct {
			bank.ImportResult
			Bank    string  `json:"bank"`
			Format  string  `json:"format"`
			Atomic  bool    `json:"atomic"`
			Error   string  `json:"error,omitempty"`
			Seconds float64 `json:"seconds"`
		}{ImportResult: res, Bank: name, Format: string(format), Atomic: o.atomic, Seconds: elapsed.Seconds()}
		if err != nil {
			out.Error = err.Error()
		}
		if perr := printJSON(stdout, out); perr != nil {
			return perr
		}
	} else {
		printImportSummary(stdout, name, format, res, o.atomic, err, elapsed)
	}
	switch {
	case err != nil && errors.Is(err, bank.ErrBadLines):
		return fmt.Errorf("%w: %d bad lines, nothing imported", errPartial, res.Bad)
	case err != nil:
		if res.Committed > 0 {
			return fmt.Errorf("%w (%d signals were imported before the error and remain)", err, res.Committed)
		}
		return err
	case res.Bad > 0:
		return fmt.Errorf("%w: %d bad lines skipped, the rest imported", errPartial, res.Bad)
	}
	return nil
}

func printImportSummary(w io.Writer, name string, f hashlist.Format, res bank.ImportResult, atomic bool, err error, elapsed time.Duration) {
	for _, b := range res.BadLines {
		fmt.Fprintf(w, "line %d: %s\n", b.Line, b.Err)
	}
	if res.Bad > len(res.BadLines) {
		fmt.Fprintf(w, "… and %d more bad lines\n", res.Bad-len(res.BadLines))
	}
	rate := ""
	if s := elapsed.Seconds(); s > 0 && res.Read > 0 {
		rate = fmt.Sprintf(" in %s (%.0f lines/s)", elapsed.Round(time.Millisecond), float64(res.Read)/s)
	}
	switch {
	case err == nil:
		excluded := ""
		if res.Excluded > 0 {
			excluded = fmt.Sprintf(", %d excluded (removed earlier: see bank exclusions)", res.Excluded)
		}
		fmt.Fprintf(w, "imported %s list into bank %s: %d added, %d unchanged, %d bad lines%s%s\n",
			f, name, res.Committed, res.Unchanged, res.Bad, excluded, rate)
	case errors.Is(err, bank.ErrBadLines):
		fmt.Fprintf(w, "nothing imported into bank %s (--atomic): %d bad lines of %d read; fix them or use --atomic=false to skip them\n",
			name, res.Bad, res.Read)
	case atomic:
		fmt.Fprintf(w, "nothing imported into bank %s (--atomic): %v\n", name, err)
	default:
		fmt.Fprintf(w, "import into bank %s stopped: %d signals imported before the error, %d bad lines: %v\n",
			name, res.Committed, res.Bad, err)
	}
}

// showImportProgress redraws an import progress line on w until stopped.
func showImportProgress(w io.Writer, last *atomic.Pointer[bank.ImportResult], cr *countingReader, size int64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	line := func() string {
		var r bank.ImportResult
		if p := last.Load(); p != nil {
			r = *p
		}
		s := fmt.Sprintf("import: %d read, %d added, %d unchanged, %d excluded, %d bad", r.Read, r.Added, r.Unchanged, r.Excluded, r.Bad)
		n := cr.n.Load()
		if size > 0 {
			s += fmt.Sprintf(", %s/%s (%.0f%%)", progress.Bytes(n), progress.Bytes(size), 100*float64(n)/float64(size))
		} else {
			s += ", " + progress.Bytes(n)
		}
		if el := time.Since(start).Seconds(); el > 0 {
			s += fmt.Sprintf(", %.0f lines/s", float64(r.Read)/el)
		}
		return s
	}
	wg.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprintf(w, "\r\033[K%s\n", line())
				return
			case <-t.C:
				fmt.Fprintf(w, "\r\033[K%s", line())
			}
		}
	})
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

func formatNames() string {
	var names []string
	for _, f := range hashlist.Formats() {
		names = append(names, string(f))
	}
	return strings.Join(names, ", ")
}

func newBankExportCommand(g *bankGlobals) *cobra.Command {
	var format, flavor string
	var withVariants bool
	var types []string
	cmd := &cobra.Command{
		Use:   "export NAME [FILE]",
		Short: "Export a bank's active signals as a hash list (to FILE or stdout)",
		Long: `Export the active signals of a bank, in the order they were added, as a
hash list in --format (jsonl by default: it keeps every field). FILE is
written to a temporary name and renamed when complete, so a failed export
never leaves a partial file; without FILE (or with "-") the list goes to
stdout.

Formats hold different things: plain keeps values only (export one --type at
a time); te keeps pdq only; vics keeps md5 with the sha1 of the same Media.
Signals the format cannot hold are counted and reported, and the command then
exits with status 1.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := hashlist.ParseFormat(format)
			if err != nil {
				return err
			}
			var ts []bank.Type
			for _, s := range types {
				t, err := bank.ParseType(s)
				if err != nil {
					return err
				}
				ts = append(ts, t)
			}
			path := "-"
			if len(args) == 2 {
				path = args[1]
			}
			return g.withService(cmd.Context(), func(svc *bank.Service, _ store.Store) error {
				opts := bank.ExportOptions{Types: ts, Writer: hashlist.WriterOptions{VICSFlavor: flavor}, Variants: withVariants}
				res, err := exportTo(cmd.Context(), svc, cmd.OutOrStdout(), args[0], path, f, opts)
				if err != nil {
					return err
				}
				info := cmd.ErrOrStderr()
				if g.json && path != "-" {
					info = cmd.OutOrStdout()
				}
				if g.json {
					if err := printJSON(info, res); err != nil {
						return err
					}
				} else {
					fmt.Fprintf(info, "exported %d signals of bank %s as %s\n", res.Written, args[0], f)
					reasons := make([]string, 0, len(res.SkippedReason))
					for r := range res.SkippedReason {
						reasons = append(reasons, r)
					}
					sort.Strings(reasons)
					for _, r := range reasons {
						fmt.Fprintf(info, "skipped %d signals: %s\n", res.SkippedReason[r], r)
					}
					if res.VariantsLeftOut > 0 {
						fmt.Fprintf(info, "left out %d bank-side variant signals (central crops; --variants exports them)\n", res.VariantsLeftOut)
					}
				}
				if res.Skipped > 0 {
					return fmt.Errorf("%w: %d signals not exported (the %s format cannot hold them)", errPartial, res.Skipped, f)
				}
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&format, "format", string(hashlist.JSONL), "list format: "+formatNames())
	fl.StringSliceVar(&types, "type", nil, "only signals of this type (repeatable)")
	fl.BoolVar(&withVariants, "variants", false, "also export bank-side variant signals (central crops of originals, from hash --bank-variants)")
	fl.StringVar(&flavor, "vics-flavor", "", "VICS data-model flavour: US (default), UK, CUSTOM or Default")
	return cmd
}

// exportTo writes the export to stdout or, atomically, to path.
func exportTo(ctx context.Context, svc *bank.Service, stdout io.Writer, name, path string, f hashlist.Format, opts bank.ExportOptions) (bank.ExportResult, error) {
	if path == "-" {
		return svc.Export(ctx, name, stdout, f, opts)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return bank.ExportResult{}, err
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	res, err := svc.Export(ctx, name, tmp, f, opts)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	return res, err
}

func newBankAddCommand(g *bankGlobals) *cobra.Command {
	var sig bank.Signal
	var typ string
	cmd := &cobra.Command{
		Use:   "add NAME VALUE...",
		Short: "Add signals to a bank, one transaction each",
		Long: `Add one or more signals of --type to a bank. Each value is committed on its
own and acknowledged with a line ("added pdq signal 42 …") only once it is
durably stored. A value already active in the bank is reported unchanged; a
value removed from it earlier is reported excluded and not added (see
"bank exclusions").`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := bank.ParseType(typ)
			if err != nil {
				return err
			}
			sig.Type = t
			return g.withService(cmd.Context(), func(svc *bank.Service, _ store.Store) error {
				w := cmd.OutOrStdout()
				for _, v := range args[1:] {
					s := sig
					s.Value = v
					stored, added, err := svc.AddSignal(cmd.Context(), args[0], s, g.who())
					excluded := errors.Is(err, bank.ErrExcluded)
					if err != nil && !excluded {
						return err
					}
					if g.json {
						b, _ := json.Marshal(map[string]any{"added": added, "excluded": excluded, "signal": stored})
						fmt.Fprintf(w, "%s\n", b)
						continue
					}
					if excluded {
						fmt.Fprintf(w, "excluded %s signal %s (removed earlier; bank exclusions remove allows it)\n",
							stored.Type, shorten(stored.Value, 80))
						continue
					}
					verb := "added"
					if !added {
						verb = "unchanged"
					}
					fmt.Fprintf(w, "%s %s signal %d %s\n", verb, stored.Type, stored.ID, shorten(stored.Value, 80))
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&typ, "type", "", "signal type: md5, sha1, sha256, pdq or vpdq (required)")
	f.StringVar(&sig.Category, "category", "", "category (e.g. a hotline's classification)")
	f.StringVar(&sig.Source, "source", "", "where the hash comes from")
	f.StringVar(&sig.Note, "note", "", "free-text note")
	f.IntVar(&sig.Quality, "quality", -1, "PDQ quality 0-100 (-1: unknown)")
	cmd.MarkFlagRequired("type")
	return cmd
}

func newBankRemoveCommand(g *bankGlobals) *cobra.Command {
	var typ, reason string
	cmd := &cobra.Command{
		Use:   "remove NAME (ID | --type TYPE VALUE) --reason TEXT",
		Short: "Remove a signal from a bank (a false positive); it stays in the history",
		Long: `Mark a signal removed: it stops matching, and the removal (who, when, why)
is logged. Name the signal by its ID, or by --type and value. The value is
added to the bank's exclusions, so re-importing a list that still holds it
does not bring it back ("bank exclusions remove" allows it again).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ref bank.SignalRef
			if typ != "" {
				ref.Type, ref.Value = bank.Type(typ), args[1]
			} else {
				id, err := strconv.ParseInt(args[1], 10, 64)
				if err != nil || id <= 0 {
					return fmt.Errorf("signal %q: give a numeric signal ID, or --type and the value", args[1])
				}
				ref.ID = id
			}
			return g.withService(cmd.Context(), func(svc *bank.Service, _ store.Store) error {
				s, changed, err := svc.RemoveSignal(cmd.Context(), args[0], ref, reason, g.who())
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(cmd.OutOrStdout(), map[string]any{"removed": changed, "signal": s})
				}
				if changed {
					fmt.Fprintf(cmd.OutOrStdout(), "removed %s signal %d %s\n", s.Type, s.ID, shorten(s.Value, 80))
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "%s signal %d was already removed on %s by %s: %s\n", s.Type, s.ID,
						s.RemovedAt.Format(time.RFC3339), s.RemovedBy, s.RemovedReason)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&typ, "type", "", "signal type, to name the signal by value")
	f.StringVar(&reason, "reason", "", "why the signal is removed (required)")
	cmd.MarkFlagRequired("reason")
	return cmd
}

func newBankLogCommand(g *bankGlobals) *cobra.Command {
	var since int64
	var limit int
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Print the change log (every bank and signal change, in order)",
		Long: `Print the change log from sequence number --since (exclusive), oldest first.
With --json each change is one JSON object per line; a replica that applied
everything up to N continues with --since N.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(cmd.Context(), func(svc *bank.Service, _ store.Store) error {
				w := bufio.NewWriter(cmd.OutOrStdout())
				defer w.Flush()
				var tw *tabwriter.Writer
				if !g.json {
					tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
					fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tOP\tBANK\tDETAIL")
				}
				printed := 0
				for limit <= 0 || printed < limit {
					page := 1000
					if limit > 0 {
						page = min(page, limit-printed)
					}
					cs, err := svc.Changes(cmd.Context(), since, page)
					if err != nil {
						return err
					}
					for _, c := range cs {
						if g.json {
							b, err := json.Marshal(c)
							if err != nil {
								return err
							}
							w.Write(append(b, '\n'))
						} else {
							fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", c.Seq, c.At.Format(time.RFC3339), c.Actor, c.Op, c.Bank, changeDetail(c))
						}
						since = c.Seq
					}
					printed += len(cs)
					if tw != nil {
						tw.Flush() // per page: a long log must not pile up in the tabwriter
					}
					if len(cs) < page {
						break
					}
				}
				if tw != nil {
					return tw.Flush()
				}
				return nil
			})
		},
	}
	cmd.Flags().Int64Var(&since, "since", 0, "print changes after this sequence number")
	cmd.Flags().IntVar(&limit, "limit", 0, "print at most this many changes (0: all)")
	return cmd
}

func changeDetail(c bank.Change) string {
	switch {
	case c.Signal != nil && c.Op == bank.OpSignalRemove:
		return fmt.Sprintf("%s %d %s: %s", c.Signal.Type, c.Signal.ID, shorten(c.Signal.Value, 20), firstLine(c.Reason, 60))
	case c.Signal != nil:
		return fmt.Sprintf("%s %d %s", c.Signal.Type, c.Signal.ID, shorten(c.Signal.Value, 64))
	case c.BankState != nil:
		b := c.BankState
		return fmt.Sprintf("enabled=%v action=%s pdq-threshold=%d", b.Enabled, b.Action, b.PDQThreshold)
	}
	return ""
}

func newBankCheckCommand(g *bankGlobals) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Verify the database: integrity, and a change log that accounts for every bank and signal",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(cmd.Context(), func(_ *bank.Service, st store.Store) error {
				if err := st.Check(cmd.Context()); err != nil {
					return err
				}
				seq, err := st.LastSeq(cmd.Context())
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(cmd.OutOrStdout(), map[string]any{"ok": true, "engine": st.Engine(), "last_seq": seq})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "ok: %s store consistent, %d changes\n", st.Engine(), seq)
				return nil
			})
		},
	}
}

// shorten cuts s to n runes with an ellipsis (long vPDQ values in tables).
func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func firstLine(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return shorten(s, n)
}
