package server

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/internal/oauth"
)

// maxParams bounds the number of parameters in one form body; no OAuth
// request needs more than a handful.
const maxParams = 32

// repeatable is the one parameter a form may repeat: RFC 8707 §2's resource.
const repeatable = "resource"

// form holds the parameters of an application/x-www-form-urlencoded body in
// the order they appeared. Parameters sent with an empty value are treated as
// omitted (RFC 6749 §3.1, §3.2).
type form struct {
	n     int
	pairs [maxParams][2]string
}

// Get returns the value of a parameter, or "" if absent.
func (f *form) Get(key string) string {
	for i := 0; i < f.n; i++ {
		if f.pairs[i][0] == key {
			return f.pairs[i][1]
		}
	}
	return ""
}

// Count returns how many times a parameter was sent (only a repeatable
// one, see parseForm, can be sent more than once).
func (f *form) Count(key string) int {
	n := 0
	for i := 0; i < f.n; i++ {
		if f.pairs[i][0] == key {
			n++
		}
	}
	return n
}

// Has reports whether a parameter was sent with a non-empty value.
func (f *form) Has(key string) bool { return f.Get(key) != "" }

// parseForm parses a form body strictly: every parameter at most once
// (RFC 6749 §3.2) but resource, which RFC 8707 §2 lets a request repeat
// (its handler decides how many it takes), valid percent-encoding, valid
// UTF-8.
func parseForm(body []byte, f *form) error {
	f.n = 0
	s := string(body)
	for s != "" {
		var pair string
		if i := strings.IndexByte(s, '&'); i >= 0 {
			pair, s = s[:i], s[i+1:]
		} else {
			pair, s = s, ""
		}
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := unescape(k)
		if err != nil {
			return oauth.InvalidRequest("malformed form body: bad encoding in a parameter name")
		}
		val, err := unescape(v)
		if err != nil {
			return oauth.InvalidRequest("malformed form body: bad encoding in parameter %q", safeName(key))
		}
		if !utf8.ValidString(key) || !utf8.ValidString(val) {
			return oauth.InvalidRequest("parameter %q is not valid UTF-8", safeName(key))
		}
		for i := 0; i < f.n && key != repeatable; i++ {
			if f.pairs[i][0] == key {
				return oauth.InvalidRequest("parameter %q is repeated", safeName(key))
			}
		}
		if f.n == maxParams {
			return oauth.InvalidRequest("too many parameters (at most %d)", maxParams)
		}
		f.pairs[f.n] = [2]string{key, val}
		f.n++
	}
	return nil
}

// unescape decodes one form component, avoiding work when nothing is encoded.
func unescape(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, nil
	}
	return url.QueryUnescape(s)
}

// safeName makes a parameter name fit to echo in an error description:
// printable ASCII only, bounded length.
func safeName(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '?'
		}
		return r
	}, s)
}

// authorizationHeader returns the request's Authorization header. More
// than one is invalid_request: a request carries one set of credentials
// (RFC 9110 §11.6.2), and which of several a server picks must not decide
// who the caller is.
func authorizationHeader(h http.Header) (string, error) {
	v := h["Authorization"]
	switch len(v) {
	case 0:
		return "", nil
	case 1:
		return v[0], nil
	}
	return "", oauth.InvalidRequest("the request has %d Authorization headers; send exactly one", len(v))
}

// basicCredentials extracts client credentials from an Authorization header
// of the Basic scheme. RFC 6749 §2.3.1 has the client ID and secret each
// form-urlencoded before being joined with ":" and base64-encoded, but
// curl -u, Postman and most platforms' documentation put them in raw. Both
// are accepted:
//
//   - The client ID is the decoded form, or the raw one when it is not valid
//     form-urlencoding. Client IDs contain no '%' or '+' (see
//     clients.CheckID), so only one of the two can name a client.
//   - secret is the decoded form and altSecret the raw one when the two
//     differ (a secret may contain '+', '%', '/' or '='); the caller checks
//     both. When the secret is not valid form-urlencoding (or decodes to
//     invalid UTF-8), secret is the raw form and altSecret is "".
//
// When nothing is encoded, id and secret share the header's decoded bytes
// and nothing more is allocated. ok is false when the header is absent or
// of another scheme.
func basicCredentials(header string) (id, secret, altSecret string, ok bool, err error) {
	if header == "" {
		return "", "", "", false, nil
	}
	const prefix = "Basic "
	if len(header) < len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return "", "", "", false, nil
	}
	raw, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(header[len(prefix):]))
	if derr != nil {
		return "", "", "", true, oauth.InvalidRequest("malformed Basic authorization header: not valid base64")
	}
	user, pass, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", "", true, oauth.InvalidRequest("malformed Basic authorization header: no ':' between client ID and secret")
	}
	if user == "" {
		return "", "", "", true, oauth.InvalidRequest("malformed Basic authorization header: empty client ID")
	}
	if !utf8.ValidString(user) || !utf8.ValidString(pass) {
		return "", "", "", true, oauth.InvalidRequest("malformed Basic authorization header: credentials are not valid UTF-8")
	}
	id = user
	if d, err := unescape(user); err == nil && d != "" && utf8.ValidString(d) {
		id = d
	}
	secret = pass
	if d, err := unescape(pass); err == nil && d != pass && utf8.ValidString(d) {
		secret, altSecret = d, pass
	}
	return id, secret, altSecret, true, nil
}

// isFormContentType reports whether a Content-Type header names
// application/x-www-form-urlencoded (parameters such as charset allowed).
func isFormContentType(ct string) bool {
	mt, params, _ := strings.Cut(ct, ";")
	if !strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded") {
		return false
	}
	// A charset other than UTF-8 cannot be honoured.
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "charset") {
			v = strings.Trim(v, `"`)
			if !strings.EqualFold(v, "utf-8") && !strings.EqualFold(v, "utf8") {
				return false
			}
		}
	}
	return true
}
