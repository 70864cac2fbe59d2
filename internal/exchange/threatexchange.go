package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/bank"
)

// ThreatExchangeAdapter reads a privacy group's threat_updates from
// Meta's ThreatExchange (Graph API), as its public documentation and
// python-threatexchange describe it:
//
//   - GET /v{N}/{privacy_group}/threat_updates?start_time=S&stop_time=T&
//     fields=…&limit=L&access_token=… returns {data: [{id, indicator, type
//     (HASH_PDQ, HASH_MD5, …), last_updated, should_delete, tags}],
//     paging: {next}}; should_delete withdraws the indicator.
//   - Errors are {error: {message, code}}; codes 4, 17, 32 and 613 (and
//     HTTP 429) are rate limits; a paging URL that no longer works restarts
//     the window.
//
// The checkpoint's Pos is the window's start (Unix seconds, as
// microseconds); State keeps the next page's URL and the window's end.
// ThreatExchange takes no opinions here.
type ThreatExchangeAdapter struct {
	BaseURL      string // e.g. https://graph.facebook.com/v21.0
	PrivacyGroup string
	Token        string
	Client       *http.Client
	// Now returns the time (time.Now if nil).
	Now func() time.Time
}

type teState struct {
	Next string `json:"next,omitempty"`
	Stop int64  `json:"stop,omitempty"`
}

// TEUpdate is one element of threat_updates' data (exported for test
// servers).
type TEUpdate struct {
	ID           string   `json:"id"`
	Indicator    string   `json:"indicator"`
	Type         string   `json:"type"`
	LastUpdated  int64    `json:"last_updated"`
	ShouldDelete bool     `json:"should_delete"`
	Tags         []string `json:"tags,omitempty"`
}

// TEPage is the answer of threat_updates.
type TEPage struct {
	Data   []TEUpdate `json:"data"`
	Paging struct {
		Next string `json:"next,omitempty"`
	} `json:"paging"`
	Error *struct {
		Message string `json:"message"`
		Code    int    `json:"code"`
	} `json:"error,omitempty"`
}

// teTypes maps ThreatExchange indicator types to ours.
var teTypes = map[string]bank.Type{"HASH_PDQ": bank.PDQ, "HASH_MD5": bank.MD5, "HASH_SHA1": bank.SHA1, "HASH_SHA256": bank.SHA256}

// Fetch implements Adapter.
func (a *ThreatExchangeAdapter) Fetch(ctx context.Context, cp Checkpoint) (Page, error) {
	var st teState
	if cp.State != "" {
		if err := json.Unmarshal([]byte(cp.State), &st); err != nil {
			return Page{}, fmt.Errorf("%w: checkpoint state: %w", ErrMalformed, err)
		}
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	var res *TEPage
	var err error
	if st.Next != "" {
		res, err = a.get(ctx, st.Next)
		var he *httpError
		if isHTTP(err, &he) && (he.code == http.StatusBadRequest || he.code == http.StatusGone) {
			res, err = nil, nil // the paging URL expired: restart the window
		}
		if err != nil {
			return Page{}, err
		}
	}
	stop := st.Stop
	if res == nil {
		if stop == 0 {
			stop = now().Unix()
		}
		q := url.Values{"start_time": {strconv.FormatInt(cp.Pos/1e6, 10)}, "stop_time": {strconv.FormatInt(stop, 10)},
			"fields": {"id,indicator,type,last_updated,should_delete,tags"}, "limit": {"1000"}}
		res, err = a.get(ctx, strings.TrimSuffix(a.BaseURL, "/")+"/"+url.PathEscape(a.PrivacyGroup)+"/threat_updates?"+q.Encode())
		if err != nil {
			return Page{}, err
		}
	}
	var p Page
	for _, u := range res.Data {
		t, ok := teTypes[u.Type]
		if !ok {
			continue
		}
		e := Entry{ID: u.ID, Signal: bank.Signal{Type: t, Value: u.Indicator, Quality: -1}, Deleted: u.ShouldDelete}
		if len(u.Tags) > 0 {
			e.Signal.Extra = map[string]string{"te_tags": strings.Join(u.Tags, ",")}
		}
		p.Entries = append(p.Entries, e)
	}
	if res.Paging.Next != "" {
		b, _ := json.Marshal(teState{Next: res.Paging.Next, Stop: stop})
		p.Next, p.More = Checkpoint{Pos: cp.Pos, State: string(b)}, true
		return p, nil
	}
	p.Next = Checkpoint{Pos: max(stop*1e6, cp.Pos)}
	return p, nil
}

func isHTTP(err error, he **httpError) bool { return errors.As(err, he) }

func (a *ThreatExchangeAdapter) get(ctx context.Context, u string) (*TEPage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "OAuth "+a.Token)
	resp, err := a.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("threatexchange %s: %w", redactURL(u), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, err
	}
	var res TEPage
	jerr := json.Unmarshal(b, &res)
	if res.Error != nil {
		switch res.Error.Code {
		case 4, 17, 32, 613:
			return nil, &RetryError{After: time.Minute, Err: fmt.Errorf("%w: %s", ErrRateLimited, res.Error.Message)}
		}
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return nil, &RetryError{After: RetryAfter(resp.Header.Get("Retry-After")), Err: fmt.Errorf("%w: %s", ErrRateLimited, resp.Status)}
	case resp.StatusCode != http.StatusOK:
		msg := resp.Status
		if res.Error != nil {
			msg = res.Error.Message
		}
		return nil, fmt.Errorf("threatexchange %s: %w", redactURL(u), &httpError{resp.StatusCode, msg})
	case jerr != nil:
		return nil, fmt.Errorf("%w: %w", ErrMalformed, jerr)
	}
	return &res, nil
}

// Report implements Adapter: not wired for ThreatExchange.
func (a *ThreatExchangeAdapter) Report(context.Context, Opinion) error { return ErrUnsupported }
