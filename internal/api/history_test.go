package api

import (
	"bytes"
	"mime/multipart"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/store/storetest"
	"github.com/nigehban/nigehban/internal/testtool"
)

// TestMatchHistory: every hit of POST /v1/match is recorded with the
// caller's content_id (JSON or multipart), a query without a hit records
// nothing, and GET /v1/matches finds hits by content id and bank, newest
// first, for curators only.
func TestMatchHistory(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, dsn string) {
		{
			ts := startServer(t, dsn, Config{})
			sub := ts.key(t, apikey.Submitter)
			for _, b := range []string{"hotline", "partner"} {
				if code, out := ts.call(t, ts.admin, "POST", "/v1/banks", map[string]any{"name": b}, ""); code != 201 && code != 200 {
					t.Fatalf("create bank: %d %v", code, out)
				}
				if code, out := ts.call(t, ts.admin, "POST", "/v1/banks/"+b+"/signals",
					map[string]any{"type": "md5", "value": "d41d8cd98f00b204e9800998ecf8427e"}, ""); code != 200 {
					t.Fatalf("add: %d %v", code, out)
				}
			}
			waitFor(t, func() bool {
				_, out := ts.call(t, sub, "POST", "/v1/match", map[string]any{"signals": []map[string]string{
					{"type": "md5", "value": "d41d8cd98f00b204e9800998ecf8427e"}}}, "")
				return len(out["matches"].([]any)) == 2
			})
			// The probe above recorded hits without a content id; now the real calls.
			code, out := ts.call(t, sub, "POST", "/v1/match", map[string]any{"content_id": "upload-42", "signals": []map[string]string{
				{"type": "md5", "value": "d41d8cd98f00b204e9800998ecf8427e"}, {"type": "sha1", "value": strings.Repeat("ab", 20)}}}, "")
			if code != 200 || len(out["matches"].([]any)) != 2 {
				t.Fatalf("match: %d %v", code, out)
			}
			if code, _ := ts.call(t, sub, "POST", "/v1/match", map[string]any{"content_id": "nothing-here", "signals": []map[string]string{
				{"type": "sha1", "value": strings.Repeat("cd", 20)}}}, ""); code != 200 {
				t.Fatalf("match without hit: %d", code)
			}
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			mw.WriteField("content_id", "upload-43")
			fw, _ := mw.CreateFormFile("file", "empty.bin")
			fw.Write(nil) // the empty file: md5 d41d8cd9…
			mw.Close()
			if code, out := ts.call(t, sub, "POST", "/v1/match", buf.Bytes(), mw.FormDataContentType()); code != 200 || len(out["matches"].([]any)) != 2 {
				t.Fatalf("multipart match: %d %v", code, out)
			}
			if code, _ := ts.call(t, sub, "POST", "/v1/match", map[string]any{"content_id": "bad\x00id", "signals": []map[string]string{
				{"type": "md5", "value": "d41d8cd98f00b204e9800998ecf8427e"}}}, ""); code != 400 {
				t.Errorf("content id with a control character: %d", code)
			}

			if code, _ := ts.call(t, sub, "GET", "/v1/matches", nil, ""); code != 403 {
				t.Errorf("submitter reads the history: %d", code)
			}
			hits := func(query string) []map[string]any {
				t.Helper()
				code, out := ts.call(t, ts.admin, "GET", "/v1/matches"+query, nil, "")
				if code != 200 {
					t.Fatalf("GET /v1/matches%s: %d %v", query, code, out)
				}
				var hs []map[string]any
				for _, h := range out["matches"].([]any) {
					hs = append(hs, h.(map[string]any))
				}
				return hs
			}
			got := hits("?content_id=upload-42")
			if len(got) != 2 {
				t.Fatalf("hits of upload-42: %v", got)
			}
			for _, h := range got {
				if h["type"] != "md5" || h["distance"].(float64) != 0 || !strings.HasPrefix(h["submitter"].(string), "key:") || h["signal_id"].(float64) == 0 {
					t.Errorf("hit %v", h)
				}
			}
			if got := hits("?content_id=nothing-here"); len(got) != 0 {
				t.Errorf("a query without hits recorded %v", got)
			}
			if got := hits("?content_id=upload-43&bank=partner"); len(got) != 1 || got[0]["bank"] != "partner" {
				t.Errorf("upload-43 in partner: %v", got)
			}
			all := hits("?limit=3")
			if len(all) != 3 || all[0]["id"].(float64) <= all[1]["id"].(float64) || all[0]["content_id"] != "upload-43" {
				t.Errorf("newest first: %v", all)
			}
			_, out = ts.call(t, ts.admin, "GET", "/v1/matches?limit=3", nil, "")
			next := int64(out["next_before"].(float64))
			older := hits("?limit=1000&before=" + strconv.FormatInt(next, 10))
			if len(older)+3 != len(hits("?limit=1000")) {
				t.Errorf("paging: %d older after %d", len(older), next)
			}
		}
	})
}

// waitFor polls cond until it holds, failing the test when the wait ends
// (testtool.WaitUntil: the test's deadline or testtool.MaxWait).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	if !testtool.Eventually(t, 20*time.Millisecond, cond) {
		t.Fatal("condition not met before the wait ended")
	}
}
