package main

import (
	"log/slog"

	"github.com/nigehban/nigehban/internal/protect"
)

const protectKeyHelp = `file of the key that signs /protect proof-of-work challenges (at least 32 bytes, e.g. "head -c 32 /dev/urandom | base64 > FILE"; default $NIGEHBAN_PROTECT_KEY_FILE); every replica behind one load balancer needs the same file, else they refuse each other's challenges`

// protectProofKey reads the shared proof-of-work key, or returns nil (a
// random key per process) with a log line saying replicas need one.
func protectProofKey(path string) ([]byte, error) {
	if path == "" {
		slog.Info("protect: proof-of-work key is random per process; replicas behind one load balancer need the same --protect-key (or $NIGEHBAN_PROTECT_KEY_FILE)")
		return nil, nil
	}
	return protect.ReadProofKeyFile(path)
}
