package match

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"github.com/nigehban/nigehban/internal/bank"
)

// categories maps signal ids to their category in memory, so a match is
// answered without reading the store (the indexes keep only hashes).
// Signals are never edited, only added and removed, so an id's category
// never changes. The signals present at load are kept compactly — sorted
// ids and 2-byte codes into a table of distinct names, 10 bytes a signal
// with a category — and those added later in a map.
type categories struct {
	mu    sync.RWMutex
	ids   []int64  // sorted, from the load
	codes []uint16 // codes[i] is the category of ids[i], an index into names
	names []string
	later map[int64]string // added after the load, or beyond 65,536 names
}

// categoryStore is what loading needs.
type categoryStore interface {
	SignalCategories(ctx context.Context, fn func(id int64, category string) error) error
}

func (c *categories) load(ctx context.Context, st categoryStore) error {
	var ids []int64
	var codes []uint16
	var names []string
	later := map[int64]string{}
	code := map[string]uint16{}
	err := st.SignalCategories(ctx, func(id int64, cat string) error {
		k, ok := code[cat]
		if !ok {
			if len(names) > 0xFFFF {
				later[id] = cat
				return nil
			}
			k = uint16(len(names))
			code[cat] = k
			names = append(names, cat)
		}
		ids = append(ids, id)
		codes = append(codes, k)
		return nil
	})
	if err != nil {
		return err
	}
	if !slices.IsSorted(ids) { // the store promises id order; do not rely on it
		idx := make([]int, len(ids))
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(ids[a], ids[b]) })
		sid, scode := make([]int64, len(ids)), make([]uint16, len(ids))
		for i, j := range idx {
			sid[i], scode[i] = ids[j], codes[j]
		}
		ids, codes = sid, scode
	}
	c.mu.Lock()
	c.ids, c.codes, c.names, c.later = slices.Clip(ids), slices.Clip(codes), names, later
	c.mu.Unlock()
	return nil
}

// get returns the category of signal id ("" when it has none).
func (c *categories) get(id int64) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if i, ok := slices.BinarySearch(c.ids, id); ok {
		return c.names[c.codes[i]]
	}
	return c.later[id]
}

// apply records the categories of signals added by changes. Removed
// signals keep their entry: they no longer match, so it is never read,
// and keeping it makes re-applying an overlapping page harmless.
func (c *categories) apply(changes []bank.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range changes {
		if s := ch.Signal; s != nil && ch.Op == bank.OpSignalAdd && s.Category != "" && s.Type != bank.VPDQ {
			if c.later == nil {
				c.later = map[int64]string{}
			}
			c.later[s.ID] = s.Category
		}
	}
}

// size returns the number of signals with a known category.
func (c *categories) size() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.ids) + len(c.later)
}
