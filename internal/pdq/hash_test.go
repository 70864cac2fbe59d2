package pdq

import (
	"encoding/json"
	"errors"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestBitOrder pins the reference bit numbering against an independent
// model: the hex string read as a big-endian 256-bit integer N, where hash
// bit k is bit k of N (so DCT coefficient (0,0) is the lowest bit of the
// last hex digit).
func TestBitOrder(t *testing.T) {
	for k := 0; k < 256; k++ {
		var h Hash
		h.SetBit(k)
		n, ok := new(big.Int).SetString(h.String(), 16)
		if !ok {
			t.Fatalf("bit %d: bad hex %q", k, h)
		}
		want := new(big.Int).Lsh(big.NewInt(1), uint(k))
		if n.Cmp(want) != 0 {
			t.Fatalf("SetBit(%d) = %s, want 1<<%d", k, h, k)
		}
		for j := 0; j < 256; j++ {
			if h.Bit(j) != (j == k) {
				t.Fatalf("SetBit(%d): Bit(%d) = %v", k, j, h.Bit(j))
			}
		}
	}
	// The reference prints w[15] first; bit 0 is the last digit's low bit.
	var h Hash
	h.SetBit(0)
	h.SetBit(255)
	if got, want := h.String(), "8"+strings.Repeat("0", 62)+"1"; got != want {
		t.Errorf("bits 0 and 255: %s, want %s", got, want)
	}
}

func TestParseHex(t *testing.T) {
	const s = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
	h, err := ParseHex(s)
	if err != nil {
		t.Fatal(err)
	}
	if h.String() != s {
		t.Errorf("round trip: %s", h)
	}
	if u, err := ParseHex(strings.ToUpper(s)); err != nil || u != h {
		t.Errorf("upper case: %v, %v", u, err)
	}
	if b := h.Bytes(); FromBytes(b) != h || b[0] != 0xd8 || b[31] != 0x22 {
		t.Errorf("bytes: % x", b)
	}
	if h.OnesCount() != 128 {
		t.Errorf("reference hash has %d ones, want 128", h.OnesCount())
	}

	for _, bad := range []string{
		"", s[:63], s + "0", s[:63] + "g", " " + s[1:], s[:62] + "\x00\x00", "0x" + s[2:],
	} {
		if _, err := ParseHex(bad); !errors.Is(err, ErrBadHash) {
			t.Errorf("ParseHex(%q): err %v, want ErrBadHash", bad, err)
		}
	}
}

func TestHashText(t *testing.T) {
	h := MustParseHex("1049d96239e24d4dca2c55512b8bdb77425f4dbcf575a0a95555aaab5554aaaa")
	b, err := json.Marshal(map[string]Hash{"pdq": h})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"pdq":"`+h.String()+`"}` {
		t.Errorf("json: %s", b)
	}
	var back map[string]Hash
	if err := json.Unmarshal(b, &back); err != nil || back["pdq"] != h {
		t.Errorf("json round trip: %v %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"pdq":"abc"}`), &back); !errors.Is(err, ErrBadHash) {
		t.Errorf("bad json hash: %v", err)
	}
}

// TestDistance checks Hamming distance against a bit-by-bit count and its
// metric properties.
func TestDistance(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	rh := func() Hash { return Hash{rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64()} }
	for i := 0; i < 200; i++ {
		a, b, c := rh(), rh(), rh()
		want := 0
		for k := 0; k < 256; k++ {
			if a.Bit(k) != b.Bit(k) {
				want++
			}
		}
		if d := Distance(a, b); d != want || d != Distance(b, a) {
			t.Fatalf("Distance = %d (reverse %d), bitwise %d", d, Distance(b, a), want)
		}
		if Distance(a, a) != 0 {
			t.Fatal("Distance(a, a) != 0")
		}
		if Distance(a, c) > Distance(a, b)+Distance(b, c) {
			t.Fatal("triangle inequality violated")
		}
	}
	var zero, ones Hash
	for k := range 256 {
		ones.SetBit(k)
	}
	if Distance(zero, ones) != 256 {
		t.Errorf("Distance(0, ~0) = %d", Distance(zero, ones))
	}
}

func FuzzParseHex(f *testing.F) {
	for _, s := range []string{
		"d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22",
		strings.Repeat("F", 64), strings.Repeat("0", 63), "", "zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHex(s)
		if err != nil {
			if !errors.Is(err, ErrBadHash) {
				t.Fatalf("error %v does not wrap ErrBadHash", err)
			}
			return
		}
		if !strings.EqualFold(h.String(), s) {
			t.Fatalf("%q parsed to %s", s, h)
		}
	})
}
