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
	"github.com/nigehban/nigehban/internal/index"
	"github.com/nigehban/nigehban/internal/pdq"
)

func init() { rootCmd.AddCommand(newMatchCommand()) }

type matchOptions struct {
	banks     []string
	db        string
	threshold int
	format    string
}

func newMatchCommand() *cobra.Command {
	var o matchOptions
	cmd := &cobra.Command{
		Use:   "match --bank FILE [--threshold 31] [QUERIES|-]",
		Short: "Match PDQ hashes against banks (hash-list files, or stored banks with --db)",
		Long: `Match PDQ hashes against one or more banks and print one JSONL object per query:
{"query":…,"matches":[{"hash":…,"distance":…,"label":…}]}, nearest first.

Without --db, each --bank is a file of PDQ hashes, one per line, "hex" or
"hex,label" (blank lines and lines starting with # are skipped). With --db,
each --bank names a stored bank (all enabled banks when none is named), each
matched with its own threshold (--threshold can only narrow it), and matches
report the bank, signal id, value and category.

Queries come from the files named, or stdin ("-" or none), in the same line
format. A bad query line is reported as {"query":…,"error":…}, matching
goes on, and the exit status is 1 at the end.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("threshold") {
				o.threshold = -1
			}
			return runMatch(cmd.Context(), cmd.OutOrStdout(), cmd.InOrStdin(), args, o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.banks, "bank", nil, "bank file (or, with --db, bank name); repeatable")
	f.StringVar(&o.db, "db", "", "match stored banks in this database (SQLite path or postgres:// URL)")
	f.IntVar(&o.threshold, "threshold", pdq.DefaultThreshold, "match when the Hamming distance is at most this (0-256)")
	f.StringVar(&o.format, "format", "jsonl", "output format (jsonl)")
	return cmd
}

// matchRecord is one output line: the query and its matches, or an error.
type matchRecord struct {
	Query   string `json:"query"`
	Matches *[]any `json:"matches,omitempty"` // a pointer: no matches is [], an error none
	Error   string `json:"error,omitempty"`
}

// matcher answers one query hash; it returns a non-nil slice.
type matcher func(pdq.Hash) ([]any, error)

func runMatch(ctx context.Context, stdout io.Writer, stdin io.Reader, args []string, o matchOptions) error {
	if o.format != "jsonl" {
		return fmt.Errorf("unknown --format %q (want jsonl)", o.format)
	}
	if o.threshold > 256 || o.threshold < -1 {
		return fmt.Errorf("--threshold must be between 0 and 256, got %d", o.threshold)
	}
	var match matcher
	var err error
	if o.db != "" {
		var st io.Closer
		match, st, err = storedMatcher(ctx, o)
		if st != nil {
			defer st.Close()
		}
	} else {
		match, err = fileMatcher(o)
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
		err := forEachLine(r, func(line int, hex, _ string) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			rec := matchRecord{Query: hex}
			h, err := pdq.ParseHex(hex)
			if err == nil {
				var ms []any
				if ms, err = match(h); err == nil {
					rec.Query, rec.Matches = h.String(), &ms
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

// forEachLine calls fn with each non-blank, non-comment line split into a
// hash and an optional label at the first comma.
func forEachLine(r io.Reader, fn func(line int, hex, label string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff"))
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		hex, label, _ := strings.Cut(text, ",")
		if err := fn(n, strings.TrimSpace(hex), strings.TrimSpace(label)); err != nil {
			return err
		}
	}
	return sc.Err()
}

type fileMatch struct {
	Hash     pdq.Hash `json:"hash"`
	Distance int      `json:"distance"`
	Label    string   `json:"label,omitempty"`
	Bank     string   `json:"bank,omitempty"`
}

// fileMatcher indexes the hashes of the bank files; a bad line in a bank is
// an error naming file and line (a bank is not used half-read).
func fileMatcher(o matchOptions) (matcher, error) {
	if len(o.banks) == 0 {
		return nil, errors.New("no bank: give --bank FILE (or --db with bank names)")
	}
	var labels, banks []string
	var entries []index.Entry
	for _, name := range o.banks {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("open bank: %w", err)
		}
		err = forEachLine(f, func(line int, hex, label string) error {
			h, err := pdq.ParseHex(hex)
			if err != nil {
				return fmt.Errorf("bank %s:%d: %w", name, line, err)
			}
			entries = append(entries, index.Entry{ID: uint64(len(labels)), Hash: h})
			labels, banks = append(labels, label), append(banks, name)
			return nil
		})
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	var x index.PDQ
	x.AddBatch(entries)
	threshold := o.threshold
	if threshold < 0 {
		threshold = pdq.DefaultThreshold
	}
	multi := len(o.banks) > 1
	var buf []index.Match
	return func(q pdq.Hash) ([]any, error) {
		buf = x.AppendSearch(buf[:0], q, threshold)
		ms := make([]any, len(buf))
		for i, m := range buf {
			fm := fileMatch{Hash: m.Hash, Distance: m.Distance, Label: labels[m.ID]}
			if multi {
				fm.Bank = banks[m.ID]
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
}

// storedMatcher loads the named banks from the store into memory. Each bank
// matches with its own threshold, set by its curator; --threshold can only
// narrow it (a curator's limit is never widened from the command line).
func storedMatcher(ctx context.Context, o matchOptions) (matcher, io.Closer, error) {
	st, err := openStore(ctx, o.db)
	if err != nil {
		return nil, nil, err
	}
	svc := bank.NewService(st)
	x, err := bank.LoadIndex(ctx, st, o.banks)
	if err != nil {
		return nil, st, err
	}
	return func(q pdq.Hash) ([]any, error) {
		hits := x.MatchPDQ(q)
		ms := make([]any, 0, len(hits))
		for _, h := range hits {
			if o.threshold >= 0 && h.Distance > o.threshold {
				continue
			}
			sig, err := svc.GetSignal(ctx, h.SignalID)
			if err != nil {
				return nil, fmt.Errorf("signal %d: %w", h.SignalID, err)
			}
			ms = append(ms, storedMatch{Bank: h.Bank, SignalID: h.SignalID, Hash: sig.Value, Distance: h.Distance,
				Category: sig.Category, Label: sig.Note})
		}
		return ms, nil
	}, st, nil
}
