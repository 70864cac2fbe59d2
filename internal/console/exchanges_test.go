package console_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/console"
	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/jobs"
	"github.com/nigehban/nigehban/internal/sealed"
	"github.com/nigehban/nigehban/internal/store/storetest"
	"github.com/nigehban/nigehban/internal/testtool"
	"github.com/riverqueue/river/rivertype"
)

// hashList serves a plain hash list that a test changes.
type hashList struct {
	mu    sync.Mutex
	lines []string
}

func (h *hashList) set(lines ...string) { h.mu.Lock(); h.lines = lines; h.mu.Unlock() }

func (h *hashList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer s3cret-list-token" {
		http.Error(w, "no", http.StatusUnauthorized)
		return
	}
	h.mu.Lock()
	body := strings.Join(h.lines, "\n") + "\n"
	h.mu.Unlock()
	// Conditional GET as real list servers answer it: a fetch of an
	// unchanged list (the schedule's start-up fetch racing a "fetch now")
	// commits nothing.
	etag := fmt.Sprintf(`"%x"`, sha256.Sum256([]byte(body)))
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	fmt.Fprint(w, body)
}

func md5Of(i int) string { return fmt.Sprintf("%032x", 0xabc000+i) }

// exchangeEnv is a console whose fetch jobs run on a River client over
// the same SQLite file, started by the test.
func exchangeEnv(t *testing.T) (*env, jobs.Runner) {
	t.Helper()
	dsn := storetest.SQLitePath(t)
	var run jobs.Runner
	var keys *sealed.Ring
	e := newEnvWith(t, dsn, func(cfg *console.Config) {
		cfg.Jobs = func(context.Context) (jobs.Runner, error) { return run, nil }
		cfg.ExchangeInterval = time.Hour
		keys = cfg.DataKeys
	})
	xs := e.st.(exchange.Store)
	svc := &exchange.Service{St: xs, Banks: e.st, Keys: keys, Log: slog.New(slog.DiscardHandler)}
	sw := &exchange.ScheduleWorker{St: xs}
	var err error
	run, err = jobs.Open(context.Background(), dsn, exchange.Config(svc, exchange.Syncer{Log: svc.Log}, time.Hour, sw))
	if err != nil {
		t.Fatal(err)
	}
	sw.Runner = run
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		run.Stop(ctx)
		run.Close()
	})
	return e, run
}

// TestExchangePages: a curator adds a hash-list exchange (its token sealed,
// never shown), queues a fetch (queued once, however often asked), sees it
// run to the end with what it added, then what a later fetch withdrew, the
// opinion outbox and disputes, and disables it; every change audited.
func TestExchangePages(t *testing.T) {
	e, run := exchangeEnv(t)
	ctx := context.Background()
	list := &hashList{}
	list.set(md5Of(1), md5Of(2), md5Of(3))
	srv := httptest.NewServer(list)
	t.Cleanup(srv.Close)
	cur := e.session(t, "cur", account.Curator)

	add := url.Values{"kind": {"hashlist"}, "name": {"list1"}, "bank": {"b1"}, "url": {srv.URL},
		"credential.token": {"s3cret-list-token"}, "stale_after": {"72h"}}
	resp := e.do(t, "POST", "/ui/exchanges", cur, add, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/exchanges/list1?msg=added" {
		t.Fatalf("add: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), readBody(t, resp))
	}
	x, err := e.st.(exchange.Store).GetExchange(ctx, "list1")
	if err != nil || x.SealedCredentials == "" || strings.Contains(x.SealedCredentials, "s3cret") || x.StaleAfter != 72*time.Hour {
		t.Fatalf("stored exchange: %+v, %v", x, err)
	}
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"same name", add, "exists already"},
		{"unknown kind", url.Values{"kind": {"ftp"}, "name": {"x2"}, "bank": {"b1"}, "url": {srv.URL}}, "Choose one of the kinds"},
		{"no such bank", url.Values{"kind": {"hashlist"}, "name": {"x2"}, "bank": {"nope"}, "url": {srv.URL}}, "There is no bank"},
		{"bad name", url.Values{"kind": {"hashlist"}, "name": {"X Y"}, "bank": {"b1"}, "url": {srv.URL}}, "lower-case letters"},
		{"no url", url.Values{"kind": {"ncmec"}, "name": {"x2"}, "bank": {"b1"}}, "url is required"},
		{"bad duration", url.Values{"kind": {"hashlist"}, "name": {"x2"}, "bank": {"b1"}, "url": {srv.URL}, "stale_after": {"soon"}}, "a duration"},
	} {
		resp := e.do(t, "POST", "/ui/exchanges", cur, tc.form, nil)
		if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d, want 400 with %q", tc.name, resp.StatusCode, tc.want)
		}
	}

	detail := func() (string, *http.Response) {
		t.Helper()
		resp := e.do(t, "GET", "/ui/exchanges/list1", cur, nil, nil)
		body := readBody(t, resp)
		if resp.StatusCode != 200 {
			t.Fatalf("detail: %d %s", resp.StatusCode, body)
		}
		if strings.Contains(body, "s3cret") {
			t.Fatal("the page shows the credentials")
		}
		return body, resp
	}
	if body, _ := detail(); !strings.Contains(body, "stored sealed (not shown)") || !strings.Contains(body, "never fetched") ||
		!strings.Contains(body, "fetched every 1h0m0s") {
		t.Errorf("detail before a fetch lacks the sealed credentials or the state")
	}

	resp = e.do(t, "POST", "/ui/exchanges/list1/fetch", cur, url.Values{}, nil)
	if loc := resp.Header.Get("Location"); loc != "/ui/exchanges/list1?msg=queued" {
		t.Fatalf("fetch now: %d %q", resp.StatusCode, loc)
	}
	if resp := e.do(t, "POST", "/ui/exchanges/list1/fetch", cur, url.Values{}, nil); resp.Header.Get("Location") != "/ui/exchanges/list1?msg=already" {
		t.Errorf("second fetch now while queued: %q", resp.Header.Get("Location"))
	}
	body, resp := detail()
	if !strings.Contains(body, "queued") || resp.Header.Get("Refresh") == "" {
		t.Errorf("queued fetch: job state or self-reload missing (Refresh %q)", resp.Header.Get("Refresh"))
	}
	if strings.Contains(body, `id="next-fetch"`) {
		t.Error("a next scheduled fetch shown before the schedule ever ran")
	}

	if err := run.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitOK := func(after *time.Time) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			x, err := e.st.(exchange.Store).GetExchange(ctx, "list1")
			if err != nil {
				t.Fatal(err)
			}
			if x.State.LastOKAt != nil && x.State.SyncStart == nil && (after == nil || x.State.LastOKAt.After(*after)) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no good fetch: %+v", x.State)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitOK(nil)
	// The job row is finalised just after the fetch commits.
	deadline := time.Now().Add(30 * time.Second)
	for body, resp = detail(); !strings.Contains(body, "done 20") && time.Now().Before(deadline); body, resp = detail() {
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{"done 20", "3 added, 0 withdrawn", `<td class="num">3</td>`} {
		if !strings.Contains(body, want) {
			t.Errorf("detail after the fetch lacks %q\n%s", want, body)
		}
	}
	if resp.Header.Get("Refresh") != "" {
		t.Error("the page still reloads itself after the fetch ended")
	}
	// The schedule runs on start (once River's leader is elected): the
	// next fetch is its job's time plus the interval (1 h), on the detail
	// page and in the list.
	// Its fetch (of an unchanged list: nothing committed) ends before
	// the test goes on.
	var sched []*rivertype.JobRow
	if !testtool.Eventually(t, 50*time.Millisecond, func() bool {
		sched, err = run.Jobs(ctx, exchange.ScheduleArgs{}.Kind(), 1)
		if err != nil || len(sched) != 1 || sched[0].State != rivertype.JobStateCompleted {
			return false
		}
		fetches, err := run.Jobs(ctx, exchange.FetchArgs{}.Kind(), 100)
		if err != nil {
			return false
		}
		for _, j := range exchange.FetchJobs(fetches, "list1") {
			if j.Active() {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("the schedule's start-up run did not end: %v", err)
	}
	next := sched[0].ScheduledAt.Add(time.Hour).UTC().Format("2006-01-02 15:04:05Z")
	body, _ = detail()
	if want := `<dd id="next-fetch">` + next + `</dd>`; !strings.Contains(body, want) {
		t.Errorf("detail lacks %q", want)
	}
	if list := readBody(t, e.do(t, "GET", "/ui/exchanges", cur, nil, nil)); !strings.Contains(list, `<small class="muted next-fetch">next fetch `+next+`</small>`) {
		t.Errorf("list lacks the next fetch at %s", next)
	}

	// The list withdraws one value and adds one: the next fetch says so.
	list.set(md5Of(1), md5Of(2), md5Of(4))
	x, _ = e.st.(exchange.Store).GetExchange(ctx, "list1")
	if resp := e.do(t, "POST", "/ui/exchanges/list1/fetch", cur, url.Values{}, nil); resp.Header.Get("Location") != "/ui/exchanges/list1?msg=queued" {
		t.Fatalf("second fetch: %q", resp.Header.Get("Location"))
	}
	waitOK(x.State.LastOKAt)
	resp = e.do(t, "GET", "/ui/exchanges", cur, nil, nil)
	body = readBody(t, resp)
	if !strings.Contains(body, `<td class="num">1 / 1</td>`) || !strings.Contains(body, `href="/ui/exchanges/list1"`) {
		t.Errorf("list lacks the last fetch's added / withdrawn (1 / 1)")
	}

	// A false positive of one of its hashes waits in the outbox and marks
	// the signal disputed.
	sigs, _, err := e.st.SearchSignals(ctx, "b1", "", "", false, 0, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var sig bank.Signal
	for _, s := range sigs {
		if s.Value == md5Of(1) {
			sig = s
		}
	}
	if _, err := e.st.(exchange.Store).QueueOpinion(ctx, exchange.Opinion{Exchange: "list1", SignalID: sig.ID, EntryID: sig.Value,
		Type: sig.Type, Value: sig.Value, Verdict: exchange.FalsePositive, Decision: "review:1"}, testActor); err != nil {
		t.Fatal(err)
	}
	body, _ = detail()
	for _, want := range []string{`<dd id="outbox">1`, `<dd id="disputed">1</dd>`, "false_positive"} {
		if !strings.Contains(body, want) {
			t.Errorf("detail lacks %q", want)
		}
	}

	resp = e.do(t, "POST", "/ui/exchanges/list1/disable", cur, url.Values{}, nil)
	if resp.Header.Get("Location") != "/ui/exchanges/list1?msg=disabled" {
		t.Fatalf("disable: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := e.do(t, "POST", "/ui/exchanges/list1/fetch", cur, url.Values{}, nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("fetch of a disabled exchange: %d, want 409", resp.StatusCode)
	}
	if body, _ := detail(); !strings.Contains(body, `<dd id="state">disabled</dd>`) || !strings.Contains(body, `id="enable"`) ||
		strings.Contains(body, `id="next-fetch"`) {
		t.Error("disabled state or enable button missing, or a next fetch shown")
	}
	if resp := e.do(t, "POST", "/ui/exchanges/list1/enable", cur, url.Values{}, nil); resp.Header.Get("Location") != "/ui/exchanges/list1?msg=enabled" {
		t.Errorf("enable: %q", resp.Header.Get("Location"))
	}
	acts := auditActions(t, e.st)
	for act, n := range map[string]int{exchange.ActCreate: 1, console.ActFetchQueued: 2, exchange.ActUpdate: 2} {
		if got := count(acts, act); got != n {
			t.Errorf("%d %s audit entries, want %d", got, act, n)
		}
	}
}

// TestExchangesWithoutJobs: without a River client the pages still show
// the exchanges, and fetch now is refused with a reason.
func TestExchangesWithoutJobs(t *testing.T) {
	e := newEnv(t, sqliteDSN(t))
	cur := e.session(t, "cur", account.Curator)
	if resp := e.do(t, "POST", "/ui/exchanges", cur, url.Values{"kind": {"hashlist"}, "name": {"l"}, "bank": {"b1"},
		"url": {"https://lists.example.org/a.txt"}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add: %d", resp.StatusCode)
	}
	resp := e.do(t, "GET", "/ui/exchanges/l", cur, nil, nil)
	if body := readBody(t, resp); !strings.Contains(body, "runs no exchange jobs") || strings.Contains(body, `id="fetch-now"`) {
		t.Error("detail without jobs offers fetch now")
	}
	if resp := e.do(t, "POST", "/ui/exchanges/l/fetch", cur, url.Values{}, nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("fetch without jobs: %d", resp.StatusCode)
	}
}
