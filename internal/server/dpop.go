package server

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/dpop"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/store"
)

// DPoP at the token endpoint (RFC 9449 §5): a request with a DPoP proof
// gets an access token bound to the proof's key (cnf.jkt, token_type DPoP);
// a client registered with DPoPRequired must send one; a public client's
// refresh token family is bound to the key too (internal/grant).
//
// The jtis of accepted proofs are remembered in memory, per node (the
// dpop.Verifier's replay cache): a proof replayed to another node within
// its window is not detected there. It would only repeat a token request
// whose grant (a code, a rotated refresh token) works once, or whose client
// credentials the replayer would need anyway, and the token it gets is
// bound to a key the replayer does not hold.

// dpopNoncePeriod is how often server nonces change; a nonce is accepted
// for up to twice as long.
const dpopNoncePeriod = 5 * time.Minute

// newDPoP builds the verifier and, with o.DPoPNonce, the nonces.
func newDPoP(o Options, now func() time.Time) (*dpop.Verifier, *dpop.Nonces, error) {
	v, err := dpop.NewVerifier(dpop.Options{Window: o.DPoPWindow, Now: now})
	if err != nil {
		return nil, nil, err
	}
	if !o.DPoPNonce {
		return v, nil, nil
	}
	if len(o.DPoPNonceKey) < 32 {
		return nil, nil, errors.New("server: DPoPNonce needs a DPoPNonceKey of at least 32 bytes")
	}
	return v, dpop.NewNonces(o.DPoPNonceKey, dpopNoncePeriod, now), nil
}

// tokenProof checks the DPoP proof of a token request, if it has one (nil
// without). Its jti is remembered only by bindProof, once the client is
// authenticated, so that unauthenticated requests cannot fill the replay
// cache. With server nonces on, it also gives the current nonce in
// DPoP-Nonce, on every answer.
func (s *Server) tokenProof(w http.ResponseWriter, r *http.Request) (*dpop.Proof, error) {
	proofs := r.Header.Values(dpop.Header)
	if s.dpopNonces != nil {
		w.Header().Set(dpop.NonceHeader, s.dpopNonces.Current())
	}
	switch {
	case len(proofs) == 0:
		return nil, nil
	case len(proofs) > 1:
		return nil, invalidDPoPProof("more than one DPoP header")
	}
	req := dpop.Request{Method: r.Method, URL: strings.TrimSuffix(s.issuer, "/") + r.URL.Path}
	if s.dpopNonces != nil {
		req.Nonce = s.dpopNonces.Valid
	}
	p, err := s.dpop.Check(proofs[0], req)
	if err != nil {
		return nil, proofError(err)
	}
	return &p, nil
}

// bindProof decides, for the authenticated client c, what key the token is
// bound to: the proof's (whose jti it now remembers), or none without a
// proof, which a client registered with DPoPRequired may not send.
func (s *Server) bindProof(c *store.Client, p *dpop.Proof) (jkt string, err error) {
	switch {
	case p == nil && c.DPoPRequired:
		return "", invalidDPoPProof("this client must send a DPoP proof (RFC 9449) with every token request")
	case p == nil:
		return "", nil
	}
	if err := s.dpop.Remember(*p); err != nil {
		return "", proofError(err)
	}
	return p.JKT, nil
}

// proofError is the answer to a refused proof.
func proofError(err error) error {
	var de *dpop.Error
	switch {
	case !errors.As(err, &de):
		return err
	case de.Reason == dpop.BadNonce:
		return &oauth.Error{Code: dpop.CodeUseNonce, Status: http.StatusBadRequest,
			Description: "use the server's nonce, given in the DPoP-Nonce header, in the DPoP proof"}
	case de.Reason == dpop.Busy:
		e := oauth.TemporarilyUnavailable(1)
		e.Description = de.Desc
		return e
	}
	return invalidDPoPProof("%s", de.Desc)
}

// invalidDPoPProof is the error for a missing or bad proof (RFC 9449 §5).
func invalidDPoPProof(format string, args ...any) *oauth.Error {
	e := oauth.InvalidRequest(format, args...)
	e.Code = dpop.CodeInvalidProof
	return e
}

// tokenType is the token_type of a token response: DPoP for a bound token
// (RFC 9449 §5.1).
func tokenType(jkt string) string {
	if jkt != "" {
		return dpop.Scheme
	}
	return "Bearer"
}
