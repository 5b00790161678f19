// Package clientip finds the address a request came from, for rate limits.
//
// Behind a reverse proxy or load balancer every request arrives from the
// proxy's address, so limiting failures per TCP peer would let one client's
// failures lock out everyone. With trusted proxies configured, the client
// is the right-most address in X-Forwarded-For that is not a trusted proxy
// (addresses further left can be forged by the client; those appended by
// trusted proxies cannot).
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver maps a request to its client address. The zero value trusts no
// proxy and uses the TCP peer address.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a Resolver trusting the given proxies: IP addresses or CIDR
// prefixes (e.g. "10.0.0.0/8", "127.0.0.1").
func New(proxies []string) (*Resolver, error) {
	r := &Resolver{}
	for _, p := range proxies {
		pfx, err := ParsePrefix(p)
		if err != nil {
			return nil, err
		}
		r.trusted = append(r.trusted, pfx)
	}
	return r, nil
}

// ParsePrefix parses an address or CIDR prefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("trusted proxy %q is not an IP address or CIDR prefix", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("trusted proxy %q is not an IP address or CIDR prefix", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Addr returns the client address of req as a string.
func (r *Resolver) Addr(req *http.Request) string {
	peer := peerAddr(req.RemoteAddr)
	if r == nil || len(r.trusted) == 0 {
		return peer
	}
	a, err := netip.ParseAddr(peer)
	if err != nil || !r.isTrusted(a) {
		return peer
	}
	// Walk X-Forwarded-For from the right: each trusted hop vouches for the
	// address to its left.
	hops := req.Header.Values("X-Forwarded-For")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			h, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return client // malformed: stop at the last address we could trust
			}
			client = h.Unmap().String()
			if !r.isTrusted(h) {
				return client
			}
		}
	}
	return client
}

func (r *Resolver) isTrusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func peerAddr(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return host
}
