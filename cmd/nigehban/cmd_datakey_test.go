package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/sealed"
)

func TestDataKeyGenerateAndRotate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "data.key")
	var out bytes.Buffer
	if err := runDataKeyGenerate(&out, p, ""); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", st.Mode().Perm(), err)
	}
	r1, err := sealed.Load(p)
	if err != nil || r1.CurrentID() != "k1" {
		t.Fatalf("after generate: %v %q", err, r1.CurrentID())
	}
	ct, err := r1.Seal([]byte("secret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := runDataKeyGenerate(&out, p, ""); err != nil {
		t.Fatal(err)
	}
	r2, err := sealed.Load(p)
	if err != nil || r2.CurrentID() != "k2" {
		t.Fatalf("after rotation: %v %q", err, r2.CurrentID())
	}
	if pt, err := r2.Open(ct, nil); err != nil || string(pt) != "secret" {
		t.Fatalf("old value after rotation: %q %v", pt, err)
	}
	if err := runDataKeyGenerate(&out, p, "k2"); err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("duplicate id: %v", err)
	}
	if !strings.Contains(out.String(), `key "k2" is now current`) {
		t.Fatalf("output %q", out.String())
	}
}
