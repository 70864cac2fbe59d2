package index

import (
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
)

// Exact maps fixed-size digests (md5 [16]byte, sha1 [20]byte, sha256
// [32]byte) to the ids they were added under. It is safe for concurrent use;
// the zero value is ready.
type Exact[K comparable] struct {
	mu sync.RWMutex
	m  map[K][]uint64
}

// Add indexes key under id (idempotent).
func (x *Exact[K]) Add(id uint64, key K) {
	x.mu.Lock()
	if x.m == nil {
		x.m = make(map[K][]uint64)
	}
	if ids := x.m[key]; !slices.Contains(ids, id) {
		x.m[key] = append(ids, id)
	}
	x.mu.Unlock()
}

// Remove removes id from key; other ids of the same key stay.
func (x *Exact[K]) Remove(id uint64, key K) {
	x.mu.Lock()
	ids := slices.DeleteFunc(x.m[key], func(v uint64) bool { return v == id })
	if len(ids) == 0 {
		delete(x.m, key)
	} else {
		x.m[key] = ids
	}
	x.mu.Unlock()
}

// Lookup returns the ids key was added under, in insertion order (a copy).
func (x *Exact[K]) Lookup(key K) []uint64 {
	x.mu.RLock()
	ids := slices.Clone(x.m[key])
	x.mu.RUnlock()
	return ids
}

// Len returns the number of distinct keys.
func (x *Exact[K]) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.m)
}

// Digest keys for the cryptographic hash types.
type (
	MD5    = [16]byte
	SHA1   = [20]byte
	SHA256 = [32]byte
)

// ParseDigest decodes a hex digest of exactly len(K) bytes.
func ParseDigest[K MD5 | SHA1 | SHA256](s string) (K, error) {
	var k K
	b, err := hex.DecodeString(s)
	if err != nil {
		return k, fmt.Errorf("invalid hex digest: %w", err)
	}
	switch p := any(&k).(type) {
	case *MD5:
		err = copyExact(p[:], b)
	case *SHA1:
		err = copyExact(p[:], b)
	case *SHA256:
		err = copyExact(p[:], b)
	}
	return k, err
}

func copyExact(dst, src []byte) error {
	if len(src) != len(dst) {
		return fmt.Errorf("invalid digest: %d hex digits, want %d", 2*len(src), 2*len(dst))
	}
	copy(dst, src)
	return nil
}
