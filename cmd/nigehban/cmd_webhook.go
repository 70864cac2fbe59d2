package main

import (
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nigehban/nigehban/internal/audit"
)

func init() { rootCmd.AddCommand(newWebhookCommand()) }

func newWebhookCommand() *cobra.Command {
	var db string
	cmd := &cobra.Command{Use: "webhook", Short: "List and retry dead webhook events (attempts exhausted)"}
	cmd.PersistentFlags().StringVar(&db, "db", "", dbFlagHelp)

	var after int64
	var limit int
	dead := &cobra.Command{
		Use: "dead", Short: "List dead webhook events, oldest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openStore(cmd.Context(), db)
			if err != nil {
				return err
			}
			defer st.Close()
			evs, err := st.DeadEvents(cmd.Context(), after, limit)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tEVENT\tBANK\tURL\tATTEMPTS\tLAST ATTEMPT\tLAST ERROR")
			for _, e := range evs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", e.ID, e.EventID(), e.Bank, e.URL, e.Attempts,
					e.NextAt.UTC().Format(time.DateTime), e.LastError)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(evs) == limit {
				fmt.Fprintf(cmd.ErrOrStderr(), "more: --after %d\n", evs[len(evs)-1].ID)
			}
			return nil
		},
	}
	dead.Flags().Int64Var(&after, "after", 0, "list events with an id above this")
	dead.Flags().IntVar(&limit, "limit", 100, "list at most this many events")

	var all bool
	retry := &cobra.Command{
		Use:   "retry ID… | retry --all",
		Short: "Make dead events pending again with fresh attempts (audited)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return errors.New("give the ids of dead events to retry, or --all")
			}
			var ids []int64
			for _, a := range args {
				id, err := strconv.ParseInt(a, 10, 64)
				if err != nil || id <= 0 {
					return fmt.Errorf("event id %q is not a positive number", a)
				}
				ids = append(ids, id)
			}
			st, err := openStore(cmd.Context(), db)
			if err != nil {
				return err
			}
			defer st.Close()
			retried, err := st.RetryDead(cmd.Context(), ids, audit.Actor{Name: defaultActor()})
			if err != nil {
				return err
			}
			for _, id := range retried {
				fmt.Fprintln(cmd.OutOrStdout(), id)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d dead events pending again\n", len(retried))
			if !all && len(retried) < len(ids) {
				return fmt.Errorf("%d of the %d ids are not dead events", len(ids)-len(retried), len(ids))
			}
			return nil
		},
	}
	retry.Flags().BoolVar(&all, "all", false, "retry every dead event")
	cmd.AddCommand(dead, retry)
	return cmd
}
