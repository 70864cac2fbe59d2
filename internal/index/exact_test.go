package index

import (
	"encoding/hex"
	"slices"
	"strings"
	"testing"
)

func TestExact(t *testing.T) {
	var x Exact[SHA256]
	k, err := ParseDigest[SHA256]("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	if err != nil {
		t.Fatal(err)
	}
	x.Add(1, k)
	x.Add(2, k)
	x.Add(1, k)
	if got := x.Lookup(k); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("lookup %v", got)
	}
	x.Remove(1, k)
	if got := x.Lookup(k); !slices.Equal(got, []uint64{2}) {
		t.Errorf("after remove %v", got)
	}
	x.Remove(2, k)
	if x.Len() != 0 || x.Lookup(k) != nil {
		t.Errorf("not empty")
	}
	for _, bad := range []string{"zz", "e3b0", ""} {
		if _, err := ParseDigest[MD5](bad); err == nil {
			t.Errorf("ParseDigest(%q) accepted", bad)
		}
	}
	if _, err := ParseDigest[MD5]("d41d8cd98f00b204e9800998ecf8427e"); err != nil {
		t.Error(err)
	}
}

// FuzzParseDigest checks that any input either parses to the digest whose
// hex it is or is refused, never panics.
func FuzzParseDigest(f *testing.F) {
	for _, s := range []string{"d41d8cd98f00b204e9800998ecf8427e", "da39a3ee5e6b4b0d3255bfef95601890afd80709",
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "", "0", "zz", "D41D8CD98F00B204E9800998ECF8427E"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		check := func(b []byte, err error, size int) {
			if err != nil {
				return
			}
			if len(s) != 2*size || hex.EncodeToString(b) != strings.ToLower(s) {
				t.Fatalf("%q parsed as %x", s, b)
			}
		}
		m, err := ParseDigest[MD5](s)
		check(m[:], err, 16)
		s1, err := ParseDigest[SHA1](s)
		check(s1[:], err, 20)
		s2, err := ParseDigest[SHA256](s)
		check(s2[:], err, 32)
	})
}
