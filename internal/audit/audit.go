// Package audit keeps the append-only record of who did what: every bank
// change, match with an action, key use and admin act. Entries form a hash
// chain — each entry's hash covers its content and the previous entry's
// hash — so deleting or editing an entry breaks Verify from that point on.
//
// The chain only convinces those who trust the database. The log is also a
// transparency log anyone can check without that trust: each entry is a
// leaf (EncodeLeaf) of an RFC 6962 Merkle tree whose stored hashes the
// engines write in the entry's transaction (LeafHashes); a Signer signs C2SP
// checkpoints of the tree with a key kept outside the database and never
// signs two inconsistent trees; witnesses cosign them (Cosigner, package
// witness); Handler serves the log as C2SP tlog-tiles; Prove and
// VerifyProof make and check C2SP tlog-proof bundles offline; VerifyLocal
// and VerifyRemote recompute a whole log, naming the first altered entry.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Entry is one audited act.
type Entry struct {
	Seq    int64           `json:"seq"`
	At     time.Time       `json:"at"`
	Actor  string          `json:"actor"`  // "key:12 (name)", or a CLI user
	Action string          `json:"action"` // e.g. "match", "bank.create", "auth.fail"
	Target string          `json:"target,omitempty"`
	Remote string          `json:"remote,omitempty"`
	Detail json.RawMessage `json:"detail,omitempty"`
	Prev   string          `json:"prev"` // hash of the previous entry ("" for the first)
	Hash   string          `json:"hash"`
}

// Actor is who performed an act and from where: every audited change is
// passed one explicitly, by the API (the key and the client's address) or
// the CLI (the local user, no address), and the store records it in the
// transaction of the change.
type Actor struct {
	// Name is "key:12 (name)" for an API key, the user for the CLI.
	Name string `json:"name"`
	// Remote is the client's address; empty for acts on this machine.
	Remote string `json:"remote,omitempty"`
}

// Entry returns the entry of an act by a on target, with detail encoded as
// JSON (nil for none; a value that cannot be encoded is recorded as the
// encoding error).
func (a Actor) Entry(action, target string, detail any) Entry {
	e := Entry{Actor: a.Name, Remote: a.Remote, Action: action, Target: target}
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			b, _ = json.Marshal(map[string]string{"detail_error": err.Error()})
		}
		e.Detail = b
	}
	return e
}

// Actions of the acts the stores audit in the transaction of the change.
const (
	ActBankCreate      = "bank.create"
	ActBankUpdate      = "bank.update"
	ActBankWebhook     = "bank.webhook"
	ActBankImport      = "bank.import"
	ActSignalAdd       = "signal.add"
	ActSignalRemove    = "signal.remove"
	ActExclusionAdd    = "exclusion.add"
	ActExclusionRemove = "exclusion.remove"
	ActAPIKeyCreate    = "apikey.create"
	ActAPIKeyRevoke    = "apikey.revoke"
	ActWebhookRetry    = "webhook.retry"
)

// Store appends and reads entries; implemented by the store engines, which
// set Seq, At, Prev and Hash (with Seal) atomically with the append.
// Changes to banks, signals, webhooks and keys are audited by the store in
// their own transactions (see Actor); AppendAudit is for acts that change
// nothing else (refused requests, key use).
type Store interface {
	// AppendAudit appends e in a transaction of its own.
	AppendAudit(ctx context.Context, e Entry) (Entry, error)
	// ListAudit returns up to limit entries with Seq > since, in Seq order.
	ListAudit(ctx context.Context, since int64, limit int) ([]Entry, error)
}

// Seal sets e.Prev and e.Hash from the previous entry's hash.
func Seal(e *Entry, prev string) {
	e.Prev = prev
	h := sha256.New()
	for _, f := range []string{strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339Nano), e.Actor, e.Action, e.Target, e.Remote, string(e.Detail), prev} {
		h.Write([]byte(strconv.Itoa(len(f))))
		h.Write([]byte{':'})
		h.Write([]byte(f))
	}
	e.Hash = hex.EncodeToString(h.Sum(nil))
}

// ErrBroken is returned (wrapped) by Verify when the chain does not hold.
var ErrBroken = errors.New("audit chain broken")

// Verify re-computes the chain over entries in Seq order, starting after
// prev (the hash of the entry before the first, "" from the start).
func Verify(entries []Entry, prev string) error {
	for _, e := range entries {
		want := e
		Seal(&want, prev)
		if e.Prev != prev || e.Hash != want.Hash {
			return fmt.Errorf("%w at entry %d", ErrBroken, e.Seq)
		}
		prev = e.Hash
	}
	return nil
}

// VerifyStore walks the whole log of st.
func VerifyStore(ctx context.Context, st Store) (int, error) {
	prev, since, n := "", int64(0), 0
	for {
		batch, err := st.ListAudit(ctx, since, 1000)
		if err != nil {
			return n, err
		}
		if len(batch) == 0 {
			return n, nil
		}
		if err := Verify(batch, prev); err != nil {
			return n, err
		}
		n += len(batch)
		prev, since = batch[len(batch)-1].Hash, batch[len(batch)-1].Seq
	}
}
