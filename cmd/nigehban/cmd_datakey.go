package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/nigehban/nigehban/internal/sealed"
)

const dataKeyHelp = `file of data keys that seal personal data and credentials at rest ("nigehban datakey generate FILE"; default $NIGEHBAN_DATA_KEY_FILE); keep it outside the database and its backups`

func init() { rootCmd.AddCommand(newDataKeyCommand()) }

func newDataKeyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "datakey",
		Short: "Create or rotate the key file that seals personal data at rest",
		Long: `Personal data (uploaders, victims, children in cases) and credentials
(exchange and CyberTipline passwords) are stored encrypted with a data key
kept outside the database: a copy of the database alone reveals none of
them. Give the key file to "serve" with --data-key or
$NIGEHBAN_DATA_KEY_FILE; it must be readable by the service account only.
Losing every copy of the key file loses the sealed data: back it up
separately from the database.`,
	}
	var id string
	gen := &cobra.Command{
		Use:   "generate FILE",
		Short: "Write a new key file, or append a new current key to an existing one (rotation)",
		Long: `Write FILE (mode 0600) with one fresh 256-bit key, or, when FILE exists, append
a new key that becomes current: values sealed before stay readable with
the older keys in the file, new values use the new key.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDataKeyGenerate(cmd.OutOrStdout(), args[0], id)
		},
	}
	gen.Flags().StringVar(&id, "id", "", "id of the new key (default k1, k2, … after the keys in the file)")
	cmd.AddCommand(gen)
	return cmd
}

func runDataKeyGenerate(w io.Writer, path, id string) error {
	var ring *sealed.Ring
	_, err := os.Stat(path)
	switch {
	case err == nil:
		if ring, err = sealed.Load(path); err != nil {
			return err
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return err
	}
	if id == "" {
		for n := 1; ; n++ {
			id = fmt.Sprintf("k%d", n)
			if ring == nil || !ring.Has(id) {
				break
			}
		}
	} else if ring != nil && ring.Has(id) {
		return fmt.Errorf("key id %q is already in %s", id, path)
	}
	line, err := sealed.NewKeyLine(id)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, line); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s: key %q is now current\n", path, id)
	return err
}
