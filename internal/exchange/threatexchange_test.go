package exchange_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// fakeTE follows threat_updates as ThreatExchangeAdapter documents it:
// OAuth token, start/stop window, cursor paging whose cursors expire,
// Graph API rate-limit errors (code 4), should_delete, malformed pages.
type fakeTE struct {
	mu        sync.Mutex
	ups       []exchange.TEUpdate // by LastUpdated
	gen       int
	requests  int
	rateEvery int
	malformed int
}

func (f *fakeTE) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Authorization") != "OAuth te-token" {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"message":"Invalid OAuth access token.","code":190}}`)
		return
	}
	if r.URL.Path != "/v21.0/1234/threat_updates" {
		http.NotFound(w, r)
		return
	}
	f.requests++
	if f.rateEvery > 0 && f.requests%f.rateEvery == 0 {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"message":"(#4) Application request limit reached","code":4}}`)
		return
	}
	if f.malformed > 0 {
		f.malformed--
		io.WriteString(w, `{"data":[{"id":`)
		return
	}
	q := r.URL.Query()
	start, _ := strconv.ParseInt(q.Get("start_time"), 10, 64)
	stop, _ := strconv.ParseInt(q.Get("stop_time"), 10, 64)
	off := 0
	if c := q.Get("after"); c != "" {
		var gen int
		if _, err := fmt.Sscanf(c, "%d.%d", &gen, &off); err != nil || gen != f.gen {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"message":"cursor expired","code":100}}`)
			return
		}
	}
	var sel []exchange.TEUpdate
	for _, u := range f.ups {
		if u.LastUpdated >= start && u.LastUpdated < stop {
			sel = append(sel, u)
		}
	}
	end := min(off+100, len(sel))
	var page exchange.TEPage
	page.Data = sel[off:end]
	if end < len(sel) {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("after", fmt.Sprintf("%d.%d", f.gen, end))
		page.Paging.Next = "http://" + r.Host + r.URL.Path + "?" + v.Encode()
	}
	json.NewEncoder(w).Encode(page)
}

// TestThreatExchangeSync: paging with rate-limit errors, a kill mid-window
// resumed after the cursor expired, should_delete withdraws, a malformed
// page moves nothing.
func TestThreatExchangeSync(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		f := &fakeTE{rateEvery: 3}
		for i := range 250 {
			f.ups = append(f.ups, exchange.TEUpdate{ID: strconv.Itoa(i), Indicator: pdqOf(i), Type: "HASH_PDQ", LastUpdated: int64(1_600_000_000 + i)})
		}
		srv := httptest.NewServer(f)
		t.Cleanup(srv.Close)
		svc := setup(t, st, "te", exchange.KindThreatExchange, srv.URL+"/v21.0", map[string]string{"token": "te-token"})
		if _, err := svc.Add(ctx, exchange.Exchange{Name: "te-group", Kind: exchange.KindThreatExchange, Bank: "te", URL: srv.URL + "/v21.0",
			Settings: map[string]string{"privacy_group": "1234"}, Credentials: map[string]string{"token": "te-token"}, Enabled: true}, curator); err != nil {
			t.Fatal(err)
		}
		kctx, kill := context.WithCancel(ctx)
		sy := fastSyncer()
		sy.Progress = func(int64) { kill() }
		if _, err := svc.Fetch(kctx, "te-group", sy); !errors.Is(err, context.Canceled) {
			t.Fatalf("killed: %v", err)
		}
		f.mu.Lock()
		f.gen++
		f.mu.Unlock()
		if _, err := svc.Fetch(ctx, "te-group", fastSyncer()); err != nil {
			t.Fatal(err)
		}
		if a, all := activeCount(t, st, "te"); a != 250 || all != 250 {
			t.Fatalf("after resume: %d active, %d stored", a, all)
		}
		before, _ := st.GetExchange(ctx, "te-group")
		f.mu.Lock()
		// In the next window: at its start, which ends a second later at the earliest.
		f.ups = append(f.ups, exchange.TEUpdate{ID: "7", Indicator: pdqOf(7), Type: "HASH_PDQ", LastUpdated: before.Checkpoint.Pos / 1e6, ShouldDelete: true})
		f.malformed = 1
		f.mu.Unlock()
		time.Sleep(time.Until(time.Unix(before.Checkpoint.Pos/1e6+1, 0)))
		if _, err := svc.Fetch(ctx, "te-group", fastSyncer()); !errors.Is(err, exchange.ErrMalformed) {
			t.Fatalf("malformed: %v", err)
		}
		if after, _ := st.GetExchange(ctx, "te-group"); after.Checkpoint != before.Checkpoint {
			t.Fatal("malformed page moved the checkpoint")
		}
		if res, err := svc.Fetch(ctx, "te-group", fastSyncer()); err != nil || res.Applied.Withdrawn != 1 {
			t.Fatalf("should_delete: %+v, %v", res, err)
		}
		if _, err := st.FindSignal(ctx, "te", bank.PDQ, pdqOf(7)); !errors.Is(err, bank.ErrNotFound) {
			t.Fatal("deleted indicator still active")
		}
	})
}
