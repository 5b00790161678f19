// Package resource protects an HTTP API with OAuth 2.0 bearer tokens: the
// RFC 9068 JWT access tokens an authorization server such as Gatehouse
// issues, checked against a scope catalog that defines each scope as a set of
// endpoints ([scope.Catalog]).
//
// A [Guard] (or [Middleware], its one-call form) takes the token from the
// Authorization header only (RFC 6750 §2.1), verifies it against the
// issuer's published keys (RFC 8414 discovery → jwks_uri, RFC 7517), checks
// the RFC 9068 §4 rules (typ at+jwt, an allowed alg, iss, aud, exp, nbf),
// then checks that the token's scopes allow the request's method and path
// (one scope of a YAML catalog; or, in a catalog derived from an OpenAPI
// document, every scope of one of the operation's security requirements),
// and that an account-restricted token acts only for its account.
// Refusals are RFC 6750 §3 responses: 401 with a WWW-Authenticate challenge
// for a missing or bad token, 403 error="insufficient_scope" for a token
// that may not call the endpoint. Handlers read the verified claims with
// [ClaimsFrom].
//
// Verified tokens are cached (so a repeated token costs a hash lookup, not a
// signature check), and revocations are polled from the issuer's
// revocation feed (advertised as revocation_feed_endpoint): a token whose
// ID was revoked, or whose client's tokens issued until a time were all
// revoked (its client_id claim is the entry's and its iat is before the
// entry's iat_before), is refused on every request, cached or not.
package resource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/dpop"
	"github.com/gatehouse/gatehouse/internal/jws"
	"github.com/gatehouse/gatehouse/internal/tokencache"
	"github.com/gatehouse/gatehouse/scope"
)

// Defaults for zero Config fields.
const (
	DefaultAccountHeader  = "X-Account"
	DefaultLeeway         = jws.DefaultLeeway // 30s, the same as the authorization server's
	DefaultJWKSMinRefresh = 5 * time.Second
	DefaultRevocationPoll = 5 * time.Second
	DefaultCacheSize      = 10000
	DefaultHTTPTimeout    = 10 * time.Second
)

// Signing algorithms a Guard can verify (RFC 7518 §3.1, RFC 8037 §3.1).
// Symmetric (HS*) algorithms and "none" are never accepted: a resource
// server holds only public keys.
const (
	ES256 = jws.ES256 // ECDSA P-256 with SHA-256
	RS256 = jws.RS256 // RSASSA-PKCS1-v1_5 with SHA-256, keys of at least 2048 bits
	PS256 = jws.PS256 // RSASSA-PSS with SHA-256, keys of at least 2048 bits
	EdDSA = jws.EdDSA // Ed25519
)

// Observe reasons, passed to Config.Observe for a refused request.
const (
	ReasonMissingToken      = "missing_token"      // 401, no bearer token
	ReasonInvalidToken      = "invalid_token"      // 401, malformed, badly signed, unknown key, wrong iss/aud/typ/alg
	ReasonExpired           = "expired"            // 401, exp (plus leeway) has passed
	ReasonRevoked           = "revoked"            // 401, the issuer's revocation feed revokes the token ID, or its client's tokens issued until a time
	ReasonInsufficientScope = "insufficient_scope" // 403, no scope of the token allows the endpoint
	ReasonAccountMismatch   = "account_mismatch"   // 403, the account header names another account
	ReasonOutsideBasePath   = "outside_base_path"  // 404, the path is not under Config.BasePath
	ReasonInvalidRequest    = "invalid_request"    // 400, a path that cannot be matched safely, or a repeated account header
	ReasonUnavailable       = "unavailable"        // 503, the issuer's keys could not be fetched and none are cached
)

// Config configures a Guard. Issuer and Audience are required; the zero
// value of every other field is useful.
type Config struct {
	// Issuer is the authorization server's issuer identifier (RFC 8414 §2).
	// Its metadata, at Issuer + "/.well-known/oauth-authorization-server",
	// gives jwks_uri and revocation_feed_endpoint, and a token's iss must be
	// exactly Issuer.
	Issuer string
	// Audience identifies this API: a token's aud (a string or an array)
	// must contain it (RFC 9068 §4).
	Audience string
	// Resource, if set, is this API's resource identifier (RFC 9728 §1.2),
	// e.g. "https://api.example.com/v1": an https URL (http only on a
	// loopback host) without query or fragment. The guard then publishes
	// the API's Protected Resource Metadata (RFC 9728 §2) at the well-known
	// URL formed from it (§3.1; "https://api.example.com/.well-known/
	// oauth-protected-resource/v1"; see Guard.Handler and
	// Guard.MetadataHandler), and every WWW-Authenticate challenge names
	// that URL in a resource_metadata attribute (§5.1). Empty: no metadata,
	// and challenges as before. It is not checked against tokens: Audience
	// is.
	Resource string
	// ExternalURL is where clients call the API: the scheme and authority
	// (and any path prefix a proxy in front removes), e.g.
	// "https://api.example.com". A DPoP proof's htu must be it followed by
	// the request's path. Default: the scheme and authority of Resource.
	// Needed only with DPoP.
	ExternalURL string
	// DPoP accepts DPoP-bound tokens (RFC 9449) with the DPoP scheme; see
	// the type. The zero value accepts only the Bearer scheme.
	DPoP DPoP
	// ResourceName is the metadata's resource_name, a name for people
	// (RFC 9728 §2); optional.
	ResourceName string
	// Catalog decides which scopes allow which endpoints; nil means
	// scope.Default().
	Catalog *scope.Catalog
	// BasePath, e.g. "/api", is where the API's paths start: it is removed
	// before matching against the catalog, and requests outside it get a
	// 404. It is compared with the escaped request path.
	BasePath string
	// AccountHeader names the request header that says which account a
	// request acts for; default "X-Account". See Guard.Handler.
	AccountHeader string
	// AllowEncodedSlashes accepts an encoded "/" ("%2F") in a path segment,
	// for APIs whose identifiers contain "/": it is matched as part of that
	// one segment (so only a "*" pattern segment matches it). By default a
	// path with one is refused (400), like a path with a "\", an encoded dot
	// segment or double encoding, which are always refused: a server behind
	// the guard might decode them and route the request somewhere other than
	// what was checked. See scope.PathRules.
	AllowEncodedSlashes bool
	// AllowPublic lets a request without an Authorization header through,
	// without claims, to an endpoint the catalog marks public
	// (scope.Catalog.Public: an OpenAPI operation with security: [] or an
	// empty requirement object); PublicFrom tells the handler. Off by
	// default, so that such an endpoint still needs a valid token, of any
	// scopes. A request that carries a token is checked as usual either
	// way, and a bad token refused.
	AllowPublic bool
	// MethodOverride, if set, returns the method the API will take a
	// request for when that is not r.Method (as some web frameworks take a
	// "_method" parameter), or "" for none. A request with an override is
	// allowed only if the token's scopes allow both its own method and the
	// override. An error refuses the request (400 invalid_request, with the
	// error's text as the description).
	MethodOverride func(r *http.Request) (string, error)
	// Realm is the realm of WWW-Authenticate challenges; default Issuer.
	Realm string
	// Algorithms are the JWS algorithms accepted; default ES256, RS256,
	// PS256 and EdDSA. Only those four are supported: never "none", never
	// HMAC.
	Algorithms []string
	// Leeway tolerates clock skew in exp and nbf checks; default 30s.
	Leeway time.Duration
	// JWKSMinRefresh is the least time between two fetches of the issuer's
	// JWKS, whatever prompts them (a second while none has succeeded yet);
	// default 5s. A token signed by a key ID the cached JWKS lacks (the
	// issuer rotated its key at once) refetches it unless the last fetch
	// began less than this ago, so such tokens are accepted within
	// JWKSMinRefresh of the issuer publishing the key. Concurrent requests
	// share one fetch and its result, requests with a known key ID never
	// wait for it, and tokens with made-up key IDs cause at most one fetch
	// per interval. It is also the shortest JWKS max-age honoured.
	JWKSMinRefresh time.Duration
	// RevocationPoll is how often the revocation feed is polled; default
	// 5s; negative disables polling.
	RevocationPoll time.Duration
	// ClientID and ClientSecret authenticate to a revocation feed that
	// requires a client (HTTP Basic, RFC 6749 §2.3.1).
	ClientID, ClientSecret string
	// CacheSize bounds the verified-token cache; default 10000 entries;
	// negative disables the cache.
	CacheSize int
	// HTTPClient fetches metadata, keys and the revocation feed; default a
	// client with a 10s timeout.
	HTTPClient *http.Client
	// Logger receives key changes, fetch failures and revocation polling
	// problems; default discards.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// WriteError, if set, writes the response of a refused request in the
	// API's own error format instead of the RFC 6750 JSON body. The guard
	// has set WWW-Authenticate (and Retry-After for a 503) already;
	// WriteError sets the content type and writes the status and the body.
	WriteError func(w http.ResponseWriter, r *http.Request, ref Refusal)
	// Observe, if set, is called once per request with the decision (for
	// metrics), from the request's goroutine: reason is "" when allowed,
	// else one of the Reason constants.
	Observe func(allowed bool, reason string)
	// ObserveCall, if set, is called once per request with the decision,
	// the client and the endpoint pattern (see Call), from the request's
	// goroutine, after Observe: for usage reports per client and pattern.
	// It must not keep r.
	ObserveCall func(r *http.Request, c Call)
}

// Claims are the verified claims of an access token (RFC 9068 §2.2).
type Claims struct {
	Issuer    string // iss
	Subject   string // sub: the client ID (client credentials) or the user ID
	ClientID  string // client_id
	AccountID string // account_id of an account-restricted token; "" if none
	JTI       string // jti, the token ID
	// JKT is cnf.jkt of a DPoP-bound token: the thumbprint of the key whose
	// proof came with the request (RFC 9449 §6.1); "" for a bearer token.
	JKT       string
	Audience  []string // aud
	Scopes    []string // scope, split at spaces
	IssuedAt  time.Time
	NotBefore time.Time // zero if the token has no nbf
	ExpiresAt time.Time
}

type claimsKey struct{}

type publicKey struct{}

// PublicFrom reports whether the guard let the request whose context is ctx
// through without a token, as a call to a public endpoint
// (Config.AllowPublic). ClaimsFrom then finds no claims.
func PublicFrom(ctx context.Context) bool {
	p, _ := ctx.Value(publicKey{}).(bool)
	return p
}

// ClaimsFrom returns the claims of the access token that authorized the
// request whose context is ctx. The Claims are shared by every request
// carrying the same token: do not modify them.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}

// A Guard enforces access tokens on the requests it handles. Create one with
// New; it is safe for concurrent use.
type Guard struct {
	cfg        Config
	catalog    *scope.Catalog
	base       string
	paths      scope.PathRules
	acctHeader string // canonical
	metaURL    string
	algs       []string
	log        *slog.Logger
	now        func() time.Time
	client     *http.Client

	challenge string // `Bearer realm="..."`, plus resource_metadata="..." with Config.Resource

	dpop          *dpop.Verifier // nil: DPoP off
	dpopChallenge string         // `DPoP realm="...", algs="..."`, plus resource_metadata

	prmPath string // the escaped well-known path of the metadata; "" without Config.Resource
	prmURL  string // its URL
	prmDoc  []byte // the document

	disc    atomic.Pointer[discovery]
	discMu  sync.Mutex
	keys    atomic.Pointer[keySet]
	fetchMu sync.Mutex   // serialises JWKS fetches
	tried   time.Time    // last JWKS fetch attempt; guarded by fetchMu
	nextTry atomic.Int64 // Unix ns: no background refresh before
	bgFetch atomic.Bool

	cache   *tokencache.Cache[*entry] // nil when disabled
	revoked atomic.Pointer[revocations]

	ctx     context.Context // canceled by Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup // background goroutines
	closeMu sync.Mutex     // orders wg.Add after Close
	closed  bool
}

// New checks cfg and returns a Guard. It does no network I/O itself: the
// issuer's metadata and keys are fetched when first needed, and failed
// fetches are retried. Unless cfg.RevocationPoll is negative, it starts
// polling the revocation feed in the background; Close stops it.
func New(cfg Config) (*Guard, error) {
	if err := normalize(&cfg); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &Guard{
		cfg:        cfg,
		catalog:    cfg.Catalog,
		base:       cfg.BasePath,
		paths:      scope.PathRules{AllowEncodedSlash: cfg.AllowEncodedSlashes},
		acctHeader: http.CanonicalHeaderKey(cfg.AccountHeader),
		metaURL:    strings.TrimSuffix(cfg.Issuer, "/") + "/.well-known/oauth-authorization-server",
		algs:       cfg.Algorithms,
		log:        cfg.Logger,
		now:        cfg.Now,
		client:     cfg.HTTPClient,
		challenge:  "Bearer realm=" + quote(cfg.Realm),
		ctx:        ctx,
		cancel:     cancel,
	}
	var err error
	if g.dpop, g.dpopChallenge, err = newDPoP(&cfg); err != nil {
		cancel()
		return nil, err
	}
	if cfg.Resource != "" {
		g.prmPath, g.prmURL, _ = metadataURL(cfg.Resource) // checked by normalize
		var algs []string
		if g.dpop != nil {
			algs = g.dpop.Algorithms()
		}
		doc, err := metadataDoc(&cfg, algs)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("resource: metadata: %w", err)
		}
		g.prmDoc = doc
		g.challenge += ", resource_metadata=" + quote(g.prmURL)
		if g.dpop != nil {
			g.dpopChallenge += ", resource_metadata=" + quote(g.prmURL)
		}
	}
	if cfg.CacheSize > 0 {
		g.cache = tokencache.New[*entry](cfg.CacheSize)
	}
	if cfg.RevocationPoll > 0 {
		g.wg.Add(1)
		go g.pollRevocations()
	}
	return g, nil
}

// Middleware returns New(cfg).Handler. It panics if cfg is invalid, like
// regexp.MustCompile. The Guard's revocation polling runs for the life of
// the process; use New and Close to stop it.
func Middleware(cfg Config) func(http.Handler) http.Handler {
	g, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return g.Handler
}

// Close stops the background revocation polling and waits for it. The
// Guard keeps enforcing tokens with what it has already fetched.
func (g *Guard) Close() {
	g.closeMu.Lock()
	g.closed = true
	g.closeMu.Unlock()
	g.cancel()
	g.wg.Wait()
}

func normalize(cfg *Config) error {
	var probs []string
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }

	if cfg.Issuer == "" {
		add("Issuer is required")
	} else if u, err := url.Parse(cfg.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		add("Issuer %q is not an http(s) URL without query or fragment", cfg.Issuer)
	}
	if cfg.Audience == "" {
		add("Audience is required")
	}
	if cfg.Resource != "" {
		if _, _, err := metadataURL(cfg.Resource); err != nil {
			add("%v", err)
		}
	} else if cfg.ResourceName != "" {
		add("ResourceName is set without Resource")
	}
	if cfg.Catalog == nil {
		cfg.Catalog = scope.Default()
	}
	normalizeDPoP(cfg, add)
	base, err := cleanBasePath(cfg.BasePath)
	if err != nil {
		add("%v", err)
	}
	cfg.BasePath = base
	if cfg.AccountHeader == "" {
		cfg.AccountHeader = DefaultAccountHeader
	} else if !isToken(cfg.AccountHeader) {
		add("AccountHeader %q is not a valid header name", cfg.AccountHeader)
	}
	if cfg.Realm == "" {
		cfg.Realm = cfg.Issuer
	}
	if cfg.Algorithms == nil {
		cfg.Algorithms = []string{ES256, RS256, PS256, EdDSA}
	} else {
		var algs []string
		for _, a := range cfg.Algorithms {
			switch a {
			case ES256, RS256, PS256, EdDSA:
				if !slices.Contains(algs, a) {
					algs = append(algs, a)
				}
			default:
				add("algorithm %q is not supported; use ES256, RS256, PS256 or EdDSA (never none or HMAC)", a)
			}
		}
		if len(cfg.Algorithms) == 0 {
			add("Algorithms is empty; leave it nil for the default")
		}
		cfg.Algorithms = algs
	}
	switch {
	case cfg.Leeway < 0:
		add("Leeway is negative (%s)", cfg.Leeway)
	case cfg.Leeway == 0:
		cfg.Leeway = DefaultLeeway
	}
	switch {
	case cfg.JWKSMinRefresh < 0:
		add("JWKSMinRefresh is negative (%s)", cfg.JWKSMinRefresh)
	case cfg.JWKSMinRefresh == 0:
		cfg.JWKSMinRefresh = DefaultJWKSMinRefresh
	}
	if cfg.RevocationPoll == 0 {
		cfg.RevocationPoll = DefaultRevocationPoll
	}
	if cfg.ClientSecret != "" && cfg.ClientID == "" {
		add("ClientSecret is set without ClientID")
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(probs) > 0 {
		return errors.New("resource: invalid config: " + strings.Join(probs, "; "))
	}
	return nil
}

// cleanBasePath checks a base path and returns it without a trailing "/";
// "" and "/" give "".
func cleanBasePath(p string) (string, error) {
	p = strings.TrimRight(p, "/")
	if p == "" {
		return "", nil
	}
	if p[0] != '/' {
		return "", fmt.Errorf("BasePath %q must start with /", p)
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("BasePath %q has an empty, . or .. segment", p)
		}
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`?#%"\<>^`+"`{|}", c) >= 0 {
			return "", fmt.Errorf("BasePath %q has character %q; give the path unescaped, in plain ASCII", p, c)
		}
	}
	return p, nil
}

// isToken reports whether s is an RFC 9110 §5.6.2 token (a header name).
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

// Handler returns next guarded: a request reaches next only with a valid
// access token (RFC 6750 §2.1, from the Authorization header; never from
// the query or body) whose scopes allow its method and path (relative to
// Config.BasePath), with the token's claims in its context (ClaimsFrom).
// The one exception, with Config.AllowPublic, is a request without an
// Authorization header to an endpoint the catalog marks public: it reaches
// next without claims (PublicFrom).
//
// An account-restricted token (with an account_id claim) may act only for
// its account: a request whose account header names another account is
// refused (403); a request without the header gets it set to the token's
// account before next sees it.
//
// Refusals (RFC 6750 §3; JSON body {"error", "error_description"} and
// Cache-Control: no-store in every case):
//   - no bearer token (or another auth scheme): 401, WWW-Authenticate:
//     Bearer realm="..." with no error code;
//   - a malformed, badly signed, expired, not yet valid or revoked token,
//     or one for another issuer or audience: 401, error="invalid_token";
//   - a token whose scopes do not allow the call: 403,
//     error="insufficient_scope", scope="<scopes that would>": every
//     scope that alone would, or else all the scopes of one requirement
//     that needs several together (the one the token lacks fewest of);
//   - an account header naming another account: 403,
//     error="insufficient_scope";
//   - a path outside BasePath: 404; a path that cannot be matched safely
//     (e.g. ".." above the root, a bad escape, an encoded "/" unless
//     AllowEncodedSlashes; see scope.PathRules): 400 invalid_request;
//   - a method override the API would honour (Config.MethodOverride)
//     that the token's scopes do not allow: 403 as above; one it refuses:
//     400 invalid_request;
//   - no signing keys could be fetched from the issuer yet: 503.
//
// With Config.Resource, every challenge also has a resource_metadata
// attribute (RFC 9728 §5.1), and a 401 a scope attribute naming the scopes
// that would allow the call, where the catalog has them; and a GET or HEAD
// of exactly the metadata's well-known path (Guard.MetadataURL's path,
// e.g. /.well-known/oauth-protected-resource/v1, wherever BasePath is) is
// answered with the metadata document, without a token, before anything
// else: such a request never reaches next.
func (g *Guard) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.serve(w, r, next)
	})
}

func (g *Guard) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	if g.prmPath != "" && (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.URL.EscapedPath() == g.prmPath {
		g.serveMetadata(w, r)
		return
	}
	now := g.now()
	rel, ok := g.relPath(r.URL.EscapedPath())
	if !ok {
		g.refuse(w, r, outsideBasePath)
		return
	}
	if g.cfg.AllowPublic && len(r.Header["Authorization"]) == 0 && g.servePublic(w, r, rel, next) {
		return
	}
	e, f := g.authenticate(r, now)
	if f != nil {
		var c *Claims
		if e != nil { // a verified token that was revoked: its client's refusal
			c = e.claims
		}
		g.refuseCall(w, r, f, c, nil)
		return
	}
	segs, err := g.paths.Split(rel)
	if err != nil {
		g.refuseCall(w, r, badPath(err), e.claims, nil)
		return
	}
	pattern, allowed := g.allows(e.set, r.Method, segs) // observe.go
	if !allowed {
		g.refuseCall(w, r, g.insufficientScope(e.set, r.Method, segs), e.claims, segs)
		return
	}
	if g.cfg.MethodOverride != nil {
		m, err := g.cfg.MethodOverride(r)
		if err != nil {
			g.refuseCall(w, r, &failure{status: http.StatusBadRequest, code: codeInvalidRequest, reason: ReasonInvalidRequest, desc: err.Error()}, e.claims, segs)
			return
		}
		if m != "" && m != r.Method && !g.catalog.Allows(e.set, m, segs) {
			g.refuseCall(w, r, g.insufficientScope(e.set, m, segs), e.claims, segs)
			return
		}
	}
	c := e.claims
	ctx := context.WithValue(r.Context(), claimsKey{}, c)
	r2 := r.WithContext(ctx)
	if c.AccountID != "" {
		switch vals := r.Header[g.acctHeader]; {
		case len(vals) > 1:
			g.refuseCall(w, r, &failure{status: http.StatusBadRequest, code: codeInvalidRequest, reason: ReasonInvalidRequest,
				desc: "the " + g.acctHeader + " header is repeated"}, c, segs)
			return
		case len(vals) == 0 || vals[0] == "":
			r2.Header = r.Header.Clone()
			r2.Header[g.acctHeader] = []string{c.AccountID}
		case vals[0] != c.AccountID:
			g.refuseCall(w, r, &failure{status: http.StatusForbidden, code: codeInsufficientScope, reason: ReasonAccountMismatch,
				desc: "the token may act only for account " + c.AccountID + ", not " + cut(vals[0], 64)}, c, segs)
			return
		}
	}
	if g.cfg.Observe != nil {
		g.cfg.Observe(true, "")
	}
	if g.cfg.ObserveCall != nil {
		g.cfg.ObserveCall(r, Call{Allowed: true, ClientID: c.ClientID, Pattern: pattern, At: now})
	}
	next.ServeHTTP(w, r2)
}

// servePublic serves a request without a token if the catalog marks its
// call public (and so is the method override, if any), and reports
// whether it did; otherwise the request is checked as one without a token.
func (g *Guard) servePublic(w http.ResponseWriter, r *http.Request, rel string, next http.Handler) bool {
	segs, err := g.paths.Split(rel)
	if err != nil || !g.catalog.Public(r.Method, segs) {
		return false
	}
	if g.cfg.MethodOverride != nil {
		m, err := g.cfg.MethodOverride(r)
		if err != nil || m != "" && m != r.Method && !g.catalog.Public(m, segs) {
			return false
		}
	}
	if g.cfg.Observe != nil {
		g.cfg.Observe(true, "")
	}
	if g.cfg.ObserveCall != nil {
		g.cfg.ObserveCall(r, Call{Allowed: true, Pattern: g.catalog.Matched(r.Method, segs), At: g.now()})
	}
	next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), publicKey{}, true)))
	return true
}

// badPath is the 400 for a path that cannot be checked.
func badPath(err error) *failure {
	return &failure{status: http.StatusBadRequest, code: codeInvalidRequest, reason: ReasonInvalidRequest,
		desc: "the request path cannot be checked: " + err.Error()}
}

// relPath returns the escaped path relative to the base path.
func (g *Guard) relPath(p string) (string, bool) {
	if g.base == "" {
		return p, true
	}
	rest, ok := strings.CutPrefix(p, g.base)
	if !ok || (rest != "" && rest[0] != '/') {
		return "", false
	}
	return rest, true
}

// cut shortens s to at most n bytes, for echoing input in a message.
func cut(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// insufficientScope is the 403 for a call the token's scopes s do not
// allow. Its scope attribute names a set of scopes that would (RFC 6750
// §3): every scope that alone allows the call, or else the scopes of one
// rule that needs several together (scope.Catalog.Required).
func (g *Guard) insufficientScope(s scope.Set, method string, segs []string) *failure {
	f := &failure{status: http.StatusForbidden, code: codeInsufficientScope, reason: ReasonInsufficientScope}
	if alone := g.catalog.Allowing(method, segs); len(alone) > 0 {
		f.scope = strings.Join(alone, " ")
		f.desc = "this call needs one of the scopes: " + f.scope
	} else if all := g.catalog.Required(s, method, segs); len(all) > 0 {
		f.scope = strings.Join(all, " ")
		f.desc = "this call needs all of the scopes: " + f.scope
	} else {
		f.desc = "no scope allows this call"
	}
	return f
}

// authenticate extracts and verifies the access token: a bearer token, or
// with DPoP on, a DPoP-bound token and its proof. With a failure, the
// entry is nil but for a revoked token (see verified).
func (g *Guard) authenticate(r *http.Request, now time.Time) (*entry, *failure) {
	auth := r.Header["Authorization"]
	if len(auth) == 0 {
		return nil, missingToken
	}
	if len(auth) > 1 {
		return nil, invalidToken("more than one Authorization header")
	}
	tok, res := bearerToken(auth[0])
	usedDPoP := false
	if res == bearerNone && g.dpop != nil {
		if t, dres := schemeToken(auth[0], "dpop"); dres != bearerNone {
			tok, res, usedDPoP = t, dres, true
		}
	}
	switch {
	case res == bearerNone:
		return nil, missingToken
	case res == bearerMalformed && usedDPoP:
		return nil, dpopFailure(codeInvalidToken, ReasonInvalidToken, "malformed Authorization header; want: DPoP <token>")
	case res == bearerMalformed:
		return nil, invalidToken("malformed Authorization header; want: Bearer <token>")
	case !usedDPoP && g.cfg.DPoP.Required:
		return nil, &failure{status: http.StatusUnauthorized, code: codeInvalidToken, reason: ReasonDPoPBound, dpop: true,
			desc: "this API accepts only DPoP-bound tokens: send Authorization: DPoP <token> with a DPoP proof"}
	}
	e, f := g.verified(r.Context(), tok, now)
	if f != nil {
		if usedDPoP {
			f2 := *f
			f2.dpop = true
			f = &f2
		}
		return e, f // e: a revoked token's entry, for ObserveCall; else nil
	}
	// A bound token's proof is checked on every request, cached or not.
	if usedDPoP {
		if f := g.checkProof(r, tok, e); f != nil {
			return nil, f
		}
	} else if e.claims.JKT != "" {
		return nil, &failure{status: http.StatusUnauthorized, code: codeInvalidToken, reason: ReasonDPoPBound,
			desc: "the token is DPoP-bound: send it with Authorization: DPoP <token> and a DPoP proof signed by its key"}
	}
	return e, nil
}

// verified returns the verified, unrevoked token tok, from the cache or
// checked now. A revoked token is refused with its entry (whose claims are
// verified), so that its client can be named in usage reports; every other
// failure comes without one.
func (g *Guard) verified(ctx context.Context, tok string, now time.Time) (*entry, *failure) {
	if g.cache != nil {
		if e, ok := g.cache.Get(tok, now); ok {
			if g.isRevoked(e) {
				return e, revokedToken
			}
			return e, nil
		}
	}
	e, f := g.verify(ctx, tok, now)
	if f != nil {
		return nil, f
	}
	if g.isRevoked(e) {
		return e, revokedToken
	}
	if g.cache != nil {
		g.cache.Put(tok, e.exp, e, now)
	}
	return e, nil
}
