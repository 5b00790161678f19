package server

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/gatehouse/gatehouse/internal/cors"
)

// middleware wraps a route's handler (see instrument).
type middleware = func(http.Handler) http.Handler

// corsRoutes are the CORS middleware of the routes that pages on other
// origins may call (internal/cors). The console, the admin API and the
// authorization endpoint have none: the console's pages and the
// authorization endpoint are navigated to, not fetched, and the console
// and the admin API are not for other origins' pages.
type corsRoutes struct {
	token  middleware // the token endpoint and its aliases
	feed   middleware // the revocation feed
	public middleware // the metadata and the JWKS
	// register: client registration and its management (RFC 7591,
	// RFC 7592), for apps that register from a browser.
	register middleware
}

// newCORS builds the routes' CORS middleware from Options.CORSOrigins and
// Options.CORSPublicOrigins.
func newCORS(o Options) (corsRoutes, error) {
	if slices.Contains(o.CORSOrigins, cors.Any) {
		return corsRoutes{}, fmt.Errorf("server: CORSOrigins may not hold %q: the token endpoint and the revocation feed allow exact origins only (CORSPublicOrigins may)", cors.Any)
	}
	var c corsRoutes
	var err error
	for _, r := range []struct {
		mw *middleware
		p  cors.Policy
	}{
		{&c.token, cors.Policy{
			Origins: o.CORSOrigins,
			Methods: []string{http.MethodPost},
			Headers: []string{"Authorization", "Content-Type", "DPoP"},
			// A 401's challenge, how long to wait after a 429 or 503, and
			// the DPoP nonce (RFC 9449 §8).
			Expose: []string{"WWW-Authenticate", "Retry-After", "DPoP-Nonce"},
		}},
		{&c.feed, cors.Policy{
			Origins: o.CORSOrigins,
			Methods: []string{http.MethodGet, http.MethodHead},
			Headers: []string{"Authorization"},
			Expose:  []string{"WWW-Authenticate", "Retry-After"},
		}},
		{&c.register, cors.Policy{
			Origins: o.CORSOrigins,
			Methods: []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete},
			Headers: []string{"Authorization", "Content-Type"},
			Expose:  []string{"WWW-Authenticate", "Retry-After"},
		}},
		{&c.public, cors.Policy{
			Origins: append(slices.Clip(o.CORSOrigins), o.CORSPublicOrigins...),
			Methods: []string{http.MethodGet, http.MethodHead},
		}},
	} {
		if *r.mw, err = cors.New(r.p); err != nil {
			return corsRoutes{}, fmt.Errorf("server: %w", err)
		}
	}
	return c, nil
}
