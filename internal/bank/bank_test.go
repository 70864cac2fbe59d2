package bank

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"ncmec", true},
		{"iwf-2026.q1_b", true},
		{"0day", true},
		{strings.Repeat("a", MaxNameLen), true},
		{"", false},
		{strings.Repeat("a", MaxNameLen+1), false},
		{"NCMEC", false},
		{"-lead", false},
		{".hidden", false},
		{"_x", false},
		{"a b", false},
		{"a/b", false},
		{"../etc", false},
		{"ünï", false},
		{"a;drop", false},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateName(%q) error %v does not wrap ErrInvalid", tt.name, err)
		}
	}
}

func TestBankValidate(t *testing.T) {
	ok := NewBank("b")
	if err := ok.Validate(); err != nil {
		t.Fatalf("NewBank defaults invalid: %v", err)
	}
	tests := []struct {
		name string
		mod  func(*Bank)
	}{
		{"action", func(b *Bank) { b.Action = "delete" }},
		{"empty action", func(b *Bank) { b.Action = "" }},
		{"threshold low", func(b *Bank) { b.PDQThreshold = -1 }},
		{"threshold high", func(b *Bank) { b.PDQThreshold = 257 }},
		{"description control", func(b *Bank) { b.Description = "a\x00b" }},
		{"description long", func(b *Bank) { b.Description = strings.Repeat("x", MaxDescriptionLen+1) }},
		{"name", func(b *Bank) { b.Name = "Bad" }},
	}
	for _, tt := range tests {
		b := ok
		tt.mod(&b)
		if err := b.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", tt.name, err)
		}
	}
	b := ok
	b.Description, b.PDQThreshold, b.Action = "multi\nline\tdescription", 0, ActionLog
	if err := b.Validate(); err != nil {
		t.Errorf("valid bank rejected: %v", err)
	}
}

func TestNormalizeValue(t *testing.T) {
	pdqHex := "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
	tests := []struct {
		typ  Type
		in   string
		want string // "" = error
	}{
		{MD5, "D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e"},
		{MD5, "  d41d8cd98f00b204e9800998ecf8427e\n", "d41d8cd98f00b204e9800998ecf8427e"},
		{MD5, "d41d8cd98f00b204e9800998ecf8427", ""},
		{MD5, "g41d8cd98f00b204e9800998ecf8427e", ""},
		{SHA1, "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
		{SHA1, "d41d8cd98f00b204e9800998ecf8427e", ""},
		{SHA256, strings.Repeat("A", 64), strings.Repeat("a", 64)},
		{SHA256, strings.Repeat("a", 63), ""},
		{PDQ, strings.ToUpper(pdqHex), pdqHex},
		{PDQ, pdqHex[:63], ""},
		{PDQ, pdqHex[:62] + "zz", ""},
		{VPDQ, " [\"" + strings.ToUpper(pdqHex) + ",100,0.000\", \"" + pdqHex + ",90,1e0\"] ", `["` + pdqHex + `,100,0.000","` + pdqHex + `,90,1e0"]`},
		{VPDQ, " 0,100,abc,0.000 ", ""}, // not the compact JSON form
		{VPDQ, "garbage", ""},
		{VPDQ, "[]", ""},
		{VPDQ, `["` + pdqHex + `,101,0.000"]`, ""},
		{VPDQ, `["` + pdqHex + `,100,-1"]`, ""},
		{VPDQ, `["` + pdqHex[:60] + `,100,0"]`, ""},
		{VPDQ, "", ""},
		{VPDQ, "a\x00b", ""},
		{VPDQ, "\xff\xfe", ""},
		{VPDQ, strings.Repeat("x", MaxVPDQLen+1), ""},
		{"photodna", "abc", ""},
	}
	for _, tt := range tests {
		got, err := NormalizeValue(tt.typ, tt.in)
		if tt.want == "" {
			if err == nil || !errors.Is(err, ErrInvalid) {
				t.Errorf("NormalizeValue(%s, %.20q) = %q, %v; want ErrInvalid", tt.typ, tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeValue(%s, %.20q) = %q, %v; want %q", tt.typ, tt.in, got, err, tt.want)
		}
	}
}

func TestParseType(t *testing.T) {
	for _, in := range []string{"md5", "SHA1", " sha256 ", "Pdq", "vpdq"} {
		if _, err := ParseType(in); err != nil {
			t.Errorf("ParseType(%q): %v", in, err)
		}
	}
	for _, in := range []string{"", "sha512", "photodna", "md 5"} {
		if _, err := ParseType(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseType(%q) = %v, want ErrInvalid", in, err)
		}
	}
}

func TestSignalNormalize(t *testing.T) {
	base := Signal{Type: "PDQ", Value: strings.Repeat("AB", 32), Quality: 80, Category: "A1", Note: "two\nlines",
		Extra: map[string]string{"MediaID": "12"}}
	s := base
	if err := s.Normalize(); err != nil || s.Type != PDQ || s.Value != strings.Repeat("ab", 32) {
		t.Fatalf("Normalize = %+v, %v", s, err)
	}
	bad := []func(*Signal){
		func(s *Signal) { s.Quality = 101 },
		func(s *Signal) { s.Quality = -2 },
		func(s *Signal) { s.Category = "a\nb" },
		func(s *Signal) { s.Source = strings.Repeat("s", MaxSourceLen+1) },
		func(s *Signal) { s.Note = "bell\a" },
		func(s *Signal) { s.Extra = map[string]string{"": "x"} },
		func(s *Signal) { s.Extra = map[string]string{"k": strings.Repeat("v", MaxExtraLen+1)} },
		func(s *Signal) { s.Type = "" },
		func(s *Signal) { s.Value = "" },
	}
	for i, mod := range bad {
		s := base
		s.Extra = map[string]string{"MediaID": "12"}
		mod(&s)
		if err := s.Normalize(); !errors.Is(err, ErrInvalid) {
			t.Errorf("case %d: Normalize(%+v) = %v, want ErrInvalid", i, s, err)
		}
	}
}

func TestValueEncoding(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		typ := rapid.SampledFrom(Types).Draw(t, "type")
		var v string
		if typ == VPDQ {
			v = `["` + rapid.StringMatching(`[0-9a-f]{64}`).Draw(t, "frame") + `,` +
				strconv.Itoa(rapid.IntRange(0, 100).Draw(t, "quality")) + `,1.5"]`
		} else {
			v = rapid.StringMatching(`[0-9a-fA-F]{`+strconv.Itoa(typ.HexLen())+`}`).Draw(t, "hex")
		}
		n, err := NormalizeValue(typ, v)
		if err != nil {
			t.Fatalf("NormalizeValue(%s, %q): %v", typ, v, err)
		}
		if typ != VPDQ && n != strings.ToLower(v) {
			t.Fatalf("NormalizeValue(%s, %q) = %q, want lower case", typ, v, n)
		}
		key, body := EncodeValue(typ, n)
		if len(key) > 32 || len(key) == 0 {
			t.Fatalf("key of %d bytes", len(key))
		}
		if got := DecodeValue(typ, key, body); got != n {
			t.Fatalf("DecodeValue(EncodeValue(%q)) = %q", n, got)
		}
	})
}

func TestExtraEncoding(t *testing.T) {
	for _, m := range []map[string]string{nil, {}, {"MediaID": "7", "series": "a\"b\nc"}} {
		enc := EncodeExtra(m)
		if len(m) == 0 && enc != "" {
			t.Errorf("EncodeExtra(%v) = %q, want empty", m, enc)
		}
		got, err := DecodeExtra(enc)
		if err != nil || len(got) != len(m) {
			t.Errorf("DecodeExtra(EncodeExtra(%v)) = %v, %v", m, got, err)
		}
		for k, v := range m {
			if got[k] != v {
				t.Errorf("extra %q = %q, want %q", k, got[k], v)
			}
		}
	}
	if _, err := DecodeExtra("{not json"); err == nil {
		t.Error("DecodeExtra accepted bad JSON")
	}
}

func FuzzNormalizeValue(f *testing.F) {
	f.Add("pdq", "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22")
	f.Add("md5", "D41D8CD98F00B204E9800998ECF8427E")
	f.Add("sha1", " da39a3ee5e6b4b0d3255bfef95601890afd80709 ")
	f.Add("vpdq", `["f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22,100,0.000"]`)
	f.Add("sha256", "")
	f.Fuzz(func(t *testing.T, typ, v string) {
		n, err := NormalizeValue(Type(typ), v)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		again, err := NormalizeValue(Type(typ), n)
		if err != nil || again != n {
			t.Fatalf("not idempotent: %q → %q → %q, %v", v, n, again, err)
		}
		key, body := EncodeValue(Type(typ), n)
		if got := DecodeValue(Type(typ), key, body); got != n {
			t.Fatalf("encoding round trip %q → %q", n, got)
		}
	})
}
