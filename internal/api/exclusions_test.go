package api

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// TestExclusions: a signal removed through the API stays removed — adding
// or importing it again reports it as excluded — until a curator deletes
// the exclusion; every act is audited with the key and the client address.
func TestExclusions(t *testing.T) {
	const md5 = "0cc175b9c0f1b6a831c399e269772661"
	storetest.ForEachEngine(t, func(t *testing.T, dsn string) {
		ts := startServer(t, dsn, Config{})
		curator, submitter := ts.key(t, apikey.Curator), ts.key(t, apikey.Submitter)
		if code, out := ts.call(t, curator, "POST", "/v1/banks", map[string]any{"name": "b"}, ""); code != 201 {
			t.Fatalf("create bank: %d %v", code, out)
		}
		code, out := ts.call(t, curator, "POST", "/v1/banks/b/signals", map[string]any{"type": "md5", "value": md5}, "")
		if code != 200 {
			t.Fatalf("add: %d %v", code, out)
		}
		id := out["results"].([]any)[0].(map[string]any)["signal"].(map[string]any)["id"].(float64)
		if code, out := ts.call(t, curator, "DELETE", "/v1/banks/b/signals/"+ftoa(id)+"?reason=false+positive", nil, ""); code != 200 {
			t.Fatalf("remove: %d %v", code, out)
		}

		// Re-adding and re-importing: reported excluded, not added.
		code, out = ts.call(t, curator, "POST", "/v1/banks/b/signals", map[string]any{"type": "md5", "value": md5}, "")
		if r := out["results"].([]any)[0].(map[string]any); code != 200 || r["excluded"] != true || r["added"] != false {
			t.Errorf("re-add: %d %v", code, out)
		}
		code, out = ts.call(t, curator, "POST", "/v1/banks/b/import?format=csv", "type,value\nmd5,"+md5+"\n", "text/csv")
		if code != 200 || out["excluded"] != float64(1) || out["added"] != float64(0) {
			t.Errorf("re-import: %d %v", code, out)
		}

		code, out = ts.call(t, curator, "GET", "/v1/banks/b/exclusions", nil, "")
		xs, _ := out["exclusions"].([]any)
		if code != 200 || len(xs) != 1 || xs[0].(map[string]any)["value"] != md5 || xs[0].(map[string]any)["reason"] != "false positive" {
			t.Fatalf("list: %d %v", code, out)
		}
		sha1 := "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"
		add := map[string]any{"type": "sha1", "value": sha1, "reason": "known benign"}
		if code, out := ts.call(t, curator, "POST", "/v1/banks/b/exclusions", add, ""); code != 201 || out["added"] != true {
			t.Errorf("add exclusion: %d %v", code, out)
		}
		if code, out := ts.call(t, curator, "POST", "/v1/banks/b/exclusions", add, ""); code != 200 || out["added"] != false {
			t.Errorf("add exclusion again: %d %v", code, out)
		}
		for _, bad := range []map[string]any{{"type": "sha1", "value": "zz", "reason": "x"}, {"type": "sha1", "value": sha1}} {
			if code, out := ts.call(t, curator, "POST", "/v1/banks/b/exclusions", bad, ""); code != 400 {
				t.Errorf("add exclusion %v: %d %v", bad, code, out)
			}
		}
		if code, _ := ts.call(t, submitter, "GET", "/v1/banks/b/exclusions", nil, ""); code != 403 {
			t.Errorf("submitter listed exclusions: %d", code)
		}
		if code, _ := ts.call(t, curator, "GET", "/v1/banks/nope/exclusions", nil, ""); code != 404 {
			t.Errorf("exclusions of a missing bank: %d", code)
		}

		del := "/v1/banks/b/exclusions?type=md5&value=" + url.QueryEscape(md5)
		if code, out := ts.call(t, curator, "DELETE", del, nil, ""); code != 200 {
			t.Errorf("remove exclusion: %d %v", code, out)
		}
		if code, _ := ts.call(t, curator, "DELETE", del, nil, ""); code != 404 {
			t.Errorf("remove exclusion twice: %d", code)
		}
		if code, _ := ts.call(t, curator, "DELETE", "/v1/banks/b/exclusions", nil, ""); code != 400 {
			t.Errorf("remove exclusion without type and value: %d", code)
		}
		code, out = ts.call(t, curator, "POST", "/v1/banks/b/signals", map[string]any{"type": "md5", "value": md5}, "")
		if r := out["results"].([]any)[0].(map[string]any); code != 200 || r["added"] != true {
			t.Errorf("add after the exclusion was removed: %d %v", code, out)
		}

		es, err := ts.st.ListAudit(context.Background(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var acts []string
		for _, e := range es {
			if e.Action != "apikey.create" && (e.Remote == "" || !strings.HasPrefix(e.Actor, "key:")) { // keys: made by the test directly
				t.Errorf("entry %d without actor or remote address: %+v", e.Seq, e)
			}
			acts = append(acts, e.Action)
		}
		for _, a := range []string{"bank.create", "signal.add", "signal.remove", "bank.import", "exclusion.add", "exclusion.remove"} {
			if !slices.Contains(acts, a) {
				t.Errorf("no %s in the audit log %q", a, acts)
			}
		}
	})
}
