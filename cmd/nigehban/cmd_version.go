package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/nigehban/nigehban/internal/buildinfo"
)

func init() { rootCmd.AddCommand(newVersionCommand()) }

func newVersionCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision, Go version and JPEG decoder of this build",
		Long: `Print which build of nigehban this is: the module version and VCS revision
(with build time and whether the tree was modified) stamped by the Go
toolchain, the Go version, and the JPEG decoder compiled in (libjpeg-turbo
via cgo, or "go" for the pure-Go build). The two decoders can give PDQ
hashes a few bits apart on low-quality JPEGs; hash output and scan custody
files record the same facts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVersion(cmd.OutOrStdout(), buildinfo.Get(), asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the facts as one JSON object")
	return cmd
}

func runVersion(w io.Writer, in buildinfo.Info, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(in)
	}
	_, err := fmt.Fprintf(w, "nigehban %s\nmodule:       %s\nversion:      %s\nrevision:     %s\nbuilt:        %s\nmodified:     %v\ngo:           %s\njpeg decoder: %s\n",
		in.Version, in.Module, in.Version, orUnknown(in.Revision), orUnknown(in.Time), in.Modified, in.Go, in.JPEGDecoder)
	return err
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
