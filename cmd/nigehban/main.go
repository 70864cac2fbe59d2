// Command nigehban hashes media, matches it against banks of known abuse
// material, serves the matching API and triages seized devices.
//
// This package only parses flags and wires packages together; the work lives
// in internal/. Each subcommand is one cmd_<name>.go file that registers
// itself with rootCmd in an init function.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/nigehban/nigehban/internal/buildinfo"
)

// errPartial is returned (wrapped) by commands that finished but could not
// process every input (for example one unreadable file among many); each
// failure was already reported in the output, main prints the summary and
// exits with 1.
var errPartial = errors.New("some inputs failed")

var rootCmd = &cobra.Command{
	Use:           "nigehban",
	Short:         "Find known child sexual abuse material by its hashes, and keep court-ready evidence",
	Version:       buildinfo.Get().String(),
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	err := rootCmd.ExecuteContext(ctx)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errPartial):
		fmt.Fprintf(os.Stderr, "nigehban: %v\n", err)
		return 1
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "nigehban: interrupted")
		return 130
	default:
		fmt.Fprintf(os.Stderr, "nigehban: %v\n", err)
		return 1
	}
}
