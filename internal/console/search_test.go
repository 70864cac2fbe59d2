package console_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// TestSearchSignals: the store's filtered, bounded paging on both engines,
// and the bank page that uses it.
func TestSearchSignals(t *testing.T) {
	dsns := map[string]string{"sqlite": sqliteDSN(t)}
	if os.Getenv(storetest.PostgresEnv) != "" || os.Getenv("CI") == "true" {
		dsns["postgres"] = storetest.PostgresURL(t)
	}
	for engine, dsn := range dsns {
		t.Run(engine, func(t *testing.T) {
			e := newEnv(t, dsn) // bank b1 holds one signal (category test-category)
			ctx := context.Background()
			svc := bank.NewService(e.st)
			var sigs []bank.Signal
			for i := range 130 {
				cat, src := "alpha", "src-one"
				if i%3 == 0 {
					cat = "Beta-" + fmt.Sprint(i)
				}
				if i%2 == 0 {
					src = "SRC-two"
				}
				sigs = append(sigs, bank.Signal{Type: bank.MD5, Value: fmt.Sprintf("%032x", i+1), Category: cat, Source: src, Quality: -1})
			}
			if err := e.st.WriteSignals(ctx, "b1", testActor, func(w bank.SignalWriter) error {
				_, err := w.Add(ctx, sigs)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			// Remove signal 7 (beta? i=6: yes) to check removed filtering.
			removed, err := e.st.FindSignal(ctx, "b1", bank.MD5, fmt.Sprintf("%032x", 7))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := svc.RemoveSignal(ctx, "b1", bank.SignalRef{ID: removed.ID}, "test", testActor); err != nil {
				t.Fatal(err)
			}
			all := func(category, source string, rm bool, scan int) ([]bank.Signal, int) {
				var out []bank.Signal
				calls := 0
				for after := int64(0); ; calls++ {
					page, next, err := e.st.SearchSignals(ctx, "b1", category, source, rm, after, scan, 20)
					if err != nil {
						t.Fatal(err)
					}
					if len(page) > 20 {
						t.Fatalf("page of %d", len(page))
					}
					for _, s := range page {
						if s.ID <= after {
							t.Fatalf("signal %d on the page after %d", s.ID, after)
						}
					}
					out = append(out, page...)
					if next == 0 {
						return out, calls + 1
					}
					if next <= after {
						t.Fatalf("next %d after %d: no progress", next, after)
					}
					after = next
				}
			}
			want := func(category, source string, rm bool) int {
				n := 0
				for i, s := range append([]bank.Signal{{Category: "test-category", Source: "unit"}}, sigs...) {
					if !rm && i == 7 {
						continue
					}
					if strings.Contains(strings.ToLower(s.Category), strings.ToLower(category)) &&
						strings.Contains(strings.ToLower(s.Source), strings.ToLower(source)) {
						n++
					}
				}
				return n
			}
			tests := []struct {
				category, source string
				removed          bool
				scan             int
			}{
				{"", "", false, 0},
				{"", "", true, 0},
				{"beta", "", false, 0},
				{"BETA", "two", true, 0},
				{"beta", "", false, 25}, // bounded: more calls, same answer
				{"nothing", "", false, 40},
				{"", "src-", false, 7},
			}
			for _, tt := range tests {
				got, calls := all(tt.category, tt.source, tt.removed, tt.scan)
				if n := want(tt.category, tt.source, tt.removed); len(got) != n {
					t.Errorf("%+v: %d signals, want %d", tt, len(got), n)
				}
				for _, s := range got {
					if !strings.Contains(strings.ToLower(s.Category), strings.ToLower(tt.category)) || (!tt.removed && s.RemovedAt != nil) {
						t.Errorf("%+v: signal %+v does not match", tt, s)
					}
				}
				if tt.scan > 0 && calls < 131/tt.scan {
					t.Errorf("%+v: %d calls, a bound of %d signals a call needs at least %d", tt, calls, tt.scan, 131/tt.scan)
				}
			}
			if _, _, err := e.st.SearchSignals(ctx, "nope", "", "", false, 0, 0, 20); err == nil {
				t.Error("search of a missing bank succeeded")
			}

			// The bank page: 50 a page, a link to the next, filters kept.
			cookie := e.session(t, "vic", account.Viewer)
			ids := regexp.MustCompile(`/ui/banks/b1/signals/(\d+)"`)
			next := regexp.MustCompile(`href="\?([^"]*)" id="next"`)
			rows, pages := 0, 0
			for q := "category=beta"; ; pages++ {
				resp := e.do(t, "GET", "/ui/banks/b1?"+q, cookie, nil, nil)
				body := readBody(t, resp)
				if resp.StatusCode != 200 {
					t.Fatalf("bank page: %d", resp.StatusCode)
				}
				rows += len(ids.FindAllString(body, -1))
				m := next.FindStringSubmatch(body)
				if m == nil {
					break
				}
				q = strings.ReplaceAll(m[1], "&amp;", "&")
				if v, _ := url.ParseQuery(q); v.Get("category") != "beta" {
					t.Fatalf("next link %q drops the filter", q)
				}
			}
			if w := want("beta", "", false); rows != w {
				t.Errorf("bank pages list %d beta signals, want %d", rows, w)
			}
			resp := e.do(t, "GET", "/ui/banks/b1?value="+fmt.Sprintf("%032X", 10), cookie, nil, nil)
			if body := readBody(t, resp); len(ids.FindAllString(body, -1)) != 1 {
				t.Errorf("search by value (upper case) found %d", len(ids.FindAllString(body, -1)))
			}
		})
	}
}
