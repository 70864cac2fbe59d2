package audit

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// memLog is an in-memory LogStore over real entries and a MemHashStore,
// with the same append contract as the engines (entry and tree hashes
// together).
type memLog struct {
	MemHashStore
	mu          sync.Mutex
	entries     []Entry
	checkpoints map[int64][]byte
}

func (m *memLog) AppendAudit(ctx context.Context, e Entry) (Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev := ""
	if n := len(m.entries); n > 0 {
		prev = m.entries[n-1].Hash
	}
	e.Seq = int64(len(m.entries)) + 1
	if e.At.IsZero() {
		e.At = time.Unix(1700000000+e.Seq, 0).UTC()
	}
	Seal(&e, prev)
	hs, err := LeafHashes(ctx, &m.MemHashStore, e)
	if err != nil {
		return e, err
	}
	m.MemHashStore.mu.Lock()
	if first := hs[0].Index; first != int64(len(m.hashes)) {
		m.MemHashStore.mu.Unlock()
		return e, fmt.Errorf("stored hash %d appended after %d", first, len(m.hashes))
	}
	for _, h := range hs {
		m.hashes = append(m.hashes, h.Hash)
	}
	m.size++
	m.MemHashStore.mu.Unlock()
	m.entries = append(m.entries, e)
	return e, nil
}

func (m *memLog) ListAudit(_ context.Context, since int64, limit int) ([]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Entries are in seq order; after tampering seqs may skip.
	i, _ := slices.BinarySearchFunc(m.entries, since+1, func(e Entry, seq int64) int { return int(e.Seq - seq) })
	return slices.Clone(m.entries[i:min(i+limit, len(m.entries))]), nil
}

func (m *memLog) TreeSize(context.Context) (int64, error) {
	return m.Size(), nil
}

func (m *memLog) SaveCheckpoint(_ context.Context, size int64, msg []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.checkpoints == nil {
		m.checkpoints = map[int64][]byte{}
	}
	m.checkpoints[size] = slices.Clone(msg)
	return nil
}

func (m *memLog) LatestCheckpoint(context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var best int64 = -1
	for s := range m.checkpoints {
		best = max(best, s)
	}
	if best < 0 {
		return nil, nil
	}
	return m.checkpoints[best], nil
}

// newMemLog returns a log of n entries with varied fields.
func newMemLog(n int) *memLog {
	m := &memLog{}
	for i := range n {
		e := Entry{Actor: fmt.Sprintf("key:%d", i%7), Action: []string{"bank.create", "match.action", "apikey.revoke"}[i%3],
			Target: fmt.Sprint(i), Remote: "192.0.2.1", Detail: []byte(fmt.Sprintf(`{"n":%d}`, i))}
		if _, err := m.AppendAudit(context.Background(), e); err != nil {
			panic(err)
		}
	}
	return m
}
