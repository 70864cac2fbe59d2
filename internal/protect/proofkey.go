package protect

import (
	"bytes"
	"errors"
	"fmt"
	"os"
)

// MinProofKeyLen is the shortest proof-of-work key accepted, in bytes.
const MinProofKeyLen = 32

// ErrProofKey means a proof-of-work key file is unusable (missing, empty
// or too short).
var ErrProofKey = errors.New("unusable proof-of-work key")

// ReadProofKeyFile reads the key that signs and verifies proof-of-work
// challenges (Config.ProofKey) from a file kept outside the database, like
// the data and log keys. The key is the file's bytes with surrounding white
// space trimmed, so a text key works as well as raw bytes (make one with
// `head -c 32 /dev/urandom | base64 > FILE`); it must be at least
// MinProofKeyLen bytes. Every replica behind one load balancer reads the
// same file, so a challenge issued by one is accepted by the others.
func ReadProofKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read proof-of-work key: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) < MinProofKeyLen {
		return nil, fmt.Errorf("proof-of-work key %s: %d bytes, want at least %d: %w", path, len(b), MinProofKeyLen, ErrProofKey)
	}
	return b, nil
}
