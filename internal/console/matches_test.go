package console_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/history"
)

// TestMatchesPage: moderators find hits by content id and bank, newest
// first, 100 a page with a link to older ones.
func TestMatchesPage(t *testing.T) {
	e := newEnv(t, sqliteDSN(t))
	var hits []history.Hit
	for i := range 150 {
		hits = append(hits, history.Hit{At: time.Now().UTC(), Submitter: "key:1 (p)", ContentID: fmt.Sprintf("c-%d", i%3),
			Bank: []string{"b1", "b2"}[i%2], SignalID: e.sig.ID, Type: "md5", Value: e.sig.Value, Distance: 0})
	}
	if err := e.st.RecordHits(context.Background(), hits); err != nil {
		t.Fatal(err)
	}
	mod := e.session(t, "mo", account.Moderator)
	rows := regexp.MustCompile(`<td class="mono"><a href="/ui/matches\?content_id=([^"]+)">`)
	get := func(q string) ([]string, string) {
		t.Helper()
		resp := e.do(t, "GET", "/ui/matches"+q, mod, nil, nil)
		body := readBody(t, resp)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", q, resp.StatusCode)
		}
		var ids []string
		for _, m := range rows.FindAllStringSubmatch(body, -1) {
			ids = append(ids, m[1])
		}
		older := ""
		if m := regexp.MustCompile(`href="(\?[^"]*)" id="older"`).FindStringSubmatch(body); m != nil {
			older = strings.ReplaceAll(m[1], "&amp;", "&")
		}
		return ids, older
	}
	ids, older := get("")
	if len(ids) != 100 || older == "" || ids[0] != "c-2" { // the last recorded: i=149, 149%3 = 2
		t.Fatalf("first page: %d rows, older %q, first %v", len(ids), older, ids[:1])
	}
	more, again := get(older)
	if len(more) != 50 || again != "" {
		t.Errorf("second page: %d rows, older %q", len(more), again)
	}
	ids, _ = get("?content_id=c-1&bank=b2")
	want := 0
	for i := range 150 {
		if i%3 == 1 && i%2 == 1 {
			want++
		}
	}
	if len(ids) != want {
		t.Errorf("c-1 in b2: %d rows, want %d", len(ids), want)
	}
	for _, id := range ids {
		if id != "c-1" {
			t.Errorf("row of %s", id)
		}
	}
}
