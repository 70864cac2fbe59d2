package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/witness"
)

func init() { rootCmd.AddCommand(newAuditCommand()) }

const logKeyHelp = "file of the log's signing key (from \"audit keygen\"; default $NIGEHBAN_LOG_KEY)"

// keyOrFile returns the content of the file s names, or s itself when no
// such file exists and s looks like a key (name+id+key).
func keyOrFile(s string) (string, error) {
	if _, err := os.Stat(s); err != nil && strings.Count(s, "+") >= 2 {
		return strings.TrimSpace(s), nil
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return "", fmt.Errorf("read key: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// openLog returns the log of st signed with the key in keyFile (or
// $NIGEHBAN_LOG_KEY), pushing to witnesses given as "URL,VKEY".
func openLog(st store.Store, keyFile string, witnesses []string) (*audit.Log, error) {
	if keyFile == "" {
		keyFile = os.Getenv("NIGEHBAN_LOG_KEY")
	}
	if keyFile == "" {
		return nil, nil
	}
	sg, err := audit.OpenSigner(keyFile)
	if err != nil {
		return nil, err
	}
	// Every checkpoint commits the bank change log first, so that partners
	// can check the pages they read against it (exchange.ChangeLog).
	cl := &exchange.ChangeLog{St: st}
	l := &audit.Log{Store: st, Signer: sg, BeforeSign: func(ctx context.Context) error {
		_, err := cl.Commit(ctx)
		return err
	}}
	for _, w := range witnesses {
		url, vkey, ok := strings.Cut(w, ",")
		if !ok {
			return nil, fmt.Errorf("--witness %q: want URL,VKEY", w)
		}
		vkey, err := keyOrFile(vkey)
		if err != nil {
			return nil, err
		}
		c, err := witness.NewClient(url, vkey)
		if err != nil {
			return nil, fmt.Errorf("--witness %q: %w", w, err)
		}
		l.Witnesses = append(l.Witnesses, c)
	}
	return l, nil
}

func newAuditCommand() *cobra.Command {
	var db string
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "The audit log: a transparency log anyone can verify",
		Long: `Every change and decision is an entry of the audit log: a hash chain and an
RFC 6962 Merkle tree (C2SP tlog-tiles, served by "serve" under /log/ to anyone).
Checkpoints of the tree are signed with a key kept outside the database and
cosigned by witnesses; proof bundles (C2SP tlog-proof) prove one entry to
someone offline with nothing but the log's verifier key.`,
	}
	cmd.PersistentFlags().StringVar(&db, "db", "", dbFlagHelp)
	cmd.AddCommand(newAuditKeygenCommand(), newAuditCheckpointCommand(&db), newAuditProveCommand(&db),
		newAuditVerifyCommand(&db), newAuditLogCommand(&db))
	return cmd
}

func newAuditKeygenCommand() *cobra.Command {
	var origin, keyFile string
	cmd := &cobra.Command{
		Use:   "keygen --origin NAME --key FILE",
		Short: "Create the log's signing key (file mode 0600) and print its verifier key once",
		Long: `Create the Ed25519 key that signs the log's checkpoints. NAME is the log's
origin, naming the deployment (e.g. "nigehban.example.org/audit"). The secret
key is written to FILE (never overwritten); the verifier key is printed on
stdout: publish it (documentation, partners, courts) — verifiers need only it.
Whoever signs with the key ("serve --log-key", "audit checkpoint --key") keeps
the last tree it signed in FILE.state, beside the key (so that directory must be
writable by it), and refuses to sign a tree that does not extend that one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			skey, vkey, err := audit.GenerateLogKey(origin)
			if err != nil {
				return err
			}
			if err := audit.WriteKeyFile(keyFile, skey); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), vkey)
			return nil
		},
	}
	cmd.Flags().StringVar(&origin, "origin", "", "the log's origin, naming this deployment (required)")
	cmd.Flags().StringVar(&keyFile, "key", "", "file to write the secret key to (required)")
	cmd.MarkFlagRequired("origin")
	cmd.MarkFlagRequired("key")
	return cmd
}

func newAuditCheckpointCommand(db *string) *cobra.Command {
	var keyFile string
	var witnesses []string
	cmd := &cobra.Command{
		Use:   "checkpoint [--key FILE [--witness URL,VKEY…]]",
		Short: "Print the latest signed checkpoint; with the key, sign one of the current tree first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openStore(cmd.Context(), *db)
			if err != nil {
				return err
			}
			defer st.Close()
			l, err := openLog(st, keyFile, witnesses)
			if err != nil {
				return err
			}
			var msg []byte
			if l != nil {
				msg, err = l.Checkpoint(cmd.Context(), false)
			} else {
				msg, err = st.LatestCheckpoint(cmd.Context())
				if err == nil && msg == nil {
					err = errors.New("no checkpoint signed yet (sign one with --key)")
				}
			}
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(msg)
			return err
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", logKeyHelp)
	cmd.Flags().StringArrayVar(&witnesses, "witness", nil, "witness to ask for a cosignature, as URL,VKEY (repeatable)")
	return cmd
}

func newAuditProveCommand(db *string) *cobra.Command {
	var outDir string
	cmd := &cobra.Command{
		Use:   "prove SEQ… [--out DIR]",
		Short: "Write an inclusion proof bundle (C2SP tlog-proof) per entry, against the latest checkpoint",
		Long: `Write, for each entry SEQ, a proof bundle: the entry, its index, its inclusion
proof and the latest signed checkpoint (with its cosignatures). "audit verify
--vkey KEY FILE…" checks it offline. With one SEQ and no --out, the bundle
goes to stdout; otherwise to DIR/entry-SEQ.tlog-proof.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 && outDir == "" {
				return errors.New("several entries: give --out DIR")
			}
			st, err := openStore(cmd.Context(), *db)
			if err != nil {
				return err
			}
			defer st.Close()
			msg, err := st.LatestCheckpoint(cmd.Context())
			if err != nil {
				return err
			}
			if msg == nil {
				return errors.New("no checkpoint signed yet (audit checkpoint --key FILE)")
			}
			text, _, err := audit.SplitNote(msg)
			if err != nil {
				return err
			}
			c, err := audit.ParseCheckpoint(text)
			if err != nil {
				return err
			}
			for _, a := range args {
				seq, err := strconv.ParseInt(a, 10, 64)
				if err != nil || seq < 1 {
					return fmt.Errorf("entry %q: want a sequence number", a)
				}
				es, err := st.ListAudit(cmd.Context(), seq-1, 1)
				if err != nil {
					return err
				}
				if len(es) == 0 || es[0].Seq != seq {
					return fmt.Errorf("entry %d not found", seq)
				}
				b, err := audit.Prove(cmd.Context(), st, msg, c, es[0])
				if err != nil {
					return err
				}
				if outDir == "" {
					_, err = cmd.OutOrStdout().Write(b)
					return err
				}
				p := filepath.Join(outDir, fmt.Sprintf("entry-%d.tlog-proof", seq))
				if err := os.WriteFile(p, b, 0o644); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&outDir, "out", "", "directory to write the bundles to")
	return cmd
}

func newAuditVerifyCommand(db *string) *cobra.Command {
	var logURL, vkey, sinceFile, saveFile string
	var witnessKeys []string
	var required int
	cmd := &cobra.Command{
		Use:   "verify [--log URL] --vkey KEY [--since CHECKPOINT_FILE] [PROOF_FILE…]",
		Short: "Verify the audit log (database or --log URL) or proof bundles; exit 1 naming the first bad entry",
		Long: `Without PROOF_FILEs, re-compute the log: from the database (--db), or from a
log's public read API (--log https://host/log) with nothing but its verifier
key. Every entry is checked against its leaf, the tree against the latest
checkpoint's signed root (so deleted entries, also at the end, are caught),
and, with --since, that the log extends a checkpoint saved earlier (a
rewritten log is caught even when its hashes were recomputed). --save writes
the verified checkpoint for the next --since.

With PROOF_FILEs, check each bundle offline ("audit prove" writes them).

KEY is the log's verifier key or a file holding it; --witness-key and
--witnesses set the witness policy (k of n cosignatures required).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			var policy *audit.Policy
			if vkey != "" {
				k, err := keyOrFile(vkey)
				if err != nil {
					return err
				}
				var wks []string
				for _, w := range witnessKeys {
					wk, err := keyOrFile(w)
					if err != nil {
						return err
					}
					wks = append(wks, wk)
				}
				p, err := audit.NewPolicy(k, wks, required)
				if err != nil {
					return err
				}
				policy = &p
			} else if logURL != "" || len(args) > 0 || sinceFile != "" {
				return errors.New("--vkey is required to verify signatures")
			}
			var since []byte
			if sinceFile != "" {
				b, err := os.ReadFile(sinceFile)
				if err != nil {
					return fmt.Errorf("--since: %w", err)
				}
				since = b
			}
			if len(args) > 0 {
				for _, a := range args {
					b, err := os.ReadFile(a)
					if err != nil {
						return err
					}
					e, c, err := audit.VerifyProof(b, *policy)
					if err != nil {
						return fmt.Errorf("%s: FAILED: %w", a, err)
					}
					fmt.Fprintf(out, "%s: OK: entry %d (%s %s %s at %s) is in the log %s of %d entries\n", a, e.Seq, e.Actor, e.Action, e.Target, e.At.Format("2006-01-02T15:04:05Z07:00"), c.Origin, c.Size)
				}
				return nil
			}
			var v audit.Verified
			var msg []byte
			var err error
			if logURL != "" {
				v, msg, err = audit.VerifyRemote(cmd.Context(), &audit.Client{Base: logURL}, *policy, since)
			} else {
				st, oerr := openStore(cmd.Context(), *db)
				if oerr != nil {
					return oerr
				}
				defer st.Close()
				v, err = audit.VerifyLocal(cmd.Context(), st, policy, since)
				if err == nil && policy != nil {
					msg, err = st.LatestCheckpoint(cmd.Context())
				}
			}
			if err != nil {
				return fmt.Errorf("audit log FAILED verification after %d entries: %w", v.Entries, err)
			}
			fmt.Fprintf(out, "audit log OK: %d entries, hash chain intact", v.Entries)
			if v.Checkpoint.Size > 0 || policy != nil {
				fmt.Fprintf(out, ", tree matches the checkpoint of %d entries signed by %s", v.Checkpoint.Size, v.Checkpoint.Origin)
			} else {
				fmt.Fprint(out, ", tree hashes match (without --vkey no signed checkpoint is checked: a log cut short with its tree is not caught)")
			}
			if v.Since.Size > 0 {
				fmt.Fprintf(out, ", consistent with the earlier checkpoint of %d entries", v.Since.Size)
			}
			fmt.Fprintln(out)
			if saveFile != "" && msg != nil {
				return os.WriteFile(saveFile, msg, 0o644)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&logURL, "log", "", "verify the log served at this URL (e.g. https://host/log) instead of the database")
	f.StringVar(&vkey, "vkey", "", "the log's verifier key, or a file holding it")
	f.StringArrayVar(&witnessKeys, "witness-key", nil, "a witness's verifier key, or a file holding it (repeatable)")
	f.IntVar(&required, "witnesses", 0, "how many of the --witness-key witnesses must have cosigned")
	f.StringVar(&sinceFile, "since", "", "a checkpoint saved earlier: the log must extend it")
	f.StringVar(&saveFile, "save", "", "write the verified checkpoint to this file (for the next --since)")
	return cmd
}

func newAuditLogCommand(db *string) *cobra.Command {
	var since int64
	cmd := &cobra.Command{
		Use: "log [--since N]", Short: "Print audit entries as JSONL", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openStore(cmd.Context(), *db)
			if err != nil {
				return err
			}
			defer st.Close()
			enc := json.NewEncoder(cmd.OutOrStdout())
			for {
				es, err := st.ListAudit(cmd.Context(), since, 1000)
				if err != nil || len(es) == 0 {
					return err
				}
				for _, e := range es {
					if err := enc.Encode(e); err != nil {
						return err
					}
				}
				since = es[len(es)-1].Seq
			}
		},
	}
	cmd.Flags().Int64Var(&since, "since", 0, "print entries after this sequence number")
	return cmd
}
