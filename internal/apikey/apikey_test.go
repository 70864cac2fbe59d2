package apikey

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/audit"
)

func TestRoles(t *testing.T) {
	tests := []struct {
		have, need Role
		want       bool
	}{
		{Submitter, Submitter, true}, {Submitter, Curator, false}, {Curator, Submitter, true},
		{Curator, Admin, false}, {Admin, Curator, true}, {Role("root"), Submitter, false}, {Admin, Role("x"), false},
	}
	for _, tt := range tests {
		if got := tt.have.Allows(tt.need); got != tt.want {
			t.Errorf("%s allows %s = %v", tt.have, tt.need, got)
		}
	}
	if _, err := ParseRole("Owner"); err == nil {
		t.Error("unknown role accepted")
	}
	if r, err := ParseRole(" Curator "); err != nil || r != Curator {
		t.Errorf("ParseRole: %v %v", r, err)
	}
}

type memStore map[string]Key

func (m memStore) CreateAPIKey(_ context.Context, k Key, _ audit.Actor) (Key, error) {
	m[string(k.Hash)] = k
	return k, nil
}
func (m memStore) APIKeyByHash(_ context.Context, h []byte) (Key, error) {
	k, ok := m[string(h)]
	if !ok {
		return k, ErrNotFound
	}
	return k, nil
}
func (m memStore) ListAPIKeys(context.Context) ([]Key, error)             { return nil, nil }
func (m memStore) RevokeAPIKey(context.Context, int64, audit.Actor) error { return nil }

func TestNewAndAuthenticate(t *testing.T) {
	st := memStore{}
	k, secret, err := New("ci", Submitter, "test")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "nig_") || strings.Contains(string(k.Hash), secret) {
		t.Fatalf("secret %q / stored hash", secret)
	}
	st.CreateAPIKey(context.Background(), k, audit.Actor{Name: "test"})
	if got, err := Authenticate(context.Background(), st, secret); err != nil || got.Name != "ci" {
		t.Fatalf("authenticate: %v %v", got, err)
	}
	for _, bad := range []string{"", "nig_short", secret + "x", strings.Replace(secret, "nig_", "xyz_", 1)} {
		if _, err := Authenticate(context.Background(), st, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	_, s2, _ := New("ci", Submitter, "test")
	if s2 == secret {
		t.Error("two keys share a secret")
	}
	if _, _, err := New("", Admin, "t"); err == nil {
		t.Error("empty name accepted")
	}
}
