package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a tree head in C2SP tlog-checkpoint form: the note body
// "<origin>\n<size>\n<base64 root>\n". Signed, it is a C2SP signed note.
type Checkpoint struct {
	Origin string
	Size   int64
	Hash   tlog.Hash
}

// ErrBadCheckpoint is returned (wrapped) for text that is not a checkpoint,
// or a signed note that does not verify under the caller's keys.
var ErrBadCheckpoint = errors.New("bad checkpoint")

// Body returns the checkpoint's note body.
func (c Checkpoint) Body() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Hash[:]))
}

// ParseCheckpoint parses a checkpoint note body (extension lines, which we
// never write, are refused).
func ParseCheckpoint(body string) (Checkpoint, error) {
	var c Checkpoint
	lines := strings.SplitAfter(body, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return c, fmt.Errorf("%w: want 3 lines, got %q", ErrBadCheckpoint, body)
	}
	c.Origin = strings.TrimSuffix(lines[0], "\n")
	if c.Origin == "" || strings.ContainsAny(c.Origin, " +") {
		return c, fmt.Errorf("%w: bad origin %q", ErrBadCheckpoint, c.Origin)
	}
	size := strings.TrimSuffix(lines[1], "\n")
	n, err := strconv.ParseInt(size, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != size {
		return c, fmt.Errorf("%w: bad size %q", ErrBadCheckpoint, size)
	}
	h, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(lines[2], "\n"))
	if err != nil || len(h) != tlog.HashSize {
		return c, fmt.Errorf("%w: bad root hash %q", ErrBadCheckpoint, lines[2])
	}
	c.Size = n
	copy(c.Hash[:], h)
	return c, nil
}

// GenerateLogKey returns a new Ed25519 signing key for a log whose origin
// (and key name) is origin, in golang.org/x/mod/sumdb/note form: skey is the
// secret "PRIVATE+KEY+…" string, vkey the verifier key to publish.
func GenerateLogKey(origin string) (skey, vkey string, err error) {
	if origin == "" || strings.ContainsAny(origin, " +\n") {
		return "", "", fmt.Errorf("log origin %q: must be a schema-less URL without spaces or '+'", origin)
	}
	return note.GenerateKey(rand.Reader, origin)
}

// WriteKeyFile writes a secret key to path with mode 0600, refusing to
// overwrite an existing file (a lost log key cannot be recovered, and a
// replaced one breaks every verifier).
func WriteKeyFile(path, skey string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	if _, err := f.WriteString(skey + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write key file: %w", err)
	}
	return f.Close()
}

// ReadKeyFile reads a key written by WriteKeyFile.
func ReadKeyFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read key file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Signer signs the log's checkpoints. It never signs two inconsistent
// trees: it remembers (in a state file beside its key, outside the
// database) the last tree it signed, and signs a new tree only with a
// consistency proof from that one.
type Signer struct {
	signer    note.Signer
	statePath string

	mu   sync.Mutex
	last Checkpoint
}

// signerState is the state file's content.
type signerState struct {
	Size int64     `json:"size"`
	Hash tlog.Hash `json:"hash"`
}

// OpenSigner reads the key at keyPath and its state file (keyPath +
// ".state", created on the first signature).
func OpenSigner(keyPath string) (*Signer, error) {
	skey, err := ReadKeyFile(keyPath)
	if err != nil {
		return nil, err
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("log key %s: %w", keyPath, err)
	}
	sg := &Signer{signer: s, statePath: keyPath + ".state"}
	sg.last.Origin = s.Name()
	b, err := os.ReadFile(sg.statePath)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("log signer state: %w", err)
	default:
		var st signerState
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("log signer state %s: %w", sg.statePath, err)
		}
		sg.last.Size, sg.last.Hash = st.Size, st.Hash
	}
	return sg, nil
}

// Origin returns the log's origin (its key's name).
func (s *Signer) Origin() string { return s.signer.Name() }

// Last returns the last tree the signer signed (size 0 if none).
func (s *Signer) Last() Checkpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Sign signs the checkpoint of the first size leaves of hs, after checking
// that it extends the last tree this signer signed; it returns the signed
// note, or an error wrapping ErrLogInconsistent. The new state is written
// durably before the note is returned.
func (s *Signer) Sign(ctx context.Context, hs HashStore, size int64) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	root, err := TreeHash(ctx, hs, size)
	if err != nil {
		return nil, err
	}
	if size == s.last.Size && root != s.last.Hash {
		return nil, fmt.Errorf("%w: refusing to sign a tree of %d entries with root %s: %d entries were signed with root %s", ErrLogInconsistent, size, root, size, s.last.Hash)
	}
	if err := CheckConsistent(ctx, hs, s.last.Size, s.last.Hash, size, root); err != nil {
		return nil, fmt.Errorf("refusing to sign: %w", err)
	}
	c := Checkpoint{Origin: s.signer.Name(), Size: size, Hash: root}
	msg, err := note.Sign(&note.Note{Text: c.Body()}, s.signer)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	if err := writeFileAtomic(s.statePath, mustJSON(signerState{Size: size, Hash: root})); err != nil {
		return nil, fmt.Errorf("log signer state: %w", err)
	}
	s.last = c
	return msg, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// writeFileAtomic replaces path with data durably (temp file, fsync,
// rename, fsync of the directory).
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Policy says whose signatures a verifier requires on a checkpoint: the
// log's key, and at least Required of the Witnesses' cosignatures (k of n).
type Policy struct {
	Log       note.Verifier
	Witnesses []note.Verifier
	Required  int
}

// NewPolicy builds a policy from the log's vkey and witness vkeys (C2SP
// tlog-cosignature Ed25519 keys, type 0x04), requiring k of them.
func NewPolicy(logVKey string, witnessVKeys []string, k int) (Policy, error) {
	var p Policy
	v, err := note.NewVerifier(strings.TrimSpace(logVKey))
	if err != nil {
		return p, fmt.Errorf("log verifier key: %w", err)
	}
	p.Log = v
	for _, wk := range witnessVKeys {
		w, err := NewCosignatureVerifier(strings.TrimSpace(wk))
		if err != nil {
			return p, fmt.Errorf("witness key %q: %w", wk, err)
		}
		p.Witnesses = append(p.Witnesses, w)
	}
	if k < 0 || k > len(p.Witnesses) {
		return p, fmt.Errorf("policy requires %d witnesses of %d", k, len(p.Witnesses))
	}
	p.Required = k
	return p, nil
}

// Open verifies a signed checkpoint under p and parses it: the log's
// signature must verify, its origin must be the log key's name, and at
// least p.Required distinct witnesses must have cosigned it. Unknown
// signatures are ignored, as C2SP signed-note requires.
func (p Policy) Open(msg []byte) (Checkpoint, error) {
	vs := append([]note.Verifier{p.Log}, p.Witnesses...)
	n, err := note.Open(msg, note.VerifierList(vs...))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	logSigned, witnesses := false, map[string]bool{}
	for _, s := range n.Sigs {
		if s.Name == p.Log.Name() && s.Hash == p.Log.KeyHash() {
			logSigned = true
			continue
		}
		witnesses[fmt.Sprintf("%s+%08x", s.Name, s.Hash)] = true
	}
	if !logSigned {
		return Checkpoint{}, fmt.Errorf("%w: not signed by the log key %s", ErrBadCheckpoint, p.Log.Name())
	}
	if len(witnesses) < p.Required {
		return Checkpoint{}, fmt.Errorf("%w: cosigned by %d witnesses, policy requires %d", ErrBadCheckpoint, len(witnesses), p.Required)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return c, err
	}
	if c.Origin != p.Log.Name() {
		return c, fmt.Errorf("%w: origin %q is not the log key's name %q", ErrBadCheckpoint, c.Origin, p.Log.Name())
	}
	return c, nil
}

// SplitNote splits a signed note into its text (ending in "\n") and its
// signature lines.
func SplitNote(msg []byte) (text string, sigs []string, err error) {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 || !bytes.HasSuffix(msg, []byte("\n")) {
		return "", nil, fmt.Errorf("%w: not a signed note", ErrBadCheckpoint)
	}
	for _, l := range strings.SplitAfter(string(msg[i+2:]), "\n") {
		if l != "" {
			sigs = append(sigs, l)
		}
	}
	return string(msg[:i+1]), sigs, nil
}
