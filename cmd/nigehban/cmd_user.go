package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nigehban/nigehban/internal/account"
)

func init() { rootCmd.AddCommand(newUserCommand()) }

func newUserCommand() *cobra.Command {
	var db string
	cmd := &cobra.Command{Use: "user", Short: "Create, list, disable and reset console users (/ui/)"}
	cmd.PersistentFlags().StringVar(&db, "db", "", dbFlagHelp)
	withService := func(cmd *cobra.Command, fn func(*account.Service) error) error {
		st, err := openStore(cmd.Context(), db)
		if err != nil {
			return err
		}
		defer st.Close()
		return fn(account.NewService(st, st, account.Config{}))
	}
	printToken := func(cmd *cobra.Command, u account.User, tok, what string) {
		fmt.Fprintf(cmd.ErrOrStderr(), "%s user %s (%s). Give them this one-time setup token, valid 72 hours;\n"+
			"they enter it at /ui/setup to choose a password (admins then enrol a TOTP authenticator):\n", what, u.Name, u.Role)
		fmt.Fprintln(cmd.OutOrStdout(), tok)
	}

	var role string
	create := &cobra.Command{
		Use:   "create NAME --role viewer|moderator|child-safety|curator|admin",
		Short: "Create a user and print their one-time setup token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := account.ParseRole(role)
			if err != nil {
				return err
			}
			return withService(cmd, func(svc *account.Service) error {
				u, tok, err := svc.Create(cmd.Context(), args[0], r, defaultActor())
				if err != nil {
					return err
				}
				printToken(cmd, u, tok, "created")
				return nil
			})
		},
	}
	create.Flags().StringVar(&role, "role", "", "viewer < moderator < child-safety (sees uploader data) < curator (banks) < admin (users, keys)")
	create.MarkFlagRequired("role")

	list := &cobra.Command{
		Use: "list", Short: "List users", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withService(cmd, func(svc *account.Service) error {
				us, err := svc.List(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tROLE\tSTATE\tTOTP\tLAST LOGIN")
				for _, u := range us {
					state := "active"
					switch {
					case u.DisabledAt != nil:
						state = "disabled"
					case u.PasswordHash == "":
						state = "setup pending"
					case u.LockedUntil != nil:
						state = "locked until " + u.LockedUntil.Format("2006-01-02 15:04")
					}
					last := ""
					if u.LastLoginAt != nil {
						last = u.LastLoginAt.Format("2006-01-02 15:04")
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%v\t%s\n", u.ID, u.Name, u.Role, state, u.HasTOTP(), last)
				}
				return tw.Flush()
			})
		},
	}
	var enable bool
	disable := &cobra.Command{
		Use: "disable NAME [--enable]", Short: "Disable a user (their sessions end at once), or re-enable with --enable", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withService(cmd, func(svc *account.Service) error {
				_, err := svc.SetDisabled(cmd.Context(), args[0], !enable, defaultActor())
				return err
			})
		},
	}
	disable.Flags().BoolVar(&enable, "enable", false, "re-enable the user instead")
	reset := &cobra.Command{
		Use:   "reset NAME",
		Short: "Clear a user's password, TOTP and lockout, end their sessions, print a new setup token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withService(cmd, func(svc *account.Service) error {
				u, tok, err := svc.Reset(cmd.Context(), args[0], defaultActor())
				if err != nil {
					return err
				}
				printToken(cmd, u, tok, "reset")
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, disable, reset)
	return cmd
}
