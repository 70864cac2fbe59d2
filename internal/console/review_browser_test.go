package console_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/console"
	"github.com/nigehban/nigehban/internal/history"
	"github.com/nigehban/nigehban/internal/review"
	"github.com/nigehban/nigehban/internal/sealed"
)

// testRing returns a key ring with one fresh key.
func testRing(t *testing.T) *sealed.Ring {
	t.Helper()
	l, err := sealed.NewKeyLine("k1")
	if err != nil {
		t.Fatal(err)
	}
	r, err := sealed.Parse(strings.NewReader(l))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// platform is the platform's HTTPS server holding the content a preview
// shows: a benign generated gradient. It counts the requests it serves.
func platform(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 5), 160, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "image/png")
		w.Write(buf.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// queueItems routes n hits of bank "victims" (action review) through the
// bank policy, each with uploader context naming account and a preview URL.
func queueItems(t *testing.T, st review.Deps, ring *sealed.Ring, n int, prefix, account, contentURL string) []int64 {
	t.Helper()
	svc := review.NewService(st, ring)
	var ids []int64
	for i := range n {
		outs, err := svc.Route(context.Background(), review.Request{
			Hits:      []review.Hit{{Bank: "victims", SignalID: 1, Type: "md5", Value: strings.Repeat("a", 32), Action: bank.ActionReview, Category: "test"}},
			Hashes:    []review.Hash{{Type: "md5", Value: fmt.Sprintf("%032x", 1000+i)}},
			ContentID: fmt.Sprintf("%s-%d", prefix, i), Submitter: "key:1 (platform)",
			Uploader: history.Uploader{AccountID: account, IP: "192.0.2.10", Port: 41000, ContentURL: contentURL},
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, outs[0].ReviewID)
	}
	return ids
}

// press sends a key to the page and waits for the next page to load.
func press(t *testing.T, ctx context.Context, key string) {
	t.Helper()
	step(t, ctx, "mark page", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool]("window.__old = true")(ctx, tg)
		return err
	}))
	step(t, ctx, "press "+key, chromedp.KeyEvent(key))
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("window.__old !== true && document.readyState === 'complete'"))
		if err == nil && ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no new page after pressing %s", key)
}

func waitEval(t *testing.T, ctx context.Context, js string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js)); err == nil && ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", js)
}

// TestBrowserReview: two moderators claim items (never the same one; the
// second cannot open the first's), the preview from the platform is
// blurred and greyscale until clicked and the click is audited, decisions
// by keyboard and by button are recorded and audited, and only a
// child-safety moderator sees the uploader context (the view audited).
func TestBrowserReview(t *testing.T) {
	ring := testRing(t)
	s := newSiteWith(t, func(c *console.Config) { c.DataKeys = ring })
	ctx0 := context.Background()
	if _, err := bank.NewService(s.st).CreateBank(ctx0, bank.Bank{Name: "victims", Enabled: true, Action: bank.ActionReview, PDQThreshold: 31}, testActor); err != nil {
		t.Fatal(err)
	}
	plat, served := platform(t)
	ids := queueItems(t, s.st, ring, 2, "upload", "acct-mallory", plat.URL+"/content/42.png")

	mo1 := s.tab(t)
	s.firstLogin(t, mo1, s.user(t, "mo1", account.Moderator))
	s.open(t, mo1, "/ui/reviews")
	if got := text(t, mo1, "#open"); got != "2" {
		t.Errorf("queue depth %q, want 2", got)
	}
	submit(t, mo1, "#claim-next")
	if loc := location(t, mo1); loc != fmt.Sprintf("%s/ui/reviews/%d", s.url, ids[0]) {
		t.Fatalf("mo1 after claiming at %s", loc)
	}
	// The preview: loaded from the platform by the browser, blurred and grey.
	waitEval(t, mo1, `document.querySelector('#preview-media').complete && document.querySelector('#preview-media').naturalWidth === 64`)
	filter := eval[string](t, mo1, `getComputedStyle(document.querySelector('#preview-media')).filter`)
	if !strings.Contains(filter, "blur(") || !strings.Contains(filter, "grayscale(1)") {
		t.Errorf("preview filter %q, want blurred and greyscale", filter)
	}
	if served.Load() == 0 {
		t.Error("the platform served no preview")
	}
	// A moderator sees no uploader context, only that it exists.
	body := eval[string](t, mo1, "document.body.innerText")
	if strings.Contains(body, "acct-mallory") || strings.Contains(body, "192.0.2.10") {
		t.Error("a moderator sees the uploader context")
	}
	if n := eval[int](t, mo1, "document.querySelectorAll('#uploader-hidden').length"); n != 1 {
		t.Error("no note that uploader context is hidden")
	}

	// The second moderator gets the other item and cannot open the first.
	mo2 := s.tab(t)
	s.firstLogin(t, mo2, s.user(t, "mo2", account.Moderator))
	s.open(t, mo2, "/ui/reviews")
	submit(t, mo2, "#claim-next")
	if loc := location(t, mo2); loc != fmt.Sprintf("%s/ui/reviews/%d", s.url, ids[1]) {
		t.Fatalf("mo2 after claiming at %s, want item %d", loc, ids[1])
	}
	s.open(t, mo2, fmt.Sprintf("/ui/reviews/%d", ids[0]))
	if loc := location(t, mo2); !strings.HasSuffix(loc, "/ui/reviews?msg=gone") {
		t.Errorf("mo2 opening mo1's item lands at %s", loc)
	}
	if strings.Contains(eval[string](t, mo2, "document.body.innerText"), "upload-0") {
		t.Error("mo2 sees mo1's item")
	}
	s.open(t, mo2, "/ui/reviews")
	submit(t, mo2, "#claim-next") // claiming again gives back the item mo2 holds
	if loc := location(t, mo2); loc != fmt.Sprintf("%s/ui/reviews/%d", s.url, ids[1]) {
		t.Fatalf("mo2 claiming again at %s", loc)
	}

	// Unblur: a click, audited before the preview clears.
	if hasAction(auditActions(t, s.st), review.ActPreview) {
		t.Fatal("preview audited before any click")
	}
	step(t, mo1, "click preview", chromedp.Click(chromedp.CSS("#unblur")))
	waitEval(t, mo1, `!document.querySelector('#preview').classList.contains('blurred')`)
	waitEval(t, mo1, `getComputedStyle(document.querySelector('#preview-media')).filter === 'none'`)
	if !hasAction(auditActions(t, s.st), fmt.Sprintf("%s review:%d", review.ActPreview, ids[0])) {
		t.Errorf("unblur not audited: %v", auditActions(t, s.st))
	}

	// Decide by keyboard (c: confirm) and by button (reject).
	press(t, mo1, "c")
	if loc := location(t, mo1); !strings.HasSuffix(loc, "/ui/reviews?msg=done") {
		t.Fatalf("after confirming at %s", loc)
	}
	step(t, mo2, "comment", chromedp.SendKeys(chromedp.CSS("#comment"), "a landscape, not a match"))
	submit(t, mo2, "#reject")
	for i, want := range []review.State{review.Confirmed, review.Rejected} {
		it, err := s.st.GetReview(ctx0, ids[i])
		if err != nil || it.State != want {
			t.Errorf("item %d: %s, %v; want %s", ids[i], it.State, err, want)
		}
	}
	es, _ := s.st.ListAudit(ctx0, 0, 1000)
	var decided []string
	for _, e := range es {
		if e.Action == review.ActDecide {
			decided = append(decided, e.Target+" by "+e.Actor)
		}
	}
	if len(decided) != 2 || !strings.HasPrefix(decided[0], fmt.Sprintf("review:%d by user:", ids[0])) || !strings.HasSuffix(decided[0], "(mo1)") ||
		!strings.HasPrefix(decided[1], fmt.Sprintf("review:%d by user:", ids[1])) || !strings.HasSuffix(decided[1], "(mo2)") {
		t.Errorf("audited decisions %v", decided)
	}
	submit(t, mo1, "#claim-next")
	if got := text(t, mo1, "#msg"); !strings.Contains(got, "Nothing is waiting") {
		t.Errorf("empty queue: %q", got)
	}

	// A child-safety moderator sees the uploader and its other hits; the
	// view is audited.
	more := queueItems(t, s.st, ring, 1, "later", "acct-mallory", plat.URL+"/content/43.png")
	cs := s.tab(t)
	s.firstLogin(t, cs, s.user(t, "cs", account.ChildSafety))
	s.open(t, cs, "/ui/reviews")
	submit(t, cs, "#claim-next")
	if loc := location(t, cs); loc != fmt.Sprintf("%s/ui/reviews/%d", s.url, more[0]) {
		t.Fatalf("cs after claiming at %s", loc)
	}
	if got := text(t, cs, "#uploader"); !strings.Contains(got, "acct-mallory") || !strings.Contains(got, "192.0.2.10 port 41000") {
		t.Errorf("uploader for child-safety: %q", got)
	}
	if got := text(t, cs, "#others tbody"); !strings.Contains(got, "upload-0") || !strings.Contains(got, "upload-1") {
		t.Errorf("other hits of the uploader: %q", got)
	}
	if !hasAction(auditActions(t, s.st), fmt.Sprintf("%s review:%d", review.ActUploaderView, more[0])) {
		t.Error("uploader view not audited")
	}
}
