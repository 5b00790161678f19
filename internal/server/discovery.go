package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/store"
)

// PathConsole is where the console's pages are, when there is a console.
const PathConsole = "/console/"

// root answers GET / for someone who has only the server's address: with a
// console, a redirect to it; without, a small JSON index of the endpoints.
func (s *Server) root(withConsole bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if withConsole {
			http.Redirect(w, r, PathConsole, http.StatusSeeOther)
			return nil
		}
		base := strings.TrimSuffix(s.issuer, "/")
		idx := map[string]string{
			"issuer":                 s.issuer,
			"token_endpoint":         base + PathToken,
			"jwks_uri":               base + PathJWKS,
			"metadata":               base + PathMetadata,
			"introspection_endpoint": base + PathIntrospect,
			"revocation_endpoint":    base + PathRevoke,
		}
		if s.console != nil {
			idx["authorization_endpoint"] = base + PathAuthorize
		}
		if s.registration != nil && s.registration.Enabled() {
			idx["registration_endpoint"] = base + PathRegister
		}
		return writeJSON(w, http.StatusOK, idx)
	}
}

// metadata serves RFC 8414 authorization server metadata.
func (s *Server) metadata(w http.ResponseWriter, r *http.Request) error {
	base := strings.TrimSuffix(s.issuer, "/")
	authMethods := []string{store.AuthMethodSecretBasic, store.AuthMethodSecretPost, store.AuthMethodPrivateKeyJWT}
	grants := make([]string, 0, len(s.grants))
	for _, g := range []string{store.GrantClientCredentials, store.GrantAuthorizationCode, store.GrantRefreshToken} {
		if _, ok := s.grants[g]; ok {
			grants = append(grants, g)
		}
	}
	md := map[string]any{
		"issuer":                 s.issuer,
		"token_endpoint":         base + PathToken,
		"jwks_uri":               base + PathJWKS,
		"introspection_endpoint": base + PathIntrospect,
		"revocation_endpoint":    base + PathRevoke,
		// Not registered by RFC 8414: Gatehouse's feed of revoked token IDs
		// for resource servers.
		"revocation_feed_endpoint":                      base + PathRevocations,
		"grant_types_supported":                         grants,
		"response_types_supported":                      []string{},
		"token_endpoint_auth_methods_supported":         authMethods,
		"introspection_endpoint_auth_methods_supported": authMethods,
		"scopes_supported":                              s.scopesSupported(),
		"revocation_endpoint_auth_methods_supported":    append(authMethods[:3:3], store.AuthMethodNone),
		// The algorithms of private_key_jwt client assertions (RFC 8414 §2).
		"token_endpoint_auth_signing_alg_values_supported":         clients.AssertionAlgorithms,
		"introspection_endpoint_auth_signing_alg_values_supported": clients.AssertionAlgorithms,
		"revocation_endpoint_auth_signing_alg_values_supported":    clients.AssertionAlgorithms,
		// Not registered by RFC 8414: the algorithms access tokens are
		// signed with (RFC 9068 §4 has verifiers check the alg).
		"access_token_signing_alg_values_supported": s.keys.Algorithms(),
		// DPoP proofs the token endpoint accepts (RFC 9449 §5.1).
		"dpop_signing_alg_values_supported": s.dpop.Algorithms(),
	}
	if s.console != nil {
		md["authorization_endpoint"] = base + PathAuthorize
		md["response_types_supported"] = []string{"code"}
		md["code_challenge_methods_supported"] = []string{"S256"}
		// RFC 9207: every authorization response carries "iss".
		md["authorization_response_iss_parameter_supported"] = true
		md["token_endpoint_auth_methods_supported"] = append(authMethods[:3:3], store.AuthMethodNone)
		if s.clients.docs != nil { // clientmeta.go
			md["client_id_metadata_document_supported"] = true
		}
	}
	if s.registration != nil && s.registration.Enabled() {
		md["registration_endpoint"] = base + PathRegister
	}
	body, err := json.Marshal(md)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	return writeCacheable(w, r, body)
}

// jwks serves the public signing keys (RFC 7517) with caching headers sized
// so that verifiers see a new key before it signs.
func (s *Server) jwks(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(s.keys.JWKSCacheSeconds()))
	return writeCacheable(w, r, s.keys.JWKS())
}

// writeCacheable writes a JSON document with a strong ETag, answering a
// matching If-None-Match with 304.
func writeCacheable(w http.ResponseWriter, r *http.Request, body []byte) error {
	sum := sha256.Sum256(body)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", "application/json")
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err := w.Write(body)
	return err
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readiness is the body of /readyz.
type readiness struct {
	Status      string `json:"status"` // ok or unavailable
	Error       string `json:"error,omitempty"`
	Description string `json:"error_description,omitempty"`
	// The database's applied schema version and the one this build expects.
	SchemaVersion         int64 `json:"schema_version,omitempty"`
	ExpectedSchemaVersion int64 `json:"expected_schema_version,omitempty"`
}

// readyz answers 200 when the store answers and its schema is at least the
// version this build expects, and 503 temporarily_unavailable (with
// Retry-After) naming the problem otherwise. A schema ahead of this build
// is ready: a newer release migrated the database during a rolling
// upgrade, and migrations only add, so this node keeps serving until it is
// replaced. (A node does not start on such a database, though.)
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	applied, want, err := s.st.SchemaVersion(ctx)
	if err != nil {
		s.log.Warn("not ready", "err", err)
		return s.notReady(w, readiness{Description: "the store is unreachable"})
	}
	if applied < want {
		s.log.Warn("not ready: database schema is behind this build", "schema_version", applied, "expected", want)
		return s.notReady(w, readiness{
			Description:           fmt.Sprintf("database schema version %d is older than this build expects (%d); run gatehouse migrate", applied, want),
			SchemaVersion:         applied,
			ExpectedSchemaVersion: want,
		})
	}
	return writeJSON(w, http.StatusOK, readiness{Status: "ok", SchemaVersion: applied, ExpectedSchemaVersion: want})
}

func (s *Server) notReady(w http.ResponseWriter, body readiness) error {
	body.Status, body.Error = "unavailable", oauth.CodeTemporarilyUnavailable
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	return writeJSON(w, http.StatusServiceUnavailable, body)
}
