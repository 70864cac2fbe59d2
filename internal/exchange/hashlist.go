package exchange

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"time"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/hashlist"
)

// MaxHashListBytes bounds the body of a hash list fetched from a URL.
const MaxHashListBytes = 4 << 30

// HashListAdapter fetches a hash list in any format internal/hashlist
// reads from a URL with conditional GET (If-None-Match, If-Modified-Since).
// Each changed list is one snapshot page: values that left the list are
// withdrawn. Bad lines are skipped (and counted invalid); a list malformed
// past reading fails the fetch and leaves the checkpoint where it was.
type HashListAdapter struct {
	URL    string
	Client *http.Client
	// Format, if set, is the list's format; otherwise it is detected.
	Format hashlist.Format
	// Type is the signal type of lines that do not say (plain lists).
	Type string
	// Token, if set, is sent as a bearer token.
	Token string
	// Now returns the time (time.Now if nil).
	Now func() time.Time
}

// hashListState is the Checkpoint.State of a hash list.
type hashListState struct {
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
}

// Fetch implements Adapter.
func (a *HashListAdapter) Fetch(ctx context.Context, cp Checkpoint) (Page, error) {
	var st hashListState
	if cp.State != "" {
		if err := json.Unmarshal([]byte(cp.State), &st); err != nil {
			return Page{}, fmt.Errorf("%w: checkpoint state: %w", ErrMalformed, err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL, nil)
	if err != nil {
		return Page{}, err
	}
	if st.ETag != "" {
		req.Header.Set("If-None-Match", st.ETag)
	}
	if st.LastModified != "" {
		req.Header.Set("If-Modified-Since", st.LastModified)
	}
	if a.Token != "" {
		req.Header.Set("Authorization", "Bearer "+a.Token)
	}
	resp, err := a.Client.Do(req)
	if err != nil {
		return Page{}, fmt.Errorf("fetch %s: %w", redactURL(a.URL), err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return Page{NotModified: true, Next: cp}, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		return Page{}, &RetryError{After: RetryAfter(resp.Header.Get("Retry-After")), Err: fmt.Errorf("%w: %s", ErrRateLimited, resp.Status)}
	case resp.StatusCode != http.StatusOK:
		return Page{}, fmt.Errorf("fetch %s: %s", redactURL(a.URL), resp.Status)
	}
	br := bufio.NewReaderSize(io.LimitReader(resp.Body, MaxHashListBytes), 64<<10)
	f := a.Format
	if f == "" {
		head, _ := br.Peek(8 << 10)
		u, _ := url.Parse(a.URL)
		name := ""
		if u != nil {
			name = path.Base(u.Path)
		}
		if f = hashlist.Detect(head, name); f == "" {
			return Page{}, fmt.Errorf("%w: cannot tell the list's format", ErrMalformed)
		}
	}
	r, err := hashlist.NewReader(br, f, hashlist.ReaderOptions{Type: a.Type})
	if err != nil {
		return Page{}, err
	}
	var entries []Entry
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		var le *hashlist.LineError
		if errors.As(err, &le) {
			continue
		}
		if err != nil {
			return Page{}, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		entries = append(entries, Entry{Signal: bank.Signal{Type: e.Type, Value: e.Value, Category: e.Category,
			Note: e.Note, Quality: e.Quality, Extra: e.Extra}})
	}
	st = hashListState{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
	b, _ := json.Marshal(st)
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	pos := max(now().UnixMicro(), cp.Pos+1)
	return Page{Entries: entries, Next: Checkpoint{Pos: pos, State: string(b)}, Snapshot: true}, nil
}

// Report implements Adapter: a plain list takes no opinions.
func (a *HashListAdapter) Report(context.Context, Opinion) error { return ErrUnsupported }

// RetryAfter parses a Retry-After header (seconds or an HTTP date); a
// missing or unreadable one means a minute.
func RetryAfter(h string) time.Duration {
	if h == "" {
		return time.Minute
	}
	if n, err := strconv.Atoi(h); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), 0)
	}
	return time.Minute
}

// redactURL drops the query and user info of u for messages (they may hold
// tokens).
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(url)"
	}
	p.User, p.RawQuery = nil, ""
	return p.String()
}
