package bank

import (
	"encoding/json"
	"testing"
)

// TestEncodeExtra: the fast path writes exactly what encoding/json writes,
// and what needs escaping goes through encoding/json.
func TestEncodeExtra(t *testing.T) {
	for _, m := range []map[string]string{
		nil,
		{},
		{"exchange": "ncmec", "exchange_entry": "image/3/e12", "member": "3", "classification": "A1"},
		{"b": "", "a": "x y", "": "empty key"},
		{"url": "https://example.org/a?b=1&c=2"}, // '&' is escaped
		{"tag": "<b>"},
		{"quote": `say "hi"`, "back": `a\b`},
		{"tab": "a\tb", "nl": "a\nb", "del": "a\x7fb"},
		{"urdu": "نگہبان", "sep": "a\u2028b", "bad": "a\xffb"},
	} {
		want := ""
		if len(m) > 0 {
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			want = string(b)
		}
		if got := EncodeExtra(m); got != want {
			t.Errorf("EncodeExtra(%q) = %s, want %s", m, got, want)
		}
		if back, err := DecodeExtra(EncodeExtra(m)); err != nil || len(back) != len(m) {
			t.Errorf("DecodeExtra(EncodeExtra(%q)) = %q, %v", m, back, err)
		}
	}
}

// FuzzEncodeExtra compares EncodeExtra with encoding/json on random maps.
func FuzzEncodeExtra(f *testing.F) {
	f.Add("exchange", "ncmec", "member", "3", "k", "v")
	f.Add("a&b", "<", "\x00", "é", "", "\"")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		m := map[string]string{k1: v1, k2: v2, k3: v3}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := EncodeExtra(m); got != string(b) {
			t.Fatalf("EncodeExtra(%q) = %s, want %s", m, got, b)
		}
	})
}
