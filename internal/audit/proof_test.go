package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestProofBundle(t *testing.T) {
	ctx := context.Background()
	s, _, vkey := newSigner(t)
	m := newMemLog(37)
	msg, err := s.Sign(ctx, m, 37)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Last()
	p, _ := NewPolicy(vkey, nil, 0)
	for _, seq := range []int64{1, 2, 17, 32, 33, 37} {
		b, err := Prove(ctx, m, msg, c, m.entries[seq-1])
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), ProofHeader+"\nextra ") || !bytes.HasSuffix(b, msg) {
			t.Fatalf("bundle %q", b)
		}
		e, got, err := VerifyProof(b, p)
		if err != nil || e.Seq != seq || e.Actor != m.entries[seq-1].Actor || got != c {
			t.Errorf("entry %d: %+v %+v %v", seq, e, got, err)
		}
	}

	// Any byte of the entry changed: the proof fails.
	b, _ := Prove(ctx, m, msg, c, m.entries[16])
	lines := strings.SplitN(string(b), "\n", 3)
	leaf, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[1], "extra "))
	for i := range leaf {
		for _, delta := range []byte{1, 0x80} {
			bad := bytes.Clone(leaf)
			bad[i] ^= delta
			forged := lines[0] + "\nextra " + base64.StdEncoding.EncodeToString(bad) + "\n" + lines[2]
			if _, _, err := VerifyProof([]byte(forged), p); err == nil {
				t.Fatalf("byte %d of the entry changed (^%#x), the proof still verifies", i, delta)
			}
		}
	}
	// Any proof hash changed, the index moved, or another key: fails.
	for i, tamper := range []func(string) string{
		func(s string) string { return strings.Replace(s, "index 16\n", "index 15\n", 1) },
		func(s string) string {
			ls := strings.Split(s, "\n")
			h, _ := base64.StdEncoding.DecodeString(ls[3])
			h[0] ^= 1
			ls[3] = base64.StdEncoding.EncodeToString(h)
			return strings.Join(ls, "\n")
		},
		func(s string) string { return strings.Replace(s, "\n37\n", "\n38\n", 1) },
		func(s string) string { return strings.Replace(s, ProofHeader, "c2sp.org/tlog-proof@v0", 1) },
	} {
		if _, _, err := VerifyProof([]byte(tamper(string(b))), p); err == nil {
			t.Errorf("tampering %d not detected", i)
		}
	}
	_, vkey2, _ := GenerateLogKey("nigehban.test/audit")
	p2, _ := NewPolicy(vkey2, nil, 0)
	if _, _, err := VerifyProof(b, p2); !errors.Is(err, ErrBadCheckpoint) {
		t.Errorf("verified under another key: %v", err)
	}
	// An entry edited in the store cannot be proved.
	edited := m.entries[5]
	edited.Target = "elsewhere"
	if _, err := Prove(ctx, m, msg, c, edited); !errors.Is(err, ErrLogInconsistent) {
		t.Errorf("proved an edited entry: %v", err)
	}
}
