package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/fingerprint"
	"github.com/nigehban/nigehban/internal/hashlist"
	"github.com/nigehban/nigehban/internal/match"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/signal"
	"github.com/nigehban/nigehban/internal/variant"
	"github.com/nigehban/nigehban/internal/vpdq"
)

func init() { rootCmd.AddCommand(newMatchCommand()) }

type matchOptions struct {
	banks     []string
	bankType  string
	db        string
	threshold int
	format    string
	variants  string
}

func newMatchCommand() *cobra.Command {
	var o matchOptions
	cmd := &cobra.Command{
		Use:   "match [--bank FILE… | --db DSN] [--bank NAME…] [--threshold 31] [QUERIES|-]",
		Short: "Match PDQ hashes against banks (hash-list files, or stored banks)",
		Long: `Match PDQ hashes against one or more banks and print one JSONL object per query:
{"query":…,"matches":[{"hash":…,"distance":…,"label":…}]}, nearest first.

A --bank that names a file is a hash list in any format bank import reads
(plain, csv, jsonl, te, vics; found by content), or the "hex,label" lines
earlier versions took; lines of a plain list are PDQ hashes unless
--bank-type says otherwise. Otherwise the banks are stored ones: those
--bank names (all enabled banks when none is named) in the database --db
gives, by default the one every command uses. Each stored bank matches with
its own threshold (--threshold can only narrow it), and matches report the
bank, signal id, value and category.

Queries come from the files named, or stdin ("-" or none), one PDQ hash per
line, optionally followed by ",label". A bad query line is reported as
{"query":…,"error":…}, matching goes on, and the exit status is 1 at the
end. A bank or query file that is not text (an image) is refused whole.

A query line may also be a JSONL record of "nigehban hash": its pdq is
matched with the pdq_variants of the record that --variants allows (none,
borders or all; default borders; bank-side crops never), each signal once,
and each match names the variant that matched ("variant").`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("threshold") {
				o.threshold = -1
			}
			return runMatch(cmd.Context(), cmd.OutOrStdout(), cmd.InOrStdin(), args, o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.banks, "bank", nil, "hash-list file, or stored bank name; repeatable")
	f.StringVar(&o.bankType, "bank-type", "pdq", "signal type of bank lines that do not say (plain lists)")
	f.StringVar(&o.db, "db", "", "match stored banks in this database (default $NIGEHBAN_DB, else $XDG_DATA_HOME/nigehban/nigehban.db)")
	f.IntVar(&o.threshold, "threshold", signal.DefaultPDQThreshold, "match when the Hamming distance is at most this (0-256)")
	f.StringVar(&o.format, "format", "jsonl", "output format (jsonl)")
	f.StringVar(&o.variants, "variants", variant.Default.String(), "with nigehban hash records as queries: the PDQ variants matched beside pdq (none, borders or all)")
	return cmd
}

// matchRecord is one output line: the query and its matches, or an error.
type matchRecord struct {
	Query   string `json:"query"`
	Matches *[]any `json:"matches,omitempty"` // a pointer: no matches is [], an error none
	Error   string `json:"error,omitempty"`
}

// matcher answers one query (its variants, the original first); it
// returns a non-nil slice.
type matcher func([]variant.Hash) ([]any, error)

func runMatch(ctx context.Context, stdout io.Writer, stdin io.Reader, args []string, o matchOptions) error {
	if o.format != "jsonl" {
		return fmt.Errorf("unknown --format %q (want jsonl)", o.format)
	}
	set, err := variant.ParseSet(o.variants)
	if err != nil {
		return fmt.Errorf("--variants: %w", err)
	}
	if o.threshold > 256 || o.threshold < -1 {
		return fmt.Errorf("--threshold must be between 0 and 256, got %d", o.threshold)
	}
	files, err := bankFiles(o)
	if err != nil {
		return err
	}
	var find matcher
	if files {
		find, err = fileMatcher(ctx, o)
	} else {
		var st io.Closer
		find, st, err = storedMatcher(ctx, o)
		if st != nil {
			defer st.Close()
		}
	}
	if err != nil {
		return err
	}

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	failed := 0
	queries := args
	if len(queries) == 0 {
		queries = []string{"-"}
	}
	for _, name := range queries {
		r := stdin
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				return fmt.Errorf("open queries: %w", err)
			}
			defer f.Close()
			r = f
		}
		if r == nil {
			r = strings.NewReader("")
		}
		br := bufio.NewReaderSize(r, 64<<10)
		if head, _ := br.Peek(hashlist.DetectSize); len(head) > 0 {
			if err := match.CheckText(head); err != nil {
				return fmt.Errorf("queries %s: %w", name, err)
			}
		}
		err := forEachLine(br, func(line int, hex, _ string, text string) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			rec := matchRecord{Query: hex}
			var vs []variant.Hash
			var err error
			if strings.HasPrefix(text, "{") {
				rec.Query = text
				vs, err = recordVariants(text, set)
			} else {
				var h pdq.Hash
				h, err = pdq.ParseHex(hex)
				vs = []variant.Hash{{Name: variant.Original, PDQ: h, Quality: pdq.MinQuality}}
			}
			if err == nil {
				var ms []any
				if ms, err = find(vs); err == nil {
					rec.Query, rec.Matches = vs[0].PDQ.String(), &ms
				}
			}
			if err != nil {
				failed++
				rec.Error = fmt.Sprintf("%s:%d: %v", name, line, err)
			}
			return enc.Encode(rec)
		})
		if err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d queries failed: %w", failed, errPartial)
	}
	return nil
}

// bankFiles tells whether the --bank values are files (true) or stored
// bank names (false): with --db, or without any --bank, they are names;
// otherwise every one must be an existing file, or none.
func bankFiles(o matchOptions) (bool, error) {
	if o.db != "" || len(o.banks) == 0 {
		return false, nil
	}
	var files, names []string
	for _, b := range o.banks {
		if _, err := os.Stat(b); err == nil || bank.ValidateName(b) != nil {
			files = append(files, b) // a missing path is reported when opened
		} else {
			names = append(names, b)
		}
	}
	if len(files) > 0 && len(names) > 0 {
		return false, fmt.Errorf("--bank %s is a file and --bank %s is no file (a stored bank?): give files or stored banks, not both", files[0], names[0])
	}
	return len(files) > 0, nil
}

// recordVariants reads a `nigehban hash` JSONL record as a query: its pdq
// (the original) and the pdq_variants set s allows, never bank-side crops.
func recordVariants(text string, s variant.Set) ([]variant.Hash, error) {
	var rec fingerprint.Record
	if err := json.Unmarshal([]byte(text), &rec); err != nil {
		return nil, fmt.Errorf("not a nigehban hash record: %v", err)
	}
	if rec.PDQ == nil {
		return nil, errors.New("record without pdq")
	}
	q := pdq.MinQuality
	if rec.Quality != nil {
		q = *rec.Quality
	}
	vs := []variant.Hash{{Name: variant.Original, PDQ: *rec.PDQ, Quality: q}}
	for _, v := range rec.Variants {
		if strings.HasPrefix(v.Name, "crop") || s == variant.None || (s == variant.Borders && v.Name != variant.Trimmed) {
			continue
		}
		vs = append(vs, v)
	}
	return vs, nil
}

// forEachLine calls fn with each non-blank, non-comment line split into a
// hash and an optional label at the first comma, and whole.
func forEachLine(r io.Reader, fn func(line int, hex, label, text string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff"))
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		hex, label, _ := strings.Cut(text, ",")
		if err := fn(n, strings.TrimSpace(hex), strings.TrimSpace(label), text); err != nil {
			return err
		}
	}
	return sc.Err()
}

type fileMatch struct {
	Hash     string `json:"hash"`
	Distance int    `json:"distance"`
	Label    string `json:"label,omitempty"`
	Bank     string `json:"bank,omitempty"`
	Variant  string `json:"variant,omitempty"` // the query variant matched, when not the original
}

// fileMatcher loads the bank files through internal/match; a bad line in a
// bank is an error naming file and line (a bank is not used half-read).
func fileMatcher(ctx context.Context, o matchOptions) (matcher, error) {
	threshold := o.threshold
	if threshold < 0 {
		threshold = signal.DefaultPDQThreshold
	}
	typ := o.bankType
	if typ == "" {
		typ = string(signal.PDQ) // queries are PDQ hashes
	}
	x, err := match.LoadFiles(ctx, o.banks, match.FileOptions{Type: typ, PDQThreshold: threshold, Video: vpdq.DefaultMatchOptions()})
	if err != nil {
		return nil, err
	}
	multi := len(o.banks) > 1
	return func(vs []variant.Hash) ([]any, error) {
		hits := x.MatchVariants(vs)
		ms := make([]any, len(hits))
		for i, h := range hits {
			fm := fileMatch{Hash: h.Value, Distance: h.Distance, Label: h.Label, Variant: nonOriginal(h.Variant)}
			if multi {
				fm.Bank = h.Bank
			}
			ms[i] = fm
		}
		return ms, nil
	}, nil
}

type storedMatch struct {
	Bank     string `json:"bank"`
	SignalID int64  `json:"signal_id"`
	Hash     string `json:"hash"`
	Distance int    `json:"distance"`
	Category string `json:"category,omitempty"`
	Label    string `json:"label,omitempty"`
	Variant  string `json:"variant,omitempty"` // the query variant matched, when not the original
}

// nonOriginal is the variant name to print: none for the original, so
// output for plain hash queries is as before.
func nonOriginal(name string) string {
	if name == variant.Original {
		return ""
	}
	return name
}

// storedMatcher loads the named banks (all enabled ones when none is named)
// from the store into memory. Each bank matches with its own threshold, set
// by its curator; --threshold can only narrow it (a curator's limit is never
// widened from the command line).
func storedMatcher(ctx context.Context, o matchOptions) (matcher, io.Closer, error) {
	st, err := openStore(ctx, o.db)
	if err != nil {
		return nil, nil, err
	}
	x, err := match.LoadStore(ctx, st, o.banks, match.StoreOptions{MaxPDQThreshold: o.threshold, Video: vpdq.DefaultMatchOptions()})
	if err != nil {
		if errors.Is(err, bank.ErrNotFound) && o.db == "" {
			err = fmt.Errorf("%w (a --bank that is no file names a bank in the default database)", err)
		}
		return nil, st, err
	}
	if len(x.Banks()) == 0 {
		return nil, st, errors.New("no enabled bank in the database: create one (nigehban bank create) or give --bank FILE")
	}
	svc := bank.NewService(st)
	return func(vs []variant.Hash) ([]any, error) {
		hits := x.MatchVariants(vs)
		ms := make([]any, 0, len(hits))
		for _, h := range hits {
			sig, err := svc.GetSignal(ctx, h.SignalID) // for its note
			if err != nil {
				return nil, fmt.Errorf("signal %d: %w", h.SignalID, err)
			}
			ms = append(ms, storedMatch{Bank: h.Bank, SignalID: h.SignalID, Hash: h.Value, Distance: h.Distance,
				Category: h.Category, Label: sig.Note, Variant: nonOriginal(h.Variant)})
		}
		return ms, nil
	}, st, nil
}
