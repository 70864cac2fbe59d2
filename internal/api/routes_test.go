package api

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// TestBodyLimitFromTableEntry serves one route under different table
// entries: the limit enforced is the one its entry names, per media type.
func TestBodyLimitFromTableEntry(t *testing.T) {
	st, err := store.Open(context.Background(), storetest.SQLitePath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := Config{MaxBodyBytes: 1000, MaxUploadBytes: 5000}
	s := New(st, cfg, slog.New(slog.DiscardHandler))

	read := func(s *Server, w http.ResponseWriter, r *http.Request, _ caller) error {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]int64{"read": n})
		return nil
	}
	tests := []struct {
		name        string
		bodies      []body
		contentType string
		limit       int64
	}{
		{"json", jsonBody, "application/json", 1000},
		{"json with parameters", jsonBody, "application/json; charset=utf-8", 1000},
		{"import", importBody, "text/csv", 64 * 1000},
		{"upload", uploadBody, "multipart/form-data; boundary=x", 5000 + 1<<20},
		{"json of json-or-upload", jsonOrUpload, "application/json", 1000},
		{"upload of json-or-upload", jsonOrUpload, "multipart/form-data; boundary=x", 5000 + 1<<20},
		{"unknown type takes the first entry", jsonOrUpload, "text/plain", 1000},
		{"no type takes the first entry", []body{{"multipart/form-data", limitUpload}, {"application/json", limitJSON}}, "", 5000 + 1<<20},
		{"no body declared", noRequestBody, "application/json", 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := s.wrap(route{method: "POST", path: "/t", summary: "test", bodies: tc.bodies, handle: read})
			for _, size := range []int64{tc.limit, tc.limit + 1} {
				req := httptest.NewRequest("POST", "/t", bytes.NewReader(make([]byte, size)))
				if tc.contentType != "" {
					req.Header.Set("Content-Type", tc.contentType)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				want := http.StatusOK
				if size > tc.limit {
					want = http.StatusRequestEntityTooLarge
				}
				if rec.Code != want {
					t.Errorf("%d bytes: status %d, want %d: %s", size, rec.Code, want, rec.Body)
				}
			}
		})
	}
}

// TestRouteLimitsEnforced sends every body-taking route of the table a
// body one byte over its entry's limit, through authentication and the
// real handler: each answers 413, whatever its parser made of the cut.
func TestRouteLimitsEnforced(t *testing.T) {
	ts := startServer(t, storetest.SQLitePath(t), Config{MaxBodyBytes: 2000, MaxUploadBytes: 3000})
	if code, out := ts.call(t, ts.admin, "POST", "/v1/banks", map[string]any{"name": "somebank"}, ""); code != 201 {
		t.Fatalf("create bank: %d %v", code, out)
	}
	checked := 0
	for _, rt := range routeTable {
		for _, b := range rt.bodies {
			limit := ts.srv.maxBytes(rt, b.mediaType)
			ct := b.mediaType
			var over []byte
			switch b.mediaType {
			case "application/json":
				// A JSON string longer than the limit.
				over = append(append([]byte(`{"name":"`), bytes.Repeat([]byte("a"), int(limit))...), `"}`...)
			case "multipart/form-data":
				over, ct = multipartFile(t, "big.bin", make([]byte, limit))
			default:
				// A valid md5 list: the only thing wrong is its size.
				line := "d41d8cd98f00b204e9800998ecf8427e\n"
				over = bytes.Repeat([]byte(line), int(limit)/len(line)+1)
			}
			path := strings.NewReplacer("{name}", "somebank", "{id}", "1").Replace(rt.path)
			if b.limit == limitImport {
				path += "?format=plain&type=md5"
			}
			code, out := ts.call(t, ts.admin, rt.method, path, over, ct)
			if code != http.StatusRequestEntityTooLarge {
				t.Errorf("%s %s (%s, limit %d): %d-byte body answered %d %v, want 413", rt.method, rt.path, b.mediaType, limit, len(over), code, out)
			}
			checked++
		}
	}
	if checked < 7 {
		t.Errorf("only %d route bodies checked", checked)
	}
	// Nothing of the refused bodies was applied.
	if code, out := ts.call(t, ts.admin, "GET", "/v1/banks/somebank/signals", nil, ""); code != 200 || len(out["signals"].([]any)) != 0 {
		t.Errorf("signals after refused bodies: %d %v", code, out)
	}
}

// TestChangesBanksCatchesUp: a route whose entry says it changes banks
// makes its change visible to the next match on this replica at once, with
// the change-log follower too slow to have done it.
func TestChangesBanksCatchesUp(t *testing.T) {
	ts := startServer(t, storetest.SQLitePath(t), Config{FollowInterval: time.Hour})
	curator, submitter := ts.key(t, apikey.Curator), ts.key(t, apikey.Submitter)
	if code, _ := ts.call(t, curator, "POST", "/v1/banks", map[string]any{"name": "ngo"}, ""); code != 201 {
		t.Fatalf("create bank: %d", code)
	}
	for _, rt := range routeTable {
		if rt.method == "POST" && rt.path == "/v1/banks/{name}/signals" && !rt.changesBanks {
			t.Fatalf("%s %s does not say it changes banks", rt.method, rt.path)
		}
	}
	if code, out := ts.call(t, curator, "POST", "/v1/banks/ngo/signals", map[string]any{"type": "pdq", "value": bridgePDQ}, ""); code != 200 {
		t.Fatalf("add: %d %v", code, out)
	}
	code, out := ts.call(t, submitter, "POST", "/v1/match", map[string]any{"signals": []map[string]string{{"type": "pdq", "value": bridgePDQ}}}, "")
	if code != 200 || len(out["matches"].([]any)) != 1 {
		t.Errorf("match right after add: %d %v", code, out)
	}
}

// TestOpenAPIBodiesFromTable: every route documents exactly the request
// media types of its table entry, each with its entry's limit.
func TestOpenAPIBodiesFromTable(t *testing.T) {
	paths := openAPI()["paths"].(map[string]map[string]any)
	for _, rt := range routeTable {
		op := paths[rt.path][strings.ToLower(rt.method)].(map[string]any)
		rb, _ := op["requestBody"].(map[string]any)
		if len(rt.bodies) == 0 {
			if rb != nil {
				t.Errorf("%s %s: documents a body its entry does not declare", rt.method, rt.path)
			}
			continue
		}
		content, _ := rb["content"].(map[string]any)
		if len(content) != len(rt.bodies) {
			t.Errorf("%s %s: documents %d media types, entry has %d", rt.method, rt.path, len(content), len(rt.bodies))
		}
		for _, b := range rt.bodies {
			c, _ := content[b.mediaType].(map[string]any)
			if c == nil || c["x-body-limit"] != b.limit.String() {
				t.Errorf("%s %s: %s documented as %v, entry says limit %s", rt.method, rt.path, b.mediaType, c, b.limit)
			}
		}
		if got, _ := op["x-changes-banks"].(bool); got != rt.changesBanks {
			t.Errorf("%s %s: x-changes-banks %v, entry %v", rt.method, rt.path, got, rt.changesBanks)
		}
	}
}
