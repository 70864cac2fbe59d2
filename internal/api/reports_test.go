package api

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/report"
	"github.com/nigehban/nigehban/internal/report/cybertip/cybertiptest"
	"github.com/nigehban/nigehban/internal/sealed"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// TestReportsAPI: a confirmed match becomes a case through POST
// /v1/reports, a second key approves it, the outbox in Run submits it to
// the (test) CyberTipline; a refused report surfaces as failed with its
// error in GET /v1/reports.
func TestReportsAPI(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, dsn string) {
		k := make([]byte, sealed.KeySize)
		rand.Read(k)
		ring, err := sealed.NewRing([]string{"k1"}, [][]byte{k})
		if err != nil {
			t.Fatal(err)
		}
		ts := startServer(t, dsn, Config{DataKeys: ring, ReportInterval: 50 * time.Millisecond})
		ncmec := cybertiptest.New("esp", "secret")
		defer ncmec.Close()
		ncmec.XSD = "../../../shared/testdata/ncmec/cyber_tipline.xsd" // xmllint validates every report (CI installs it)
		svc := &report.Service{Store: ts.st, Keys: ring}
		if err := svc.SaveCyberTip(context.Background(), audit.Actor{Name: "test"}, report.CyberTipConfig{URL: ncmec.URL,
			Username: "esp", Password: "secret", ESP: report.ESP{Platform: "Example", Email: "safety@example.org"}}); err != nil {
			t.Fatal(err)
		}
		sub, cur1, cur2 := ts.key(t, apikey.Submitter), ts.key(t, apikey.Curator), ts.key(t, apikey.Curator)
		if code, out := ts.call(t, ts.admin, "POST", "/v1/banks", map[string]any{"name": "known"}, ""); code != 201 && code != 200 {
			t.Fatalf("create bank: %d %v", code, out)
		}
		md5s := []string{strings.Repeat("1a", 16), strings.Repeat("2b", 16)}
		for _, v := range md5s {
			if code, out := ts.call(t, ts.admin, "POST", "/v1/banks/known/signals", map[string]any{"type": "md5", "value": v}, ""); code != 200 {
				t.Fatalf("add: %d %v", code, out)
			}
		}
		var hitIDs []int64
		for i, v := range md5s {
			waitFor(t, func() bool {
				_, out := ts.call(t, sub, "POST", "/v1/match", map[string]any{"content_id": fmt.Sprint("upload-", i),
					"signals": []map[string]string{{"type": "md5", "value": v}}}, "")
				return len(out["matches"].([]any)) == 1
			})
			_, out := ts.call(t, cur1, "GET", "/v1/matches?content_id="+fmt.Sprint("upload-", i), nil, "")
			hitIDs = append(hitIDs, int64(out["matches"].([]any)[0].(map[string]any)["id"].(float64)))
		}
		open := func(account string, ids ...int64) int64 {
			t.Helper()
			code, out := ts.call(t, cur1, "POST", "/v1/reports", map[string]any{"hit_ids": ids,
				"uploader": map[string]any{"account_id": account, "ip": "203.0.113.7", "port": 51234, "at": "2026-11-03T13:59:00Z"}}, "")
			if code != 201 {
				t.Fatalf("open: %d %v", code, out)
			}
			return int64(out["case"].(map[string]any)["id"].(float64))
		}
		id := open("acct-42", hitIDs...)
		if code, out := ts.call(t, sub, "POST", "/v1/reports", map[string]any{"hit_ids": hitIDs}, ""); code != 403 {
			t.Fatalf("submitter opens a case: %d %v", code, out)
		}
		if code, out := ts.call(t, cur1, "POST", fmt.Sprintf("/v1/reports/%d/approve", id), nil, ""); code != http.StatusForbidden {
			t.Fatalf("approval by the opener: %d %v", code, out)
		}
		if code, out := ts.call(t, cur2, "POST", fmt.Sprintf("/v1/reports/%d/approve", id), nil, ""); code != 200 {
			t.Fatalf("approval: %d %v", code, out)
		}
		state := func(id int64) map[string]any {
			_, out := ts.call(t, cur2, "GET", fmt.Sprintf("/v1/reports/%d", id), nil, "")
			return out["case"].(map[string]any)
		}
		waitFor(t, func() bool { return state(id)["state"] == "submitted" })
		c := state(id)
		if c["content"].(map[string]any)["subject"].(map[string]any)["account_ids"].([]any)[0] != "acct-42" ||
			len(ncmec.Reports()) != 1 {
			t.Fatalf("case after submission: %v, %d reports at NCMEC", c, len(ncmec.Reports()))
		}
		// A refused report: failed, with the API's error, listed.
		ncmec.Fail("submit", cybertiptest.Fault{Status: http.StatusOK, Code: 4100, Times: 1})
		bad := open("acct-7", hitIDs[0])
		ts.call(t, cur2, "POST", fmt.Sprintf("/v1/reports/%d/approve", bad), nil, "")
		waitFor(t, func() bool { return state(bad)["state"] == "failed" })
		_, out := ts.call(t, cur1, "GET", "/v1/reports?state=failed", nil, "")
		failed := out["cases"].([]any)
		if len(failed) != 1 {
			t.Fatalf("failed cases: %v", out)
		}
		sub0 := failed[0].(map[string]any)["submission"].(map[string]any)
		if sub0["error_kind"] != "permanent" || !strings.Contains(sub0["last_error"].(string), "4100") {
			t.Fatalf("failure not surfaced: %v", sub0)
		}
		if _, ok := failed[0].(map[string]any)["content"]; ok {
			t.Fatal("the list shows personal data")
		}
	})
}
