package exchange_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// fakeStopNCII follows FetchHashes and SubmitFeedback as StopNCIIAdapter
// documents them: keys in headers, page tokens that expire, 429 answers,
// malformed pages, withdrawn and deleted hashes by status and per case.
type fakeStopNCII struct {
	mu        sync.Mutex
	recs      []exchange.StopNCIIRecord // by LastModTimestamp
	pageSize  int
	gen       int // tokens of older generations are refused
	requests  int
	rateEvery int
	malformed int
	feedback  map[string]int // "TYPE hash value" -> POSTs
}

func newFakeStopNCII(t testing.TB) (*fakeStopNCII, *httptest.Server) {
	f := &fakeStopNCII{pageSize: 100, feedback: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeStopNCII) add(rs ...exchange.StopNCIIRecord) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recs = append(f.recs, rs...)
}

func (f *fakeStopNCII) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Ocp-Apim-Subscription-Key") != "sub" {
		http.Error(w, "no subscription", http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/FetchHashes" && r.Header.Get("x-functions-key") == "fetch":
		f.requests++
		if f.rateEvery > 0 && f.requests%f.rateEvery == 0 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "throttled", http.StatusTooManyRequests)
			return
		}
		if f.malformed > 0 {
			f.malformed--
			io.WriteString(w, `{"count": 3, "hashRecords": [{"signalType": `)
			return
		}
		start, err := strconv.ParseInt(r.URL.Query().Get("startTimestamp"), 10, 64)
		if err != nil {
			http.Error(w, "startTimestamp", http.StatusBadRequest)
			return
		}
		lo := sort.Search(len(f.recs), func(i int) bool { return f.recs[i].LastModTimestamp >= start })
		hi, off := len(f.recs), lo
		if tok := r.URL.Query().Get("nextPageToken"); tok != "" {
			var gen int
			if _, err := fmt.Sscanf(tok, "%d.%d.%d", &gen, &off, &hi); err != nil || gen != f.gen {
				http.Error(w, "token expired", http.StatusBadRequest)
				return
			}
		}
		end := min(off+f.pageSize, hi)
		page := exchange.StopNCIIPage{HashRecords: f.recs[off:end], Count: end - off, NextSetTimestamp: start}
		if end < hi {
			page.HasMoreRecords, page.NextPageToken = true, fmt.Sprintf("%d.%d.%d", f.gen, end, hi)
		} else if hi > 0 {
			page.NextSetTimestamp = max(start, f.recs[hi-1].LastModTimestamp+1)
		}
		json.NewEncoder(w).Encode(page)
	case r.Method == http.MethodPost && r.URL.Path == "/SubmitFeedback" && r.Header.Get("x-functions-key") == "feedback":
		var body struct {
			HashFeedbacks []struct{ SignalType, HashValue, FeedbackValue string } `json:"hashFeedbacks"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.HashFeedbacks) == 0 {
			http.Error(w, "bad feedback", http.StatusBadRequest)
			return
		}
		for _, fb := range body.HashFeedbacks {
			f.feedback[fb.SignalType+" "+fb.HashValue+" "+fb.FeedbackValue]++
		}
	default:
		http.Error(w, "forbidden", http.StatusForbidden)
	}
}

var stopNCIICreds = map[string]string{"subscription_key": "sub", "fetch_key": "fetch", "feedback_key": "feedback"}

func pdqOf(i int) string { return syntheticRec(i).PDQ }

// TestStopNCIISync: paging with rate limits, a kill mid-set resumed after
// the page token expired, withdrawals by hashStatus and by every case
// (and not by one case of two), malformed pages, feedback once per
// decision.
func TestStopNCIISync(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		f, srv := newFakeStopNCII(t)
		for i := range 350 {
			f.add(exchange.StopNCIIRecord{SignalType: "PDQ", HashValue: pdqOf(i), HashStatus: "Active",
				CaseNumbers: map[string]string{"c" + strconv.Itoa(i): "Active"}, LastModTimestamp: int64(1_600_000_000 + i)})
		}
		f.add(exchange.StopNCIIRecord{SignalType: "PhotoDNA", HashValue: "AAAA", HashStatus: "Active", LastModTimestamp: 1_600_000_400})
		f.rateEvery = 3
		svc := setup(t, st, "stopncii", exchange.KindStopNCII, srv.URL, stopNCIICreds)

		kctx, kill := context.WithCancel(ctx)
		sy := fastSyncer()
		sy.MaxBatch = 1     // one page a transaction, whether or not the fetcher is ahead
		sy.NoStaging = true // pages commit one by one (the resumed fetch merges)
		sy.Progress = func(int64) { kill() }
		if _, err := svc.Fetch(kctx, "stopncii", sy); !errors.Is(err, context.Canceled) {
			t.Fatalf("killed fetch: %v", err)
		}
		if a, _ := activeCount(t, st, "stopncii"); a != 100 {
			t.Fatalf("after one page: %d", a)
		}
		f.mu.Lock()
		f.gen++ // every token issued so far expires
		f.mu.Unlock()
		res, err := svc.Fetch(ctx, "stopncii", fastSyncer())
		if err != nil {
			t.Fatal(err)
		}
		if a, all := activeCount(t, st, "stopncii"); a != 350 || all != 350 || res.Applied.Added != 250 {
			t.Fatalf("after resume: %d active, %d stored, %+v", a, all, res.Applied)
		}

		// Withdrawn by status, deleted by every case, one case of two withdrawn.
		f.add(exchange.StopNCIIRecord{SignalType: "PDQ", HashValue: pdqOf(1), HashStatus: "Withdrawn", LastModTimestamp: 1_700_000_000},
			exchange.StopNCIIRecord{SignalType: "PDQ", HashValue: pdqOf(2), HashStatus: "Active",
				CaseNumbers: map[string]string{"c2": "Deleted"}, LastModTimestamp: 1_700_000_001},
			exchange.StopNCIIRecord{SignalType: "PDQ", HashValue: pdqOf(3), HashStatus: "Active",
				CaseNumbers: map[string]string{"c3": "Withdrawn", "c9": "Active"}, LastModTimestamp: 1_700_000_002})
		res, err = svc.Fetch(ctx, "stopncii", fastSyncer())
		// Hashes 1 and 2 withdrawn; hash 3 updated (its cases' statuses
		// changed): withdrawn and added again.
		if err != nil || res.Applied.Withdrawn != 3 || res.Applied.Added != 1 {
			t.Fatalf("withdrawal fetch: %+v, %v", res.Applied, err)
		}
		for i, want := range []bool{true, false, false, true} {
			_, err := st.FindSignal(ctx, "stopncii", bank.PDQ, pdqOf(i))
			if got := err == nil; got != want {
				t.Errorf("hash %d active %v, want %v (%v)", i, got, want, err)
			}
		}

		f.mu.Lock()
		f.malformed = 1
		f.mu.Unlock()
		before, _ := st.GetExchange(ctx, "stopncii")
		if _, err := svc.Fetch(ctx, "stopncii", fastSyncer()); !errors.Is(err, exchange.ErrMalformed) {
			t.Fatalf("malformed: %v", err)
		}
		if after, _ := st.GetExchange(ctx, "stopncii"); after.Checkpoint != before.Checkpoint {
			t.Fatal("a malformed page moved the checkpoint")
		}

		s0, _ := st.FindSignal(ctx, "stopncii", bank.PDQ, pdqOf(0))
		s3, _ := st.FindSignal(ctx, "stopncii", bank.PDQ, pdqOf(3))
		for range 2 {
			svc.Feedback(ctx, s0, exchange.TruePositive, "d0", curator)
			svc.Feedback(ctx, s3, exchange.FalsePositive, "d3", curator)
		}
		for range 2 {
			if _, err := svc.Deliver(ctx, timeFar()); err != nil {
				t.Fatal(err)
			}
		}
		want := map[string]int{"PDQ " + pdqOf(0) + " Blocked": 1, "PDQ " + pdqOf(3) + " NotBlocked": 1}
		if fmt.Sprint(f.feedback) != fmt.Sprint(want) {
			t.Fatalf("feedback at the server: %v", f.feedback)
		}
	})
}
