package exchange

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
)

// NigehbanAdapter subscribes to a bank a partner Nigehban instance
// publishes (see Publisher). Before each page it reads the partner's
// signed transparency-log checkpoint (/log/checkpoint), verifies its
// signature with the partner's log verifier key, and checks that it is
// consistent with the last checkpoint it accepted (a consistency proof
// built from the partner's hash tiles): a partner whose log was rewritten
// or forked is refused with an error wrapping audit.ErrLogInconsistent, and
// nothing of that page is applied. Additions and removals then come from
// the bank's change log from the committed sequence number on.
type NigehbanAdapter struct {
	BaseURL string // the partner's serve URL
	Bank    string // the partner's bank
	Token   string // the partner token (nigp_…)
	// LogVKey is the partner's log verifier key ("audit keygen" output).
	LogVKey  string
	Client   *http.Client
	PageSize int // changes a page (default 1000)
}

// partnerState is the Checkpoint.State of a partner subscription.
type partnerState struct {
	Checkpoint string `json:"checkpoint,omitempty"` // the last accepted signed checkpoint
}

// Fetch implements Adapter.
func (a *NigehbanAdapter) Fetch(ctx context.Context, cp Checkpoint) (Page, error) {
	var st partnerState
	if cp.State != "" {
		if err := json.Unmarshal([]byte(cp.State), &st); err != nil {
			return Page{}, fmt.Errorf("%w: checkpoint state: %w", ErrMalformed, err)
		}
	}
	msg, c, err := a.verifyLog(ctx, st.Checkpoint)
	if err != nil {
		return Page{}, err
	}
	size := a.PageSize
	if size == 0 {
		size = 1000
	}
	body, err := a.get(ctx, "/partner/v1/banks/"+url.PathEscape(a.Bank)+"/changes?since="+strconv.FormatInt(cp.Pos, 10)+
		"&limit="+strconv.Itoa(size)+"&tree="+strconv.FormatInt(c.Size, 10), true)
	if err != nil {
		return Page{}, err
	}
	var res PublishedPage
	if err := json.Unmarshal(body, &res); err != nil {
		return Page{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	// Every block must follow the last and be proven by the checkpoint
	// just verified; one that is not refuses the whole page.
	pos := cp.Pos
	var chs []PublishedChange
	for _, b := range res.Blocks {
		bc, err := verifyBlock(b, a.Bank, pos, c)
		if err != nil {
			return Page{}, fmt.Errorf("partner %s bank %s: %w", redactURL(a.BaseURL), a.Bank, err)
		}
		chs = append(chs, bc...)
		pos = b.To
	}
	if res.Last != pos {
		return Page{}, fmt.Errorf("%w: partner answered up to %d, its blocks end at %d", ErrUnproven, res.Last, pos)
	}
	var p Page
	for _, c := range chs {
		e := Entry{ID: fmt.Sprintf("%s#%d", a.Bank, c.Seq), Signal: bank.Signal{Type: c.Type, Value: c.Value,
			Category: c.Class, Quality: -1}}
		for k, v := range c.Extra {
			if strings.HasPrefix(k, "exchange") {
				k = "upstream_" + k // the partner's own provenance
			}
			if e.Signal.Extra == nil {
				e.Signal.Extra = map[string]string{}
			}
			e.Signal.Extra[k] = v
		}
		e.Deleted = c.Op == bank.OpSignalRemove
		p.Entries = append(p.Entries, e)
	}
	b, _ := json.Marshal(partnerState{Checkpoint: string(msg)})
	p.Next, p.More = Checkpoint{Pos: pos, State: string(b)}, res.More && len(res.Blocks) > 0
	return p, nil
}

// verifyLog reads and verifies the partner's checkpoint against the one
// accepted before (prev, "" for none) and returns it, signed and parsed.
func (a *NigehbanAdapter) verifyLog(ctx context.Context, prev string) ([]byte, audit.Checkpoint, error) {
	policy, err := audit.NewPolicy(a.LogVKey, nil, 0)
	if err != nil {
		return nil, audit.Checkpoint{}, fmt.Errorf("%w: partner log key: %w", ErrInvalid, err)
	}
	msg, err := a.get(ctx, "/log/checkpoint", false)
	if err != nil {
		return nil, audit.Checkpoint{}, fmt.Errorf("partner log checkpoint: %w", err)
	}
	cur, err := policy.Open(msg)
	if err != nil {
		return nil, audit.Checkpoint{}, fmt.Errorf("partner log checkpoint: %w", err)
	}
	if prev == "" {
		return msg, cur, nil
	}
	old, err := policy.Open([]byte(prev))
	if err != nil {
		return nil, audit.Checkpoint{}, fmt.Errorf("accepted partner checkpoint: %w", err)
	}
	switch {
	case old.Size > cur.Size:
		return nil, audit.Checkpoint{}, fmt.Errorf("%w: partner log shrank from %d to %d entries", audit.ErrLogInconsistent, old.Size, cur.Size)
	case old.Size == cur.Size:
		if old.Hash != cur.Hash {
			return nil, audit.Checkpoint{}, fmt.Errorf("%w: partner signed two trees of %d entries", audit.ErrLogInconsistent, cur.Size)
		}
		return msg, cur, nil
	}
	thr := tlog.TileHashReader(tlog.Tree{N: cur.Size, Hash: cur.Hash}, &tileReader{ctx: ctx, c: &audit.Client{Base: strings.TrimSuffix(a.BaseURL, "/") + "/log", HTTP: a.Client}})
	proof, err := tlog.ProveTree(cur.Size, old.Size, thr)
	if err != nil {
		return nil, audit.Checkpoint{}, fmt.Errorf("%w: partner log: no consistency proof from %d to %d entries: %w", audit.ErrLogInconsistent, old.Size, cur.Size, err)
	}
	if err := tlog.CheckTree(proof, cur.Size, cur.Hash, old.Size, old.Hash); err != nil {
		return nil, audit.Checkpoint{}, fmt.Errorf("%w: partner log of %d entries does not extend the %d accepted: %w", audit.ErrLogInconsistent, cur.Size, old.Size, err)
	}
	return msg, cur, nil
}

// tileReader reads hash tiles from a partner's log for tlog.
type tileReader struct {
	ctx context.Context
	c   *audit.Client
}

func (r *tileReader) Height() int { return audit.TileHeight }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := r.c.Tile(r.ctx, t.L, t.N, t.W)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (r *tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

func (a *NigehbanAdapter) get(ctx context.Context, path string, auth bool) ([]byte, error) {
	u := strings.TrimSuffix(a.BaseURL, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+a.Token)
	}
	resp, err := a.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("partner %s: %w", redactURL(u), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		return nil, &RetryError{After: RetryAfter(resp.Header.Get("Retry-After")), Err: fmt.Errorf("%w: %s", ErrRateLimited, resp.Status)}
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("partner %s: %w", redactURL(u), &httpError{resp.StatusCode, strings.TrimSpace(string(b[:min(len(b), 200)]))})
	}
	return b, nil
}

// Report implements Adapter: partners take no opinions yet.
func (a *NigehbanAdapter) Report(context.Context, Opinion) error { return ErrUnsupported }
