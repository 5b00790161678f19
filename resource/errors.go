package resource

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/scope"
)

// Error codes of RFC 6750 §3.1, plus temporarily_unavailable (RFC 6749
// §4.1.2.1) for the 503 while no signing keys could be fetched.
const (
	codeInvalidToken           = "invalid_token"
	codeInsufficientScope      = "insufficient_scope"
	codeInvalidRequest         = "invalid_request"
	codeTemporarilyUnavailable = "temporarily_unavailable"
	// codeUnauthorized is the JSON error of a request without a token:
	// RFC 6750 §3.1 has no error code for it in the challenge, but a JSON
	// body still needs one.
	codeUnauthorized = "unauthorized"
	codeNotFound     = "not_found"
)

// failure is a refused request.
type failure struct {
	status int
	code   string // JSON "error"
	desc   string // JSON "error_description"; also in the challenge for 401 and account 403s
	scope  string // the challenge's scope attribute (insufficient_scope)
	reason string // for Config.Observe
	dpop   bool   // the request used the DPoP scheme: the error goes in its challenge
}

var (
	missingToken = &failure{status: http.StatusUnauthorized, code: codeUnauthorized, reason: ReasonMissingToken,
		desc: "this API needs an OAuth 2.0 bearer access token in the Authorization header"}
	revokedToken    = &failure{status: http.StatusUnauthorized, code: codeInvalidToken, reason: ReasonRevoked, desc: "token revoked"}
	outsideBasePath = &failure{status: http.StatusNotFound, code: codeNotFound, reason: ReasonOutsideBasePath, desc: "no such API endpoint"}
	unavailable     = &failure{status: http.StatusServiceUnavailable, code: codeTemporarilyUnavailable, reason: ReasonUnavailable,
		desc: "the issuer's signing keys are not available; retry later"}
)

func invalidToken(desc string) *failure {
	return &failure{status: http.StatusUnauthorized, code: codeInvalidToken, reason: ReasonInvalidToken, desc: desc}
}

// Refusal is a refused request, as Config.WriteError receives it.
type Refusal struct {
	Status      int    // the HTTP status: 400, 401, 403, 404 or 503
	Code        string // the RFC 6750 error code, e.g. "invalid_token", "insufficient_scope"
	Description string // a sentence for the caller
	Scope       string // for insufficient_scope: the scopes that would allow the call, space-separated
	Reason      string // one of the Reason constants
}

// refuse writes f (RFC 6750 §3) and reports it to Observe.
func (g *Guard) refuse(w http.ResponseWriter, r *http.Request, f *failure) {
	g.refuseCall(w, r, f, nil, nil)
}

// refuseCall is refuse for a request whose token was verified (c, its
// claims; nil if none) and whose path may have been split (segs; nil if
// not), for Config.ObserveCall.
func (g *Guard) refuseCall(w http.ResponseWriter, r *http.Request, f *failure, c *Claims, segs []string) {
	if g.cfg.Observe != nil {
		g.cfg.Observe(false, f.reason)
	}
	if g.cfg.ObserveCall != nil {
		g.observeRefused(r, f, c, segs)
	}
	h := w.Header()
	attrs, challenge := "", false
	switch {
	case f == missingToken:
		attrs, challenge = g.scopeAttr(r), true
	case f.code == codeInvalidToken || f.code == codeInvalidDPoPProof:
		attrs, challenge = `, error="`+f.code+`", error_description=`+quoteDesc(f.desc)+g.scopeAttr(r), true
	case f.code == codeInsufficientScope && f.scope != "":
		attrs, challenge = `, error="insufficient_scope", scope=`+quoteDesc(f.scope), true
	case f.code == codeInsufficientScope:
		attrs, challenge = `, error="insufficient_scope", error_description=`+quoteDesc(f.desc), true
	case f.status == http.StatusServiceUnavailable:
		h.Set("Retry-After", "5")
	}
	if challenge {
		g.setChallenges(h, attrs, f.dpop || g.usedDPoP(r))
	}
	if g.cfg.WriteError != nil {
		h.Set("Cache-Control", "no-store")
		g.cfg.WriteError(w, r, Refusal{Status: f.status, Code: f.code, Description: f.desc, Scope: f.scope, Reason: f.reason})
		return
	}
	body, err := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{f.code, f.desc})
	if err != nil { // cannot happen: two strings
		body = []byte(`{"error":"` + f.code + `"}`)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(f.status)
	w.Write(append(body, '\n'))
}

// setChallenges sets WWW-Authenticate: the Bearer challenge, unless
// DPoP.Required, and with DPoP on, the DPoP challenge (RFC 9449 §7.1), each
// in a field of its own; attrs (the error) go in the challenge of the
// scheme the request used (the DPoP one if inDPoP).
func (g *Guard) setChallenges(h http.Header, attrs string, inDPoP bool) {
	if g.dpop == nil {
		h.Set("WWW-Authenticate", g.challenge+attrs)
		return
	}
	bearer, dp := g.challenge, g.dpopChallenge
	if inDPoP || g.cfg.DPoP.Required {
		dp += attrs
	} else {
		bearer += attrs
	}
	if g.cfg.DPoP.Required {
		h["Www-Authenticate"] = []string{dp}
		return
	}
	h["Www-Authenticate"] = []string{bearer, dp}
}

// scopeAttr returns the scope attribute of a 401's challenge (RFC 6750 §3):
// the scopes that would allow r, when the guard publishes metadata
// (Config.Resource) and the catalog has any; else "".
func (g *Guard) scopeAttr(r *http.Request) string {
	if g.prmURL == "" {
		return ""
	}
	rel, ok := g.relPath(r.URL.EscapedPath())
	if !ok {
		return ""
	}
	segs, err := g.paths.Split(rel)
	if err != nil {
		return ""
	}
	need := g.catalog.Required(scope.Set{}, r.Method, segs)
	if len(need) == 0 {
		return ""
	}
	return ", scope=" + quoteDesc(strings.Join(need, " "))
}

// quote returns s as an RFC 9110 §5.6.4 quoted-string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 && r != '\t' || r == 0x7f:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// quoteDesc quotes an error_description or scope value, which RFC 6750 §3
// limits to %x20-21 / %x23-5B / %x5D-7E; other bytes become '?'. Long
// values are cut.
func quoteDesc(s string) string {
	const maxLen = 512
	if len(s) > maxLen {
		s = s[:maxLen]
	}
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			c = '?'
		}
		b = append(b, c)
	}
	return string(append(b, '"'))
}
