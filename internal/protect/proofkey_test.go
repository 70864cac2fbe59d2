package protect_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/protect"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

func writeKey(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "protect.key")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadProofKeyFile(t *testing.T) {
	key := strings.Repeat("k", protect.MinProofKeyLen)
	for _, tc := range []struct {
		name, content string
		want          error
	}{
		{"text key with newline", key + "\n", nil},
		{"too short", "short\n", protect.ErrProofKey},
		{"white space only", strings.Repeat(" ", 40), protect.ErrProofKey},
	} {
		got, err := protect.ReadProofKeyFile(writeKey(t, tc.content))
		if !errors.Is(err, tc.want) || (err == nil && string(got) != key) {
			t.Errorf("%s: %q, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if _, err := protect.ReadProofKeyFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestSharedProofKey: a challenge issued by one server instance is
// accepted by another that read the same key file (replicas behind a load
// balancer), and refused by one with a different key.
func TestSharedProofKey(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		shared := writeKey(t, "c2hhcmVkIGtleSBmb3IgYWxsIHJlcGxpY2FzIG9mIG5pZ2VoYmFu\n")
		other := writeKey(t, "YW5vdGhlciBrZXksIGFub3RoZXIgZGVwbG95bWVudCBlbnRpcmVseQ==\n")
		instance := func(path string) *protect.Service {
			key, err := protect.ReadProofKeyFile(path)
			if err != nil {
				t.Fatal(err)
			}
			return protect.NewService(st, bank.NewService(st), protect.Config{Difficulty: 4, ProofKey: key,
				KDF: account.KDF{Time: 1, Memory: 8 << 10, Threads: 1}})
		}
		a, b, c := instance(shared), instance(shared), instance(other)
		sub := func(issuer *protect.Service, value string) protect.Submission {
			ch := issuer.Challenge()
			return protect.Submission{Signals: []protect.Signal{{Type: "md5", Value: value}},
				Proof: protect.Proof{Challenge: ch.Challenge, Nonce: protect.Solve(ch.Challenge, ch.Difficulty)}}
		}
		ctx := context.Background()
		if _, err := b.Submit(ctx, sub(a, strings.Repeat("ab", 16)), "192.0.2.1"); err != nil {
			t.Errorf("challenge of instance A submitted to B with the same key: %v", err)
		}
		if _, err := c.Submit(ctx, sub(a, strings.Repeat("cd", 16)), "192.0.2.1"); !errors.Is(err, protect.ErrProof) {
			t.Errorf("challenge of instance A submitted to C with another key: %v, want ErrProof", err)
		}
	})
}
