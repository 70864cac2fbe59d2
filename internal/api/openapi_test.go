package api

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestOpenAPIGolden pins /openapi.json: a route or description change shows
// up as a reviewed diff of testdata/openapi.json (go test -update).
func TestOpenAPIGolden(t *testing.T) {
	got, err := json.MarshalIndent(openAPI(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", "openapi.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/api -run TestOpenAPIGolden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("/openapi.json differs from %s; review and run go test ./internal/api -run TestOpenAPIGolden -update", golden)
	}
}

// TestOpenAPIMatchesRoutes: every pattern the server registers is a
// documented operation and vice versa, and each documented operation
// reaches a handler (not the mux's own 404 or 405).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	st, err := store.Open(context.Background(), storetest.SQLitePath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := New(st, Config{}, slog.New(slog.DiscardHandler))

	var documented []string
	for path, ops := range openAPI()["paths"].(map[string]map[string]any) {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	registered := slices.Clone(s.patterns)
	slices.Sort(documented)
	slices.Sort(registered)
	if !slices.Equal(documented, registered) {
		t.Errorf("documented operations:\n%s\nregistered routes:\n%s", strings.Join(documented, "\n"), strings.Join(registered, "\n"))
	}

	fill := strings.NewReplacer("{name}", "somebank", "{id}", "1")
	for _, op := range documented {
		method, path, _ := strings.Cut(op, " ")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(method, fill.Replace(path), nil))
		ct := rec.Header().Get("Content-Type")
		if rec.Code == http.StatusMethodNotAllowed || (rec.Code == http.StatusNotFound && !strings.HasPrefix(ct, "application/json")) {
			t.Errorf("%s: answered %d %q by the mux, not a handler", op, rec.Code, ct)
		}
	}
}

// FuzzMatchBody sends arbitrary JSON bodies to POST /v1/match: the answer
// is 200, 400 or 413 with a JSON body (an error message for 4xx), never a
// 500 or a panic.
func FuzzMatchBody(f *testing.F) {
	for _, seed := range []string{
		`{"signals":[{"type":"pdq","value":"` + bridgePDQ + `"}]}`,
		`{"signals":[{"type":"md5","value":"D41D8CD98F00B204E9800998ECF8427E"},{"type":"sha256","value":"` + strings.Repeat("ab", 32) + `"}]}`,
		`{"signals":[{"type":"pdq","value":"` + bridgePDQ + `","quality":10}]}`,
		`{"signals":[{"type":"vpdq","value":"x"}]}`,
		`{"signals":[]}`, `{"signals":null}`, `{`, `[]`, `null`, `{"signals":[{"type":1}]}`,
		`{"signals":[{"type":"pdq","value":"` + strings.Repeat("g", 64) + `"}]}`,
	} {
		f.Add([]byte(seed))
	}
	st, err := store.Open(context.Background(), storetest.SQLitePath(f))
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	svc := bank.NewService(st)
	if _, err := svc.CreateBank(ctx, bank.NewBank("b"), audit.Actor{Name: "fuzz"}); err != nil {
		f.Fatal(err)
	}
	if _, _, err := svc.AddSignal(ctx, "b", bank.Signal{Type: bank.PDQ, Value: bridgePDQ, Category: "c", Quality: -1}, audit.Actor{Name: "fuzz"}); err != nil {
		f.Fatal(err)
	}
	k, secret, _ := apikey.New("fuzz", apikey.Submitter, "fuzz")
	if _, err := st.CreateAPIKey(ctx, k, audit.Actor{Name: "test"}); err != nil {
		f.Fatal(err)
	}
	s := New(st, Config{RatePerSecond: 1e9, Burst: 1 << 30, NoDeliver: true}, slog.New(slog.DiscardHandler))
	if err := s.load(ctx); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/v1/match", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+secret)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("status %d, body not JSON: %q", rec.Code, rec.Body.Bytes())
		}
		switch rec.Code {
		case 200:
			if _, ok := out["matches"].([]any); !ok {
				t.Fatalf("200 without matches: %v", out)
			}
		case 400, 413:
			if e, _ := out["error"].(map[string]any); e == nil || e["message"] == "" {
				t.Fatalf("%d without an error message: %v", rec.Code, out)
			}
		default:
			t.Fatalf("status %d for %q: %v", rec.Code, body, out)
		}
	})
}
