// Package witness is a C2SP tlog-witness: a small server with its own key
// and state file that cosigns a log's checkpoints only when they extend the
// last checkpoint it cosigned for that log, so a log that rewrites its
// history, or shows different histories to different people, is refused
// and caught. Client is the log's side of the protocol.
package witness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/nigehban/nigehban/internal/audit"
)

// maxBody bounds an add-checkpoint request: 63 proof lines and a
// checkpoint with a few signatures fit in far less.
const maxBody = 64 << 10

// logState is what the witness remembers of one log.
type logState struct {
	Size int64     `json:"size"`
	Hash tlog.Hash `json:"hash"`
}

// Witness cosigns checkpoints of the logs it knows. It is an
// http.Handler for POST /add-checkpoint.
type Witness struct {
	cosigner  *audit.Cosigner
	logs      map[string]note.Verifier // by origin
	statePath string
	log       *slog.Logger

	mu    sync.Mutex
	state map[string]logState
}

// New returns a witness signing with the cosigner secret key skey, for the
// logs whose vkeys are given (a log's origin is its key's name), keeping
// its state in the JSON file statePath (created on the first cosignature).
func New(skey string, logVKeys []string, statePath string, log *slog.Logger) (*Witness, error) {
	cs, err := audit.NewCosigner(skey)
	if err != nil {
		return nil, fmt.Errorf("witness key: %w", err)
	}
	w := &Witness{cosigner: cs, logs: map[string]note.Verifier{}, statePath: statePath, log: log, state: map[string]logState{}}
	if w.log == nil {
		w.log = slog.Default()
	}
	for _, k := range logVKeys {
		v, err := note.NewVerifier(strings.TrimSpace(k))
		if err != nil {
			return nil, fmt.Errorf("log key %q: %w", k, err)
		}
		w.logs[v.Name()] = v
	}
	b, err := os.ReadFile(statePath)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("witness state: %w", err)
	default:
		if err := json.Unmarshal(b, &w.state); err != nil {
			return nil, fmt.Errorf("witness state %s: %w", statePath, err)
		}
	}
	return w, nil
}

// VerifierKey returns the witness's vkey, for logs' clients' policies.
func (w *Witness) VerifierKey() string { return w.cosigner.VerifierKey() }

// Size returns the size of the last checkpoint cosigned for origin.
func (w *Witness) Size(origin string) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state[origin].Size
}

// Handler returns the witness's HTTP interface: POST /add-checkpoint.
func (w *Witness) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add-checkpoint", w.addCheckpoint)
	return mux
}

// statusError is an HTTP status with its message.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return e.msg }

func fail(code int, format string, args ...any) error {
	return &statusError{code: code, msg: fmt.Sprintf(format, args...)}
}

func (w *Witness) addCheckpoint(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, maxBody))
	if err != nil {
		http.Error(rw, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	sigs, size, err := w.add(body)
	var se *statusError
	switch {
	case err == nil:
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rw.Write(sigs)
	case errors.As(err, &se) && se.code == http.StatusConflict:
		w.log.WarnContext(r.Context(), "witness: conflicting checkpoint", "err", err)
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", size)
	case errors.As(err, &se):
		w.log.WarnContext(r.Context(), "witness: checkpoint refused", "status", se.code, "err", err)
		http.Error(rw, se.msg, se.code)
	default:
		w.log.ErrorContext(r.Context(), "witness", "err", err)
		http.Error(rw, "internal error", http.StatusInternalServerError)
	}
}

// add checks and cosigns one add-checkpoint request body. On a conflict it
// returns the size the witness holds.
func (w *Witness) add(body []byte) ([]byte, int64, error) {
	oldSize, proof, msg, err := parseRequest(body)
	if err != nil {
		return nil, 0, fail(http.StatusBadRequest, "%v", err)
	}
	text, _, err := audit.SplitNote(msg)
	if err != nil {
		return nil, 0, fail(http.StatusBadRequest, "%v", err)
	}
	origin, _, _ := strings.Cut(text, "\n")
	v, ok := w.logs[origin]
	if !ok {
		return nil, 0, fail(http.StatusNotFound, "unknown log %q", origin)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return nil, 0, fail(http.StatusForbidden, "checkpoint not signed by the log's key: %v", err)
	}
	c, err := audit.ParseCheckpoint(n.Text)
	if err != nil {
		return nil, 0, fail(http.StatusBadRequest, "%v", err)
	}
	if oldSize > c.Size {
		return nil, 0, fail(http.StatusBadRequest, "old size %d beyond the checkpoint's %d", oldSize, c.Size)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	cur := w.state[origin]
	if oldSize != cur.Size {
		return nil, cur.Size, fail(http.StatusConflict, "old size %d, witness has %d", oldSize, cur.Size)
	}
	switch {
	case oldSize == c.Size:
		if c.Hash != cur.Hash && oldSize != 0 {
			return nil, cur.Size, fail(http.StatusConflict, "checkpoint of %d entries with a different root than the one cosigned", c.Size)
		}
		if len(proof) != 0 {
			return nil, 0, fail(http.StatusUnprocessableEntity, "consistency proof must be empty for equal sizes")
		}
	case oldSize == 0:
		if len(proof) != 0 {
			return nil, 0, fail(http.StatusUnprocessableEntity, "consistency proof must be empty from size 0")
		}
	default:
		if err := tlog.CheckTree(proof, c.Size, c.Hash, oldSize, cur.Hash); err != nil {
			return nil, 0, fail(http.StatusUnprocessableEntity, "checkpoint of %d entries is not consistent with the cosigned one of %d: %v", c.Size, oldSize, err)
		}
	}
	w.state[origin] = logState{Size: c.Size, Hash: c.Hash}
	if err := w.save(); err != nil {
		w.state[origin] = cur
		return nil, 0, err
	}
	signed, err := note.Sign(&note.Note{Text: n.Text}, w.cosigner)
	if err != nil {
		return nil, 0, err
	}
	_, sigs, err := audit.SplitNote(signed)
	if err != nil {
		return nil, 0, err
	}
	return []byte(strings.Join(sigs, "")), 0, nil
}

func (w *Witness) save() error {
	b, err := json.Marshal(w.state)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(w.statePath), filepath.Base(w.statePath)+".tmp*")
	if err != nil {
		return fmt.Errorf("witness state: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("witness state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("witness state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("witness state: %w", err)
	}
	if err := os.Rename(f.Name(), w.statePath); err != nil {
		return fmt.Errorf("witness state: %w", err)
	}
	return nil
}

// parseRequest splits an add-checkpoint body: "old <size>\n", up to 63
// base64 proof lines, an empty line, then the signed checkpoint.
func parseRequest(body []byte) (int64, tlog.TreeProof, []byte, error) {
	head, msg, ok := bytes.Cut(body, []byte("\n\n"))
	if !ok {
		// No proof lines: "old N\n" directly followed by "\n".
		return 0, nil, nil, errors.New("malformed request: no empty line before the checkpoint")
	}
	sc := bufio.NewScanner(bytes.NewReader(head))
	if !sc.Scan() {
		return 0, nil, nil, errors.New("malformed request: no old size line")
	}
	s, ok := strings.CutPrefix(sc.Text(), "old ")
	old, err := strconv.ParseInt(s, 10, 64)
	if !ok || err != nil || old < 0 || strconv.FormatInt(old, 10) != s {
		return 0, nil, nil, fmt.Errorf("malformed old size line %q", sc.Text())
	}
	var proof tlog.TreeProof
	for sc.Scan() {
		h, err := base64.StdEncoding.DecodeString(sc.Text())
		if err != nil || len(h) != tlog.HashSize {
			return 0, nil, nil, fmt.Errorf("malformed proof line %q", sc.Text())
		}
		proof = append(proof, tlog.Hash(h))
	}
	if len(proof) > 63 {
		return 0, nil, nil, errors.New("more than 63 proof lines")
	}
	return old, proof, msg, nil
}

// Client asks one witness to cosign a log's checkpoints; it implements
// audit.WitnessClient.
type Client struct {
	// URL is the witness's submission prefix (add-checkpoint is below it).
	URL string
	// Verifier checks the witness's cosignatures.
	Verifier note.Verifier
	HTTP     *http.Client

	mu      sync.Mutex
	oldSize int64 // the size the witness last cosigned, as far as we know
}

// NewClient returns a client of the witness at url whose vkey is vkey.
func NewClient(url, vkey string) (*Client, error) {
	v, err := audit.NewCosignatureVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, err
	}
	return &Client{URL: strings.TrimSuffix(url, "/"), Verifier: v}, nil
}

// Name implements audit.WitnessClient.
func (c *Client) Name() string { return c.Verifier.Name() }

// ErrRefused is returned (wrapped) when a witness refuses a checkpoint.
var ErrRefused = errors.New("witness refused the checkpoint")

// Cosign implements audit.WitnessClient: it sends msg with a consistency
// proof from the size the witness holds (learning it from a 409 answer).
func (c *Client) Cosign(ctx context.Context, hs audit.HashStore, msg []byte, cp audit.Checkpoint) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for attempt := 0; attempt < 2; attempt++ {
		old := c.oldSize
		if old > cp.Size {
			return nil, fmt.Errorf("%w: witness %s holds %d entries, the checkpoint %d", ErrRefused, c.Name(), old, cp.Size)
		}
		proof, err := audit.ConsistencyProof(ctx, hs, old, cp.Size)
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "old %d\n", old)
		for _, h := range proof {
			b.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
		}
		b.WriteByte('\n')
		b.Write(msg)
		code, resp, err := c.post(ctx, b.Bytes())
		if err != nil {
			return nil, err
		}
		switch code {
		case http.StatusOK:
			if _, err := note.Open(append(append([]byte(nil), msg...), resp...), note.VerifierList(c.Verifier)); err != nil {
				return nil, fmt.Errorf("witness %s: bad cosignature: %w", c.Name(), err)
			}
			c.oldSize = cp.Size
			var mine []byte
			for _, l := range strings.SplitAfter(string(resp), "\n") {
				if strings.HasPrefix(l, "— "+c.Name()+" ") {
					mine = append(mine, l...)
				}
			}
			return mine, nil
		case http.StatusConflict:
			n, err := strconv.ParseInt(strings.TrimSpace(string(resp)), 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("witness %s: 409 with bad size %q", c.Name(), resp)
			}
			if n == old {
				return nil, fmt.Errorf("%w: witness %s (409: it cosigned a different tree of %d entries)", ErrRefused, c.Name(), n)
			}
			c.oldSize = n
		default:
			return nil, fmt.Errorf("%w: witness %s: %d %s", ErrRefused, c.Name(), code, strings.TrimSpace(string(resp)))
		}
	}
	return nil, fmt.Errorf("%w: witness %s keeps changing its size", ErrRefused, c.Name())
}

func (c *Client) post(ctx context.Context, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+"/add-checkpoint", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("witness %s: %w", c.Name(), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	return resp.StatusCode, b, err
}
