package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/console"
	"github.com/nigehban/nigehban/internal/review"
)

// TestReviewPagesHTTP: the review item page alone allows https: images
// and media (for the preview) in its CSP; a decision posted from another
// origin is refused and changes nothing; a viewer reaches neither the
// queue nor an item; the preview setting is per user.
func TestReviewPagesHTTP(t *testing.T) {
	e := newEnv(t, sqliteDSN(t))
	ring := testRing(t)
	// A console with a data key over the same store.
	con, err := console.New(e.st, console.Config{InsecureCookies: true, DataKeys: ring, Account: account.Config{KDF: testKDF}})
	if err != nil {
		t.Fatal(err)
	}
	e.con = con
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, con.Handler())
	e.srv.Config.Handler = mux
	if _, err := bank.NewService(e.st).CreateBank(context.Background(), bank.Bank{Name: "victims", Enabled: true, Action: bank.ActionReview, PDQThreshold: 31}, testActor); err != nil {
		t.Fatal(err)
	}
	ids := queueItems(t, e.st, ring, 1, "c", "acct-1", "https://cdn.example.org/v.mp4")
	mod := e.session(t, "mo", account.Moderator)
	resp := e.do(t, "POST", "/ui/reviews/claim", mod, url.Values{}, nil)
	if loc := resp.Header.Get("Location"); loc != fmt.Sprintf("/ui/reviews/%d", ids[0]) {
		t.Fatalf("claim: %d %q", resp.StatusCode, loc)
	}
	item := fmt.Sprintf("/ui/reviews/%d", ids[0])
	resp = e.do(t, "GET", item, mod, nil, nil)
	body := readBody(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") != console.ReviewCSP {
		t.Errorf("item page: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	if !strings.Contains(body, `<video src="https://cdn.example.org/v.mp4" muted`) || !strings.Contains(body, `class="preview blurred"`) {
		t.Errorf("video preview not muted and blurred:\n%s", body)
	}
	if m := inlineCode(body); m != "" {
		t.Errorf("inline code on the item page: %q", m)
	}
	if resp := e.do(t, "GET", "/ui/reviews", mod, nil, nil); resp.Header.Get("Content-Security-Policy") != console.CSP {
		t.Errorf("queue page CSP %q", resp.Header.Get("Content-Security-Policy"))
	}
	// Cross-origin decision: refused.
	resp = e.do(t, "POST", item+"/decide", mod, url.Values{"decision": {"confirm"}}, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin decision: %d", resp.StatusCode)
	}
	if it, _ := e.st.GetReview(context.Background(), ids[0]); it.State != review.Open {
		t.Errorf("after a cross-origin decision the item is %s", it.State)
	}
	// Viewers: neither the queue nor the item.
	viewer := e.session(t, "vi", account.Viewer)
	for _, p := range []string{"/ui/reviews", item} {
		if resp := e.do(t, "GET", p, viewer, nil, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("viewer GET %s: %d", p, resp.StatusCode)
		}
	}
	// Preview setting: clear for this user only, and a clear page is audited.
	if resp := e.do(t, "POST", "/ui/reviews/preview", mod, url.Values{"preview": {"clear"}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("set preview: %d", resp.StatusCode)
	}
	if body := readBody(t, e.do(t, "GET", item, mod, nil, nil)); strings.Contains(body, `class="preview blurred"`) {
		t.Error("preview still blurred with the clear setting")
	}
	if !hasAction(auditActions(t, e.st), fmt.Sprintf("%s review:%d", review.ActPreview, ids[0])) {
		t.Error("clear preview not audited")
	}
	cur := e.session(t, "cu", account.Curator)
	if body := readBody(t, e.do(t, "GET", item, cur, nil, nil)); !strings.Contains(body, `class="preview blurred"`) {
		t.Error("another user's preview is clear")
	}
	// A valid same-origin decision.
	resp = e.do(t, "POST", item+"/decide", mod, url.Values{"decision": {"reject"}, "comment": {"benign"}}, nil)
	if loc := resp.Header.Get("Location"); loc != "/ui/reviews?msg=done" {
		t.Errorf("decision: %d %q", resp.StatusCode, loc)
	}
}
