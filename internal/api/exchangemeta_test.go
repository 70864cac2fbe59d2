package api

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/store/storetest"
	"github.com/nigehban/nigehban/internal/testtool"
)

// TestMatchExchangeMetadata: a hit on a signal an exchange brought names
// the exchange, entry, member and classification, and says "disputed" once
// our review called it a false positive.
func TestMatchExchangeMetadata(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		ts := startServer(t, dsn, Config{})
		by := audit.Actor{Name: "t"}
		if _, err := bank.NewService(ts.st).CreateBank(ctx, bank.NewBank("ncmec"), by); err != nil {
			t.Fatal(err)
		}
		if _, err := ts.st.CreateExchange(ctx, exchange.Exchange{Name: "ncmec", Kind: exchange.KindNCMEC, Bank: "ncmec",
			URL: "https://example.org", Enabled: true}, by); err != nil {
			t.Fatal(err)
		}
		md5 := strings.Repeat("5a", 16)
		meta := map[string]string{exchange.MetaExchange: "ncmec", exchange.MetaEntry: "image/7/e1",
			exchange.MetaMember: "7", exchange.MetaClass: "A1"}
		err := ts.st.ApplyPage(ctx, "ncmec", exchange.Checkpoint{}, exchange.Checkpoint{Pos: 1}, by, nil, func(w exchange.Writer) error {
			_, err := w.Add(ctx, []bank.Signal{{Type: bank.MD5, Value: md5, Quality: -1, Category: "A1", Extra: meta}})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		submitter := ts.key(t, apikey.Submitter)
		matchOnce := func() map[string]any {
			deadline := testtool.WaitUntil(t)
			for {
				code, out := ts.call(t, submitter, "POST", "/v1/match", map[string]any{"signals": []map[string]any{{"type": "md5", "value": md5}}}, "")
				if code != 200 {
					t.Fatalf("match: %d %v", code, out)
				}
				if ms := out["matches"].([]any); len(ms) == 1 {
					return ms[0].(map[string]any)["exchange"].(map[string]any)
				}
				if time.Now().After(deadline) { // the server follows the change log
					t.Fatal("signal never matched")
				}
				waitFollow()
			}
		}
		ex := matchOnce()
		for k, v := range meta {
			if ex[k] != v {
				t.Errorf("hit exchange %s = %v, want %s", k, ex[k], v)
			}
		}
		if ex["disputed"] != nil {
			t.Error("disputed before any review")
		}
		sig, _ := ts.st.FindSignal(ctx, "ncmec", bank.MD5, md5)
		svc := &exchange.Service{St: ts.st, Banks: ts.st}
		if _, err := svc.Feedback(ctx, sig, exchange.FalsePositive, "review:1", by); err != nil {
			t.Fatal(err)
		}
		if ex := matchOnce(); ex["disputed"] != "true" {
			t.Errorf("after a false-positive review: %v", ex)
		}
	})
}

// waitFollow waits a little for the server to follow the change log.
func waitFollow() { time.Sleep(25 * time.Millisecond) }
