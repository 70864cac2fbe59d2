package exchange

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/signal"
)

// StopNCIIAdapter speaks StopNCII's platform API (JSON over HTTPS with an
// API-management subscription key and function keys), as Meta's
// python-threatexchange client describes it:
//
//   - GET /FetchHashes?startTimestamp=T[&nextPageToken=P] returns
//     {count, hashRecords, nextPageToken, nextSetTimestamp, hasMoreRecords};
//     a record has signalType, hashValue, hashStatus (Active, Withdrawn,
//     Deleted, …), caseNumbers {case: status}, tags and lastModtimestamp.
//   - A record whose hashStatus is Withdrawn or Deleted, or whose every
//     case is Withdrawn or Deleted, is deleted from the bank (HMA's adapter
//     compares the hash value instead of its status and never deletes).
//   - POST /SubmitFeedback {hashFeedbacks: [{signalType, hashValue,
//     feedbackValue: Blocked|NotBlocked|PendingReview, tags}]} records our
//     opinion (a state per hash: sending it again changes nothing).
//
// The checkpoint's Pos is the startTimestamp of the set in progress (Unix
// seconds, as microseconds); State keeps the page token. A token the
// server no longer accepts (400, 401 with a token, 410) restarts the set.
type StopNCIIAdapter struct {
	BaseURL string
	// SubscriptionKey is sent as Ocp-Apim-Subscription-Key; FetchKey and
	// FeedbackKey as x-functions-key on their endpoints.
	SubscriptionKey, FetchKey, FeedbackKey string
	Client                                 *http.Client
}

// StopNCIIRecord is one hash record of FetchHashes (exported for test
// servers).
type StopNCIIRecord struct {
	SignalType       string            `json:"signalType"`
	HashValue        string            `json:"hashValue"`
	HashStatus       string            `json:"hashStatus"`
	CaseNumbers      map[string]string `json:"caseNumbers,omitempty"`
	Tags             []string          `json:"tags,omitempty"`
	LastModTimestamp int64             `json:"lastModtimestamp"`
}

// StopNCIIPage is the answer of FetchHashes.
type StopNCIIPage struct {
	Count            int              `json:"count"`
	HashRecords      []StopNCIIRecord `json:"hashRecords"`
	NextPageToken    string           `json:"nextPageToken,omitempty"`
	NextSetTimestamp int64            `json:"nextSetTimestamp"`
	HasMoreRecords   bool             `json:"hasMoreRecords"`
}

type stopNCIIState struct {
	Token string `json:"token,omitempty"`
}

// Fetch implements Adapter.
func (a *StopNCIIAdapter) Fetch(ctx context.Context, cp Checkpoint) (Page, error) {
	var st stopNCIIState
	if cp.State != "" {
		if err := json.Unmarshal([]byte(cp.State), &st); err != nil {
			return Page{}, fmt.Errorf("%w: checkpoint state: %w", ErrMalformed, err)
		}
	}
	start := cp.Pos / 1e6
	q := url.Values{"startTimestamp": {strconv.FormatInt(start, 10)}}
	if st.Token != "" {
		q.Set("nextPageToken", st.Token)
	}
	body, err := a.do(ctx, http.MethodGet, "/FetchHashes?"+q.Encode(), a.FetchKey, nil)
	var he *httpError
	if st.Token != "" && errors.As(err, &he) && (he.code == http.StatusBadRequest || he.code == http.StatusUnauthorized || he.code == http.StatusGone) {
		q.Del("nextPageToken") // the token expired: restart the set
		body, err = a.do(ctx, http.MethodGet, "/FetchHashes?"+q.Encode(), a.FetchKey, nil)
	}
	if err != nil {
		return Page{}, err
	}
	var res StopNCIIPage
	if err := json.Unmarshal(body, &res); err != nil {
		return Page{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var p Page
	for _, r := range res.HashRecords {
		t, err := signal.ParseType(r.SignalType)
		if err != nil {
			continue // PhotoDNA and other types we do not hold
		}
		e := Entry{Signal: bank.Signal{Type: t, Value: r.HashValue, Quality: -1}, Deleted: stopNCIIDeleted(r)}
		e.Signal.Extra = stopNCIIExtra(r)
		p.Entries = append(p.Entries, e)
	}
	if res.HasMoreRecords && res.NextPageToken != "" {
		b, _ := json.Marshal(stopNCIIState{Token: res.NextPageToken})
		p.Next, p.More = Checkpoint{Pos: cp.Pos, State: string(b)}, true
		return p, nil
	}
	next := res.NextSetTimestamp * 1e6
	if next < cp.Pos {
		return Page{}, fmt.Errorf("%w: nextSetTimestamp %d before startTimestamp %d", ErrMalformed, res.NextSetTimestamp, start)
	}
	p.Next = Checkpoint{Pos: next}
	return p, nil
}

// stopNCIIExtra is what a record says of its hash beside the value, kept
// as signal metadata: its status, its cases' statuses and its tags. A
// status change that does not delete the hash (a case of two withdrawn, a
// hash under review again) changes it, and so updates the signal.
func stopNCIIExtra(r StopNCIIRecord) map[string]string {
	x := map[string]string{}
	if r.HashStatus != "" {
		x["stopncii_status"] = r.HashStatus
	}
	if len(r.CaseNumbers) > 0 {
		cases := make([]string, 0, len(r.CaseNumbers))
		for _, c := range slices.Sorted(maps.Keys(r.CaseNumbers)) {
			cases = append(cases, c+":"+r.CaseNumbers[c])
		}
		x["stopncii_cases"] = strings.Join(cases, ",")
	}
	if len(r.Tags) > 0 {
		x["stopncii_tags"] = strings.Join(r.Tags, ",")
	}
	if len(x) == 0 {
		return nil
	}
	return x
}

// stopNCIIDeleted reports whether a record says the hash is to be deleted:
// by its status, or because every case that shared it is withdrawn or
// deleted.
func stopNCIIDeleted(r StopNCIIRecord) bool {
	gone := func(s string) bool { return strings.EqualFold(s, "Withdrawn") || strings.EqualFold(s, "Deleted") }
	if gone(r.HashStatus) {
		return true
	}
	if len(r.CaseNumbers) == 0 {
		return false
	}
	for _, s := range r.CaseNumbers {
		if !gone(s) {
			return false
		}
	}
	return true
}

// StopNCIIFeedback maps a verdict to StopNCII's feedbackValue.
func StopNCIIFeedback(v Verdict) string {
	switch v {
	case TruePositive:
		return "Blocked"
	case FalsePositive:
		return "NotBlocked"
	}
	return "PendingReview"
}

// Report implements Adapter.
func (a *StopNCIIAdapter) Report(ctx context.Context, op Opinion) error {
	body, _ := json.Marshal(map[string]any{"hashFeedbacks": []map[string]any{{
		"signalType": strings.ToUpper(string(op.Type)), "hashValue": op.Value,
		"feedbackValue": StopNCIIFeedback(op.Verdict), "tags": []string{}}}})
	_, err := a.do(ctx, http.MethodPost, "/SubmitFeedback", a.FeedbackKey, body)
	return err
}

func (a *StopNCIIAdapter) do(ctx context.Context, method, path, fnKey string, body []byte) ([]byte, error) {
	u := strings.TrimSuffix(a.BaseURL, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Ocp-Apim-Subscription-Key", a.SubscriptionKey)
	req.Header.Set("x-functions-key", fnKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("stopncii %s %s: %w", method, redactURL(u), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("stopncii %s: %w", redactURL(u), err)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		return nil, &RetryError{After: RetryAfter(resp.Header.Get("Retry-After")), Err: fmt.Errorf("%w: %s", ErrRateLimited, resp.Status)}
	case resp.StatusCode/100 != 2:
		return nil, fmt.Errorf("stopncii %s %s: %w", method, redactURL(u), &httpError{resp.StatusCode, strings.TrimSpace(string(b[:min(len(b), 200)]))})
	}
	return b, nil
}
