// Package vault preserves the bytes of confirmed content, when a platform
// chooses to, encrypted with age (X25519) to named recipients — the
// platform's legal team, the agency — and never to the service: the vault
// holds only public keys, so neither the service nor a copy of its disk and
// database can read what it keeps. Each item has a retention period after
// which DestroyExpired deletes it. Preserving, opening, exporting and
// destroying each append an entry to the audit (transparency) log with the
// case as target, so a court packet proves the evidence's custody.
package vault

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/nigehban/nigehban/internal/audit"
)

// Audit actions of the vault.
const (
	ActPreserve = "vault.preserve"
	ActAccess   = "vault.access"
	ActExport   = "vault.export"
	ActDestroy  = "vault.destroy"
)

// Errors callers branch on.
var (
	// ErrNoRecipients: a vault needs at least one recipient.
	ErrNoRecipients = errors.New("vault: no recipients configured (age X25519 public keys, age1…)")
	// ErrDestroyed: the item's retention ended and its bytes are gone.
	ErrDestroyed = errors.New("vault: item destroyed at the end of its retention")
	// ErrIntegrity: decrypted bytes do not have the recorded sha256.
	ErrIntegrity = errors.New("vault: content does not match its recorded sha256")
)

// Vault writes preserved files to Dir, encrypted to its recipients.
type Vault struct {
	Store Store
	Dir   string
	// Retention is how long items are kept (default 90 days).
	Retention  time.Duration
	recipients []age.Recipient
	names      []string
	Now        func() time.Time
	Log        *slog.Logger
}

// New returns a vault over st and dir encrypting to recipients (age
// X25519 public keys "age1…").
func New(st Store, dir string, recipients []string, retention time.Duration) (*Vault, error) {
	if len(recipients) == 0 {
		return nil, ErrNoRecipients
	}
	v := &Vault{Store: st, Dir: dir, Retention: retention}
	for _, r := range recipients {
		rc, err := age.ParseX25519Recipient(strings.TrimSpace(r))
		if err != nil {
			return nil, fmt.Errorf("vault recipient %q: %w", r, err)
		}
		v.recipients, v.names = append(v.recipients, rc), append(v.names, rc.String())
	}
	return v, nil
}

func (v *Vault) now() time.Time {
	if v.Now != nil {
		return v.Now().UTC()
	}
	return time.Now().UTC()
}

// CaseTarget is the audit target of a case's vault entries (the report
// case's target, so they are part of its custody).
func CaseTarget(caseID int64) string { return "report:" + strconv.FormatInt(caseID, 10) }

// Preserve encrypts r's bytes to the recipients into a new file and
// records it for caseID, audited.
func (v *Vault) Preserve(ctx context.Context, actor audit.Actor, caseID int64, r io.Reader) (Item, error) {
	if err := os.MkdirAll(v.Dir, 0o700); err != nil {
		return Item{}, fmt.Errorf("vault: %w", err)
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	name := fmt.Sprintf("case-%d-%s.age", caseID, hex.EncodeToString(rnd[:]))
	tmp, err := os.CreateTemp(v.Dir, ".preserve-*")
	if err != nil {
		return Item{}, fmt.Errorf("vault: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	w, err := age.Encrypt(tmp, v.recipients...)
	if err != nil {
		return Item{}, fmt.Errorf("vault: encrypt: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), r)
	if err != nil {
		return Item{}, fmt.Errorf("vault: preserve: %w", err)
	}
	if err := w.Close(); err != nil {
		return Item{}, fmt.Errorf("vault: encrypt: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return Item{}, fmt.Errorf("vault: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(v.Dir, name)); err != nil {
		return Item{}, fmt.Errorf("vault: %w", err)
	}
	ret := v.Retention
	if ret <= 0 {
		ret = 90 * 24 * time.Hour
	}
	it := Item{CaseID: caseID, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n, Recipients: v.names, File: name,
		CreatedBy: actor.Name, ExpiresAt: v.now().Add(ret).Truncate(time.Microsecond)}
	it, err = v.Store.AddVaultItem(ctx, it, func(id int64) audit.Entry {
		return actor.Entry(ActPreserve, CaseTarget(caseID), map[string]any{"item": id, "sha256": it.SHA256, "size": n,
			"recipients": v.names, "expires_at": it.ExpiresAt})
	})
	if err != nil {
		os.Remove(filepath.Join(v.Dir, name))
		return it, err
	}
	return it, nil
}

func open(ctx context.Context, st Store, dir string, id int64) (Item, *os.File, error) {
	it, err := st.GetVaultItem(ctx, id)
	if err != nil {
		return it, nil, err
	}
	if it.DestroyedAt != nil {
		return it, nil, fmt.Errorf("%w: item %d on %s", ErrDestroyed, id, it.DestroyedAt.Format(time.DateOnly))
	}
	f, err := os.Open(filepath.Join(dir, filepath.Base(it.File)))
	if err != nil {
		return it, nil, fmt.Errorf("vault item %d: %w", id, err)
	}
	return it, f, nil
}

// Open decrypts item id with a recipient's identities (age X25519
// secret keys, held by the legal team or the agency, never the service)
// into w, checking its sha256. The access is logged before anything is
// decrypted.
func Open(ctx context.Context, st Store, dir string, actor audit.Actor, id int64, ids []age.Identity, w io.Writer) (Item, error) {
	it, f, err := open(ctx, st, dir, id)
	if err != nil {
		return it, err
	}
	defer f.Close()
	if _, err := st.AppendAudit(ctx, actor.Entry(ActAccess, CaseTarget(it.CaseID), map[string]any{"item": id, "sha256": it.SHA256})); err != nil {
		return it, fmt.Errorf("vault: log the access: %w", err)
	}
	r, err := age.Decrypt(f, ids...)
	if err != nil {
		return it, fmt.Errorf("vault item %d: %w", id, err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(w, h), r); err != nil {
		return it, fmt.Errorf("vault item %d: %w", id, err)
	}
	if hex.EncodeToString(h.Sum(nil)) != it.SHA256 {
		return it, fmt.Errorf("%w: item %d", ErrIntegrity, id)
	}
	return it, nil
}

// Export copies item id, still encrypted, to w (to hand to an agency that
// holds a recipient key), logged.
func Export(ctx context.Context, st Store, dir string, actor audit.Actor, id int64, w io.Writer) (Item, error) {
	it, f, err := open(ctx, st, dir, id)
	if err != nil {
		return it, err
	}
	defer f.Close()
	if _, err := st.AppendAudit(ctx, actor.Entry(ActExport, CaseTarget(it.CaseID), map[string]any{"item": id, "sha256": it.SHA256})); err != nil {
		return it, fmt.Errorf("vault: log the export: %w", err)
	}
	if _, err := io.Copy(w, f); err != nil {
		return it, fmt.Errorf("vault item %d: %w", id, err)
	}
	return it, nil
}

// DestroyExpired deletes the files of items past their retention and
// records each destruction; it returns how many it destroyed.
func DestroyExpired(ctx context.Context, st Store, dir string, now time.Time) (int, error) {
	items, err := st.ExpiredVaultItems(ctx, now)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, it := range items {
		p := filepath.Join(dir, filepath.Base(it.File))
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, fmt.Errorf("vault: destroy item %d: %w", it.ID, err)
		}
		e := audit.Actor{Name: "vault-retention"}.Entry(ActDestroy, CaseTarget(it.CaseID),
			map[string]any{"item": it.ID, "sha256": it.SHA256, "expired_at": it.ExpiresAt})
		if err := st.MarkVaultDestroyed(ctx, it.ID, now.Truncate(time.Microsecond), e); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// RunRetention destroys expired items every interval until ctx ends.
func RunRetention(ctx context.Context, st Store, dir string, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := DestroyExpired(ctx, st, dir, time.Now().UTC()); err != nil && ctx.Err() == nil {
			log.Error("vault retention", "err", err)
		} else if n > 0 {
			log.Info("vault retention: destroyed expired items", "items", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
