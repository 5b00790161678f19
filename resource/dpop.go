package resource

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/dpop"
)

// DPoP configures DPoP-bound access tokens (RFC 9449) at a Guard. The zero
// value accepts none: the Bearer scheme only. Whatever it says, a token
// bound to a key (with a cnf.jkt claim) is refused with the Bearer scheme:
// a stolen bound token is useless without the key.
type DPoP struct {
	// Enabled accepts "Authorization: DPoP <token>" with a DPoP proof
	// (RFC 9449 §7): the proof must verify (typ dpop+jwt, an accepted
	// asymmetric alg, a public jwk, the signature), be for the request's
	// method (htm) and URL (htu: Config.ExternalURL followed by the
	// request's path; query and fragment ignored), have been made within
	// Window of now (iat), be new (jti, remembered in memory for twice the
	// window), be for the token (ath), and be signed by the key the token
	// is bound to (its cnf.jkt). Challenges then offer the DPoP scheme
	// (with algs) beside Bearer, and the metadata (Config.Resource) lists
	// dpop_signing_alg_values_supported.
	Enabled bool
	// Required refuses the Bearer scheme: every token must be DPoP-bound
	// (RFC 9728 dpop_bound_access_tokens_required). Needs Enabled.
	Required bool
	// Algorithms are the proof algorithms accepted; default ES256, RS256,
	// PS256 and EdDSA (asymmetric only: never none or HMAC).
	Algorithms []string
	// Window is how far a proof's iat may be from now, either way; default
	// 60s (dpop.DefaultWindow).
	Window time.Duration
	// CacheSize bounds the proof IDs (jti) remembered per period of twice
	// the window; default 200000. When it is full, proofs are refused (503)
	// until the period ends, rather than risk accepting a replay.
	CacheSize int
}

// Observe reasons of DPoP refusals.
const (
	// ReasonInvalidDPoPProof: 401, a missing, malformed, replayed or
	// mismatched DPoP proof, or a proof by another key than the token's.
	ReasonInvalidDPoPProof = "invalid_dpop_proof"
	// ReasonDPoPBound: 401, a DPoP-bound token sent with the Bearer
	// scheme, or (with DPoP.Required) a token that is not bound.
	ReasonDPoPBound = "dpop_bound"
)

const codeInvalidDPoPProof = dpop.CodeInvalidProof

// normalizeDPoP checks cfg.DPoP and cfg.ExternalURL.
func normalizeDPoP(cfg *Config, add func(string, ...any)) {
	d := &cfg.DPoP
	if d.Required && !d.Enabled {
		add("DPoP.Required is set without DPoP.Enabled")
	}
	if d.Window < 0 || d.CacheSize < 0 {
		add("DPoP.Window and DPoP.CacheSize must not be negative")
	}
	if cfg.ExternalURL == "" && cfg.Resource != "" {
		if u, err := url.Parse(cfg.Resource); err == nil {
			cfg.ExternalURL = u.Scheme + "://" + u.Host
		}
	}
	cfg.ExternalURL = strings.TrimSuffix(cfg.ExternalURL, "/")
	if cfg.ExternalURL != "" {
		if _, err := dpop.NormalizeURL(cfg.ExternalURL); err != nil || strings.ContainsAny(cfg.ExternalURL, "?#") {
			add("ExternalURL %q is not an http(s) URL without query or fragment", cfg.ExternalURL)
		}
	} else if d.Enabled {
		add("DPoP.Enabled needs ExternalURL (or Resource): the URL clients call the API at, which DPoP proofs name")
	}
}

// newDPoP returns the verifier of g's config and the challenge of the DPoP
// scheme; nil and "" with DPoP off.
func newDPoP(cfg *Config) (*dpop.Verifier, string, error) {
	if !cfg.DPoP.Enabled {
		return nil, "", nil
	}
	v, err := dpop.NewVerifier(dpop.Options{Algorithms: cfg.DPoP.Algorithms, Window: cfg.DPoP.Window,
		CacheSize: cfg.DPoP.CacheSize, Now: cfg.Now})
	if err != nil {
		return nil, "", fmt.Errorf("resource: %w", err)
	}
	return v, "DPoP realm=" + quote(cfg.Realm) + ", algs=" + quote(strings.Join(v.Algorithms(), " ")), nil
}

// dpopFailure is a 401 for a request with the DPoP scheme.
func dpopFailure(code, reason, desc string) *failure {
	return &failure{status: http.StatusUnauthorized, code: code, reason: reason, desc: desc, dpop: true}
}

// checkProof verifies the DPoP proof of a request that presented the
// verified token e (tok) with the DPoP scheme (RFC 9449 §7.1).
func (g *Guard) checkProof(r *http.Request, tok string, e *entry) *failure {
	if e.claims.JKT == "" {
		return dpopFailure(codeInvalidToken, ReasonInvalidToken, "the token is not DPoP-bound; send it with the Bearer scheme")
	}
	proofs := r.Header.Values(dpop.Header)
	switch len(proofs) {
	case 0:
		return dpopFailure(codeInvalidDPoPProof, ReasonInvalidDPoPProof, "the DPoP scheme needs a DPoP proof in the DPoP header")
	case 1:
	default:
		return dpopFailure(codeInvalidDPoPProof, ReasonInvalidDPoPProof, "more than one DPoP header")
	}
	_, err := g.dpop.Verify(proofs[0], dpop.Request{Method: r.Method, URL: g.cfg.ExternalURL + r.URL.EscapedPath(),
		AccessToken: tok, JKT: e.claims.JKT})
	var de *dpop.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &de) && de.Reason == dpop.Busy:
		return &failure{status: http.StatusServiceUnavailable, code: codeTemporarilyUnavailable, reason: ReasonUnavailable, desc: de.Desc}
	case errors.As(err, &de) && de.Reason == dpop.WrongKey:
		// RFC 9449 §7.1: a key binding that does not hold is invalid_token.
		return dpopFailure(codeInvalidToken, ReasonInvalidDPoPProof, err.Error())
	}
	return dpopFailure(codeInvalidDPoPProof, ReasonInvalidDPoPProof, err.Error())
}

// usedDPoP reports whether r presents its token with the DPoP scheme, to
// a guard that accepts it.
func (g *Guard) usedDPoP(r *http.Request) bool {
	auth := r.Header["Authorization"]
	if g.dpop == nil || len(auth) != 1 {
		return false
	}
	_, res := schemeToken(auth[0], "dpop")
	return res != bearerNone
}
