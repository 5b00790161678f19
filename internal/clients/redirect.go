package clients

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// maxRedirectURI bounds a redirect URI's length.
const maxRedirectURI = 2000

// redirectFix is the advice every redirect URI problem ends with.
const redirectFix = "use https://HOST/PATH, http://127.0.0.1:PORT/PATH (also [::1] or localhost) for an app on the user's machine, or a private-use scheme in reverse-domain form such as com.example.app:/callback"

// browserSchemes run or show content in the browser itself instead of
// returning to the app; they are never redirect URIs.
var browserSchemes = []string{"javascript", "vbscript", "data", "file", "about", "blob", "filesystem", "view-source"}

// CheckRedirectURI reports why s may not be a client's redirect URI, or
// nil. Allowed are exactly:
//
//   - https URIs with a host;
//   - http URIs whose host is a loopback address, 127.0.0.1, [::1] or
//     localhost, with any port (RFC 8252 §7.3, §8.3);
//   - private-use schemes in reverse-domain form, such as
//     com.example.app:/callback (RFC 8252 §7.1): the scheme contains a dot
//     and is followed by a path or an authority.
//
// None may have a fragment (RFC 6749 §3.1.2) or user information, and
// each must be printable ASCII of at most 2000 characters. The client
// service checks every registered URI with it; the authorization endpoint
// checks again before redirecting, so a URI stored before these rules is
// never used.
func CheckRedirectURI(s string) error {
	if len(s) > maxRedirectURI {
		return fmt.Errorf("redirect URI %q is longer than %d characters", printable(s), maxRedirectURI)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("redirect URI %q contains a space, a control character or a non-ASCII character; percent-encode it", printable(s))
		}
	}
	if strings.Contains(s, "#") {
		return fmt.Errorf("redirect URI %q must not contain a fragment (\"#…\", RFC 6749 §3.1.2); remove it", printable(s))
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("redirect URI %q must be an absolute URI; %s", printable(s), redirectFix)
	}
	for _, b := range browserSchemes {
		if u.Scheme == b {
			return fmt.Errorf("redirect URI %q: the %s: scheme is not allowed, because the browser would run or show it instead of returning to the app; %s", printable(s), b, redirectFix)
		}
	}
	if u.User != nil {
		return fmt.Errorf("redirect URI %q must not contain a user name or password before the host (\"user@\"); remove it", printable(s))
	}
	switch u.Scheme {
	case "https", "http":
		if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
			return fmt.Errorf("redirect URI %q must name a host, as in %s://app.example/callback", printable(s), u.Scheme)
		}
		if u.Scheme == "http" && !isLoopback(u.Hostname()) {
			return fmt.Errorf("redirect URI %q must use https (http is allowed only for the loopback hosts 127.0.0.1, [::1] and localhost, RFC 8252 §7.3)", printable(s))
		}
		return nil
	}
	labels := strings.Split(u.Scheme, ".")
	if len(labels) < 2 || containsEmpty(labels) {
		return fmt.Errorf("redirect URI %q: scheme %q is neither https, nor http on a loopback host, nor a private-use scheme in reverse-domain form (RFC 8252 §7.1); %s", printable(s), u.Scheme, redirectFix)
	}
	if u.Opaque != "" || !strings.HasPrefix(s[len(u.Scheme)+1:], "/") {
		return fmt.Errorf("redirect URI %q: a private-use scheme must be followed by a path, as in %s:/callback", printable(s), u.Scheme)
	}
	return nil
}

// isLoopback reports whether an http redirect URI's host is the machine
// the browser runs on (RFC 8252 §7.3). localhost is accepted although
// RFC 8252 §8.3 does not recommend it: it is what many native tools
// register, and browsers resolve it to a loopback address.
func isLoopback(host string) bool {
	return host == "127.0.0.1" || host == "::1" || strings.EqualFold(host, "localhost")
}

func containsEmpty(ss []string) bool {
	for _, s := range ss {
		if s == "" {
			return true
		}
	}
	return false
}

// MatchRedirectURI picks the redirect URI for a request: sent must equal one
// of the registered URIs exactly (no normalisation, OAuth 2.0 Security BCP
// §4.1.3), except that an http URI on a loopback IP address may name any
// port (RFC 8252 §7.3: a native app listens on a port the system gives it
// at the time of the request). It may be omitted only if exactly one is
// registered.
func MatchRedirectURI(registered []string, sent string) (string, bool) {
	if sent == "" {
		if len(registered) == 1 {
			return registered[0], true
		}
		return "", false
	}
	if slices.Contains(registered, sent) {
		return sent, true
	}
	if portless, ok := loopbackWithoutPort(sent); ok {
		for _, r := range registered {
			if p, ok := loopbackWithoutPort(r); ok && p == portless {
				return sent, true
			}
		}
	}
	return "", false
}

// loopbackWithoutPort returns an http URI on 127.0.0.1 or [::1] without its
// port, and whether it is one. Every other character stays as it is, so two
// such URIs compare equal only if they differ in the port alone. localhost
// is not a loopback IP address (RFC 8252 §8.3) and must match exactly.
func loopbackWithoutPort(uri string) (string, bool) {
	rest, ok := strings.CutPrefix(uri, "http://")
	if !ok {
		return "", false
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	host := authority
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.HasSuffix(authority, "]") {
		host = authority[:i]
		port := authority[i+1:]
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '0' || port[0] == '+' {
			return "", false
		}
	}
	if host != "127.0.0.1" && host != "[::1]" {
		return "", false
	}
	return "http://" + host + tail, true
}
