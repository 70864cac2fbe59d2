package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"
	"golang.org/x/sync/errgroup"
)

// Verified reports what a verification covered.
type Verified struct {
	Entries    int64      // entries recomputed
	Checkpoint Checkpoint // the signed checkpoint checked (Size 0 if none)
	Since      Checkpoint // the earlier checkpoint the log was found consistent with (Size 0 if none)
}

// checkSince checks that the tree rebuilt in mem extends the earlier signed
// checkpoint since (nil: nothing to check).
func checkSince(mem *MemHashStore, policy Policy, since []byte, cur Checkpoint) (Checkpoint, error) {
	if since == nil {
		return Checkpoint{}, nil
	}
	// The verifier's own earlier record: the log's signature suffices.
	old, err := Policy{Log: policy.Log}.Open(since)
	if err != nil {
		return old, fmt.Errorf("earlier checkpoint: %w", err)
	}
	if old.Size > cur.Size {
		return old, fmt.Errorf("%w: the log has %d entries, an earlier checkpoint signed %d: entries %d–%d were removed", ErrLogInconsistent, cur.Size, old.Size, cur.Size+1, old.Size)
	}
	h, err := TreeHash(context.Background(), mem, old.Size)
	if err != nil {
		return old, err
	}
	if h != old.Hash {
		return old, fmt.Errorf("%w: the first %d entries are not those of the earlier checkpoint (the log was rewritten)", ErrLogInconsistent, old.Size)
	}
	return old, nil
}

// VerifyLocal re-computes the log in st: the hash chain (Verify), every
// entry's leaf against its stored leaf hash, the stored tree against the
// entries, the latest stored checkpoint under policy (the signature, and
// that the entries rebuild its root: deleted entries at the end are
// caught), and consistency with an earlier checkpoint since (nil: none).
// With a nil policy only the chain and the stored hashes are checked.
// Errors wrap ErrBroken or ErrLogInconsistent and name the first bad entry.
func VerifyLocal(ctx context.Context, st LogStore, policy *Policy, since []byte) (Verified, error) {
	var v Verified
	mem := &MemHashStore{}
	prev := ""
	for {
		batch, err := st.ListAudit(ctx, mem.Size(), 1000)
		if err != nil {
			return v, err
		}
		if len(batch) == 0 {
			break
		}
		idx := make([]int64, len(batch))
		for i, e := range batch {
			if want := mem.Size() + int64(i) + 1; e.Seq != want {
				return v, fmt.Errorf("%w: entry %d is missing (next is %d)", ErrLogInconsistent, want, e.Seq)
			}
			idx[i] = tlog.StoredHashIndex(0, e.Seq-1)
		}
		if err := Verify(batch, prev); err != nil {
			return v, err
		}
		prev = batch[len(batch)-1].Hash
		stored, err := st.ReadHashes(ctx, idx)
		if err != nil {
			return v, fmt.Errorf("%w: entries %d–%d have no stored tree hashes: %v", ErrLogInconsistent, batch[0].Seq, batch[len(batch)-1].Seq, err)
		}
		for i, e := range batch {
			h, err := LeafHash(e)
			if err != nil {
				return v, err
			}
			if h != stored[i] {
				return v, fmt.Errorf("%w: entry %d does not match its logged leaf (edited)", ErrLogInconsistent, e.Seq)
			}
			if _, err := mem.AppendLeafHash(h); err != nil {
				return v, err
			}
		}
		v.Entries = mem.Size()
	}
	// The tree may not hold more leaves than there are entries.
	size, err := st.TreeSize(ctx)
	if err != nil {
		return v, err
	}
	if size > mem.Size() {
		return v, fmt.Errorf("%w: entry %d is missing: the tree holds %d entries, the log %d (entries %d–%d deleted)", ErrLogInconsistent, mem.Size()+1, size, mem.Size(), mem.Size()+1, size)
	}
	// The stored upper levels must be those of the entries.
	if err := compareStored(ctx, st, mem); err != nil {
		return v, err
	}
	if policy == nil {
		return v, nil
	}
	msg, err := st.LatestCheckpoint(ctx)
	if err != nil {
		return v, err
	}
	if msg == nil {
		return v, fmt.Errorf("%w: no signed checkpoint in the database", ErrLogInconsistent)
	}
	c, err := policy.Open(msg)
	if err != nil {
		return v, fmt.Errorf("latest checkpoint: %w", err)
	}
	if err := checkTree(mem, c); err != nil {
		return v, err
	}
	v.Checkpoint = c
	v.Since, err = checkSince(mem, *policy, since, Checkpoint{Size: mem.Size()})
	return v, err
}

// checkTree checks that the tree rebuilt in mem contains the signed tree c.
func checkTree(mem *MemHashStore, c Checkpoint) error {
	if c.Size > mem.Size() {
		return fmt.Errorf("%w: entry %d is missing: the signed checkpoint covers %d entries, the log has %d (entries %d–%d deleted)", ErrLogInconsistent, mem.Size()+1, c.Size, mem.Size(), mem.Size()+1, c.Size)
	}
	h, err := TreeHash(context.Background(), mem, c.Size)
	if err != nil {
		return err
	}
	if h != c.Hash {
		return fmt.Errorf("%w: the first %d entries do not give the signed root (entries were rewritten)", ErrLogInconsistent, c.Size)
	}
	return nil
}

// compareStored compares every stored hash of st with the one rebuilt from
// the entries in mem, naming the entries under the first that differs.
func compareStored(ctx context.Context, st HashStore, mem *MemHashStore) error {
	total := tlog.StoredHashCount(mem.Size())
	for lo := int64(0); lo < total; lo += 4096 {
		idx := make([]int64, 0, 4096)
		for x := lo; x < min(lo+4096, total); x++ {
			idx = append(idx, x)
		}
		got, err := st.ReadHashes(ctx, idx)
		if err != nil {
			return fmt.Errorf("%w: stored tree incomplete: %v", ErrLogInconsistent, err)
		}
		want, _ := mem.ReadHashes(ctx, idx)
		for i := range idx {
			if got[i] != want[i] {
				level, n := tlog.SplitStoredHashIndex(idx[i])
				first, last := n<<level+1, (n+1)<<level
				return fmt.Errorf("%w: stored tree hash over entries %d–%d does not match them (entry %d or its neighbours altered)", ErrLogInconsistent, first, last, first)
			}
		}
	}
	return nil
}

var errNotServed = errors.New("not served (404)")

// Client reads a log's public read API (C2SP tlog-tiles) at Base, the
// URL of its prefix (e.g. "https://nigehban.example/log"). HTTP, if nil,
// is a client that keeps a connection per concurrent fetch alive.
type Client struct {
	Base string
	HTTP *http.Client

	once sync.Once
}

// fetchWindow is how many tiles VerifyRemote fetches at once.
const fetchWindow = 16

func (c *Client) client() *http.Client {
	c.once.Do(func() {
		if c.HTTP == nil {
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.MaxIdleConnsPerHost = 2 * fetchWindow
			c.HTTP = &http.Client{Transport: tr, Timeout: 2 * time.Minute}
		}
	})
	return c.HTTP
}

func (c *Client) get(ctx context.Context, p string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.Base, "/")+"/"+p, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", p, err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("GET %s: %w", p, errNotServed)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", p, resp.Status)
	}
	return b, nil
}

// Checkpoint fetches the log's latest checkpoint.
func (c *Client) Checkpoint(ctx context.Context) ([]byte, error) { return c.get(ctx, "checkpoint") }

// Tile fetches a tile (level -1: an entry bundle).
func (c *Client) Tile(ctx context.Context, level int, n int64, w int) ([]byte, error) {
	return c.get(ctx, TilePath(level, n, w))
}

// VerifyRemote verifies a log from its public read API alone: the latest
// checkpoint under policy, every entry bundle (each entry's leaf against the
// level-0 hash tile, naming an altered entry), the tree rebuilt from the
// entries against the signed root, and consistency with an earlier signed
// checkpoint since (nil: none). It returns the checkpoint verified, to
// keep for the next run's since.
func VerifyRemote(ctx context.Context, c *Client, policy Policy, since []byte) (Verified, []byte, error) {
	var v Verified
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msg, err := c.Checkpoint(ctx)
	if err != nil {
		return v, nil, err
	}
	cp, err := policy.Open(msg)
	if err != nil {
		return v, nil, err
	}
	mem := &MemHashStore{}
	tiles := (cp.Size + TileWidth - 1) / TileWidth
	type fetched struct{ entries, hashes []byte }
	results := make([]chan fetched, tiles)
	for i := range results {
		results[i] = make(chan fetched, 1)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchWindow)
	done := make(chan error, 1)
	go func() {
		for n := int64(0); n < tiles; n++ {
			w := int(min(TileWidth, cp.Size-n*TileWidth))
			g.Go(func() error {
				ents, err := c.Tile(gctx, -1, n, w)
				if err != nil {
					return err
				}
				hs, err := c.Tile(gctx, 0, n, w)
				if err != nil {
					return err
				}
				results[n] <- fetched{ents, hs}
				return nil
			})
		}
		done <- g.Wait()
	}()
	finished := false
	for n := int64(0); n < tiles; n++ {
		var f fetched
		if finished {
			f = <-results[n]
		} else {
			select {
			case f = <-results[n]:
			case err := <-done:
				if errors.Is(err, errNotServed) {
					return v, nil, fmt.Errorf("%w: entry %d is missing: the log does not serve the tiles of entries %d–%d its checkpoint signed (%v)", ErrLogInconsistent, n*TileWidth+1, n*TileWidth+1, cp.Size, err)
				}
				if err != nil {
					return v, nil, err
				}
				finished = true
				f = <-results[n]
			}
		}
		ents, err := ParseEntryBundle(f.entries)
		if err != nil {
			return v, nil, fmt.Errorf("entries from %d: %w", n*TileWidth+1, err)
		}
		w := min(TileWidth, cp.Size-n*TileWidth)
		for i, leaf := range ents {
			seq := n*TileWidth + int64(i) + 1
			got, err := LeafSeq(leaf)
			if err != nil {
				return v, nil, fmt.Errorf("%w: entry %d: %v", ErrLogInconsistent, seq, err)
			}
			if got != seq {
				return v, nil, fmt.Errorf("%w: entry %d is missing (found entry %d in its place)", ErrLogInconsistent, seq, got)
			}
			h := tlog.RecordHash(leaf)
			if i*tlog.HashSize+tlog.HashSize > len(f.hashes) || tlog.Hash(f.hashes[i*tlog.HashSize:]) != h {
				return v, nil, fmt.Errorf("%w: entry %d does not match its logged leaf (edited)", ErrLogInconsistent, seq)
			}
			if _, err := mem.AppendLeafHash(h); err != nil {
				return v, nil, err
			}
		}
		if int64(len(ents)) < w {
			return v, nil, fmt.Errorf("%w: entry %d is missing: the signed checkpoint covers %d entries", ErrLogInconsistent, mem.Size()+1, cp.Size)
		}
	}
	if !finished {
		if err := <-done; err != nil {
			return v, nil, err
		}
	}
	v.Entries = mem.Size()
	if err := checkTree(mem, cp); err != nil {
		return v, nil, err
	}
	v.Checkpoint = cp
	v.Since, err = checkSince(mem, policy, since, cp)
	if err != nil {
		return v, nil, err
	}
	return v, msg, nil
}
