package console_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/console"
	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/jobs"
	"github.com/nigehban/nigehban/internal/sealed"
)

// TestBrowserExchanges: a curator adds a hash-list exchange with the form
// of its kind (the token typed in a password field, never shown again),
// fetches it now, and watches the detail page reload itself (no script)
// from "queued" to the finished fetch with what it added.
func TestBrowserExchanges(t *testing.T) {
	var run jobs.Runner
	var keys *sealed.Ring
	s := newSiteWith(t, func(cfg *console.Config) {
		cfg.Jobs = func(context.Context) (jobs.Runner, error) { return run, nil }
		keys = cfg.DataKeys
	})
	xs := s.st.(exchange.Store)
	svc := &exchange.Service{St: xs, Banks: s.st, Keys: keys, Log: slog.New(slog.DiscardHandler)}
	sw := &exchange.ScheduleWorker{St: xs}
	var err error
	if run, err = jobs.Open(context.Background(), s.dsn, exchange.Config(svc, exchange.Syncer{Log: svc.Log}, time.Hour, sw)); err != nil {
		t.Fatal(err)
	}
	sw.Runner = run
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		run.Stop(ctx)
		run.Close()
	})
	list := &hashList{}
	list.set(md5Of(1), md5Of(2))
	srv := httptest.NewServer(list)
	t.Cleanup(srv.Close)

	ctx := s.tab(t)
	s.firstLogin(t, ctx, s.user(t, "cura", account.Curator))
	s.open(t, ctx, "/ui/exchanges")
	if got := text(t, ctx, "#exchanges tbody"); !strings.Contains(got, "No exchanges yet") {
		t.Fatalf("empty list: %q", got)
	}
	form := "#add-hashlist form "
	step(t, ctx, "open the hash-list form and fill it",
		chromedp.Click(chromedp.CSS("#add-hashlist summary")),
		chromedp.SendKeys(chromedp.CSS(form+"input[name=name]"), "list-a"),
		chromedp.SendKeys(chromedp.CSS(form+"input[name=url]"), srv.URL),
		chromedp.SendKeys(chromedp.CSS(form+"input[name='credential.token']"), "s3cret-list-token"))
	submit(t, ctx, form+"button")
	if loc := location(t, ctx); loc != s.url+"/ui/exchanges/list-a?msg=added" {
		t.Fatalf("after add at %s", loc)
	}
	if got := text(t, ctx, "#exchange"); !strings.Contains(got, "stored sealed (not shown)") || strings.Contains(got, "s3cret") {
		t.Errorf("detail: %q", got)
	}
	submit(t, ctx, "#fetch-now")
	if got := text(t, ctx, "#job"); got != "queued" {
		t.Errorf("job after fetch now: %q", got)
	}
	if got := text(t, ctx, "#refreshing"); !strings.Contains(got, "reloads itself") {
		t.Errorf("no self-reload note: %q", got)
	}
	if err := run.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The page reloads itself: wait without navigating.
	deadline := time.Now().Add(time.Minute)
	for {
		// The committed page's row (the schedule's start-up fetch may run
		// after "fetch now" and, the list unchanged, commit nothing: the
		// last fetch then shows 0 pages, the page history still the one).
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("#pages tbody tr td:nth-child(6)")).map(td => td.textContent).join(",") + " | " + (document.querySelector("#job")||{}).textContent`))
		if err == nil && strings.HasPrefix(got, "2 |") && strings.Contains(got, "| done") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page never showed the finished fetch: %q %v", got, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#pages tbody tr").length`); n != 1 {
		t.Errorf("%d page rows, want 1", n)
	}
	s.open(t, ctx, "/ui/exchanges")
	// Fetched (all time) counts the two hashes whatever fetch ran last.
	if got := text(t, ctx, "#x-list-a"); !strings.Contains(got, "enabled") || text(t, ctx, "#x-list-a td:nth-child(7)") != "2" {
		t.Errorf("list row: %q", got)
	}
}
