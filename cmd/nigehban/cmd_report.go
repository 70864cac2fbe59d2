package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/buildinfo"
	"github.com/nigehban/nigehban/internal/report"
	"github.com/nigehban/nigehban/internal/report/cybertip"
	"github.com/nigehban/nigehban/internal/sealed"
	"github.com/nigehban/nigehban/internal/store"
)

func init() { rootCmd.AddCommand(newReportCommand()) }

// reportFlags are the flags every report subcommand shares.
type reportFlags struct {
	db, dataKey, actor string
}

func (f *reportFlags) service(cmd *cobra.Command) (*report.Service, store.Store, error) {
	ring, err := sealed.FromEnv(f.dataKey)
	if err != nil {
		return nil, nil, err
	}
	if !ring.Configured() {
		return nil, nil, fmt.Errorf("report cases hold personal data: %w", sealed.ErrNoKey)
	}
	st, err := openStore(cmd.Context(), f.db)
	if err != nil {
		return nil, nil, err
	}
	svc := &report.Service{Store: st, Keys: ring}
	if cfg, err := svc.LoadCyberTip(cmd.Context()); err == nil {
		svc.ESP = cfg.ESP
	}
	return svc, st, nil
}

func (f *reportFlags) who() audit.Actor {
	if f.actor != "" {
		return audit.Actor{Name: f.actor}
	}
	return audit.Actor{Name: defaultActor()}
}

// onCase is the RunE of a subcommand on one case: CASE parsed, the report
// service opened, do run with it, the store closed.
func (f *reportFlags) onCase(do func(cmd *cobra.Command, svc *report.Service, st store.Store, id int64) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		id, err := caseArg(args[0])
		if err != nil {
			return err
		}
		return f.withService(cmd, func(svc *report.Service, st store.Store) error { return do(cmd, svc, st, id) })
	}
}

// withService opens the report service, runs do with it and closes the
// store.
func (f *reportFlags) withService(cmd *cobra.Command, do func(svc *report.Service, st store.Store) error) error {
	svc, st, err := f.service(cmd)
	if err != nil {
		return err
	}
	defer st.Close()
	return do(svc, st)
}

func newReportCommand() *cobra.Command {
	var f reportFlags
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Report cases to law enforcement: CyberTipline submissions and signed NCCIA / court packets",
		Long: `Report cases gather the confirmed hits of one reported account (opened through
POST /v1/reports), are released by a second person, then sent to NCMEC's
CyberTipline by "serve" (a durable outbox) or exported as a signed packet for
NCCIA or a court. Cases are sealed at rest with the data key (--data-key).`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.db, "db", "", dbFlagHelp)
	pf.StringVar(&f.dataKey, "data-key", "", dataKeyHelp)
	pf.StringVar(&f.actor, "actor", "", "who acts, for the audit log and the four-eyes rule (default $NIGEHBAN_ACTOR, else user@host)")
	cmd.AddCommand(newReportListCommand(&f), newReportShowCommand(&f), newReportApproveCommand(&f),
		newReportRetryCommand(&f), newReportExportCommand(&f), newReportVerifyCommand(), newReportCyberTipCommand(&f))
	return cmd
}

func caseArg(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("case %q: want a positive number", s)
	}
	return id, nil
}

func newReportListCommand(f *reportFlags) *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "list [--state STATE]",
		Short: "List cases (no personal data): state, approvals, CyberTipline progress and last error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openStore(cmd.Context(), f.db)
			if err != nil {
				return err
			}
			defer st.Close()
			cases, err := st.ListReportCases(cmd.Context(), report.State(state), 1000)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, c := range cases {
				fmt.Fprintf(out, "%d\t%s\topened %s by %s", c.ID, c.State, c.OpenedAt.Format("2006-01-02 15:04"), c.OpenedBy)
				if c.ApprovedBy != "" {
					fmt.Fprintf(out, "\tapproved by %s", c.ApprovedBy)
				}
				if c.Submission.ReportID != 0 {
					fmt.Fprintf(out, "\tNCMEC %d", c.Submission.ReportID)
				}
				if c.Submission.LastError != "" {
					fmt.Fprintf(out, "\t%s error: %s", c.Submission.ErrorKind, c.Submission.LastError)
				}
				fmt.Fprintln(out)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only cases in this state (open, approved, submitting, submitted, failed, retracted)")
	return cmd
}

func newReportShowCommand(f *reportFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show CASE",
		Short: "Print a case with its content as JSON (personal data: the view is audited)",
		Args:  cobra.ExactArgs(1),
		RunE: f.onCase(func(cmd *cobra.Command, svc *report.Service, st store.Store, id int64) error {
			c, ct, err := svc.View(cmd.Context(), f.who(), id, st)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{"case": c, "content": ct})
		}),
	}
}

func newReportApproveCommand(f *reportFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "approve CASE",
		Short: "Release a case (four eyes: not by who opened or last changed it); a CyberTipline report is checked first",
		Args:  cobra.ExactArgs(1),
		RunE: f.onCase(func(cmd *cobra.Command, svc *report.Service, _ store.Store, id int64) error {
			c, err := svc.Approve(cmd.Context(), f.who(), id)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "case %d %s by %s\n", c.ID, c.State, c.ApprovedBy)
			return nil
		}),
	}
}

func newReportRetryCommand(f *reportFlags) *cobra.Command {
	var reportID int64
	cmd := &cobra.Command{
		Use:   "retry CASE [--report-id N]",
		Short: "Put a failed case back in the CyberTipline outbox",
		Long: `Put a failed case back in the outbox. After an uncertain submit (the process
stopped, or the connection failed, after the report was sent), check NCMEC's
portal first: give --report-id with the report found there (its files follow),
or leave it out when none arrived (the report is sent again).`,
		Args: cobra.ExactArgs(1),
		RunE: f.onCase(func(cmd *cobra.Command, svc *report.Service, _ store.Store, id int64) error {
			c, err := svc.Retry(cmd.Context(), f.who(), id, reportID)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "case %d %s\n", c.ID, c.State)
			return nil
		}),
	}
	cmd.Flags().Int64Var(&reportID, "report-id", 0, "NCMEC's report id of an uncertain submit")
	return cmd
}

func newReportExportCommand(f *reportFlags) *cobra.Command {
	var out, logKey string
	cmd := &cobra.Command{
		Use:   "export CASE --out DIR|FILE.zip --log-key FILE",
		Short: "Write a case's signed packet for NCCIA or a court (hashes and records only, never content)",
		Long: `Write the packet of a case: manifest.json (every file's SHA-256) signed by the
log key (manifest.sig), case.json (case and legal references: FIR, PECA 2016
s.22/22-A, PPC; the reported subject; victims where known; the items with their
hashes and upload details; preserved evidence as metadata only), items.csv,
plain hash lists and VICS JSON under hashes/, custody.json with every audit
entry of the case and its inclusion proof (also proofs/SEQ.tlog-proof) against
the signed checkpoint, and the report in English and Urdu as HTML and PDF.
The export itself is logged first, so the packet proves its own making.
"nigehban report verify PACKET --vkey KEY" checks it offline.`,
		Args: cobra.ExactArgs(1),
		RunE: f.onCase(func(cmd *cobra.Command, svc *report.Service, st store.Store, id int64) error {
			if logKey == "" {
				logKey = os.Getenv("NIGEHBAN_LOG_KEY")
			}
			if logKey == "" {
				return errors.New("--log-key (or $NIGEHBAN_LOG_KEY) is needed to sign the packet")
			}
			signer, err := audit.OpenSigner(logKey)
			if err != nil {
				return err
			}
			skey, err := audit.ReadKeyFile(logKey)
			if err != nil {
				return err
			}
			ns, err := note.NewSigner(skey)
			if err != nil {
				return err
			}
			name := f.db
			if name == "" {
				name, _ = store.DefaultDSN()
			}
			files, err := report.Export(cmd.Context(), report.ExportOptions{Service: svc, Log: st, LogName: store.Redact(name),
				Signer: signer, Key: ns, Vault: st, Actor: f.who(), Tool: buildinfo.Get().String()}, id)
			if err != nil {
				return err
			}
			if err := report.WritePacket(files, out); err != nil {
				return fmt.Errorf("write packet: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "case %d: %d files written to %s\n", id, len(files), out)
			return nil
		}),
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to create, or a file ending in .zip")
	cmd.Flags().StringVar(&logKey, "log-key", "", "the audit log's signing key (default $NIGEHBAN_LOG_KEY)")
	cmd.MarkFlagRequired("out")
	return cmd
}

func newReportVerifyCommand() *cobra.Command {
	var vkey string
	cmd := &cobra.Command{
		Use:   "verify PACKET --vkey KEY",
		Short: "Check a packet offline: signatures, every file's SHA-256, every custody entry's inclusion proof",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := keyOrFile(vkey)
			if err != nil {
				return err
			}
			files, err := report.ReadPacket(args[0])
			if err != nil {
				return err
			}
			v, err := report.Verify(files, k)
			if err != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "FAILED: %v\n", err)
				return errors.New("packet verification failed")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "OK: case %d, %d files match the signed manifest, %d custody entries proved in %s (tree of %d)\n",
				v.Case, v.Files, v.Entries, v.Origin, v.TreeSize)
			return nil
		},
	}
	cmd.Flags().StringVar(&vkey, "vkey", "", "the log's verifier key, or a file holding it")
	cmd.MarkFlagRequired("vkey")
	return cmd
}

func newReportCyberTipCommand(f *reportFlags) *cobra.Command {
	var env, user, passFile, espFile string
	cmd := &cobra.Command{
		Use:   "cybertip --env test|production|URL --user NAME --password-file FILE --esp FILE",
		Short: "Store the CyberTipline endpoint, credentials and reporting platform, sealed with the data key",
		Long: `Store what the outbox of "serve" needs to file reports with NCMEC: the endpoint
(NCMEC's test or production environment, or another URL), the account's user
name, its password (read from a file, never a flag), and the platform that
reports (JSON: {"platform","first_name","last_name","email","phone","legal_url"}).
All of it is sealed with the data key: the database never holds the password in
clear. The change is audited without the secret.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			url := env
			switch env {
			case "test":
				url = cybertip.TestURL
			case "production":
				url = cybertip.ProductionURL
			}
			pw, err := os.ReadFile(passFile)
			if err != nil {
				return fmt.Errorf("password: %w", err)
			}
			cfg := report.CyberTipConfig{URL: url, Username: user, Password: strings.TrimRight(string(pw), "\r\n")}
			if espFile != "" {
				b, err := os.ReadFile(espFile)
				if err != nil {
					return err
				}
				if err := json.Unmarshal(b, &cfg.ESP); err != nil {
					return fmt.Errorf("%s: %w", espFile, err)
				}
			}
			return f.withService(cmd, func(svc *report.Service, _ store.Store) error {
				if err := svc.SaveCyberTip(cmd.Context(), f.who(), cfg); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "CyberTipline configuration stored (%s, user %s)\n", url, user)
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&env, "env", "test", "test, production, or the API's base URL")
	fl.StringVar(&user, "user", "", "the CyberTipline account")
	fl.StringVar(&passFile, "password-file", "", "file holding the password")
	fl.StringVar(&espFile, "esp", "", "JSON file describing the reporting platform")
	cmd.MarkFlagRequired("user")
	cmd.MarkFlagRequired("password-file")
	return cmd
}
