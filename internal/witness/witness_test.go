package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/nigehban/nigehban/internal/audit"
)

// testLog is a log in memory with its signer.
type testLog struct {
	hs     *audit.MemHashStore
	signer note.Signer
	vkey   string
	origin string
}

func newTestLog(t *testing.T, origin string) *testLog {
	t.Helper()
	skey, vkey, err := audit.GenerateLogKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return &testLog{hs: &audit.MemHashStore{}, signer: s, vkey: vkey, origin: origin}
}

// grow appends n entries; detail varies the content (a rewritten log uses
// another detail for the same entries).
func (l *testLog) grow(t *testing.T, n int, detail string) {
	t.Helper()
	for range n {
		seq := l.hs.Size() + 1
		e := audit.Entry{Seq: seq, At: time.Unix(1700000000+seq, 0), Actor: "key:1", Action: "bank.create", Detail: []byte(fmt.Sprintf(`{"seq":%d,"d":%q}`, seq, detail))}
		if err := l.hs.Append(e); err != nil {
			t.Fatal(err)
		}
	}
}

// checkpoint signs the current tree (without any consistency check: the
// tests play a misbehaving log too).
func (l *testLog) checkpoint(t *testing.T) ([]byte, audit.Checkpoint) {
	t.Helper()
	root, err := audit.TreeHash(context.Background(), l.hs, l.hs.Size())
	if err != nil {
		t.Fatal(err)
	}
	c := audit.Checkpoint{Origin: l.origin, Size: l.hs.Size(), Hash: root}
	msg, err := note.Sign(&note.Note{Text: c.Body()}, l.signer)
	if err != nil {
		t.Fatal(err)
	}
	return msg, c
}

func newWitness(t *testing.T, statePath string, logs ...*testLog) (*Witness, string) {
	t.Helper()
	skey, vkey, err := audit.GenerateCosignerKey("witness.test/w1")
	if err != nil {
		t.Fatal(err)
	}
	var vkeys []string
	for _, l := range logs {
		vkeys = append(vkeys, l.vkey)
	}
	w, err := New(skey, vkeys, statePath, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return w, vkey
}

func post(t *testing.T, h http.Handler, body []byte) (int, string, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/add-checkpoint", bytes.NewReader(body)))
	return rec.Code, rec.Header().Get("Content-Type"), rec.Body.String()
}

func request(t *testing.T, l *testLog, old int64, msg []byte) []byte {
	t.Helper()
	p, err := audit.ConsistencyProof(context.Background(), l.hs, old, l.hs.Size())
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range p {
		fmt.Fprintln(&b, h.String())
	}
	b.WriteString("\n")
	b.Write(msg)
	return b.Bytes()
}

// TestAddCheckpoint follows C2SP tlog-witness: cosign a first checkpoint
// and consistent successors; 409 with the witness's size on a stale old
// size or a different tree of the same size; 422 on a bad consistency
// proof (a rewritten log); 404 for an unknown log; 403 for a bad
// signature; 400 for malformed bodies. State survives a restart.
func TestAddCheckpoint(t *testing.T) {
	state := filepath.Join(t.TempDir(), "witness.json")
	log := newTestLog(t, "nigehban.test/audit")
	w, wvkey := newWitness(t, state, log)
	h := w.Handler()
	wv, err := audit.NewCosignatureVerifier(wvkey)
	if err != nil {
		t.Fatal(err)
	}

	log.grow(t, 10, "")
	msg10, _ := log.checkpoint(t)
	code, _, body := post(t, h, request(t, log, 0, msg10))
	if code != 200 || !strings.HasPrefix(body, "— witness.test/w1 ") {
		t.Fatalf("first checkpoint: %d %q", code, body)
	}
	if _, err := note.Open(append(bytes.Clone(msg10), body...), note.VerifierList(wv)); err != nil {
		t.Errorf("cosignature does not verify: %v", err)
	}
	// The same checkpoint again (old = size): cosigned again.
	if code, _, body := post(t, h, request(t, log, 10, msg10)); code != 200 {
		t.Errorf("same checkpoint again: %d %q", code, body)
	}

	log.grow(t, 25, "")
	msg35, _ := log.checkpoint(t)
	if code, ct, body := post(t, h, request(t, log, 0, msg35)); code != 409 || ct != "text/x.tlog.size" || body != "10\n" {
		t.Errorf("stale old size: %d %q %q", code, ct, body)
	}
	if code, _, body := post(t, h, request(t, log, 10, msg35)); code != 200 {
		t.Fatalf("consistent checkpoint: %d %q", code, body)
	}

	// A rewritten log of the same key: entries 1..40 with other content.
	forged := &testLog{hs: &audit.MemHashStore{}, signer: log.signer, vkey: log.vkey, origin: log.origin}
	forged.grow(t, 40, "forged")
	fmsg, _ := forged.checkpoint(t)
	if code, _, body := post(t, h, request(t, forged, 35, fmsg)); code != 422 {
		t.Errorf("rewritten log: %d %q, want 422", code, body)
	}
	forged35 := &testLog{hs: &audit.MemHashStore{}, signer: log.signer, vkey: log.vkey, origin: log.origin}
	forged35.grow(t, 35, "forged")
	f35, _ := forged35.checkpoint(t)
	if code, ct, body := post(t, h, request(t, forged35, 35, f35)); code != 409 || ct != "text/x.tlog.size" || body != "35\n" {
		t.Errorf("other tree of the same size: %d %q %q", code, ct, body)
	}

	other := newTestLog(t, "elsewhere.test/log")
	other.grow(t, 3, "")
	omsg, _ := other.checkpoint(t)
	if code, _, _ := post(t, h, request(t, other, 0, omsg)); code != 404 {
		t.Errorf("unknown origin: %d", code)
	}
	impostor := newTestLog(t, "nigehban.test/audit") // same origin, another key
	impostor.grow(t, 50, "")
	imsg, _ := impostor.checkpoint(t)
	if code, _, _ := post(t, h, request(t, impostor, 35, imsg)); code != 403 {
		t.Errorf("unknown key: %d", code)
	}
	for _, bad := range []string{"", "old x\n\n" + string(msg35), "old 40\n\n" + string(msg35), "old 10\nnot-base64\n\n" + string(msg35)} {
		if code, _, _ := post(t, h, []byte(bad)); code != 400 {
			t.Errorf("malformed body %q: %d", bad[:min(len(bad), 12)], code)
		}
	}
	if got := w.Size(log.origin); got != 35 {
		t.Errorf("witness holds %d, want 35", got)
	}
	restarted, _ := newWitness(t, state, log)
	if got := restarted.Size(log.origin); got != 35 {
		t.Errorf("after restart the witness holds %d, want 35", got)
	}
}

// TestClient: the log's client learns the witness's size from a 409,
// sends consistency proofs, returns only the witness's verified lines, and
// reports a refusal for a rewritten log.
func TestClient(t *testing.T) {
	ctx := context.Background()
	log := newTestLog(t, "nigehban.test/audit")
	w, wvkey := newWitness(t, filepath.Join(t.TempDir(), "w.json"), log)
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()

	log.grow(t, 5, "")
	msg, c := log.checkpoint(t)
	// Another client moved the witness first: ours starts at 0 and gets a 409.
	if _, err := newClient(t, srv.URL, wvkey).Cosign(ctx, log.hs, msg, c); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, srv.URL, wvkey)
	log.grow(t, 300, "")
	msg, c = log.checkpoint(t)
	sigs, err := cl.Cosign(ctx, log.hs, msg, c)
	if err != nil {
		t.Fatal(err)
	}
	p, err := audit.NewPolicy(log.vkey, []string{wvkey}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := p.Open(append(bytes.Clone(msg), sigs...)); err != nil || got.Size != 305 {
		t.Errorf("cosigned checkpoint under a 1-of-1 policy: %+v %v", got, err)
	}

	forged := &testLog{hs: &audit.MemHashStore{}, signer: log.signer, vkey: log.vkey, origin: log.origin}
	forged.grow(t, 400, "forged")
	fmsg, fc := forged.checkpoint(t)
	if _, err := cl.Cosign(ctx, forged.hs, fmsg, fc); !errors.Is(err, ErrRefused) {
		t.Errorf("rewritten log cosigned: %v", err)
	}
	if w.Size(log.origin) != 305 {
		t.Errorf("witness moved to %d", w.Size(log.origin))
	}
}

func newClient(t *testing.T, url, vkey string) *Client {
	t.Helper()
	c, err := NewClient(url, vkey)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
