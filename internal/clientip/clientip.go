// Package clientip finds the address of the client behind an HTTP request:
// the connection's peer, or, when that peer is a reverse proxy the
// deployment trusts, the address the proxies recorded in X-Forwarded-For.
//
// Rate limits and audit entries key on this address, so it must not be
// forgeable: X-Forwarded-For is read only when the peer is trusted, and then
// from the right, skipping trusted proxies, so a client cannot choose its
// address by sending the header itself.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver holds the trusted proxies. The zero value trusts none: the
// client is the connection's peer.
type Resolver struct {
	Trusted []netip.Prefix
}

// ParsePrefixes parses CIDR prefixes or bare addresses (a single host) as
// given to --trusted-proxy.
func ParsePrefixes(specs []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range specs {
		for _, part := range strings.Split(s, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			if p, err := netip.ParsePrefix(part); err == nil {
				out = append(out, p.Masked())
				continue
			}
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: want an address or CIDR prefix", part)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	return out, nil
}

func (r Resolver) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Addr returns the client's address for req as text.
func (r Resolver) Addr(req *http.Request) string {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		host = req.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || len(r.Trusted) == 0 || !r.trusted(peer) {
		return host
	}
	// Walk X-Forwarded-For from the right: the last entry was written by
	// the proxy nearest to us; the first one not a trusted proxy is the
	// client. Anything left of it may be forged by the client.
	hops := req.Header.Values("X-Forwarded-For")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return client.Unmap().String() // garbage: stop at the last good hop
			}
			client = a
			if !r.trusted(a) {
				return a.Unmap().String()
			}
		}
	}
	return client.Unmap().String()
}
