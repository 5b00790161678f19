package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse/resource"
)

// Header names are compared the way servers that read headers CGI-style
// (HTTP_X_ACCOUNT in WSGI, Rack, PHP...) compare them: letters without
// case, and every other character alike, so "X-Account", "x_account" and
// "X.Account" are one name. Anything the gateway must control is controlled
// in every spelling.

// sameName reports whether header names a and b are one name to a
// CGI-style server.
func sameName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if foldName(a[i]) != foldName(b[i]) {
			return false
		}
	}
	return true
}

// foldName maps a header name byte as CGI does: letters upper case, digits
// kept, anything else '_'.
func foldName(c byte) byte {
	switch {
	case 'a' <= c && c <= 'z':
		return c - ('a' - 'A')
	case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return c
	}
	return '_'
}

// identityPrefix starts the name of every header the gateway sets for the
// caller's identity.
const identityPrefix = "X-Gatehouse-"

// overrideHeaders ask some frameworks to take a request for another method.
// The gateway checks scopes against the request's own method, so it never
// passes them on.
var overrideHeaders = [...]string{"X-HTTP-Method-Override", "X-Method-Override", "X-HTTP-Method"}

// headerRules decide which incoming headers reach the upstream.
type headerRules struct {
	account string // the account header, canonical (e.g. "X-Account")
}

// owned reports whether name is a spelling of a header the gateway sets:
// X-Gatehouse-* or the account header.
func (hr headerRules) owned(name string) bool {
	return len(name) >= len(identityPrefix) && sameName(name[:len(identityPrefix)], identityPrefix) ||
		sameName(name, hr.account)
}

// strip removes from h, a request on its way upstream, every spelling of
// the headers the gateway sets and of method override headers. The
// account header spelled exactly as the guard checked it stays (for a
// token without an account it is the caller's to set); setIdentity
// replaces it for an account-restricted token.
func (hr headerRules) strip(h http.Header) {
	for name := range h {
		if name != hr.account && hr.owned(name) || isOverrideHeader(name) {
			delete(h, name)
		}
	}
}

func isOverrideHeader(name string) bool {
	for _, o := range overrideHeaders {
		if sameName(name, o) {
			return true
		}
	}
	return false
}

// hopByHopOwned returns a header the gateway sets that h's Connection
// header names (so that a proxy would drop it), or "".
func (hr headerRules) hopByHopOwned(h http.Header) string {
	for _, v := range h["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = textproto.TrimString(name); hr.owned(name) {
				return name
			}
		}
	}
	return ""
}

// overrideParam is the query parameter that Rails, Laravel, Symfony and
// other frameworks take as the request's method.
const overrideParam = "_method"

// overrideParams returns the values of every query parameter in rawQuery
// that a framework could take for overrideParam: names are decoded and
// compared without case, ignoring leading spaces and anything from a "[",
// with "." and " " alike to "_" (PHP reads "a.b" and "a b" as "a_b").
// Pairs are split at "&" and ";" both.
func overrideParams(rawQuery string) []string {
	var vals []string
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = cut2(rawQuery, '&', ';')
		name, val, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(name, "%+") {
			if n, err := url.QueryUnescape(name); err == nil {
				name = n
			}
		}
		if isOverrideParam(name) {
			if v, err := url.QueryUnescape(val); err == nil {
				val = v
			}
			vals = append(vals, val)
		}
	}
	return vals
}

// cut2 is strings.Cut at the first a or b.
func cut2(s string, a, b byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == a || s[i] == b {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func isOverrideParam(name string) bool {
	name = strings.TrimLeft(name, " ")
	if i := strings.IndexByte(name, '['); i >= 0 {
		name = name[:i]
	}
	if len(name) != len(overrideParam) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.' || c == ' ':
			c = '_'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if c != overrideParam[i] {
			return false
		}
	}
	return true
}

// methodOverride is resource.Config.MethodOverride for a gateway that
// passes overrideParam on: the guard then checks the token against both
// the request's method and the parameter's, upper-cased as frameworks
// take it.
func methodOverride(r *http.Request) (string, error) {
	if r.URL.RawQuery == "" {
		return "", nil
	}
	vals := overrideParams(r.URL.RawQuery)
	switch len(vals) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", errors.New("the " + overrideParam + " query parameter is repeated")
	}
	m := strings.ToUpper(vals[0])
	if !isMethod(m) {
		return "", fmt.Errorf("the %s query parameter %q is not an HTTP method", overrideParam, cut(vals[0], 32))
	}
	return m, nil
}

// isMethod reports whether m is an RFC 9110 §9.1 method (a token).
func isMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// screen refuses, before the guard, requests the gateway could not pass on
// unambiguously, whatever their token: a Connection header naming a header
// the gateway sets (a proxy would drop the gateway's value), and, unless
// allowOverride, an overrideParam query parameter.
func screen(next http.Handler, hr headerRules, allowOverride bool, observe func(bool, string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		desc := ""
		if name := hr.hopByHopOwned(r.Header); name != "" {
			desc = "the Connection header names " + cut(name, 64) + ", a header the gateway sets; leave it out of Connection"
		} else if !allowOverride && r.URL.RawQuery != "" && len(overrideParams(r.URL.RawQuery)) > 0 {
			desc = "the " + overrideParam + " query parameter is not accepted; send the request with the method itself"
		}
		if desc != "" {
			observe(false, resource.ReasonInvalidRequest)
			writeJSONError(w, http.StatusBadRequest, "invalid_request", desc)
			return
		}
		next.ServeHTTP(w, r)
	})
}
