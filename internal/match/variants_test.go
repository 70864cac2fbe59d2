package match_test

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/match"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/signal"
	"github.com/nigehban/nigehban/internal/store/storetest"
	"github.com/nigehban/nigehban/internal/variant"
)

// TestMatchVariants: every variant of a query is matched, each signal is
// reported once with its nearest variant (the earlier on a tie), and
// variants under the quality floor are not matched (the original's
// quality is the caller's to judge).
func TestMatchVariants(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	a, b := pdq.MustParseHex(storetest.RandomPDQ(r)), pdq.MustParseHex(storetest.RandomPDQ(r))
	path := filepath.Join(t.TempDir(), "bank.txt")
	writeFile(t, path, []byte(a.String()+"\n"+b.String()+"\n"))
	m, err := match.LoadFiles(context.Background(), []string{path}, match.FileOptions{Type: string(signal.PDQ), PDQThreshold: 31})
	if err != nil {
		t.Fatal(err)
	}
	far := pdq.MustParseHex(storetest.RandomPDQ(r))
	v := func(name string, h pdq.Hash, q int) variant.Hash { return variant.Hash{Name: name, PDQ: h, Quality: q} }
	for _, tc := range []struct {
		name string
		vs   []variant.Hash
		want string // value:distance:variant, nearest first
	}{
		{"original only", []variant.Hash{v("original", flip(r, a, 4), 100)}, "a:4:original"},
		{"a border variant finds what the original misses",
			[]variant.Hash{v("original", far, 100), v("borders", flip(r, a, 10), 90)}, "a:10:borders"},
		{"nearest variant per signal, two signals",
			[]variant.Hash{v("original", flip(r, a, 20), 100), v("borders", flip(r, a, 6), 90), v("rotate90", flip(r, b, 12), 80)},
			"a:6:borders b:12:rotate90"},
		{"a tie keeps the earlier variant", []variant.Hash{v("original", a, 100), v("borders", a, 100)}, "a:0:original"},
		{"low-quality variants are not matched", []variant.Hash{v("original", far, 100), v("caption", a, 49)}, ""},
		{"a low-quality original is the caller's call", []variant.Hash{v("original", a, 10)}, "a:0:original"},
	} {
		var got []string
		for _, h := range m.MatchVariants(tc.vs) {
			name := map[string]string{a.String(): "a", b.String(): "b"}[h.Value]
			got = append(got, name+":"+strconv.Itoa(h.Distance)+":"+h.Variant)
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, g, tc.want)
		}
	}
}
