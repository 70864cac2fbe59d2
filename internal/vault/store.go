package vault

import (
	"context"
	"errors"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
)

// Item is one preserved file: its metadata in the store, its bytes
// encrypted in File under the vault's directory.
type Item struct {
	ID          int64      `json:"id"`
	CaseID      int64      `json:"case_id"`
	SHA256      string     `json:"sha256"` // of the plaintext
	Size        int64      `json:"size"`
	Recipients  []string   `json:"recipients"` // age public keys it was encrypted to
	File        string     `json:"file"`
	CreatedAt   time.Time  `json:"created_at"`
	CreatedBy   string     `json:"created_by"`
	ExpiresAt   time.Time  `json:"expires_at"`
	DestroyedAt *time.Time `json:"destroyed_at,omitempty"`
}

// ErrNotFound: no such item.
var ErrNotFound = errors.New("vault item not found")

// Store keeps the vault's metadata; implemented by the store engines.
// Every write appends its audit entry in the same transaction.
type Store interface {
	audit.Store
	// AddVaultItem inserts it (ID and CreatedAt set by the store) with the
	// entry entry(id) makes.
	AddVaultItem(ctx context.Context, it Item, entry func(id int64) audit.Entry) (Item, error)
	// GetVaultItem returns an item or ErrNotFound.
	GetVaultItem(ctx context.Context, id int64) (Item, error)
	// VaultItems returns a case's items (caseID 0: all), by id.
	VaultItems(ctx context.Context, caseID int64) ([]Item, error)
	// ExpiredVaultItems returns items not yet destroyed whose ExpiresAt is
	// before now.
	ExpiredVaultItems(ctx context.Context, now time.Time) ([]Item, error)
	// MarkVaultDestroyed records the destruction of item id with e.
	MarkVaultDestroyed(ctx context.Context, id int64, at time.Time, e audit.Entry) error
}
