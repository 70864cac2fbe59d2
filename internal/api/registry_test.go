package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/sealed"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// keyWithID creates a submitter key and returns its secret and principal.
func (ts *testServer) keyWithID(t *testing.T, name string) (string, string) {
	t.Helper()
	k, secret, err := apikey.New(name, apikey.Submitter, "test")
	if err != nil {
		t.Fatal(err)
	}
	k, err = ts.st.CreateAPIKey(context.Background(), k, audit.Actor{Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return secret, fmt.Sprintf("key:%d", k.ID)
}

func (ts *testServer) regGet(t *testing.T, key, path string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// TestRegistryRoutes drives the registry through HTTP: grants, a CSV
// import with a bad row (422, nothing imported), a good import, the
// district user's view, statistics as JSON, CSV and SVG, and refusals.
func TestRegistryRoutes(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, dsn string) {
		keys, err := sealed.NewRing([]string{"k"}, [][]byte{bytes.Repeat([]byte{1}, sealed.KeySize)})
		if err != nil {
			t.Fatal(err)
		}
		ts := startServer(t, dsn, Config{DataKeys: keys})
		ngo, ngoP := ts.keyWithID(t, "ngo")
		kasur, kasurP := ts.keyWithID(t, "kasur")
		nobody, _ := ts.keyWithID(t, "nobody")
		for _, g := range []map[string]any{
			{"principal": ngoP, "scope": "org", "org": "sahil", "level": "district", "write": true},
			{"principal": kasurP, "scope": "org", "org": "sahil", "level": "district", "district": "Kasur"},
		} {
			if code, out := ts.call(t, ts.admin, "PUT", "/v1/registry/grants", g, ""); code != 200 {
				t.Fatalf("grant: %d %v", code, out)
			}
		}
		if code, _ := ts.call(t, ngo, "PUT", "/v1/registry/grants", map[string]any{"principal": ngoP, "scope": "all", "org": "x", "level": "national"}, ""); code != 403 {
			t.Fatalf("a submitter granted itself: %d", code)
		}
		var sheet strings.Builder
		sheet.WriteString("reported,category,sex,district,fir\n")
		for i := 0; i < 40; i++ {
			d := "Kasur"
			if i%4 == 0 {
				d = "Lahore"
			}
			fmt.Fprintf(&sheet, "2021-0%d-10,%s,%s,%s,FIR %d/21\n", 1+i%9, []string{"rape", "sodomy", "abduction"}[i%3], []string{"girl", "boy"}[i%2], d, i)
		}
		bad := sheet.String() + "2021-02-30,rape,girl,Kasur,\n"
		code, out := ts.call(t, ngo, "POST", "/v1/incidents/import", bad, "text/csv")
		if code != 422 {
			t.Fatalf("bad sheet: %d %v", code, out)
		}
		if errs := out["result"].(map[string]any)["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["line"].(float64) != 42 {
			t.Fatalf("row errors %v", errs)
		}
		if code, out = ts.call(t, ngo, "POST", "/v1/incidents/import", sheet.String(), "text/csv"); code != 200 {
			t.Fatalf("import: %d %v", code, out)
		}
		code, out = ts.call(t, kasur, "GET", "/v1/incidents?limit=1000", nil, "")
		if code != 200 || len(out["incidents"].([]any)) != 30 {
			t.Fatalf("Kasur key lists %d incidents (%d), want 30", len(out["incidents"].([]any)), code)
		}
		first := out["incidents"].([]any)[0].(map[string]any)
		if first["district"] != "Kasur" || first["fir"] != nil {
			t.Fatalf("listed incident %v", first)
		}
		code, out = ts.call(t, kasur, "GET", fmt.Sprintf("/v1/incidents/%v", first["id"]), nil, "")
		if code != 200 || !strings.HasPrefix(out["fir"].(string), "FIR ") {
			t.Fatalf("incident view: %d %v", code, out)
		}
		first["verdict_date"], first["outcome"], first["fir"] = "2021-12-01", "conviction", ""
		if code, out := ts.call(t, kasur, "PUT", fmt.Sprintf("/v1/incidents/%v", first["id"]), first, ""); code != 403 {
			t.Fatalf("read-only key updated an incident: %d %v", code, out)
		}
		if code, out := ts.call(t, ngo, "PUT", fmt.Sprintf("/v1/incidents/%v", first["id"]), first, ""); code != 200 || out["outcome"] != "conviction" {
			t.Fatalf("update: %d %v", code, out)
		}
		code, out = ts.call(t, kasur, "GET", "/v1/stats?rows=category&cols=sex&year=2021", nil, "")
		if code != 200 || out["table"].(map[string]any)["total"].(map[string]any)["count"].(float64) != 30 || out["log_seq"].(float64) <= 0 {
			t.Fatalf("stats: %d %v", code, out)
		}
		if code, _ := ts.call(t, kasur, "GET", "/v1/stats?rows=category&cols=sex&district=Lahore", nil, ""); code != 403 {
			t.Fatalf("another district's table: %d", code)
		}
		if code, _ := ts.call(t, nobody, "GET", "/v1/stats?rows=category&cols=sex", nil, ""); code != 403 {
			t.Fatalf("key without grant: %d", code)
		}
		if code, ct, body := ts.regGet(t, ngo, "/v1/stats?rows=district&cols=sex&province=Punjab&format=csv"); code != 200 || !strings.HasPrefix(ct, "text/csv") ||
			!strings.Contains(body, "\nKasur,10,20,0,30\n") || !strings.Contains(body, "\nTotal,20,20,0,40\n") {
			t.Fatalf("csv: %d %s %q", code, ct, body)
		}
		if code, ct, body := ts.regGet(t, ngo, "/v1/stats?rows=district&cols=sex&province=Punjab&format=svg"); code != 200 || ct != "image/svg+xml" ||
			!strings.HasPrefix(body, "<svg") || strings.Contains(body, "<script") {
			t.Fatalf("svg: %d %s %q", code, ct, body)
		}
		if code, out = ts.call(t, ngo, "GET", "/v1/stats/funnel?year=2021", nil, ""); code != 200 || len(out["steps"].([]any)) != 6 {
			t.Fatalf("funnel: %d %v", code, out)
		}
		if code, out = ts.call(t, ngo, "GET", "/v1/stats/yearly?year=2021", nil, ""); code != 200 || len(out["tables"].([]any)) != 10 {
			t.Fatalf("yearly: %d %v", code, out)
		}
		code, out = ts.call(t, ngo, "POST", "/v1/cases", map[string]any{"district": "Kasur", "sex": "girl", "personal": map[string]any{"name": "A"}}, "")
		if code != 201 || out["personal"] != nil {
			t.Fatalf("create case: %d %v", code, out)
		}
		id := out["id"]
		if code, out = ts.call(t, kasur, "GET", fmt.Sprintf("/v1/cases/%v", id), nil, ""); code != 200 || out["personal"].(map[string]any)["name"] != "A" || out["district"] != "Kasur" {
			t.Fatalf("view case: %d %v", code, out)
		}
	})
}

// TestRegistryCaseRoutes drives the routes on one case over HTTP: open,
// view, notes, a referral moved by its receiver, closure requested by one
// person and refused to them, approved by another; bad ids and bodies.
func TestRegistryCaseRoutes(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, dsn string) {
		keys, err := sealed.NewRing([]string{"k"}, [][]byte{bytes.Repeat([]byte{2}, sealed.KeySize)})
		if err != nil {
			t.Fatal(err)
		}
		ts := startServer(t, dsn, Config{DataKeys: keys})
		a, aP := ts.keyWithID(t, "worker-a")
		b, bP := ts.keyWithID(t, "worker-b")
		police, policeP := ts.keyWithID(t, "police")
		for _, g := range []map[string]any{
			{"principal": aP, "scope": "org", "org": "sahil", "level": "national", "write": true},
			{"principal": bP, "scope": "org", "org": "sahil", "level": "national", "write": true},
			{"principal": policeP, "scope": "org", "org": "police", "level": "national", "write": true},
		} {
			if code, out := ts.call(t, ts.admin, "PUT", "/v1/registry/grants", g, ""); code != 200 {
				t.Fatalf("grant: %d %v", code, out)
			}
		}
		code, k := ts.call(t, a, "POST", "/v1/cases", map[string]any{"sex": "girl", "age_band": "11-15", "district": "Kasur",
			"personal": map[string]any{"name": "A. B."}}, "")
		if code != 201 {
			t.Fatalf("open case: %d %v", code, k)
		}
		base := fmt.Sprintf("/v1/cases/%d", int64(k["id"].(float64)))
		if code, got := ts.call(t, a, "GET", base, nil, ""); code != 200 || !strings.Contains(fmt.Sprint(got), "A. B.") {
			t.Fatalf("view: %d %v", code, got)
		}
		if code, _ := ts.call(t, a, "POST", base+"/notes", map[string]any{"body": "met the family", "ref": "drive://x"}, ""); code != 201 {
			t.Fatalf("add note: %d", code)
		}
		if code, got := ts.call(t, a, "GET", base+"/notes", nil, ""); code != 200 || len(got["notes"].([]any)) != 1 {
			t.Fatalf("notes: %d %v", code, got)
		}
		code, ref := ts.call(t, a, "POST", base+"/referrals", map[string]any{"to": "police", "reason": "needs FIR"}, "")
		if code != 201 {
			t.Fatalf("refer: %d %v", code, ref)
		}
		refPath := fmt.Sprintf("/v1/referrals/%d", int64(ref["id"].(float64)))
		if code, got := ts.call(t, police, "POST", refPath, map[string]any{"state": "accepted"}, ""); code != 200 || got["state"] != "accepted" {
			t.Fatalf("accept referral: %d %v", code, got)
		}
		if code, got := ts.call(t, a, "GET", base+"/referrals", nil, ""); code != 200 || len(got["referrals"].([]any)) != 1 {
			t.Fatalf("referrals: %d %v", code, got)
		}
		code, ap := ts.call(t, a, "POST", base+"/closure", map[string]any{"reason": "verdict"}, "")
		if code != 201 {
			t.Fatalf("request closure: %d %v", code, ap)
		}
		apPath := fmt.Sprintf("/v1/approvals/%d", int64(ap["id"].(float64)))
		if code, _ := ts.call(t, a, "POST", apPath, map[string]any{"approve": true}, ""); code == 200 {
			t.Fatal("the requester approved their own closure")
		}
		if code, got := ts.call(t, b, "POST", apPath, map[string]any{"approve": true}, ""); code != 200 {
			t.Fatalf("approval by another: %d %v", code, got)
		}
		if code, _ := ts.call(t, a, "GET", "/v1/cases/0", nil, ""); code != 400 {
			t.Errorf("id 0: %d, want 400", code)
		}
		// Each refusal keeps its status and error code, whichever step of
		// the route (path, query, body, registry) refuses.
		for _, tc := range []struct {
			key, method, path string
			body              any
			status            int
			code              string
		}{
			{a, "GET", "/v1/cases/0", nil, 400, "invalid"},
			{a, "GET", "/v1/cases/x", nil, 400, "invalid"},
			{a, "GET", "/v1/cases/999999", nil, 404, "not_found"},
			{a, "POST", base + "/notes", "{not json", 400, "bad_json"},
			{a, "POST", base + "/notes", map[string]any{"body": "x", "extra": 1}, 400, "bad_json"},
			{a, "POST", "/v1/cases", "{", 400, "bad_json"},
			{a, "PUT", "/v1/incidents/1", "{", 400, "invalid"},
			{a, "GET", "/v1/cases?limit=5000", nil, 400, "invalid"},
			{a, "GET", "/v1/incidents?category=nosuch", nil, 400, "invalid"},
			{a, "GET", "/v1/stats/yearly", nil, 400, "invalid"},
			{a, "GET", "/v1/stats/funnel?year=x", nil, 400, "invalid"},
			{ts.admin, "PUT", "/v1/registry/grants", map[string]any{"principal": "key:1", "scope": "org", "org": "o", "level": "district", "district": "Atlantis"}, 400, "invalid"},
			{ts.admin, "PUT", "/v1/registry/grants", map[string]any{"principal": "key:1", "scope": "org", "org": "o", "level": "national", "province": "Atlantis"}, 400, "invalid"},
			{police, "POST", apPath, map[string]any{"approve": true}, 409, "conflict"},
		} {
			code, got := ts.call(t, tc.key, tc.method, tc.path, tc.body, "")
			e, _ := got["error"].(map[string]any)
			if code != tc.status || e == nil || e["code"] != tc.code {
				t.Errorf("%s %s: %d %v, want %d %s", tc.method, tc.path, code, got, tc.status, tc.code)
			}
		}
	})
}
