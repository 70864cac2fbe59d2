// Package apikey issues and checks the API keys of `nigehban serve`.
//
// A key is a random 32-byte secret shown once when created ("nig_" and
// base64url); the store keeps only its SHA-256, so a stolen database does not
// give working keys, and lookups compare digests in constant time. Roles are
// hierarchical: a curator may do what a submitter may, an admin what a
// curator may.
package apikey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
)

// Role is what a key may do.
type Role string

// Roles, from least to most privileged.
const (
	Submitter Role = "submitter" // hash and match
	Curator   Role = "curator"   // banks and signals, plus submitter
	Admin     Role = "admin"     // keys and configuration, plus curator
)

var rank = map[Role]int{Submitter: 1, Curator: 2, Admin: 3}

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if rank[r] == 0 {
		return "", fmt.Errorf("unknown role %q (want submitter, curator or admin)", s)
	}
	return r, nil
}

// Allows reports whether a key with role r may act as need.
func (r Role) Allows(need Role) bool { return rank[r] >= rank[need] && rank[need] > 0 }

// Key is a stored API key (never the secret).
type Key struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Role      Role       `json:"role"`
	Hash      []byte     `json:"-"` // SHA-256 of the secret
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Errors callers branch on.
var (
	ErrNotFound = errors.New("api key not found")
	ErrRevoked  = errors.New("api key revoked")
)

// Store keeps keys; implemented by the store engines. Creating and
// revoking a key appends its audit entry (audit.ActAPIKeyCreate with the
// key's name and role, audit.ActAPIKeyRevoke; target: the key's ID) by by
// in the same transaction.
type Store interface {
	// CreateAPIKey stores k (ID and CreatedAt set by the store).
	CreateAPIKey(ctx context.Context, k Key, by audit.Actor) (Key, error)
	// APIKeyByHash returns the key whose secret has this SHA-256, or ErrNotFound.
	APIKeyByHash(ctx context.Context, hash []byte) (Key, error)
	// ListAPIKeys returns every key, revoked ones too, by ID.
	ListAPIKeys(ctx context.Context) ([]Key, error)
	// RevokeAPIKey marks a key revoked, or ErrNotFound.
	RevokeAPIKey(ctx context.Context, id int64, by audit.Actor) error
}

const prefix = "nig_"

// New makes a key record and its secret, which the caller shows once.
func New(name string, role Role, createdBy string) (Key, string, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return Key{}, "", err
	}
	if strings.TrimSpace(name) == "" || len(name) > 200 {
		return Key{}, "", errors.New("key name must be 1-200 characters")
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Key{}, "", fmt.Errorf("generate key: %w", err)
	}
	secret := prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return Key{Name: name, Role: role, Hash: Digest(secret), CreatedBy: createdBy}, secret, nil
}

// Digest returns the SHA-256 under which a secret is stored.
func Digest(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Authenticate finds the key of a presented secret. A malformed secret is
// ErrNotFound without a store lookup; the digest comparison is constant-time.
func Authenticate(ctx context.Context, st Store, secret string) (Key, error) {
	if !strings.HasPrefix(secret, prefix) || len(secret) != len(prefix)+43 {
		return Key{}, ErrNotFound
	}
	d := Digest(secret)
	k, err := st.APIKeyByHash(ctx, d)
	if err != nil {
		return Key{}, err
	}
	if subtle.ConstantTimeCompare(k.Hash, d) != 1 {
		return Key{}, ErrNotFound
	}
	if k.RevokedAt != nil {
		return Key{}, ErrRevoked
	}
	return k, nil
}
