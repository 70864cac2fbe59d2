package signal

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/pdq"
)

const (
	pdqHex = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
	md5Hex = "d41d8cd98f00b204e9800998ecf8427e"
)

func TestParseType(t *testing.T) {
	tests := []struct {
		in   string
		want Type
	}{
		{"md5", MD5}, {"MD5", MD5}, {" hash_md5 ", MD5}, {"video_md5", MD5}, {"photo_md5", MD5},
		{"sha1", SHA1}, {"SHA-1", SHA1}, {"hash_sha1", SHA1},
		{"sha256", SHA256}, {"sha-256", SHA256}, {"HASH_SHA256", SHA256},
		{"pdq", PDQ}, {"Pdq", PDQ}, {"hash_pdq", PDQ}, {"pdq_photo", PDQ},
		{"vpdq", VPDQ}, {"video_vpdq", VPDQ},
	}
	for _, tt := range tests {
		if got, err := ParseType(tt.in); got != tt.want || err != nil {
			t.Errorf("ParseType(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "tmk", "photodna", "md4", "sha512", "pdq\x00"} {
		if got, err := ParseType(in); !errors.Is(err, ErrUnknownType) || got != "" {
			t.Errorf("ParseType(%q) = %q, %v; want ErrUnknownType", in, got, err)
		}
	}
}

func TestTypeFacts(t *testing.T) {
	want := map[Type]struct {
		hexLen int
		digest bool
	}{MD5: {32, true}, SHA1: {40, true}, SHA256: {64, true}, PDQ: {64, false}, VPDQ: {0, false}}
	for _, typ := range Types {
		w, ok := want[typ]
		if !ok || !typ.Valid() || typ.HexLen() != w.hexLen || typ.Digest() != w.digest {
			t.Errorf("%s: valid %v, hex length %d, digest %v; want %+v", typ, typ.Valid(), typ.HexLen(), typ.Digest(), w)
		}
	}
	if Type("MD5").Valid() || Type("x").HexLen() != 0 {
		t.Error("non-canonical names must not be valid types")
	}
}

func TestInferType(t *testing.T) {
	for in, want := range map[string]Type{md5Hex: MD5, "\ufeff" + md5Hex: MD5, strings.Repeat("a", 40): SHA1} {
		if got, err := InferType(in); got != want || err != nil {
			t.Errorf("InferType(%.10q…) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := InferType(pdqHex); !errors.Is(err, ErrAmbiguousType) {
		t.Errorf("64 digits: %v, want ErrAmbiguousType", err)
	}
	if _, err := InferType("abc"); !errors.Is(err, ErrBadValue) {
		t.Errorf("3 digits: %v, want ErrBadValue", err)
	}
}

func TestNormalize(t *testing.T) {
	frame := func(h, q, ts string) string { return h + "," + q + "," + ts }
	tests := []struct {
		typ     Type
		in      string
		want    string
		wantErr error
	}{
		{MD5, " " + strings.ToUpper(md5Hex) + "\t", md5Hex, nil},
		{MD5, "\ufeff" + md5Hex, md5Hex, nil}, // a BOM from a spreadsheet export
		{"hash_md5", md5Hex, md5Hex, nil},     // an alias type name
		{MD5, "0x" + md5Hex[2:], "", ErrBadValue},
		{MD5, md5Hex + "0", "", ErrBadValue},
		{SHA1, md5Hex, "", ErrBadValue},
		{SHA256, strings.Repeat("A", 64), strings.Repeat("a", 64), nil},
		{PDQ, strings.ToUpper(pdqHex), pdqHex, nil},
		{PDQ, pdqHex[:63] + "g", "", ErrBadValue},
		{PDQ, "", "", ErrBadValue},
		{"tmk", md5Hex, "", ErrUnknownType},
		// vPDQ: the compact form, canonicalised.
		{VPDQ, `["` + frame(pdqHex, "100", "0.000") + `"]`, `["` + frame(pdqHex, "100", "0.000") + `"]`, nil},
		{VPDQ, "\ufeff [ \"" + frame(strings.ToUpper(pdqHex), "7", "1.23e+02") + "\" ,\n\"" + frame(pdqHex, "0", "2") + "\" ] ",
			`["` + frame(pdqHex, "7", "1.23e+02") + `","` + frame(pdqHex, "0", "2") + `"]`, nil},
		{VPDQ, "garbage", "", ErrBadValue},
		{VPDQ, "0,100," + pdqHex + ",0.000", "", ErrBadValue}, // the reference's frame-file form
		{VPDQ, "[]", "", ErrBadValue},
		{VPDQ, `[1,2]`, "", ErrBadValue},
		{VPDQ, `["` + frame(pdqHex, "100", "0") + `"`, "", ErrBadValue},
		{VPDQ, `["` + frame(pdqHex[:62], "100", "0") + `"]`, "", ErrBadValue},
		{VPDQ, `["` + frame(pdqHex, "101", "0") + `"]`, "", ErrBadValue},
		{VPDQ, `["` + frame(pdqHex, "x", "0") + `"]`, "", ErrBadValue},
		{VPDQ, `["` + frame(pdqHex, "50", "-1") + `"]`, "", ErrBadValue},
		{VPDQ, `["` + frame(pdqHex, "50", "NaN") + `"]`, "", ErrBadValue},
		{VPDQ, `["` + frame(pdqHex, "50", "Inf") + `"]`, "", ErrBadValue},
		{VPDQ, `["` + pdqHex + `,50"]`, "", ErrBadValue},
		{VPDQ, `["` + frame(pdqHex, "50", "0") + "\x01" + `"]`, "", ErrBadValue},
		{VPDQ, "[" + strings.Repeat(" ", MaxVPDQLen) + "]", "", ErrBadValue},
	}
	for _, tt := range tests {
		got, err := Normalize(tt.typ, tt.in)
		if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("Normalize(%s, %.50q) = %q, %v; want %q, %v", tt.typ, tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestVPDQRoundTrip(t *testing.T) {
	h := pdq.MustParseHex(pdqHex)
	frames := []Frame{
		{Frame: 0, PDQ: h, Quality: 100, Timestamp: 0},
		{Frame: 1, PDQ: h, Quality: 49, Timestamp: 1.0004},
		{Frame: 2, PDQ: pdq.Hash{}, Quality: 0, Timestamp: 3600.5},
	}
	v := FormatVPDQ(frames)
	n, err := Normalize(VPDQ, v)
	if err != nil || n != v {
		t.Fatalf("Normalize(FormatVPDQ(…)) = %q, %v; want it unchanged", n, err)
	}
	got, err := ParseVPDQ(v)
	if err != nil || len(got) != len(frames) {
		t.Fatalf("ParseVPDQ = %v, %v", got, err)
	}
	for i, f := range got {
		w := frames[i]
		if f.Frame != i || f.PDQ != w.PDQ || f.Quality != w.Quality || math.Abs(f.Timestamp-w.Timestamp) > 0.0005 {
			t.Errorf("frame %d: %+v, want %+v", i, f, w)
		}
	}
	if _, err := ParseVPDQ(`["` + pdqHex + `,1,0","` + pdqHex + `,1"]`); err == nil || !strings.Contains(err.Error(), "frame 1") {
		t.Errorf("bad second frame: %v, want an error naming frame 1", err)
	}
}

func TestCheckText(t *testing.T) {
	tests := []struct {
		s         string
		max       int
		multiline bool
		ok        bool
	}{
		{"plain text", 0, false, true},
		{"اردو متن", 0, false, true},
		{"a\nb\tc\r", 0, true, true},
		{"a\nb", 0, false, false},
		{"a\x00b", 0, true, false},
		{"a\x07b", 0, true, false},
		{"a\u0085b", 0, true, false}, // C1 control
		{"a\x7fb", 0, false, false},
		{"\xff\xfe", 0, true, false},
		{"abcd", 3, false, false},
		{"abc", 3, false, true},
	}
	for _, tt := range tests {
		err := CheckText("note", tt.s, tt.max, tt.multiline)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrBadText)) {
			t.Errorf("CheckText(%q, max %d, multiline %v) = %v, want ok=%v", tt.s, tt.max, tt.multiline, err, tt.ok)
		}
	}
}

// FuzzNormalize checks that Normalize never panics, that every error wraps
// one of the package's sentinels, and that a canonical value is a fixed
// point which every other entry point accepts.
func FuzzNormalize(f *testing.F) {
	f.Add("pdq", pdqHex)
	f.Add("md5", " "+strings.ToUpper(md5Hex))
	f.Add("vpdq", `["`+pdqHex+`,100,0.000"]`)
	f.Add("vpdq", "[ \""+pdqHex+",1,1e3\" ]")
	f.Add("hash_sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709")
	f.Fuzz(func(t *testing.T, typ, v string) {
		n, err := Normalize(Type(typ), v)
		if err != nil {
			if !errors.Is(err, ErrBadValue) && !errors.Is(err, ErrUnknownType) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		canon, _ := ParseType(typ)
		if again, err := Normalize(canon, n); err != nil || again != n {
			t.Fatalf("Normalize is not idempotent: %q → %q, %v", n, again, err)
		}
		if err := CheckText("value", n, 0, false); err != nil {
			t.Fatalf("canonical value %q is not storable text: %v", n, err)
		}
		if canon == VPDQ {
			if _, err := ParseVPDQ(n); err != nil {
				t.Fatalf("ParseVPDQ refuses canonical %q: %v", n, err)
			}
		} else if len(n) != canon.HexLen() || strings.ToLower(n) != n {
			t.Fatalf("canonical %s value %q", canon, n)
		}
	})
}
