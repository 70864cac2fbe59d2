package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/store"
)

func newBankExclusionsCommand(g *bankGlobals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exclusions",
		Short: "List and edit the values a bank refuses (removed signals stay removed)",
		Long: `A bank's exclusions are values it refuses: removing a signal excludes its
value, so adding or re-importing it later reports it as excluded instead of
adding it back. Curators may exclude values that must never enter the bank,
with a reason, and remove an exclusion to allow its value again. Every edit
is audited.`,
	}
	list := &cobra.Command{
		Use: "list NAME", Short: "List a bank's exclusions, oldest first", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withService(cmd.Context(), func(svc *bank.Service, _ store.Store) error {
				xs, err := svc.Exclusions(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if g.json {
					if xs == nil {
						xs = []bank.Exclusion{}
					}
					return printJSON(cmd.OutOrStdout(), xs)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TYPE\tVALUE\tSINCE\tBY\tREASON")
				for _, x := range xs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", x.Type, shorten(x.Value, 80), x.CreatedAt.Format(time.RFC3339),
						x.CreatedBy, shorten(x.Reason, 80))
				}
				return tw.Flush()
			})
		},
	}
	var typ, reason string
	add := &cobra.Command{
		Use: "add NAME --type TYPE VALUE --reason TEXT", Short: "Exclude a value from a bank", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withService(cmd.Context(), func(svc *bank.Service, _ store.Store) error {
				x, added, err := svc.AddExclusion(cmd.Context(), args[0], bank.Type(typ), args[1], reason, g.who())
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(cmd.OutOrStdout(), map[string]any{"added": added, "exclusion": x})
				}
				if added {
					fmt.Fprintf(cmd.OutOrStdout(), "excluded %s %s from bank %s\n", x.Type, shorten(x.Value, 80), args[0])
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "%s %s was already excluded on %s by %s: %s\n", x.Type, shorten(x.Value, 80),
						x.CreatedAt.Format(time.RFC3339), x.CreatedBy, x.Reason)
				}
				return nil
			})
		},
	}
	add.Flags().StringVar(&typ, "type", "", "signal type: md5, sha1, sha256, pdq or vpdq (required)")
	add.Flags().StringVar(&reason, "reason", "", "why the value is excluded (required)")
	add.MarkFlagRequired("type")
	add.MarkFlagRequired("reason")
	var rmType string
	remove := &cobra.Command{
		Use: "remove NAME --type TYPE VALUE", Short: "Allow an excluded value in a bank again", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withService(cmd.Context(), func(svc *bank.Service, _ store.Store) error {
				if err := svc.RemoveExclusion(cmd.Context(), args[0], bank.Type(rmType), args[1], g.who()); err != nil {
					return err
				}
				if g.json {
					return printJSON(cmd.OutOrStdout(), map[string]any{"removed": true})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s is allowed in bank %s again\n", rmType, shorten(args[1], 80), args[0])
				return nil
			})
		},
	}
	remove.Flags().StringVar(&rmType, "type", "", "signal type (required)")
	remove.MarkFlagRequired("type")
	cmd.AddCommand(list, add, remove)
	return cmd
}
