package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/vault"
)

func init() { rootCmd.AddCommand(newVaultCommand()) }

func newVaultCommand() *cobra.Command {
	var db, dir, actor string
	cmd := &cobra.Command{
		Use:   "vault",
		Short: "Preserved evidence: files encrypted to named recipients (age), destroyed after their retention",
		Long: `When a platform chooses to preserve the bytes of confirmed content, they go only
into the vault: encrypted with age (X25519) to the recipients named when they are
preserved (the platform's legal team, the agency), never to this service, which
holds no key that can read them. Each item is destroyed when its retention ends
("serve --vault-dir" does it hourly; "vault destroy-expired" now). Preserving,
opening, exporting and destroying are each written to the audit log under the
case. Content never enters a report packet: packets list preserved items by
SHA-256 only.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&db, "db", "", dbFlagHelp)
	pf.StringVar(&dir, "dir", os.Getenv("NIGEHBAN_VAULT_DIR"), "the vault's directory (default $NIGEHBAN_VAULT_DIR)")
	pf.StringVar(&actor, "actor", "", "who acts, for the audit log (default $NIGEHBAN_ACTOR, else user@host)")
	who := func() string {
		if actor != "" {
			return actor
		}
		return defaultActor()
	}
	needDir := func() error {
		if dir == "" {
			return errors.New("--dir (or $NIGEHBAN_VAULT_DIR) is required")
		}
		return nil
	}

	var caseID int64
	var recipients []string
	var retention time.Duration
	preserve := &cobra.Command{
		Use:   "preserve --case ID --recipient AGE_PUBLIC_KEY… [--retention 2160h] FILE",
		Short: "Encrypt a file into the vault for a case, to the given recipients only",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needDir(); err != nil {
				return err
			}
			st, err := openStore(cmd.Context(), db)
			if err != nil {
				return err
			}
			defer st.Close()
			v, err := vault.New(st, dir, recipients, retention)
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			it, err := v.Preserve(cmd.Context(), audit.Actor{Name: who()}, caseID, f)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "item %d: sha256 %s, %d bytes, %d recipients, destroyed after %s\n",
				it.ID, it.SHA256, it.Size, len(it.Recipients), it.ExpiresAt.Format(time.RFC3339))
			return nil
		},
	}
	preserve.Flags().Int64Var(&caseID, "case", 0, "the report case the file belongs to")
	preserve.Flags().StringArrayVar(&recipients, "recipient", nil, "age X25519 public key (age1…) that may decrypt (repeatable)")
	preserve.Flags().DurationVar(&retention, "retention", 90*24*time.Hour, "how long the item is kept")
	preserve.MarkFlagRequired("case")

	var identity, out string
	open := &cobra.Command{
		Use:   "open ID --identity FILE --out FILE",
		Short: "Decrypt an item with a recipient's age identity (logged before decrypting)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := caseArg(args[0])
			if err != nil || needDir() != nil {
				return errors.Join(err, needDir())
			}
			kf, err := os.Open(identity)
			if err != nil {
				return err
			}
			ids, err := age.ParseIdentities(kf)
			kf.Close()
			if err != nil {
				return fmt.Errorf("identity: %w", err)
			}
			st, err := openStore(cmd.Context(), db)
			if err != nil {
				return err
			}
			defer st.Close()
			w, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			if _, err := vault.Open(cmd.Context(), st, dir, audit.Actor{Name: who()}, id, ids, w); err != nil {
				w.Close()
				os.Remove(out)
				return err
			}
			return w.Close()
		},
	}
	open.Flags().StringVar(&identity, "identity", "", "age identity file (AGE-SECRET-KEY-1…) of a recipient")
	open.Flags().StringVar(&out, "out", "", "file to write the decrypted content to (created, mode 0600)")
	open.MarkFlagRequired("identity")
	open.MarkFlagRequired("out")

	var exportOut string
	export := &cobra.Command{
		Use:   "export ID --out FILE",
		Short: "Copy an item, still encrypted, to hand to a recipient (logged)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := caseArg(args[0])
			if err != nil || needDir() != nil {
				return errors.Join(err, needDir())
			}
			st, err := openStore(cmd.Context(), db)
			if err != nil {
				return err
			}
			defer st.Close()
			w, err := os.OpenFile(exportOut, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			if _, err := vault.Export(cmd.Context(), st, dir, audit.Actor{Name: who()}, id, w); err != nil {
				w.Close()
				os.Remove(exportOut)
				return err
			}
			return w.Close()
		},
	}
	export.Flags().StringVar(&exportOut, "out", "", "file to write the encrypted item to")
	export.MarkFlagRequired("out")

	list := &cobra.Command{
		Use:   "list [--case ID]",
		Short: "List preserved items (metadata only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openStore(cmd.Context(), db)
			if err != nil {
				return err
			}
			defer st.Close()
			items, err := st.VaultItems(cmd.Context(), caseID)
			if err != nil {
				return err
			}
			for _, it := range items {
				state := "kept until " + it.ExpiresAt.Format(time.RFC3339)
				if it.DestroyedAt != nil {
					state = "destroyed " + it.DestroyedAt.Format(time.RFC3339)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d\tcase %d\tsha256 %s\t%d bytes\t%s\trecipients %s\n", it.ID, it.CaseID, it.SHA256,
					it.Size, state, strings.Join(it.Recipients, ","))
			}
			return nil
		},
	}
	list.Flags().Int64Var(&caseID, "case", 0, "only this case's items")

	destroy := &cobra.Command{
		Use:   "destroy-expired",
		Short: "Destroy the items whose retention has ended (logged)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needDir(); err != nil {
				return err
			}
			st, err := openStore(cmd.Context(), db)
			if err != nil {
				return err
			}
			defer st.Close()
			n, err := vault.DestroyExpired(cmd.Context(), st, dir, time.Now().UTC())
			fmt.Fprintf(cmd.OutOrStdout(), "%d items destroyed\n", n)
			return err
		},
	}
	cmd.AddCommand(preserve, open, export, list, destroy)
	return cmd
}
