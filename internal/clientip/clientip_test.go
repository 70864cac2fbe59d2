package clientip

import (
	"net/http"
	"testing"
)

func TestAddr(t *testing.T) {
	trusted, err := ParsePrefixes([]string{"10.0.0.0/8, 127.0.0.1", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		trusted bool
		remote  string
		xff     []string
		want    string
	}{
		{"no proxy trusted: the peer", false, "10.1.2.3:5000", []string{"203.0.113.9"}, "10.1.2.3"},
		{"trusted proxy", true, "10.1.2.3:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"client forges a left entry", true, "10.1.2.3:5000", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"two trusted hops", true, "127.0.0.1:80", []string{"198.51.100.7, 10.0.0.5"}, "198.51.100.7"},
		{"header lines", true, "127.0.0.1:80", []string{"198.51.100.7", "10.0.0.5"}, "198.51.100.7"},
		{"untrusted peer's header ignored", true, "192.0.2.1:80", []string{"198.51.100.7"}, "192.0.2.1"},
		{"no header", true, "10.1.2.3:5000", nil, "10.1.2.3"},
		{"only trusted hops", true, "10.1.2.3:5000", []string{"10.9.9.9"}, "10.9.9.9"},
		{"garbage stops the walk", true, "10.1.2.3:5000", []string{"nonsense, 10.0.0.7"}, "10.0.0.7"},
		{"ipv6 peer", true, "[::1]:80", []string{"2001:db8::5"}, "2001:db8::5"},
		{"mapped peer", true, "[::ffff:10.1.2.3]:80", []string{"203.0.113.9"}, "203.0.113.9"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", "/", nil)
		req.RemoteAddr = tt.remote
		for _, h := range tt.xff {
			req.Header.Add("X-Forwarded-For", h)
		}
		r := Resolver{}
		if tt.trusted {
			r.Trusted = trusted
		}
		if got := r.Addr(req); got != tt.want {
			t.Errorf("%s: Addr = %q, want %q", tt.name, got, tt.want)
		}
	}
	if _, err := ParsePrefixes([]string{"10.0.0.0/33"}); err == nil {
		t.Error("bad prefix accepted")
	}
}
