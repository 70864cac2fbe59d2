package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// The log is an RFC 6962 Merkle tree over the entries' leaves (EncodeLeaf),
// leaf index Seq-1, stored as golang.org/x/mod/sumdb/tlog "stored hashes":
// every complete subtree's hash at its tlog.StoredHashIndex. A stored hash
// never changes once written, so the stored hashes of a log only grow.

// HashStore reads stored hashes of the log's tree by their
// tlog.StoredHashIndex. The store engines implement it over their
// audit_tree table; MemHashStore is an in-memory one.
type HashStore interface {
	// ReadHashes returns the hashes at indexes, in order; an index that is
	// not stored is an error.
	ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error)
}

// StoredHash is one stored hash of the tree and its index.
type StoredHash struct {
	Index int64
	Hash  tlog.Hash
}

// ErrLogInconsistent is returned (wrapped) when two views of the log do not
// agree: a tree that is not an extension of a tree seen earlier, an entry
// whose leaf is not the stored one, a root that is not the checkpoint's.
var ErrLogInconsistent = errors.New("audit log inconsistent")

// Reader adapts hs to tlog.HashReader, which takes no context.
func Reader(ctx context.Context, hs HashStore) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		hashes, err := hs.ReadHashes(ctx, idx)
		if err == nil && len(hashes) != len(idx) {
			err = fmt.Errorf("read %d stored hashes, got %d", len(idx), len(hashes))
		}
		return hashes, err
	})
}

// LeafHashes returns the stored hashes to write when appending e as leaf
// e.Seq-1 of a tree whose first e.Seq-1 leaves hs already holds. An engine
// calls it inside the transaction that inserts e, and writes the result in
// that transaction.
func LeafHashes(ctx context.Context, hs HashStore, e Entry) ([]StoredHash, error) {
	leaf, err := EncodeLeaf(e)
	if err != nil {
		return nil, err
	}
	n := e.Seq - 1
	hashes, err := tlog.StoredHashes(n, leaf, Reader(ctx, hs))
	if err != nil {
		return nil, fmt.Errorf("tree hashes of entry %d: %w", e.Seq, err)
	}
	out := make([]StoredHash, len(hashes))
	first := tlog.StoredHashCount(n)
	for i, h := range hashes {
		out[i] = StoredHash{Index: first + int64(i), Hash: h}
	}
	return out, nil
}

// LeafHash returns the RFC 6962 leaf hash of e.
func LeafHash(e Entry) (tlog.Hash, error) {
	leaf, err := EncodeLeaf(e)
	if err != nil {
		return tlog.Hash{}, err
	}
	return tlog.RecordHash(leaf), nil
}

// TreeHash returns the root hash of the tree of the first size leaves.
func TreeHash(ctx context.Context, hs HashStore, size int64) (tlog.Hash, error) {
	if size == 0 {
		return tlog.TreeHash(0, nil)
	}
	h, err := tlog.TreeHash(size, Reader(ctx, hs))
	if err != nil {
		return h, fmt.Errorf("tree hash of size %d: %w", size, err)
	}
	return h, nil
}

// CheckConsistent checks that the tree of newSize leaves in hs, whose root
// is newHash, extends an earlier tree (oldSize, oldHash), with an RFC 6962
// consistency proof computed from hs. It returns an error wrapping
// ErrLogInconsistent when it does not.
func CheckConsistent(ctx context.Context, hs HashStore, oldSize int64, oldHash tlog.Hash, newSize int64, newHash tlog.Hash) error {
	if oldSize > newSize {
		return fmt.Errorf("%w: tree shrank from %d to %d entries", ErrLogInconsistent, oldSize, newSize)
	}
	if oldSize == 0 {
		return nil
	}
	proof, err := tlog.ProveTree(newSize, oldSize, Reader(ctx, hs))
	if err != nil {
		return fmt.Errorf("consistency proof %d→%d: %w", oldSize, newSize, err)
	}
	if err := tlog.CheckTree(proof, newSize, newHash, oldSize, oldHash); err != nil {
		return fmt.Errorf("%w: the tree of %d entries does not extend the earlier tree of %d entries (%v)", ErrLogInconsistent, newSize, oldSize, err)
	}
	return nil
}

// TreeSizeForStoredCount returns the number of leaves of the largest tree
// whose stored hashes number at most count (for a complete tree, the
// inverse of tlog.StoredHashCount), so an engine can tell its tree's size
// from its hash table.
func TreeSizeForStoredCount(count int64) int64 {
	lo, hi := int64(0), max(count, 0) // StoredHashCount(n) >= n
	for lo < hi {
		mid := hi - (hi-lo)/2
		if tlog.StoredHashCount(mid) <= count {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// MemHashStore is a HashStore in memory, for tests and for verifiers that
// rebuild a log's tree from its entries. Its zero value is an empty tree.
type MemHashStore struct {
	mu     sync.RWMutex
	hashes []tlog.Hash
	size   int64
}

// ReadHashes implements HashStore.
func (m *MemHashStore) ReadHashes(_ context.Context, indexes []int64) ([]tlog.Hash, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.read(indexes)
}

func (m *MemHashStore) read(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("stored hash %d not in memory (have %d)", x, len(m.hashes))
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

// Size returns the number of leaves.
func (m *MemHashStore) Size() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.size
}

// AppendLeafHash appends a leaf by its leaf hash and returns its index.
func (m *MemHashStore) AppendLeafHash(h tlog.Hash) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.size
	hashes, err := tlog.StoredHashesForRecordHash(n, h, tlog.HashReaderFunc(m.read))
	if err != nil {
		return 0, err
	}
	m.hashes = append(m.hashes, hashes...)
	m.size++
	return n, nil
}

// Append appends e (which must have Seq = Size()+1) as the next leaf.
func (m *MemHashStore) Append(e Entry) error {
	if e.Seq != m.Size()+1 {
		return fmt.Errorf("append entry %d to a tree of %d leaves", e.Seq, m.Size())
	}
	h, err := LeafHash(e)
	if err != nil {
		return err
	}
	_, err = m.AppendLeafHash(h)
	return err
}

// LeafHashAt returns the stored hash of leaf n.
func (m *MemHashStore) LeafHashAt(n int64) (tlog.Hash, error) {
	h, err := m.ReadHashes(context.Background(), []int64{tlog.StoredHashIndex(0, n)})
	if err != nil {
		return tlog.Hash{}, err
	}
	return h[0], nil
}

// Backfill checks the hash chain of a whole log written before it had a
// tree (entries from seq 1, in order) and returns the stored hashes of its
// tree, for an engine to write once when it migrates.
func Backfill(entries []Entry) ([]StoredHash, error) {
	if err := Verify(entries, ""); err != nil {
		return nil, fmt.Errorf("migrating the audit log to a tree: %w", err)
	}
	mem := &MemHashStore{}
	for i, e := range entries {
		if e.Seq != int64(i)+1 {
			return nil, fmt.Errorf("migrating the audit log to a tree: %w: entry %d is missing", ErrBroken, i+1)
		}
		if err := mem.Append(e); err != nil {
			return nil, err
		}
	}
	out := make([]StoredHash, len(mem.hashes))
	for i, h := range mem.hashes {
		out[i] = StoredHash{Index: int64(i), Hash: h}
	}
	return out, nil
}
