package sealed

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func ring(t *testing.T, lines ...string) *Ring {
	t.Helper()
	r, err := Parse(strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func line(t *testing.T, id string) string {
	t.Helper()
	l, err := NewKeyLine(id)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestSealOpen(t *testing.T) {
	k1, k2 := line(t, "k1"), line(t, "k2")
	old := ring(t, k1)
	rotated := ring(t, "# rotated", k1, "", k2)
	other := ring(t, line(t, "k1"))

	ct, err := old.Seal([]byte("uploader 42"), []byte("hit|7"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("uploader 42")) {
		t.Fatal("plaintext visible in sealed value")
	}
	for _, tc := range []struct {
		name string
		r    *Ring
		ct   []byte
		ad   string
		want error
	}{
		{"same ring", old, ct, "hit|7", nil},
		{"rotated ring opens old values", rotated, ct, "hit|7", nil},
		{"other row", old, ct, "hit|8", ErrCorrupt},
		{"same id other key", other, ct, "hit|7", ErrCorrupt},
		{"no key", nil, ct, "hit|7", ErrNoKey},
		{"truncated", old, ct[:10], "hit|7", ErrCorrupt},
		{"flipped", old, flip(ct, len(ct)-1), "hit|7", ErrCorrupt},
		{"not sealed", old, []byte("plain"), "hit|7", ErrCorrupt},
		{"empty", old, nil, "hit|7", ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := tc.r.Open(tc.ct, []byte(tc.ad))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && string(pt) != "uploader 42" {
				t.Fatalf("opened %q", pt)
			}
		})
	}

	// New values use the last key; a ring without it cannot open them.
	ct2, err := rotated.Seal([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Open(ct2, nil); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old ring on new value: %v, want ErrUnknownKey", err)
	}
	if rotated.CurrentID() != "k2" {
		t.Fatalf("current id %q", rotated.CurrentID())
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

func TestStrings(t *testing.T) {
	r := ring(t, line(t, "a"))
	s, err := r.SealString("0300-1234567", "phone")
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.OpenString(s, "phone")
	if err != nil || got != "0300-1234567" {
		t.Fatalf("OpenString = %q, %v", got, err)
	}
	if _, err := r.OpenString("%%%", "phone"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad base64: %v", err)
	}
	if _, err := (*Ring)(nil).SealString("x", ""); !errors.Is(err, ErrNoKey) {
		t.Fatalf("nil ring: %v", err)
	}
}

func TestBlind(t *testing.T) {
	k1 := line(t, "k1")
	r1, r2 := ring(t, k1), ring(t, k1, line(t, "k2"))
	a, _ := r1.Blind("uploader", []byte("acct-1"))
	b, _ := r2.Blind("uploader", []byte("acct-1")) // survives rotation
	c, _ := r1.Blind("uploader", []byte("acct-2"))
	d, _ := r1.Blind("device", []byte("acct-1"))
	e, _ := ring(t, line(t, "k1")).Blind("uploader", []byte("acct-1"))
	if !bytes.Equal(a, b) {
		t.Fatal("blind index changed with rotation")
	}
	for name, x := range map[string][]byte{"other value": c, "other purpose": d, "other key": e} {
		if bytes.Equal(a, x) {
			t.Fatalf("%s: same digest", name)
		}
	}
}

func TestParseErrors(t *testing.T) {
	good := line(t, "a")
	for name, in := range map[string]string{
		"empty":      "# nothing\n",
		"no colon":   "abc",
		"bad base64": "a:!!!",
		"short key":  "a:AAAA",
		"bad id":     "a b" + good[1:],
		"duplicate":  good + "\n" + good,
		"empty id":   good[1:],
	} {
		if _, err := Parse(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "key")
	if err := os.WriteFile(p, []byte(line(t, "a")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key file: %v", err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Load(p)
	if err != nil || !r.Configured() {
		t.Fatalf("Load: %v", err)
	}
	t.Setenv("NIGEHBAN_DATA_KEY_FILE", "")
	if r, err := FromEnv(""); r != nil || err != nil {
		t.Fatalf("FromEnv without a key: %v, %v", r, err)
	}
	t.Setenv("NIGEHBAN_DATA_KEY_FILE", p)
	if r, err := FromEnv(""); err != nil || !r.Configured() {
		t.Fatalf("FromEnv: %v", err)
	}
}
