package action

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheckURL(t *testing.T) {
	hostile := []string{
		"http://127.0.0.1/hook", "http://127.0.0.1:8080/", "http://localhost/", "http://LOCALHOST./",
		"http://api.localhost/", "http://printer.local/", "http://metadata.google.internal/computeMetadata/v1/",
		"http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[0:0:0:0:0:ffff:a9fe:a9fe]/",
		"http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://[fd00:ec2::254]/",
		"http://10.0.0.1/", "http://172.16.5.4/", "http://192.168.1.1/", "http://100.64.0.1/", "http://0.0.0.0/",
		"http://0/", "http://2130706433/", "http://0x7f000001/", "http://0x7f.1/", "http://0177.0.0.1/", "http://127.1/",
		"http://017700000001/", "http://[64:ff9b::a9fe:a9fe]/", "http://[2002:7f00:1::]/", "http://224.0.0.1/",
		"http://255.255.255.255/", "http://[::]/", "http://[::127.0.0.1]/", "http://[::a9fe:a9fe]/",
	}
	for _, u := range hostile {
		if err := CheckURL(u, false); !errors.Is(err, ErrForbiddenDestination) {
			t.Errorf("CheckURL(%q) = %v, want ErrForbiddenDestination", u, err)
		}
		if err := CheckURL(u, true); err != nil {
			t.Errorf("CheckURL(%q, allowPrivate) = %v, want nil", u, err)
		}
	}
	malformed := []string{"ftp://example.org/", "file:///etc/passwd", "http://", "example.org/hook", "http://user:pw@example.org/", "gopher://x/", "http://[::1/"}
	for _, u := range malformed {
		if err := CheckURL(u, true); err == nil {
			t.Errorf("CheckURL(%q) accepted a malformed URL", u)
		}
	}
	for _, u := range []string{"https://hooks.example.org/nigehban", "http://93.184.215.14:8443/x", "https://[2606:4700::1111]/", "http://1.1.1.1/", "http://8.8.8.8/"} {
		if err := CheckURL(u, false); err != nil {
			t.Errorf("CheckURL(%q) = %v, want nil", u, err)
		}
	}
}

func TestParseLooseIPv4(t *testing.T) {
	for in, want := range map[string]string{
		"2130706433": "127.0.0.1", "0x7f000001": "127.0.0.1", "0x7f.1": "127.0.0.1", "127.1": "127.0.0.1",
		"0177.0.0.1": "127.0.0.1", "10.1.2": "10.1.0.2", "1.2.3.4": "1.2.3.4", "0": "0.0.0.0",
	} {
		got, ok := parseLooseIPv4(in)
		if !ok || got != netip.MustParseAddr(want) {
			t.Errorf("parseLooseIPv4(%q) = %v, %v; want %s", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "example.org", "1.2.3.4.5", "256.1.1.1", "1.2.3.256", "0x", "09", "4294967296", "1..2"} {
		if got, ok := parseLooseIPv4(in); ok {
			t.Errorf("parseLooseIPv4(%q) = %v, want no address", in, got)
		}
	}
}

// TestClientRefusesWhatItDials checks the check on the dialled address: a
// name that passed CheckURL when the webhook was set can resolve to a
// private address later (DNS rebinding); "localhost" stands in for it here.
func TestClientRefusesWhatItDials(t *testing.T) {
	var hits atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer recv.Close()
	port := recv.URL[strings.LastIndexByte(recv.URL, ':'):]
	strict := NewClient(2*time.Second, false)
	for _, u := range []string{recv.URL, "http://localhost" + port, "http://[::ffff:127.0.0.1]" + port} {
		resp, err := strict.Post(u, "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
			t.Errorf("POST %s: delivered, want refused", u)
		} else if !errors.Is(err, ErrForbiddenDestination) {
			t.Errorf("POST %s: %v, want ErrForbiddenDestination", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the receiver got %d requests", n)
	}
	resp, err := NewClient(2*time.Second, true).Post(recv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("allowPrivate: %v", err)
	}
	resp.Body.Close()
	if hits.Load() != 1 {
		t.Error("allowPrivate client did not deliver")
	}
}

// TestDeliveryNeverFollowsRedirects: a receiver answering with a redirect
// must not make the deliverer send the signed body elsewhere.
func TestDeliveryNeverFollowsRedirects(t *testing.T) {
	var elsewhere atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer target.Close()
	for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		redirector := httptest.NewServer(http.RedirectHandler(target.URL+"/stolen", code))
		st := &memOutbox{events: []Event{{ID: 1, URL: redirector.URL, Secret: "s", Payload: []byte(`{}`), State: Pending}}}
		d := &Deliverer{Store: st, MaxAttempts: 1, AllowPrivate: true}
		d.RunOnce(context.Background())
		redirector.Close()
		if e := st.events[0]; e.State != Dead || !strings.Contains(e.LastError, "answered") {
			t.Errorf("redirect %d: event %+v, want a failed attempt", code, e)
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect target got %d deliveries", n)
	}
}

// TestDelivererRefusesPrivateByDefault: without AllowPrivate the default
// client does not deliver to loopback, and says why.
func TestDelivererRefusesPrivateByDefault(t *testing.T) {
	var hits atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer recv.Close()
	st := &memOutbox{events: []Event{{ID: 1, URL: recv.URL, Secret: "s", Payload: []byte(`{}`), State: Pending}}}
	(&Deliverer{Store: st, MaxAttempts: 1}).RunOnce(context.Background())
	if e := st.events[0]; e.State != Dead || !strings.Contains(e.LastError, ErrForbiddenDestination.Error()) || hits.Load() != 0 {
		t.Errorf("event %+v, %d hits; want refused", e, hits.Load())
	}
}
