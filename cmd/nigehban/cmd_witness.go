package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/nigehban/nigehban/internal/api"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/witness"
)

func init() { rootCmd.AddCommand(newWitnessCommand()) }

func newWitnessCommand() *cobra.Command {
	var addr, keyFile, stateFile string
	var logKeys []string
	cmd := &cobra.Command{
		Use:   "witness --key FILE --state FILE --log-vkey KEY… [--addr 127.0.0.1:8090]",
		Short: "Run a transparency-log witness (C2SP tlog-witness): cosign only consistent checkpoints",
		Long: `Run a witness for the audit logs whose verifier keys are given: an NGO, a
court's IT team or a partner runs it, with its own key and state file. A log
POSTs /add-checkpoint with a consistency proof from the last checkpoint the
witness cosigned; the witness cosigns (C2SP tlog-cosignature) only if the new
tree extends it, and answers 409 with its size, 403, 404 or 422 otherwise.
Create the key with "nigehban witness keygen".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			skey, err := audit.ReadKeyFile(keyFile)
			if err != nil {
				return err
			}
			var vkeys []string
			for _, k := range logKeys {
				v, err := keyOrFile(k)
				if err != nil {
					return err
				}
				vkeys = append(vkeys, v)
			}
			w, err := witness.New(skey, vkeys, stateFile, slog.Default())
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			return serveUntilDone(cmd.Context(), ln, w.Handler(), "witness", "vkey", w.VerifierKey())
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8090", "address to listen on")
	f.StringVar(&keyFile, "key", "", "the witness's secret key file (required)")
	f.StringVar(&stateFile, "state", "", "the witness's state file: last cosigned tree per log (required)")
	f.StringArrayVar(&logKeys, "log-vkey", nil, "verifier key of a log to witness, or a file holding it (repeatable)")
	cmd.MarkFlagRequired("key")
	cmd.MarkFlagRequired("state")

	var name, out string
	keygen := &cobra.Command{
		Use:   "keygen --name NAME --key FILE",
		Short: "Create a witness key (file mode 0600) and print its verifier key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			skey, vkey, err := audit.GenerateCosignerKey(name)
			if err != nil {
				return err
			}
			if err := audit.WriteKeyFile(out, skey); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), vkey)
			return nil
		},
	}
	keygen.Flags().StringVar(&name, "name", "", "the witness's name, a schema-less URL (required)")
	keygen.Flags().StringVar(&out, "key", "", "file to write the secret key to (required)")
	keygen.MarkFlagRequired("name")
	keygen.MarkFlagRequired("key")
	cmd.AddCommand(keygen)
	return cmd
}

// serveUntilDone serves h on ln until ctx ends, then shuts down gracefully.
func serveUntilDone(ctx context.Context, ln net.Listener, h http.Handler, what string, attrs ...any) error {
	hs := api.NewHTTPServer(h)
	slog.Info("serving "+what, append([]any{"addr", ln.Addr().String()}, attrs...)...)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
