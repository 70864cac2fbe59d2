package audit

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

func TestTilePath(t *testing.T) {
	for _, tc := range []struct {
		level int
		n     int64
		w     int
		path  string
	}{
		{0, 0, 256, "tile/0/000"},
		{0, 5, 17, "tile/0/005.p/17"},
		{1, 1234067, 256, "tile/1/x001/x234/067"},
		{-1, 1000, 3, "tile/entries/x001/000.p/3"},
		{2, 999, 255, "tile/2/999.p/255"},
	} {
		if got := TilePath(tc.level, tc.n, tc.w); got != tc.path {
			t.Errorf("TilePath(%d, %d, %d) = %q, want %q", tc.level, tc.n, tc.w, got, tc.path)
		}
		l, n, w, err := ParseTilePath(tc.path)
		if err != nil || l != tc.level || n != tc.n || w != tc.w {
			t.Errorf("ParseTilePath(%q) = %d %d %d %v", tc.path, l, n, w, err)
		}
	}
	for _, bad := range []string{"tile/0/5", "tile/0/x000/005", "tile/0/001.p/0", "tile/0/001.p/256", "tile/0/001.p/07", "tile/9/000", "tile/-1/000", "tile/0/1234", "tile/0/x1/000", "tile/data/000"} {
		if _, _, _, err := ParseTilePath(bad); err == nil {
			t.Errorf("ParseTilePath(%q) accepted", bad)
		}
	}
}

// serveLog signs a checkpoint of m and serves m's read API.
func serveLog(t *testing.T, m *memLog, s *Signer) *httptest.Server {
	t.Helper()
	l := &Log{Store: m, Signer: s}
	if _, err := l.Checkpoint(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.StripPrefix("/log", Handler(m, slog.New(slog.DiscardHandler))))
	t.Cleanup(srv.Close)
	return srv
}

func TestHandler(t *testing.T) {
	s, _, _ := newSigner(t)
	m := newMemLog(600)
	srv := serveLog(t, m, s)
	get := func(p string) (*http.Response, []byte) {
		resp, err := http.Get(srv.URL + "/log/" + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	for _, tc := range []struct {
		path, cache string
		code, size  int
	}{
		{"checkpoint", "no-cache", 200, -1},
		{"tile/0/000", "immutable", 200, 256 * 32},
		{"tile/0/001", "immutable", 200, 256 * 32},
		{"tile/0/002.p/88", "max-age=10", 200, 88 * 32},
		{"tile/0/002.p/89", "", 404, -1}, // beyond the tree
		{"tile/0/002", "", 404, -1},
		{"tile/1/000.p/2", "max-age=10", 200, 2 * 32},
		{"tile/1/000", "", 404, -1},
		{"tile/entries/000", "immutable", 200, -1},
		{"tile/entries/002.p/88", "max-age=10", 200, -1},
		{"tile/8/0/000", "", 404, -1}, // Go sumdb layout, not C2SP
	} {
		resp, b := get(tc.path)
		if resp.StatusCode != tc.code || !strings.Contains(resp.Header.Get("Cache-Control"), tc.cache) || (tc.size >= 0 && len(b) != tc.size) {
			t.Errorf("%s: %d %q, %d bytes", tc.path, resp.StatusCode, resp.Header.Get("Cache-Control"), len(b))
		}
	}
	// Level-0 tiles are the leaf hashes; entry bundles are the leaves.
	_, hashes := get("tile/0/001")
	_, bundle := get("tile/entries/001")
	leaves, err := ParseEntryBundle(bundle)
	if err != nil || len(leaves) != 256 {
		t.Fatalf("bundle: %d leaves, %v", len(leaves), err)
	}
	for i, leaf := range leaves {
		if tlog.Hash(hashes[i*32:]) != tlog.RecordHash(leaf) {
			t.Fatalf("leaf %d of tile 1 does not hash to its tile entry", i)
		}
		if e, err := DecodeLeaf(leaf); err != nil || e.Seq != int64(256+i+1) {
			t.Fatalf("leaf %d: %+v %v", i, e, err)
		}
	}
	if resp, err := http.Post(srv.URL+"/log/checkpoint", "text/plain", nil); err != nil || resp.StatusCode != 405 {
		t.Errorf("POST: %v %v", resp.StatusCode, err)
	}
}

// tamper edits a memLog behind its back, as someone with the database would.
type tamper struct {
	name string
	do   func(m *memLog)
	want string // in the error
}

func tampers() []tamper {
	return []tamper{
		{"edit a middle entry", func(m *memLog) { m.entries[299].Actor = "someone else" }, "entry 300"},
		{"edit the last entry", func(m *memLog) { m.entries[len(m.entries)-1].Detail = []byte(`{}`) }, "entry 600"},
		{"edit the first entry", func(m *memLog) { m.entries[0].Action = "nothing" }, "entry 1"},
		{"delete a middle entry", func(m *memLog) { m.entries = append(m.entries[:99], m.entries[100:]...) }, "entry 100"},
		{"delete the last entry", func(m *memLog) { m.entries = m.entries[:599] }, "entry 600"},
		{"delete the last 90 entries", func(m *memLog) { m.entries = m.entries[:510] }, "entry 511"},
		{"edit and re-hash the chain", func(m *memLog) {
			m.entries[41].Remote = "198.51.100.7"
			prev := m.entries[40].Hash
			for i := 41; i < len(m.entries); i++ {
				Seal(&m.entries[i], prev)
				prev = m.entries[i].Hash
			}
		}, "entry 42"},
	}
}

// names reports whether err names want ("entry 30") as whole words.
func names(err error, want string) bool {
	return err != nil && regexp.MustCompile(`\b`+want+`\b`).MatchString(err.Error())
}

func TestVerifyRemoteAndLocalCatchTampering(t *testing.T) {
	ctx := context.Background()
	_, _, _ = newSigner(t)
	for _, tc := range tampers() {
		t.Run(tc.name, func(t *testing.T) {
			s, _, vkey := newSigner(t)
			p, _ := NewPolicy(vkey, nil, 0)
			m := newMemLog(600)
			srv := serveLog(t, m, s)
			c := &Client{Base: srv.URL + "/log"}
			if v, msg, err := VerifyRemote(ctx, c, p, nil); err != nil || v.Entries != 600 || msg == nil {
				t.Fatalf("intact log: %+v %v", v, err)
			}
			if v, err := VerifyLocal(ctx, m, &p, nil); err != nil || v.Entries != 600 {
				t.Fatalf("intact log, locally: %+v %v", v, err)
			}
			tc.do(m)
			_, _, err := VerifyRemote(ctx, c, p, nil)
			if !errors.Is(err, ErrLogInconsistent) || !names(err, tc.want) {
				t.Errorf("remote: err = %v, want one naming %q", err, tc.want)
			}
			_, err = VerifyLocal(ctx, m, &p, nil)
			if err == nil || !names(err, tc.want) {
				t.Errorf("local: err = %v, want one naming %q", err, tc.want)
			}
			// Without the verifier key: the stored tree alone catches it.
			_, err = VerifyLocal(ctx, m, nil, nil)
			if err == nil || !names(err, tc.want) {
				t.Errorf("local without a key: err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// TestRewriteCaughtBySince: whoever holds the database and the key rebuilds
// the whole log with one entry changed, every hash recomputed and a fresh
// checkpoint signed (by a signer without the state file). Alone it
// verifies; against a checkpoint saved earlier it does not.
func TestRewriteCaughtBySince(t *testing.T) {
	ctx := context.Background()
	s, keyPath, vkey := newSigner(t)
	p, _ := NewPolicy(vkey, nil, 0)
	m := newMemLog(300)
	srv := serveLog(t, m, s)
	_, earlier, err := VerifyRemote(ctx, &Client{Base: srv.URL + "/log"}, p, nil)
	if err != nil {
		t.Fatal(err)
	}

	forged := &memLog{}
	for i, e := range m.entries {
		if i == 10 {
			e.Detail = []byte(`{"n":"rewritten"}`)
		}
		forged.AppendAudit(ctx, Entry{At: e.At, Actor: e.Actor, Action: e.Action, Target: e.Target, Remote: e.Remote, Detail: e.Detail})
	}
	forged.AppendAudit(ctx, Entry{Actor: "x", Action: "y"})
	// The log's own signer refuses; an insider without its state signs.
	if _, err := s.Sign(ctx, forged, 301); !errors.Is(err, ErrLogInconsistent) {
		t.Fatalf("the log's signer signed a rewritten tree: %v", err)
	}
	os.Remove(keyPath + ".state")
	insider, err := OpenSigner(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	fsrv := serveLog(t, forged, insider)
	fc := &Client{Base: fsrv.URL + "/log"}
	if _, _, err := VerifyRemote(ctx, fc, p, nil); err != nil {
		t.Fatalf("the forged log alone should verify (that is why --since exists): %v", err)
	}
	if _, _, err := VerifyRemote(ctx, fc, p, earlier); !errors.Is(err, ErrLogInconsistent) {
		t.Errorf("rewrite not caught against the earlier checkpoint: %v", err)
	}
	if _, err := VerifyLocal(ctx, forged, &p, earlier); !errors.Is(err, ErrLogInconsistent) {
		t.Errorf("rewrite not caught locally against the earlier checkpoint: %v", err)
	}
	// The honest log extends the earlier checkpoint.
	m.AppendAudit(ctx, Entry{Actor: "a", Action: "b"})
	if v, err := VerifyLocal(ctx, m, &p, earlier); err != nil || v.Since.Size != 300 {
		t.Errorf("honest log against the earlier checkpoint: %+v %v", v, err)
	}
}
