package console_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/console"
	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// BenchmarkPages renders each page server-side (handler time, no network)
// as an admin, over a SQLite store (PostgreSQL with
// NIGEHBAN_BENCH_ENGINE=postgres) with one bank of
// $NIGEHBAN_BENCH_SIGNALS random PDQ signals (default 1,000,000) and 10,000
// audit entries. Counts come from an index-size function, as under serve.
// The target: every page < 100 ms with a 10,000,000-signal bank.
func BenchmarkPages(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("NIGEHBAN_BENCH_SIGNALS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	dsn := storetest.SQLitePath(b)
	if os.Getenv("NIGEHBAN_BENCH_ENGINE") == "postgres" {
		dsn = storetest.PostgresURL(b)
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	storetest.BenchImportOnce(b, st, n)
	for i := range 10_000 {
		if _, err := st.AppendAudit(ctx, audit.Entry{Actor: "bench", Action: "bench", Target: strconv.Itoa(i)}); err != nil {
			b.Fatal(err)
		}
	}
	if strings.HasPrefix(dsn, "postgres") {
		// What autovacuum does after a bulk load: without statistics the
		// planner sorts the whole bank for a page.
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
			b.Fatal(err)
		}
		conn.Close(ctx)
	}
	// An exchange feeding the bank, whose 100 pages (exchange.sync
	// entries) lie under 10,000 newer entries of the same bank: the
	// exchange pages read the bank's entries newest first by action.
	if _, err := st.CreateExchange(ctx, exchange.Exchange{Name: "bench-x", Kind: exchange.KindHashList, Bank: "bench",
		URL: "https://lists.example.org/bench.txt", Enabled: true}, audit.Actor{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	for i := range 10_100 {
		e := audit.Entry{Actor: "bench", Action: "signal.add", Target: "bench"}
		if i < 100 {
			e = audit.Actor{Name: "exchange:bench-x"}.Entry(exchange.ActSync, "bench", map[string]any{"exchange": "bench-x",
				"from": i, "to": i + 1, "entries": 1000, "result": exchange.Applied{Added: 1000}})
		}
		if _, err := st.AppendAudit(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("filled %d signals and 20100 audit entries in %v", n, time.Since(start).Round(time.Millisecond))
	sizes := map[string]map[bank.Type]int{"bench": {bank.PDQ: n}}
	con, err := console.New(st, console.Config{IndexSizes: func() map[string]map[bank.Type]int { return sizes },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	u, _, err := con.Accounts().Create(ctx, "root", account.Admin, "bench")
	if err != nil {
		b.Fatal(err)
	}
	var raw [32]byte
	rand.Read(raw[:])
	tok := "nigs_" + base64.RawURLEncoding.EncodeToString(raw[:])
	h := sha256.Sum256([]byte(tok))
	now := time.Now().UTC()
	if _, err := st.CreateSession(ctx, account.Session{Hash: h[:], UserID: u.ID, Stage: account.StageFull,
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour), Remote: "bench"}); err != nil {
		b.Fatal(err)
	}
	var some bank.Signal
	if err := st.ScanSignals(ctx, bank.SignalQuery{Banks: []string{"bench"}, AfterID: int64(n / 2), Limit: 1},
		func(s *bank.Signal) error { some = *s; return nil }); err != nil {
		b.Fatal(err)
	}
	handler := con.Handler()
	pages := []struct{ name, path string }{
		{"overview", "/ui/"},
		{"banks", "/ui/banks"},
		{"bank", "/ui/banks/bench"},
		{"bank-middle-page", "/ui/banks/bench?after=" + strconv.Itoa(n/2)},
		{"bank-by-value", "/ui/banks/bench?value=" + some.Value},
		{"bank-by-rare-category", "/ui/banks/bench?category=nothing-has-this"},
		{"signal", "/ui/banks/bench/signals/" + strconv.FormatInt(some.ID, 10)},
		{"audit", "/ui/audit"},
		{"audit-old", "/ui/audit?before=500"},
		{"users", "/ui/users"},
		{"apikeys", "/ui/apikeys"},
		{"matches", "/ui/matches"},
		{"webhooks", "/ui/webhooks"},
		{"debug", "/ui/debug"},
		{"exchanges", "/ui/exchanges"},
		{"exchange", "/ui/exchanges/bench-x"},
		{"quarantine", "/ui/quarantine"},
		{"reports", "/ui/reports"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", p.path, nil)
				req.AddCookie(&http.Cookie{Name: "__Host-nigehban_session", Value: tok})
				w := httptest.NewRecorder()
				handler.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d\n%s", p.path, w.Code, w.Body.String())
				}
			}
		})
	}
}
