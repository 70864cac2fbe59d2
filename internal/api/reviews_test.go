package api

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"slices"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/review"
	"github.com/nigehban/nigehban/internal/sealed"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

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

// flip returns h with its first n bits inverted: a PDQ hash at distance n.
func flip(t *testing.T, h string, n int) string {
	t.Helper()
	x, err := pdq.ParseHex(h)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		x[i/8] ^= 1 << (i % 8)
	}
	return x.String()
}

// TestReviewPolicyAndQueue: the bank policy through POST /v1/match
// (review banks, review above a distance, negative banks), uploader context
// (refused without a data key, sealed with one), and /v1/reviews.
func TestReviewPolicyAndQueue(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, dsn string) {
		ts := startServer(t, dsn, Config{DataKeys: testRing(t), Flood: review.FloodRule{Window: -1}})
		sub := ts.key(t, apikey.Submitter)
		cur1, cur2 := ts.key(t, apikey.Curator), ts.key(t, apikey.Curator)
		const (
			victimMD5 = "0123456789abcdef0123456789abcdef"
			benignMD5 = "fedcba9876543210fedcba9876543210"
			knownPDQ  = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
		)
		for _, b := range []map[string]any{
			{"name": "victims", "action": "review"},
			{"name": "known", "action": "block", "review_above": 8},
			{"name": "benign", "action": "log", "negative": true},
		} {
			if code, out := ts.call(t, ts.admin, "POST", "/v1/banks", b, ""); code != 201 {
				t.Fatalf("create bank: %d %v", code, out)
			}
		}
		for _, a := range []struct{ bank, typ, value string }{
			{"victims", "md5", victimMD5}, {"known", "pdq", knownPDQ}, {"known", "md5", benignMD5}, {"benign", "md5", benignMD5},
		} {
			if code, out := ts.call(t, ts.admin, "POST", "/v1/banks/"+a.bank+"/signals", map[string]any{"type": a.typ, "value": a.value}, ""); code != 200 {
				t.Fatalf("add: %d %v", code, out)
			}
		}
		match := func(body map[string]any) (int, []map[string]any, map[string]any) {
			t.Helper()
			code, out := ts.call(t, sub, "POST", "/v1/match", body, "")
			var hits []map[string]any
			if ms, ok := out["matches"].([]any); ok {
				for _, m := range ms {
					hits = append(hits, m.(map[string]any))
				}
			}
			return code, hits, out
		}
		sig := func(typ, v string) []map[string]string { return []map[string]string{{"type": typ, "value": v}} }
		waitFor(t, func() bool { _, h, _ := match(map[string]any{"signals": sig("md5", benignMD5)}); return len(h) == 2 })

		up := map[string]any{"account_id": "acct-9", "ip": "198.51.100.4", "port": 40000, "content_url": "https://cdn.example.org/a.jpg"}
		code, hits, out := match(map[string]any{"content_id": "c-1", "signals": sig("md5", victimMD5), "uploader": up})
		if code != 200 || len(hits) != 1 || hits[0]["action"] != "review" || hits[0]["review_reason"] != "bank" || hits[0]["review_id"] == nil {
			t.Fatalf("review bank: %d %v", code, out)
		}
		firstID := int64(hits[0]["review_id"].(float64))
		if code, _, out := match(map[string]any{"signals": sig("md5", victimMD5), "uploader": map[string]any{"ip": "not an ip"}}); code != 400 {
			t.Errorf("invalid uploader: %d %v", code, out)
		}
		// Near and far PDQ matches on a block bank with review_above 8.
		_, hits, out = match(map[string]any{"signals": sig("pdq", flip(t, knownPDQ, 3))})
		if len(hits) != 1 || hits[0]["action"] != "block" || hits[0]["review_id"] != nil {
			t.Errorf("near match: %v", out)
		}
		_, hits, out = match(map[string]any{"content_id": "c-2", "signals": sig("pdq", flip(t, knownPDQ, 12)), "uploader": map[string]any{"account_id": "acct-9"}})
		if len(hits) != 1 || hits[0]["action"] != "review" || hits[0]["review_reason"] != "distance" {
			t.Errorf("far match: %v", out)
		}
		// A negative bank's hit suppresses the other banks' hits.
		_, hits, out = match(map[string]any{"signals": sig("md5", benignMD5)})
		if len(hits) != 2 {
			t.Errorf("benign content: %v", out)
		}
		for _, h := range hits {
			switch h["bank"] {
			case "known":
				if h["suppressed_by"] != "benign" || h["action"] != "log" {
					t.Errorf("known's hit not suppressed: %v", h)
				}
			case "benign":
				if h["negative"] != true {
					t.Errorf("benign's hit: %v", h)
				}
			}
		}

		// The queue over HTTP: roles, claims, decisions.
		for _, rt := range routeTable {
			if !strings.HasPrefix(rt.path, "/v1/reviews") && !strings.HasPrefix(rt.path, "/v1/quarantine") {
				continue
			}
			path := strings.ReplaceAll(rt.path, "{id}", fmt.Sprint(firstID))
			if code, _ := ts.call(t, "", rt.method, path, nil, ""); code != 401 {
				t.Errorf("%s %s without a key: %d, want 401", rt.method, path, code)
			}
			if code, _ := ts.call(t, sub, rt.method, path, nil, ""); code != 403 {
				t.Errorf("%s %s with a submitter key: %d, want 403", rt.method, path, code)
			}
		}
		code, out = ts.call(t, cur1, "GET", "/v1/reviews?state=open", nil, "")
		if code != 200 || len(out["reviews"].([]any)) != 2 {
			t.Fatalf("list: %d %v", code, out)
		}
		if strings.Contains(fmt.Sprint(out), "acct-9") || strings.Contains(fmt.Sprint(out), "198.51.100.4") {
			t.Errorf("the list shows uploader context: %v", out)
		}
		code, a := ts.call(t, cur1, "POST", "/v1/reviews/claim", nil, "")
		if code != 200 || int64(a["id"].(float64)) != firstID {
			t.Fatalf("claim: %d %v", code, a)
		}
		code, b := ts.call(t, cur2, "POST", "/v1/reviews/claim", nil, "")
		if code != 200 || b["id"] == a["id"] {
			t.Fatalf("second claim: %d %v (first %v)", code, b, a["id"])
		}
		if code, _ := ts.call(t, ts.admin, "POST", "/v1/reviews/claim", nil, ""); code != 204 {
			t.Errorf("claim on an empty queue: %d", code)
		}
		// Uploader context: admin keys only, audited.
		path := fmt.Sprintf("/v1/reviews/%d", firstID)
		if code, _ := ts.call(t, cur1, "GET", path+"?uploader=true", nil, ""); code != 403 {
			t.Errorf("uploader for a curator key: %d", code)
		}
		code, out = ts.call(t, ts.admin, "GET", path+"?uploader=true", nil, "")
		if code != 200 || out["uploader"].(map[string]any)["account_id"] != "acct-9" {
			t.Errorf("uploader for an admin key: %d %v", code, out)
		}
		// Other entries (failed authentications, summarised asynchronously)
		// may land after it: look for the view itself.
		es, _ := ts.st.ListAudit(context.Background(), 0, 10000)
		if !slices.ContainsFunc(es, func(e audit.Entry) bool { return e.Action == review.ActUploaderView }) {
			t.Errorf("uploader view not audited")
		}
		// Decisions: only the holder; bad input refused.
		if code, _ := ts.call(t, cur2, "POST", path+"/decision", map[string]any{"decision": "confirm"}, ""); code != 409 {
			t.Errorf("decision by another key: %d", code)
		}
		if code, _ := ts.call(t, cur1, "POST", path+"/decision", map[string]any{"decision": "maybe"}, ""); code != 400 {
			t.Errorf("unknown decision: %d", code)
		}
		code, out = ts.call(t, cur1, "POST", path+"/decision", map[string]any{"decision": "reject", "comment": "a cat", "add_to": "benign"}, "")
		if code != 200 || out["review"].(map[string]any)["state"] != "rejected" {
			t.Fatalf("reject: %d %v", code, out)
		}
		// The rejected content's hash is now in the negative bank: a new
		// match of it is suppressed.
		waitFor(t, func() bool {
			_, hits, _ := match(map[string]any{"signals": sig("md5", victimMD5)})
			return len(hits) == 2
		})
		_, hits, _ = match(map[string]any{"signals": sig("md5", victimMD5)})
		for _, h := range hits {
			if h["bank"] == "victims" && (h["suppressed_by"] != "benign" || h["review_id"] != nil) {
				t.Errorf("victims hit after the rejection: %v", h)
			}
		}
	})
}

// TestUploaderNeedsDataKey: without --data-key, uploader context is refused
// with a clear 422 and nothing is matched or stored.
func TestUploaderNeedsDataKey(t *testing.T) {
	ts := startServer(t, storetest.SQLitePath(t), Config{})
	sub := ts.key(t, apikey.Submitter)
	code, out := ts.call(t, sub, "POST", "/v1/match", map[string]any{"signals": []map[string]string{{"type": "md5", "value": "0123456789abcdef0123456789abcdef"}},
		"uploader": map[string]any{"account_id": "a"}}, "")
	if code != 422 || out["error"].(map[string]any)["code"] != "no_data_key" || !strings.Contains(fmt.Sprint(out), "--data-key") {
		t.Errorf("uploader without a data key: %d %v", code, out)
	}
	code, _ = ts.call(t, sub, "POST", "/v1/match", map[string]any{"signals": []map[string]string{{"type": "md5", "value": "0123456789abcdef0123456789abcdef"}}}, "")
	if code != 200 {
		t.Errorf("without uploader: %d", code)
	}
	// The same for an upload with a multipart field uploader.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("uploader", `{"account_id":"a"}`)
	fw, _ := mw.CreateFormFile("file", "empty.bin")
	fw.Write(nil)
	mw.Close()
	if code, out := ts.call(t, sub, "POST", "/v1/match", buf.Bytes(), mw.FormDataContentType()); code != 422 {
		t.Errorf("multipart uploader without a data key: %d %v", code, out)
	}
}
