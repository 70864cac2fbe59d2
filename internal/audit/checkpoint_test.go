package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// newSigner makes a log key in a temp dir and returns the signer, the key
// file and the verifier key.
func newSigner(t *testing.T) (*Signer, string, string) {
	t.Helper()
	skey, vkey, err := GenerateLogKey("nigehban.test/audit")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "log.key")
	if err := WriteKeyFile(path, skey); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", fi.Mode(), err)
	}
	if err := WriteKeyFile(path, skey); err == nil {
		t.Error("WriteKeyFile overwrote an existing key")
	}
	s, err := OpenSigner(path)
	if err != nil {
		t.Fatal(err)
	}
	return s, path, vkey
}

func TestCheckpointFormat(t *testing.T) {
	s, _, vkey := newSigner(t)
	m := newMemLog(5)
	msg, err := s.Sign(context.Background(), m, 5)
	if err != nil {
		t.Fatal(err)
	}
	text, sigs, err := SplitNote(msg)
	if err != nil || len(sigs) != 1 || !strings.HasPrefix(sigs[0], "— nigehban.test/audit ") {
		t.Fatalf("note %q: %v %q", msg, err, sigs)
	}
	lines := strings.Split(text, "\n")
	if len(lines) != 4 || lines[0] != "nigehban.test/audit" || lines[1] != "5" || len(lines[2]) != 44 {
		t.Errorf("checkpoint body %q", text)
	}
	p, err := NewPolicy(vkey, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Open(msg)
	root, _ := TreeHash(context.Background(), m, 5)
	if err != nil || c.Size != 5 || c.Hash != root || c.Origin != "nigehban.test/audit" {
		t.Errorf("Open = %+v, %v", c, err)
	}
	if c2, err := ParseCheckpoint(c.Body()); err != nil || c2 != c {
		t.Errorf("ParseCheckpoint(Body()) = %+v, %v", c2, err)
	}
	for _, bad := range []string{"", "o\n5\n", "o\n05\n" + lines[2] + "\n", "o p\n5\n" + lines[2] + "\n", "o\n5\nAAAA\n", "o\n5\n" + lines[2] + "\next\n"} {
		if _, err := ParseCheckpoint(bad); !errors.Is(err, ErrBadCheckpoint) {
			t.Errorf("ParseCheckpoint(%q) = %v", bad, err)
		}
	}
	// Another key of the same name does not verify.
	_, vkey2, _ := GenerateLogKey("nigehban.test/audit")
	p2, _ := NewPolicy(vkey2, nil, 0)
	if _, err := p2.Open(msg); !errors.Is(err, ErrBadCheckpoint) {
		t.Errorf("checkpoint opened with another key: %v", err)
	}
}

// TestSignerNeverSignsInconsistentTrees: once a tree is signed, the signer
// (even restarted, from its state file) refuses a smaller tree, a different
// tree of the same size and a tree that does not extend it.
func TestSignerNeverSignsInconsistentTrees(t *testing.T) {
	ctx := context.Background()
	s, keyPath, _ := newSigner(t)
	m := newMemLog(20)
	if _, err := s.Sign(ctx, m, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sign(ctx, m, 20); err != nil {
		t.Fatalf("grown tree: %v", err)
	}
	if _, err := s.Sign(ctx, m, 20); err != nil {
		t.Fatalf("same tree again: %v", err)
	}
	// The rewritten log: same entries but entry 3 changed, hashes recomputed.
	forged := &memLog{}
	for i, e := range m.entries {
		if i == 2 {
			e.Detail = []byte(`{"n":"forged"}`)
		}
		forged.AppendAudit(ctx, Entry{At: e.At, Actor: e.Actor, Action: e.Action, Target: e.Target, Remote: e.Remote, Detail: e.Detail})
	}
	forged.AppendAudit(ctx, Entry{Actor: "x", Action: "y"})
	restarted, err := OpenSigner(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, sg := range []*Signer{s, restarted} {
		if got := sg.Last().Size; got != 20 {
			t.Errorf("signer remembers size %d, want 20", got)
		}
		for _, size := range []int64{5, 20, 21} {
			if _, err := sg.Sign(ctx, forged, size); !errors.Is(err, ErrLogInconsistent) {
				t.Errorf("signed the rewritten log at size %d: %v", size, err)
			}
		}
		if _, err := sg.Sign(ctx, m, 19); !errors.Is(err, ErrLogInconsistent) {
			t.Errorf("signed a smaller tree: %v", err)
		}
	}
}

func TestPolicyWitnesses(t *testing.T) {
	ctx := context.Background()
	s, _, vkey := newSigner(t)
	msg, err := s.Sign(ctx, newMemLog(3), 3)
	if err != nil {
		t.Fatal(err)
	}
	var cosigners []*Cosigner
	var wkeys []string
	for _, name := range []string{"w1.test", "w2.test", "w3.test"} {
		skey, vk, err := GenerateCosignerKey(name)
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewCosigner(skey)
		if err != nil || c.VerifierKey() != vk {
			t.Fatalf("cosigner %s: %v (vkey %q vs %q)", name, err, c.VerifierKey(), vk)
		}
		cosigners, wkeys = append(cosigners, c), append(wkeys, vk)
	}
	text, _, _ := SplitNote(msg)
	cosign := func(msg []byte, c *Cosigner) []byte {
		signed, err := note.Sign(&note.Note{Text: text}, c)
		if err != nil {
			t.Fatal(err)
		}
		_, sigs, _ := SplitNote(signed)
		return append(append([]byte(nil), msg...), sigs[0]...)
	}
	two := cosign(cosign(msg, cosigners[0]), cosigners[2])
	for _, tc := range []struct {
		msg  []byte
		k    int
		want bool
	}{
		{msg, 0, true}, {msg, 1, false}, {two, 2, true}, {two, 3, false},
		{cosign(cosign(msg, cosigners[1]), cosigners[1]), 2, false}, // the same witness twice counts once
	} {
		p, err := NewPolicy(vkey, wkeys, tc.k)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Open(tc.msg); (err == nil) != tc.want {
			t.Errorf("%d of 3 witnesses: err = %v, want ok=%v", tc.k, err, tc.want)
		}
	}
	// A cosignature over another body does not verify.
	v, _ := NewCosignatureVerifier(wkeys[0])
	sig, _ := cosigners[0].Sign([]byte(text))
	if !v.Verify([]byte(text), sig) || v.Verify([]byte(strings.Replace(text, "\n3\n", "\n4\n", 1)), sig) {
		t.Error("cosignature verification does not bind the checkpoint")
	}
}
