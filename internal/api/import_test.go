package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

const (
	goodMD5  = "d41d8cd98f00b204e9800998ecf8427e"
	goodMD5b = "9e107d9d372bb6826bd81d3542a419d6"
)

// TestImportBadLines: a bulk import with bad lines, or a list malformed
// past reading, answers 422 with the bad lines (number and message) and
// adds nothing, in every format; never 500.
func TestImportBadLines(t *testing.T) {
	tests := []struct {
		name  string
		query string
		body  string
		code  string
		lines []int // line numbers reported, in order
	}{
		{"plain", "format=plain&type=md5", goodMD5 + "\nnot-a-hash\n" + goodMD5b + "\nabc\n", "bad_lines", []int{2, 4}},
		{"plain, ambiguous length", "format=plain", goodMD5 + "\n" + strings.Repeat("a", 64) + "\n", "bad_lines", []int{2}},
		{"csv", "format=csv", "type,value\nmd5," + goodMD5 + "\nmd5,zz\nsha3,abc\n", "bad_lines", []int{3, 4}},
		{"csv header without value column", "format=csv", "# list\ntype,hash_value\nmd5," + goodMD5 + "\n", "bad_list", []int{2}},
		{"csv with a short row", "format=csv", "type,value,category\nmd5," + goodMD5 + ",A1\nmd5\n", "bad_lines", []int{3}},
		{"jsonl", "format=jsonl", `{"type":"md5","value":"` + goodMD5 + `"}` + "\n{nope\n" + `{"type":"pdq","value":"` + goodMD5 + `","quality":50}` + "\n", "bad_lines", []int{2, 3}},
		{"te", "format=te", strings.Repeat("f", 64) + ",90,a.jpg\n" + strings.Repeat("f", 63) + ",90,b.jpg\n" + strings.Repeat("e", 64) + ",900,c.jpg\n", "bad_lines", []int{2, 3}},
		{"vics bad hash", "format=vics", "{\"value\": [\n {\"MD5\": \"" + goodMD5 + "\"},\n {\"MD5\": \"xyz\"}\n]}\n", "bad_lines", []int{3}},
		{"vics broken JSON", "format=vics", "{\"value\": [\n {\"MD5\": \"" + goodMD5 + "\"},\n {\"MD5\": x}\n]}\n", "bad_list", []int{3}},
		{"vics cut short", "", "{\"value\": [\n {\"MD5\": \"" + goodMD5 + "\"},\n", "bad_list", []int{2}},
		{"nigehban hash output", "", `{"path":"a.jpg","size":3,"md5":"` + goodMD5b + `"}` + "\n" + `{"path":"b.jpg","size":0,"error":"unreadable"}` + "\n" +
			`{"path":"c.jpg","size":3,"md5":"` + goodMD5b + `","pdq":"` + goodMD5b + `"}` + "\n" + `{"path":"empty","md5":"` + goodMD5 + `"}` + "\n", "bad_lines", []int{2, 3, 4}},
		{"nigehban csv without path", "format=nigehban", "md5,size\n" + goodMD5 + ",3\n", "bad_list", []int{1}},
		{"detected jsonl", "", `{"type":"md5","value":"` + goodMD5 + `"}` + "\n" + `{"type":"md5","value":"` + goodMD5 + `","quality":"x"}` + "\n", "bad_lines", []int{2}},
	}
	for _, e := range storetest.Engines {
		t.Run(e.Name, func(t *testing.T) {
			ts := startServer(t, e.DSN(t), Config{})
			curator := ts.key(t, apikey.Curator)
			for i, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					bankName := fmt.Sprintf("b%d", i)
					if code, out := ts.call(t, curator, "POST", "/v1/banks", map[string]any{"name": bankName}, ""); code != 201 {
						t.Fatalf("create: %d %v", code, out)
					}
					path := "/v1/banks/" + bankName + "/import"
					if tc.query != "" {
						path += "?" + tc.query
					}
					code, out := ts.call(t, curator, "POST", path, tc.body, "text/plain")
					if code != http.StatusUnprocessableEntity {
						t.Fatalf("status %d, want 422: %v", code, out)
					}
					if e, _ := out["error"].(map[string]any); e == nil || e["code"] != tc.code || e["message"] == "" {
						t.Errorf("error %v, want code %s", out["error"], tc.code)
					}
					res, _ := out["result"].(map[string]any)
					bad, _ := res["bad_lines"].([]any)
					var got []int
					for _, b := range bad {
						bl := b.(map[string]any)
						if msg, _ := bl["error"].(string); msg == "" {
							t.Errorf("bad line without a message: %v", bl)
						}
						got = append(got, int(bl["line"].(float64)))
					}
					if fmt.Sprint(got) != fmt.Sprint(tc.lines) || int(res["bad"].(float64)) != len(tc.lines) {
						t.Errorf("bad lines %v (bad=%v), want %v: %v", got, res["bad"], tc.lines, out)
					}
					if res["committed"].(float64) != 0 {
						t.Errorf("committed %v", res["committed"])
					}
					// Atomic: nothing was added.
					code, out = ts.call(t, curator, "GET", "/v1/banks/"+bankName+"/signals", nil, "")
					if code != 200 || len(out["signals"].([]any)) != 0 {
						t.Errorf("signals after a refused import: %d %v", code, out)
					}
				})
			}
		})
	}
}

// TestImportBadLinesBounded: the answer lists at most 100 bad
// lines and counts them all; a non-atomic import keeps the good lines and
// answers 200 with the bad ones.
func TestImportBadLinesBounded(t *testing.T) {
	ts := startServer(t, sqliteOnly(t), Config{})
	curator := ts.key(t, apikey.Curator)
	for _, b := range []string{"many", "partial"} {
		if code, out := ts.call(t, curator, "POST", "/v1/banks", map[string]any{"name": b}, ""); code != 201 {
			t.Fatalf("create: %d %v", code, out)
		}
	}
	body := goodMD5 + "\n" + strings.Repeat("bad\n", 3*100/2)
	code, out := ts.call(t, curator, "POST", "/v1/banks/many/import?format=plain&type=md5", body, "")
	res, _ := out["result"].(map[string]any)
	if code != 422 || res == nil || len(res["bad_lines"].([]any)) != 100 || int(res["bad"].(float64)) != 3*100/2 {
		t.Errorf("many bad lines: %d %v", code, out)
	}

	code, out = ts.call(t, curator, "POST", "/v1/banks/partial/import?format=plain&type=md5&atomic=false", goodMD5+"\nbad\n"+goodMD5b+"\n", "")
	if code != 200 || out["added"].(float64) != 2 || out["bad"].(float64) != 1 || len(out["bad_lines"].([]any)) != 1 {
		t.Errorf("non-atomic: %d %v", code, out)
	}
}

// TestImportHashOutputAPI: `nigehban hash` output imports through the API
// as it is, its format detected.
func TestImportHashOutputAPI(t *testing.T) {
	ts := startServer(t, sqliteOnly(t), Config{})
	curator, submitter := ts.key(t, apikey.Curator), ts.key(t, apikey.Submitter)
	if code, out := ts.call(t, curator, "POST", "/v1/banks", map[string]any{"name": "h"}, ""); code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}
	body := `{"path":"bridge.jpg","type":"image","size":361182,"md5":"` + goodMD5b + `","pdq":"` + bridgePDQ + `","quality":100,"tool_version":"(devel)","jpeg_decoder":"go"}` + "\n"
	code, out := ts.call(t, curator, "POST", "/v1/banks/h/import", body, "application/x-ndjson")
	if code != 200 || out["added"] != 2.0 {
		t.Fatalf("import: %d %v", code, out)
	}
	code, out = ts.call(t, submitter, "POST", "/v1/match", map[string]any{"signals": []map[string]string{{"type": "pdq", "value": bridgePDQ}}}, "")
	if ms, _ := out["matches"].([]any); code != 200 || len(ms) != 1 {
		t.Errorf("match after import: %d %v", code, out)
	}
}

func sqliteOnly(t *testing.T) string { return storetest.SQLitePath(t) }
