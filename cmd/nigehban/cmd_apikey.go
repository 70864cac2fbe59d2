package main

import (
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
)

func init() {
	rootCmd.AddCommand(newAPIKeyCommand())
}

func newAPIKeyCommand() *cobra.Command {
	var db string
	cmd := &cobra.Command{Use: "apikey", Short: "Create, list and revoke API keys of the service"}
	cmd.PersistentFlags().StringVar(&db, "db", "", dbFlagHelp)

	var name, role string
	create := &cobra.Command{
		Use:   "create --role submitter|curator|admin --name NAME",
		Short: "Create a key and print its secret (shown this once, stored only hashed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := apikey.ParseRole(role)
			if err != nil {
				return err
			}
			st, err := openStore(cmd.Context(), db)
			if err != nil {
				return err
			}
			defer st.Close()
			k, secret, err := apikey.New(name, r, defaultActor())
			if err != nil {
				return err
			}
			if k, err = st.CreateAPIKey(cmd.Context(), k, audit.Actor{Name: defaultActor()}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "created key %d (%s, %s); its secret, shown only now:\n", k.ID, k.Name, k.Role)
			fmt.Fprintln(cmd.OutOrStdout(), secret)
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "who or what uses the key")
	create.Flags().StringVar(&role, "role", "", "submitter (hash, match), curator (+ banks) or admin (+ keys)")
	create.MarkFlagRequired("name")
	create.MarkFlagRequired("role")

	list := &cobra.Command{
		Use: "list", Short: "List keys", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openStore(cmd.Context(), db)
			if err != nil {
				return err
			}
			defer st.Close()
			keys, err := st.ListAPIKeys(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED\tREVOKED")
			for _, k := range keys {
				rev := ""
				if k.RevokedAt != nil {
					rev = k.RevokedAt.Format("2006-01-02 15:04")
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Role, k.CreatedAt.Format("2006-01-02 15:04"), rev)
			}
			return tw.Flush()
		},
	}
	revoke := &cobra.Command{
		Use: "revoke ID", Short: "Revoke a key (every replica refuses it within 5 s)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("key id %q is not a number", args[0])
			}
			st, err := openStore(cmd.Context(), db)
			if err != nil {
				return err
			}
			defer st.Close()
			return st.RevokeAPIKey(cmd.Context(), id, audit.Actor{Name: defaultActor()})
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
