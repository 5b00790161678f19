package server

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/internal/oauth"
)

// Paths of the authorization server's endpoints.
const (
	PathToken      = "/oauth/token"
	PathIntrospect = "/oauth/introspect"
	PathRevoke     = "/oauth/revoke"
	// PathRevocations is the revocation feed (see revocations.go).
	PathRevocations = "/oauth/revocations"
	PathJWKS        = "/.well-known/jwks.json"
	PathMetadata    = "/.well-known/oauth-authorization-server"
	// PathPostman serves the API's Postman collection (Options.Postman).
	PathPostman = "/docs/postman.json"
	// PathAdminAPI is where the admin API is mounted (Options.AdminAPI).
	PathAdminAPI = "/admin/v1/"
)

// maxBody bounds every request body.
const maxBody = 64 << 10

func (s *Server) routes() (http.Handler, error) {
	mux := http.NewServeMux()

	s.post(mux, PathToken, "token", s.token, s.cors.token)
	for _, p := range s.tokenPaths {
		if err := s.register(mux, p, "token", s.token, s.cors.token); err != nil {
			return nil, fmt.Errorf("token endpoint alias: %w", err)
		}
	}
	s.post(mux, PathIntrospect, "introspect", s.introspect)
	s.post(mux, PathRevoke, "revoke", s.revoke)
	// Dynamic client registration (RFC 7591) and each registration's
	// configuration endpoint (RFC 7592), when a policy is on (register.go).
	if s.registration != nil && s.registration.Enabled() {
		reg, conf := s.cors.register, PathRegister+"/{client_id}"
		s.post(mux, PathRegister, "register", s.registerClient, reg)
		mux.Handle("GET "+conf, s.instrument("register_client", s.readRegistration, reg))
		mux.Handle("PUT "+conf, s.instrument("register_client", s.updateRegistration, reg))
		mux.Handle("DELETE "+conf, s.instrument("register_client", s.deleteRegistration, reg))
		mux.Handle(conf, s.instrument("register_client", methodNotAllowed("GET, HEAD, PUT, DELETE"), reg))
	}
	if s.console != nil {
		mux.Handle("GET "+PathAuthorize, s.instrument("authorize", s.authorize))
		mux.Handle("POST "+PathAuthorize, s.instrument("authorize", s.authorize))
		mux.Handle(PathAuthorize, s.instrument("authorize", methodNotAllowed("GET, HEAD, POST")))
	}
	// The console mounts its own pages (/console/...) on a mux of its own,
	// behind the same body limit and metrics as every other route.
	if s.consolePages != nil {
		cm := http.NewServeMux()
		s.consolePages(cm)
		mux.Handle("/console/", s.measure("console", cm))
	}
	if s.adminAPI != nil {
		mux.Handle(PathAdminAPI, s.measure("admin", s.adminAPI))
	}
	if s.postman != nil {
		s.get(mux, PathPostman, "postman", func(w http.ResponseWriter, r *http.Request) error {
			s.postman.ServeHTTP(w, r)
			return nil
		})
	}
	if s.docs != nil {
		mux.Handle("/docs", s.measure("docs", s.docs))
		mux.Handle("/docs/", s.measure("docs", s.docs))
	}
	s.get(mux, "/{$}", "root", s.root(s.consolePages != nil))
	s.get(mux, PathRevocations, "revocations", s.revocations, s.cors.feed)
	s.get(mux, PathJWKS, "jwks", s.jwks, s.cors.public)
	s.get(mux, PathMetadata, "metadata", s.metadata, s.cors.public)
	s.get(mux, "/healthz", "healthz", s.healthz)
	s.get(mux, "/readyz", "readyz", s.readyz)
	mux.Handle("/", s.instrument("not_found", func(w http.ResponseWriter, r *http.Request) error {
		return &oauth.Error{Code: oauth.CodeInvalidRequest, Status: http.StatusNotFound, Description: "no such endpoint"}
	}))
	return mux, nil
}

// register mounts a POST endpoint at path, answering other methods with 405.
func (s *Server) register(mux *http.ServeMux, path, route string, h handlerFunc, mw ...middleware) (err error) {
	defer func() {
		// ServeMux panics on conflicting patterns; report it as an error.
		if r := recover(); r != nil {
			err = fmt.Errorf("path %q: %v", path, r)
		}
	}()
	s.post(mux, path, route, h, mw...)
	return nil
}

type handlerFunc func(http.ResponseWriter, *http.Request) error

// post mounts a POST endpoint at path, answering other methods with 405;
// mw (e.g. CORS, which answers preflights) wraps both.
func (s *Server) post(mux *http.ServeMux, path, route string, h handlerFunc, mw ...middleware) {
	mux.Handle("POST "+path, s.instrument(route, h, mw...))
	mux.Handle(path, s.instrument(route, methodNotAllowed("POST"), mw...))
}

// get is post for a GET (and HEAD) endpoint.
func (s *Server) get(mux *http.ServeMux, path, route string, h handlerFunc, mw ...middleware) {
	mux.Handle("GET "+path, s.instrument(route, h, mw...)) // GET also matches HEAD
	mux.Handle(path, s.instrument(route, methodNotAllowed("GET, HEAD"), mw...))
}

func methodNotAllowed(allow string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", allow)
		return oauth.MethodNotAllowed(r.Method)
	}
}

// instrument turns a handler that returns an error into an http.Handler
// that writes the error, bounds the body and records metrics, with mw
// (the first outermost) between the metrics and the handler.
func (s *Server) instrument(route string, h handlerFunc, mw ...middleware) http.Handler {
	var next http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
	for _, m := range slices.Backward(mw) {
		next = m(next)
	}
	return s.measure(route, next)
}

// measure bounds the request body and records the route's latency and
// status codes.
func (s *Server) measure(route string, h http.Handler) http.Handler {
	rm := s.metrics.route(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		r.Body = http.MaxBytesReader(sw, r.Body, maxBody)
		h.ServeHTTP(sw, r)
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		rm.observe(code, start)
	})
}
