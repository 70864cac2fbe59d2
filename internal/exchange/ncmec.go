package exchange

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/signal"
)

// NCMECAdapter speaks NCMEC's Hash Sharing API v2 (XML over HTTPS with
// basic authentication), as its public documentation and Meta's
// python-threatexchange client describe it:
//
//   - GET /v2/entries?from=T1&to=T2 lists the entries changed in the time
//     window [T1, T2): <images>, <videos> and their <deletedImages>,
//     <deletedVideos>, each entry with its member (the ESP that shared it),
//     id, timestamp, classification and fingerprints; <paging><next> is the
//     URL of the window's next page (start, size, max), absent on the last.
//   - Paging URLs are short-lived (NCMEC suggests not keeping them; we
//     reuse one for at most PagingTTL and restart the window from its start
//     when one is refused with 400, 404 or 410: entries seen twice are
//     idempotent).
//   - PUT /v2/entries/{member}/{image|video}/{id}/feedback with
//     <feedbackSubmission><affirmative/></…> or <negative/> records our
//     vote on an entry (a vote is a state: sending it again changes
//     nothing).
//
// The checkpoint's Pos is the start of the window in progress (Unix
// microseconds), which moves to the window's end when its last page is
// committed; State holds the paging URL and the window's end.
type NCMECAdapter struct {
	BaseURL        string
	User, Password string
	// Member, if set, keeps only entries of these member ids
	// (comma-separated), as HMA's only_esp_ids.
	Member string
	Client *http.Client
	// PageSize is the size parameter of a window's first request (1000 if
	// 0).
	PageSize int
	// PagingTTL bounds how long a paging URL is reused (12 h if 0).
	PagingTTL time.Duration
	// Now returns the time (time.Now if nil).
	Now func() time.Time
}

// ncmecState is the Checkpoint.State of an NCMEC exchange.
type ncmecState struct {
	Next string `json:"next,omitempty"` // paging URL of the window's next page
	To   int64  `json:"to,omitempty"`   // the window's end, Unix microseconds
	At   int64  `json:"at,omitempty"`   // when Next was issued
}

// NCMECTime is the time format of the API's from and to parameters.
const NCMECTime = "2006-01-02T15:04:05.000Z"

// NCMECNamespace is the XML namespace of API v2 documents.
const NCMECNamespace = "https://hashsharing.ncmec.org/hashsharing/v2"

// NCMECResult is the document GET /v2/entries answers (exported for test
// servers).
type NCMECResult struct {
	XMLName       xml.Name          `xml:"queryResult"`
	Images        NCMECEntryList    `xml:"images"`
	Videos        NCMECEntryList    `xml:"videos"`
	DeletedImages NCMECDeletionList `xml:"deletedImages"`
	DeletedVideos NCMECDeletionList `xml:"deletedVideos"`
	Paging        struct {
		Next string `xml:"next,omitempty"`
	} `xml:"paging"`
}

// NCMECEntryList is <images> or <videos>.
type NCMECEntryList struct {
	Count        int          `xml:"count,attr"`
	MaxTimestamp string       `xml:"maxTimestamp,attr,omitempty"`
	Entries      []NCMECEntry `xml:",any"`
}

// NCMECDeletionList is <deletedImages> or <deletedVideos>.
type NCMECDeletionList struct {
	Count   int          `xml:"count,attr"`
	Entries []NCMECEntry `xml:",any"`
}

// NCMECEntry is one <image>, <video>, <deletedImage> or <deletedVideo>.
type NCMECEntry struct {
	XMLName xml.Name `xml:""`
	Member  struct {
		ID   string `xml:"id,attr"`
		Name string `xml:",chardata"`
	} `xml:"member"`
	Timestamp      string `xml:"timestamp"`
	ID             string `xml:"id"`
	Classification string `xml:"classification,omitempty"`
	Fingerprints   struct {
		MD5  string `xml:"md5,omitempty"`
		SHA1 string `xml:"sha1,omitempty"`
		PDQ  string `xml:"pdq,omitempty"`
	} `xml:"fingerprints"`
}

func (a *NCMECAdapter) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Fetch implements Adapter.
func (a *NCMECAdapter) Fetch(ctx context.Context, cp Checkpoint) (Page, error) {
	var st ncmecState
	if cp.State != "" {
		if err := json.Unmarshal([]byte(cp.State), &st); err != nil {
			return Page{}, fmt.Errorf("%w: checkpoint state: %w", ErrMalformed, err)
		}
	}
	ttl := a.PagingTTL
	if ttl == 0 {
		ttl = 12 * time.Hour
	}
	now := a.now()
	if st.Next != "" && now.Sub(time.UnixMicro(st.At)) <= ttl {
		res, err := a.get(ctx, st.Next)
		var he *httpError
		if errors.As(err, &he) && (he.code == http.StatusGone || he.code == http.StatusBadRequest || he.code == http.StatusNotFound) {
			res, err = nil, nil // the paging URL expired: restart the window
		}
		if err != nil {
			return Page{}, err
		}
		if res != nil {
			return a.page(cp, st.To, res, now)
		}
	}
	to := now.Add(-5 * time.Second).UnixMicro()
	if st.To > 0 && st.Next != "" {
		to = st.To // restart the same window
	}
	if to <= cp.Pos {
		return Page{Next: cp}, nil
	}
	size := a.PageSize
	if size == 0 {
		size = 1000
	}
	q := url.Values{"from": {time.UnixMicro(cp.Pos).UTC().Format(NCMECTime)},
		"to": {time.UnixMicro(to).UTC().Format(NCMECTime)}, "size": {fmt.Sprint(size)}}
	res, err := a.get(ctx, "/v2/entries?"+q.Encode())
	if err != nil {
		return Page{}, err
	}
	return a.page(cp, to, res, now)
}

// page turns a result into a Page of the window [cp.Pos, to).
func (a *NCMECAdapter) page(cp Checkpoint, to int64, res *NCMECResult, now time.Time) (Page, error) {
	var p Page
	var members map[string]bool // the Member filter, nil for all
	if a.Member != "" {
		members = map[string]bool{}
		for m := range strings.SplitSeq(a.Member, ",") {
			members[strings.TrimSpace(m)] = true
		}
	}
	p.Entries = make([]Entry, 0, len(res.DeletedImages.Entries)+len(res.DeletedVideos.Entries)+
		3*(len(res.Images.Entries)+len(res.Videos.Entries)))
	// The hashes of one member's entries carry the same Extra: one map
	// each (read only, as every Entry's Extra: the Syncer copies it).
	extras := map[string]map[string]string{}
	add := func(media string, es []NCMECEntry, deleted bool) {
		for i := range es {
			e := &es[i]
			if members != nil && !members[e.Member.ID] {
				continue
			}
			id := media + "/" + e.Member.ID + "/" + e.ID
			if deleted {
				p.Entries = append(p.Entries, Entry{ID: id, Member: e.Member.ID, Deleted: true})
				continue
			}
			extra := extras[e.Member.Name]
			if extra == nil {
				extra = map[string]string{"ncmec_member_name": e.Member.Name}
				extras[e.Member.Name] = extra
			}
			for _, fp := range [...]struct {
				t signal.Type
				v string
			}{{signal.MD5, e.Fingerprints.MD5}, {signal.SHA1, e.Fingerprints.SHA1}, {signal.PDQ, e.Fingerprints.PDQ}} {
				if fp.v == "" {
					continue
				}
				p.Entries = append(p.Entries, Entry{ID: id, Member: e.Member.ID, Class: e.Classification,
					Signal: bank.Signal{Type: fp.t, Value: fp.v, Quality: -1, Extra: extra}})
			}
		}
	}
	// Deletions first: an entry deleted and shared again in one window
	// comes back (its newer version is in images/videos).
	add("image", res.DeletedImages.Entries, true)
	add("video", res.DeletedVideos.Entries, true)
	add("image", res.Images.Entries, false)
	add("video", res.Videos.Entries, false)
	if res.Paging.Next != "" {
		b, _ := json.Marshal(ncmecState{Next: res.Paging.Next, To: to, At: now.UnixMicro()})
		p.Next, p.More = Checkpoint{Pos: cp.Pos, State: string(b)}, true
		return p, nil
	}
	p.Next = Checkpoint{Pos: to}
	return p, nil
}

// httpError is a non-2xx answer.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.msg) }

// get fetches and decodes one page; path is relative to BaseURL.
func (a *NCMECAdapter) get(ctx context.Context, path string) (*NCMECResult, error) {
	// The body is read into a buffer used again for the next page: the
	// result holds copies of its values, never the body itself.
	buf := bodyBufs.Get().(*bytes.Buffer)
	defer bodyBufs.Put(buf)
	body, err := a.doInto(ctx, http.MethodGet, path, nil, buf)
	if err != nil {
		return nil, err
	}
	res, err := decodeNCMEC(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if res.XMLName.Local != "queryResult" {
		return nil, fmt.Errorf("%w: root element %q", ErrMalformed, res.XMLName.Local)
	}
	return res, nil
}

// bodyBufs holds the buffers pages are read into (a page of 1000 entries
// is about 300 KB).
var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// do sends a request and returns the body of its answer; path is relative
// to BaseURL.
func (a *NCMECAdapter) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	return a.doInto(ctx, method, path, body, new(bytes.Buffer))
}

// doInto is do reading the answer's body into buf (reset first); the
// bytes returned are buf's.
func (a *NCMECAdapter) doInto(ctx context.Context, method, path string, body []byte, buf *bytes.Buffer) ([]byte, error) {
	u := strings.TrimSuffix(a.BaseURL, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(a.User, a.Password)
	if body != nil {
		req.Header.Set("Content-Type", "application/xml")
	}
	resp, err := a.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ncmec %s %s: %w", method, redactURL(u), err)
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, 256<<20)); err != nil {
		return nil, fmt.Errorf("ncmec %s: %w", redactURL(u), err)
	}
	b := buf.Bytes()
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		return nil, &RetryError{After: RetryAfter(resp.Header.Get("Retry-After")), Err: fmt.Errorf("%w: %s", ErrRateLimited, resp.Status)}
	case resp.StatusCode/100 != 2:
		return nil, fmt.Errorf("ncmec %s %s: %w", method, redactURL(u), &httpError{resp.StatusCode, strings.TrimSpace(string(b[:min(len(b), 200)]))})
	}
	return b, nil
}

// Report implements Adapter: a true positive is an affirmative vote, a
// false positive a negative one; pending review sends nothing.
func (a *NCMECAdapter) Report(ctx context.Context, op Opinion) error {
	parts := strings.SplitN(op.EntryID, "/", 3)
	if len(parts) != 3 {
		return fmt.Errorf("%w: NCMEC entry id %q", ErrInvalid, op.EntryID)
	}
	var vote string
	switch op.Verdict {
	case TruePositive:
		vote = "<affirmative/>"
	case FalsePositive:
		vote = "<negative/>"
	default:
		return nil
	}
	body := []byte(`<?xml version="1.0" encoding="UTF-8"?><feedbackSubmission xmlns="` + NCMECNamespace + `">` + vote + `</feedbackSubmission>`)
	_, err := a.do(ctx, http.MethodPut, "/v2/entries/"+url.PathEscape(parts[1])+"/"+parts[0]+"/"+url.PathEscape(parts[2])+"/feedback", body)
	return err
}
