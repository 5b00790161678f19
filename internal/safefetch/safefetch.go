// Package safefetch fetches small JSON documents from URLs that someone
// outside the operator's control chose: the JWKS URI of a private_key_jwt
// client, a client ID metadata document. Such a URL must not make the
// server a proxy into its own network (server-side request forgery), so
// every connection is checked at dial time, against the address actually
// dialled: a host name that resolves (or re-resolves, DNS rebinding) to a
// private, loopback, link-local or other special-use address (RFC 6890) is
// refused unless allowed. Only https is fetched (http only to a loopback
// host, when allowed for tests); redirects are not followed; the body is
// bounded in size and the whole request in time; the answer must be 200
// with a JSON content type.
package safefetch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Defaults of Options.
const (
	DefaultMaxBytes = 64 << 10
	DefaultTimeout  = 5 * time.Second
)

// Options configures a Fetcher. The zero value is the production setting:
// https to public addresses only, DefaultMaxBytes, DefaultTimeout.
type Options struct {
	// AllowLoopback lets the fetcher connect to loopback addresses and
	// fetch http URLs whose host is a loopback name or address
	// (localhost, 127.0.0.1, [::1]). For development and tests only: with
	// it, a URL can make the server call its own listeners.
	AllowLoopback bool
	// AllowPrivate lets the fetcher connect to every address, private and
	// special-use ones included (a deployment whose clients publish
	// documents on an internal network). It does not allow http.
	AllowPrivate bool
	MaxBytes     int64         // largest body read; 0 = DefaultMaxBytes
	Timeout      time.Duration // the whole request; 0 = DefaultTimeout
	// TLSConfig, if set, is used for https (tests trust a test server's
	// certificate through it); nil: the system's roots.
	TLSConfig *tls.Config
}

// Fetcher makes guarded GET requests. It is safe for concurrent use.
type Fetcher struct {
	o      Options
	client *http.Client
}

// New returns a Fetcher.
func New(o Options) *Fetcher {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	f := &Fetcher{o: o}
	d := &net.Dialer{Timeout: o.Timeout, Control: f.control}
	tr := &http.Transport{
		Proxy:                  nil, // a proxy would be dialled instead of the host checked here
		DialContext:            d.DialContext,
		TLSClientConfig:        o.TLSConfig,
		TLSHandshakeTimeout:    o.Timeout,
		ResponseHeaderTimeout:  o.Timeout,
		MaxIdleConns:           16,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        30 * time.Second,
		ForceAttemptHTTP2:      true,
		MaxResponseHeaderBytes: 16 << 10,
	}
	f.client = &http.Client{
		Transport: tr,
		Timeout:   o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a 3xx is answered as it is, and refused below
		},
	}
	return f
}

// Error is why a fetch failed, in words fit for an operator's log or an
// error page (it names the URL's host, never a body).
type Error struct {
	URL    string
	Reason string
	Err    error // the underlying error, if any
}

func (e *Error) Error() string { return "fetch " + e.URL + ": " + e.Reason }
func (e *Error) Unwrap() error { return e.Err }

// ErrForbiddenAddress is wrapped by the Error of a connection refused
// because of the address it would have reached.
var ErrForbiddenAddress = errors.New("address not allowed")

// Response is a fetched document.
type Response struct {
	Body   []byte
	Header http.Header
}

// CheckURL reports whether raw is a URL the fetcher would request: https
// (or, with AllowLoopback, http to a loopback host), with a host, without
// user information. The address is checked only when connecting.
func (f *Fetcher) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return &Error{URL: raw, Reason: "not an absolute URL"}
	}
	if u.User != nil {
		return &Error{URL: raw, Reason: "URLs with user information are not fetched"}
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && f.o.AllowLoopback && IsLoopbackHost(u.Hostname()):
	default:
		return &Error{URL: raw, Reason: "only https URLs are fetched"}
	}
	return nil
}

// GetJSON fetches raw with GET and the given Accept header. It succeeds
// only for a 200 answer with a JSON content type (application/json or
// application/<something>+json) and a body of at most MaxBytes.
func (f *Fetcher) GetJSON(ctx context.Context, raw, accept string) (*Response, error) {
	if err := f.CheckURL(raw); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, &Error{URL: raw, Reason: "not a valid URL", Err: err}
	}
	req.Header.Set("Accept", accept)
	resp, err := f.client.Do(req)
	if err != nil {
		if errors.Is(err, ErrForbiddenAddress) {
			return nil, &Error{URL: raw, Reason: "its host resolves to an address that is not allowed (private, loopback or special-use)", Err: err}
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &Error{URL: raw, Reason: fmt.Sprintf("no answer within %s", f.o.Timeout), Err: err}
		}
		return nil, &Error{URL: raw, Reason: "request failed", Err: err}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, &Error{URL: raw, Reason: fmt.Sprintf("status %d: redirects are not followed", resp.StatusCode)}
	case resp.StatusCode != http.StatusOK:
		return nil, &Error{URL: raw, Reason: fmt.Sprintf("status %d, want 200", resp.StatusCode)}
	}
	if !IsJSON(resp.Header.Get("Content-Type")) {
		return nil, &Error{URL: raw, Reason: fmt.Sprintf("content type %q is not JSON", truncate(resp.Header.Get("Content-Type")))}
	}
	if resp.ContentLength > f.o.MaxBytes {
		return nil, &Error{URL: raw, Reason: fmt.Sprintf("document larger than %d bytes", f.o.MaxBytes)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.o.MaxBytes+1))
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &Error{URL: raw, Reason: fmt.Sprintf("document not read within %s", f.o.Timeout), Err: err}
		}
		return nil, &Error{URL: raw, Reason: "reading the document failed", Err: err}
	}
	if int64(len(body)) > f.o.MaxBytes {
		return nil, &Error{URL: raw, Reason: fmt.Sprintf("document larger than %d bytes", f.o.MaxBytes)}
	}
	return &Response{Body: body, Header: resp.Header}, nil
}

// control is the dialer's check of the address about to be connected to,
// after name resolution: what is checked is what is dialled.
func (f *Fetcher) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q is not an IP address", ErrForbiddenAddress, address)
	}
	ip := ap.Addr().Unmap()
	switch {
	case f.o.AllowPrivate:
		return nil
	case f.o.AllowLoopback && ip.IsLoopback():
		return nil
	case Forbidden(ip):
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, ip)
	}
	return nil
}

// special are the special-use ranges (RFC 6890 and its updates) that
// netip's predicates do not name.
var special = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network"
		"100.64.0.0/10",   // shared address space (CGNAT), RFC 6598
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // TEST-NET-1
		"192.88.99.0/24",  // 6to4 relay anycast
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // TEST-NET-2
		"203.0.113.0/24",  // TEST-NET-3
		"240.0.0.0/4",     // reserved, and the broadcast address
		"64:ff9b::/96",    // NAT64: reaches IPv4 addresses through a translator
		"64:ff9b:1::/48",  // local-use NAT64
		"100::/64",        // discard-only
		"2001::/23",       // IETF protocol assignments (Teredo, ORCHID, …)
		"2001:db8::/32",   // documentation
		"2002::/16",       // 6to4: embeds an IPv4 address
		"fec0::/10",       // deprecated site-local
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

// Forbidden reports whether ip is not a public unicast address: loopback,
// private (RFC 1918, unique-local fc00::/7), link-local, multicast,
// unspecified, CGNAT, or another special-use range.
func Forbidden(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsLoopback() || ip.IsPrivate() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() ||
		ip.IsMulticast() || !ip.IsGlobalUnicast() {
		return true
	}
	for _, p := range special {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// IsLoopbackHost reports whether host (without port or brackets) is
// "localhost" or a loopback IP address.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// IsJSON reports whether a Content-Type header names JSON:
// application/json or application/<anything>+json.
func IsJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
