// Package cors answers cross-origin requests from browsers as the Fetch
// standard's CORS protocol has servers do
// (https://fetch.spec.whatwg.org/#http-cors-protocol). The authorization
// server wraps the routes that browser tools call from pages on other
// origins in it, and the gateway wraps the API; both with the same rules:
//
//   - Origins match exactly: the request's Origin header, byte for byte,
//     against the allowed origins in the form browsers send them (scheme and
//     host in lower case, the scheme's default port left out; [ParseOrigin]
//     puts a configured origin in that form). There are no wildcards in
//     hosts, and "null", the origin of sandboxed frames, file: and data:
//     documents (which any site can create), is never an allowed origin.
//   - "*" allows every origin, for public documents: the response then
//     carries Access-Control-Allow-Origin: * whatever the request.
//   - Credentials are never allowed: Access-Control-Allow-Credentials is
//     never sent, with "*" or without. (In the Fetch standard's sense,
//     credentials are cookies, TLS client certificates and HTTP
//     authentication the browser remembers. Every route this package serves
//     takes its credentials in the Authorization header or the body, which
//     a page sets itself and which need only Access-Control-Allow-Headers;
//     a fetch with credentials: "include" is refused by the browser.)
//   - A preflight (OPTIONS with Origin and Access-Control-Request-Method) is
//     answered here and never reaches the route: 204 with
//     Access-Control-Allow-Origin, -Allow-Methods, -Allow-Headers and
//     -Max-Age when the origin, the method and every header it asks for are
//     allowed; otherwise 403 without any CORS header, so that the browser
//     does not send the request.
//   - Every other request goes to the route. The response to an allowed
//     origin also carries Access-Control-Allow-Origin and
//     Access-Control-Expose-Headers; a request from another origin is served
//     all the same, without them (CORS decides what a page may read, not
//     what a server does), so the browser keeps the response from the page.
//   - Vary: Origin is on every response whose headers depend on the Origin
//     (all but those of "*"), whether the origin is allowed, not allowed or
//     absent, so that a cache never gives one origin's answer to another;
//     preflight responses vary on Access-Control-Request-Method and
//     Access-Control-Request-Headers as well.
package cors

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Any is the origin that allows every origin.
const Any = "*"

// MaxAge is how long a browser may keep a preflight's answer
// (Access-Control-Max-Age): two hours, the longest Chromium keeps one.
// It only spares preflights: whether a page may read a response is decided
// on every response.
const MaxAge = 2 * time.Hour

// Policy is what a route allows pages on other origins to do.
type Policy struct {
	// Origins are the allowed origins: each an http or https origin that
	// ParseOrigin accepts (it is used in ParseOrigin's form), or Any.
	// None: the route is not CORS-enabled, and New's middleware changes
	// nothing.
	Origins []string
	// Methods are the methods a preflight may ask for, exactly (the Fetch
	// standard upper-cases only DELETE, GET, HEAD, OPTIONS, POST and PUT).
	Methods []string
	// Headers are the request headers a preflight may ask for (compared
	// without case), e.g. Authorization, Content-Type.
	Headers []string
	// Expose are the response headers, beyond the CORS-safelisted ones
	// (Cache-Control, Content-Language, Content-Length, Content-Type,
	// Expires, Last-Modified, Pragma), that pages may read, e.g.
	// WWW-Authenticate, Retry-After.
	Expose []string
}

// New returns middleware that applies p to a route (see the package
// documentation), or an error naming what is wrong with p.
func New(p Policy) (func(http.Handler) http.Handler, error) {
	if len(p.Origins) == 0 {
		return func(next http.Handler) http.Handler { return next }, nil
	}
	c := &cors{
		origins: make(map[string]bool),
		methods: make(map[string]bool),
		headers: make(map[string]bool),
		maxAge:  strconv.Itoa(int(MaxAge / time.Second)),
	}
	for _, o := range p.Origins {
		if o == Any {
			c.any = true
			continue
		}
		norm, err := ParseOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("cors: origin %q %v", o, err)
		}
		c.origins[norm] = true
	}
	if len(p.Methods) == 0 {
		return nil, errors.New("cors: no methods")
	}
	for _, m := range p.Methods {
		if !isToken(m) {
			return nil, fmt.Errorf("cors: method %q is not an HTTP method", m)
		}
		c.methods[m] = true
	}
	// Header names are sent as spelled here (browsers compare them
	// without case).
	for _, h := range p.Headers {
		if !isToken(h) {
			return nil, fmt.Errorf("cors: request header %q is not a header name", h)
		}
		c.headers[strings.ToLower(h)] = true
	}
	for _, h := range p.Expose {
		if !isToken(h) {
			return nil, fmt.Errorf("cors: exposed header %q is not a header name", h)
		}
	}
	c.allowMethods = strings.Join(p.Methods, ", ")
	c.allowHeaders = strings.Join(p.Headers, ", ")
	c.expose = strings.Join(p.Expose, ", ")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { c.serve(w, r, next) })
	}, nil
}

type cors struct {
	any     bool            // Any is allowed
	origins map[string]bool // in ParseOrigin's form
	methods map[string]bool
	headers map[string]bool // lower case
	// Header values, joined once.
	allowMethods, allowHeaders, expose, maxAge string
}

func (c *cors) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	origin := r.Header["Origin"]
	if r.Method == http.MethodOptions && len(origin) > 0 && len(r.Header["Access-Control-Request-Method"]) > 0 {
		c.preflight(w, r)
		return
	}
	h := w.Header()
	if !c.any {
		h.Add("Vary", "Origin")
	}
	if c.allowed(origin) {
		c.allowOrigin(h, origin)
		if c.expose != "" {
			h.Set("Access-Control-Expose-Headers", c.expose)
		}
	}
	next.ServeHTTP(w, r)
}

// allowed reports whether a request with these Origin header values may
// read the response: exactly one value, an allowed origin.
func (c *cors) allowed(origin []string) bool {
	return c.any || len(origin) == 1 && c.origins[origin[0]]
}

// allowOrigin sets Access-Control-Allow-Origin for an allowed request
// with these Origin header values: "*", or the one origin.
func (c *cors) allowOrigin(h http.Header, origin []string) {
	if c.any {
		h.Set("Access-Control-Allow-Origin", Any)
	} else {
		h.Set("Access-Control-Allow-Origin", origin[0])
	}
}

// preflight answers a CORS-preflight request (Fetch standard, "CORS-preflight
// fetch"): 204 with the CORS headers if everything it asks for is allowed,
// else 403 without them.
func (c *cors) preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if c.any {
		h.Add("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers")
	} else {
		h.Add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	}
	origin := r.Header["Origin"]
	method := r.Header["Access-Control-Request-Method"]
	if !c.allowed(origin) || len(method) != 1 || !c.methods[method[0]] || !c.headersAllowed(r.Header["Access-Control-Request-Headers"]) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	c.allowOrigin(h, origin)
	h.Set("Access-Control-Allow-Methods", c.allowMethods)
	if c.allowHeaders != "" {
		h.Set("Access-Control-Allow-Headers", c.allowHeaders)
	}
	h.Set("Access-Control-Max-Age", c.maxAge)
	w.WriteHeader(http.StatusNoContent)
}

// headersAllowed reports whether every header name in the
// Access-Control-Request-Headers values is allowed. Browsers send one value,
// names in lower case separated by ","; proxies may split it into several.
func (c *cors) headersAllowed(values []string) bool {
	for _, v := range values {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.Trim(name, " \t")
			if name != "" && !c.headers[strings.ToLower(name)] {
				return false
			}
		}
	}
	return true
}

// ParseOrigin returns the origin s in the form browsers send in the Origin
// header (the Fetch standard's serialization of an origin: scheme and host
// in lower case, the scheme's default port left out, an IPv6 address in
// brackets and compressed): "HTTPS://App.Example:443" is
// "https://app.example", and "https://app.example:8443" stays as it is.
// s must be an http or https origin, scheme://host[:port] with nothing
// after it. Hosts are ASCII (internationalized names in their xn-- form, as
// browsers send them), without wildcards; "null" is refused. The error
// says what is wrong and how to write it instead.
func ParseOrigin(s string) (string, error) {
	const eg = "e.g. https://app.example"
	switch s {
	case "":
		return "", errors.New("is empty; give an origin, " + eg)
	case Any:
		return "", errors.New(`is a wildcard, not an origin; list each origin, ` + eg)
	case "null":
		return "", errors.New(`is the origin of sandboxed frames and file: and data: documents, which any site can create, so it cannot be allowed; list real origins, ` + eg)
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return "", errors.New("is not an origin (scheme://host[:port]); " + eg)
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		return "", fmt.Errorf("has more than scheme://host[:port] (%q); an origin has no path, query or fragment, %s", rest[i:], eg)
	}
	return origin(scheme, rest)
}

// OriginOf returns the origin of an absolute http or https URL, in
// ParseOrigin's form: "https://auth.example.com/tenant" is
// "https://auth.example.com".
func OriginOf(rawURL string) (string, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return "", errors.New("is not an absolute http or https URL")
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	return origin(scheme, rest)
}

// origin checks and serializes an origin's scheme and host[:port].
func origin(scheme, hostport string) (string, error) {
	const eg = "e.g. https://app.example"
	scheme = strings.ToLower(scheme)
	var defaultPort uint64
	switch scheme {
	case "http":
		defaultPort = 80
	case "https":
		defaultPort = 443
	default:
		return "", fmt.Errorf("has the scheme %q; only http and https origins are supported, %s", scheme, eg)
	}
	if strings.Contains(hostport, "@") {
		return "", errors.New("has user information; an origin is scheme://host[:port], " + eg)
	}
	host, port, hasPort := hostport, "", false
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return "", errors.New("has an unclosed IPv6 address; write it as e.g. http://[::1]:3000")
		}
		if after := host[end+1:]; after != "" {
			if after[0] != ':' {
				return "", errors.New("has something after the IPv6 address; write it as e.g. http://[::1]:3000")
			}
			port, hasPort = after[1:], true
		}
		addr, err := netip.ParseAddr(host[1:end])
		if err != nil || !addr.Is6() || addr.Zone() != "" || addr.Is4In6() {
			return "", errors.New("has an invalid IPv6 address; write it as e.g. http://[::1]:3000")
		}
		host = "[" + addr.String() + "]"
	} else {
		if i := strings.LastIndexByte(host, ':'); i >= 0 {
			host, port, hasPort = host[:i], host[i+1:], true
		}
		host = strings.ToLower(host)
		if err := checkHost(host); err != nil {
			return "", err
		}
	}
	if hasPort {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return "", fmt.Errorf("has the port %q; use a number from 1 to 65535, or none for the scheme's default", port)
		}
		if n == defaultPort {
			hasPort = false // the same origin as without it
		} else {
			port = strconv.FormatUint(n, 10)
		}
	}
	if hasPort {
		return scheme + "://" + host + ":" + port, nil
	}
	return scheme + "://" + host, nil
}

// checkHost checks a lower-cased host name or IPv4 address.
func checkHost(host string) error {
	const eg = "e.g. https://app.example"
	if host == "" {
		return errors.New("has no host; " + eg)
	}
	if strings.Contains(host, "*") {
		return errors.New("has a wildcard; origins match exactly: list each origin, " + eg)
	}
	for i := 0; i < len(host); i++ {
		switch c := host[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.', c == '_':
		case c >= 0x80:
			return errors.New("has a non-ASCII host; write its xn-- (punycode) form, as browsers send it")
		default:
			return fmt.Errorf("has %q in its host; %s", c, eg)
		}
	}
	// A host whose last label is a number is an IPv4 address to browsers,
	// which send it in dotted-decimal form: require that form.
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	if last := labels[len(labels)-1]; last != "" && strings.Trim(last, "0123456789") == "" {
		if a, err := netip.ParseAddr(host); err != nil || !a.Is4() || a.String() != host {
			return errors.New("has a numeric host that is not an IPv4 address in dotted-decimal form; write it as e.g. http://127.0.0.1:3000")
		}
	}
	return nil
}

// isToken reports whether s is an RFC 9110 §5.6.2 token (a method or a
// header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
