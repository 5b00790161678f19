// Package registration is dynamic client registration (RFC 7591) and the
// management of a registration by the client itself (RFC 7592), as policy:
// who may register what. It decides and validates; the client service
// (internal/clients) creates, changes and deletes the clients, with their
// audit events; the server (internal/server/register.go) speaks HTTP.
//
// Policies:
//
//   - Off: nobody registers (the server does not mount the endpoint).
//   - InitialAccessToken: the caller presents an operator-issued initial
//     access token (RFC 7591 §3), single or multi use and expiring, and
//     may register a confidential client (client_secret_basic,
//     client_secret_post, private_key_jwt) or a public one, with the
//     grant types the configuration allows and any scope of the catalog.
//   - Open: anyone may register a public client (token endpoint auth
//     method none) for the authorization code grant (plus refresh tokens;
//     PKCE is always required of public clients), with https or loopback
//     redirect URIs (RFC 8252 §7.3) and only self-service scopes: those
//     the catalogs (the default one and each resource's) mark self_service,
//     with the resources that offer them (clients.SelfService). Such
//     clients are deleted once unused for UnusedTTL.
//
// A registered client gets a registration access token, a bearer token
// for reading, updating and deleting its registration. Only its SHA-256 is
// stored; a presented token is hashed and the digests compared in constant
// time.
package registration

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/scope"
)

// Policies (config registration.policy).
const (
	Off                = "off"
	Open               = store.RegisteredOpen
	InitialAccessToken = store.RegisteredInitialAccessToken
)

// Policies lists the policy names, Off first.
var Policies = []string{Off, InitialAccessToken, Open}

// Token prefixes, so that leak scanners can find them.
const (
	InitialTokenPrefix      = "ghi_" // initial access tokens
	RegistrationTokenPrefix = "ghm_" // registration access tokens (management of a registration)
)

// Limits of a registration request.
const (
	MaxRedirectURIs = 20
	MaxTokenUses    = 10_000
)

// GrantTypes are the grant types a client registered under the
// InitialAccessToken policy may have unless the configuration narrows them.
var GrantTypes = []string{store.GrantAuthorizationCode, store.GrantRefreshToken, store.GrantClientCredentials}

// Options configures a Service. Clients, Store and Catalog are required.
type Options struct {
	Policy  string // Off (also ""), InitialAccessToken or Open
	Clients *clients.Service
	Store   store.Store
	Catalog *scope.Catalog
	// GrantTypes the InitialAccessToken policy allows; none: GrantTypes.
	GrantTypes []string
	// UnusedTTL: PruneUnused deletes open registrations created, and not
	// used, within it; 0: never.
	UnusedTTL time.Duration
	Now       func() time.Time
	Rand      io.Reader
}

// Service registers clients under a policy and manages initial access
// tokens.
type Service struct {
	o Options
}

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.Policy == "" {
		o.Policy = Off
	}
	if !slices.Contains(Policies, o.Policy) {
		return nil, fmt.Errorf("registration: policy %q is not one of %s", o.Policy, strings.Join(Policies, ", "))
	}
	if o.Clients == nil || o.Store == nil || o.Catalog == nil {
		return nil, errors.New("registration: Clients, Store and Catalog are required")
	}
	if len(o.GrantTypes) == 0 {
		o.GrantTypes = GrantTypes
	}
	for _, g := range o.GrantTypes {
		if !slices.Contains(GrantTypes, g) {
			return nil, fmt.Errorf("registration: grant type %q is not one of %s", g, strings.Join(GrantTypes, ", "))
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	return &Service{o: o}, nil
}

// Policy returns the policy in force.
func (s *Service) Policy() string { return s.o.Policy }

// Enabled reports whether clients may register (the policy is not Off).
func (s *Service) Enabled() bool { return s.o.Policy != Off }

// Metadata is the client metadata of RFC 7591 §2 that Gatehouse keeps: the
// body of a registration or update request and part of every response.
// Other metadata in a request are ignored (RFC 7591 §2), language-tagged
// ones included.
type Metadata struct {
	RedirectURIs            []string        `json:"redirect_uris,omitempty"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string        `json:"grant_types,omitempty"`
	ResponseTypes           []string        `json:"response_types,omitempty"`
	ClientName              string          `json:"client_name,omitempty"`
	ClientURI               string          `json:"client_uri,omitempty"`
	Scope                   string          `json:"scope,omitempty"`
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
}

// Request is the body of an update (RFC 7592 §2.2): the metadata, and the
// client ID, which must be the client's; a client_secret, if sent, must be
// the client's current one.
type Request struct {
	Metadata
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
}

// Response is the client information response (RFC 7591 §3.2.1, RFC 7592
// §3).
type Response struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`
	// ClientSecretExpiresAt is 0 (never) for a client with secrets, absent
	// otherwise.
	ClientSecretExpiresAt   *int64 `json:"client_secret_expires_at,omitempty"`
	ClientIDIssuedAt        int64  `json:"client_id_issued_at"`
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri,omitempty"`
	Metadata
}

// Registered is the outcome of a registration: the client as stored, and
// the secret and registration access token, shown once.
type Registered struct {
	Client            store.Client
	Secret            string
	RegistrationToken string
}

// Register registers a client with md. initialToken is the bearer token of
// the request ("" if none); addr the caller's address, for the audit trail.
// Errors are *oauth.Error for what the caller did wrong.
func (s *Service) Register(ctx context.Context, md Metadata, initialToken, addr string) (Registered, error) {
	actor := "registration:open@" + addr
	var spend []byte
	switch s.o.Policy {
	case Off:
		return Registered{}, &oauth.Error{Code: oauth.CodeInvalidRequest, Status: 404, Description: "client registration is off"}
	case InitialAccessToken:
		if initialToken == "" {
			return Registered{}, oauth.InvalidToken("an initial access token is required: send it as Authorization: Bearer TOKEN")
		}
		spend = secret.Digest(initialToken)
		tok, err := s.o.Store.GetInitialAccessToken(ctx, spend)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return Registered{}, oauth.InvalidToken("the initial access token is not valid")
		case err != nil:
			return Registered{}, err
		case !s.o.Now().Before(tok.ExpiresAt) || tok.Uses >= tok.MaxUses:
			return Registered{}, oauth.InvalidToken("the initial access token has expired or is used up")
		}
		actor = "registration:" + tok.ID + "@" + addr
	}
	sp, err := s.spec(md, s.o.Policy, "")
	if err != nil {
		return Registered{}, err
	}
	tok, digest, err := s.newToken(RegistrationTokenPrefix)
	if err != nil {
		return Registered{}, err
	}
	sp.SelfRegistered, sp.RegistrationTokenDigest, sp.InitialAccessToken = s.o.Policy, digest, spend
	c, plain, err := s.o.Clients.Create(ctx, actor, sp)
	if err != nil {
		return Registered{}, clientError(err)
	}
	return Registered{Client: c, Secret: plain, RegistrationToken: tok}, nil
}

// Authorize returns the client whose registration access token token is;
// oauth invalid_token (401) if there is no such client or the token is not
// its own (RFC 7592 §2).
func (s *Service) Authorize(ctx context.Context, clientID, token string) (store.Client, error) {
	if token == "" {
		return store.Client{}, oauth.InvalidToken("a registration access token is required: send it as Authorization: Bearer TOKEN")
	}
	if clients.CheckID(clientID) != nil {
		return store.Client{}, invalidRegistrationToken()
	}
	c, err := s.o.Clients.Get(ctx, clientID)
	switch {
	case errors.Is(err, clients.ErrNotFound):
		return store.Client{}, invalidRegistrationToken()
	case err != nil:
		return store.Client{}, err
	}
	if err := tokenOf(token)(c); err != nil {
		return store.Client{}, err
	}
	return c, nil
}

// Update replaces the metadata of the client whose registration access
// token token is with r's (RFC 7592 §2.2): omitted metadata take their
// defaults. The rules are those of the policy the client registered
// under.
func (s *Service) Update(ctx context.Context, clientID, token string, r Request) (store.Client, error) {
	c, err := s.Authorize(ctx, clientID, token)
	if err != nil {
		return store.Client{}, err
	}
	if r.ClientID != c.ID {
		return store.Client{}, oauth.InvalidClientMetadata("client_id must be sent, and be this client's (RFC 7592 §2.2)")
	}
	if r.ClientSecret != "" && !slices.ContainsFunc(c.Secrets, func(sec store.Secret) bool { return secret.Matches(r.ClientSecret, sec.Digest) }) {
		return store.Client{}, oauth.InvalidClientMetadata("client_secret is not this client's current secret; a client cannot choose its secret")
	}
	sp, err := s.spec(r.Metadata, c.SelfRegistered, c.AuthMethod())
	if err != nil {
		return store.Client{}, err
	}
	if m := sp.TokenEndpointAuthMethod; m != c.AuthMethod() && !(secretMethod(m) && secretMethod(c.AuthMethod())) {
		return store.Client{}, oauth.InvalidClientMetadata("token_endpoint_auth_method cannot change from %s to %s; register a new client", c.AuthMethod(), m)
	}
	p := clients.Patch{
		Name: &sp.Name, Website: &sp.Website, GrantTypes: &sp.GrantTypes, Scopes: &sp.Scopes,
		RedirectURIs: &sp.RedirectURIs, TokenEndpointAuthMethod: &sp.TokenEndpointAuthMethod,
	}
	if sp.TokenEndpointAuthMethod == store.AuthMethodPrivateKeyJWT {
		p.JWKS, p.JWKSURI = &sp.JWKS, &sp.JWKSURI
	}
	if c.SelfRegistered == Open {
		// The resources follow the scopes; an operator's client keeps the
		// resources it was given.
		p.Resources = &sp.Resources
	}
	out, err := s.o.Clients.Update(ctx, "client:"+c.ID, c.ID, p, tokenOf(token))
	if err != nil {
		return store.Client{}, clientError(err)
	}
	return out, nil
}

// Delete deletes the client whose registration access token token is
// (RFC 7592 §2.3).
func (s *Service) Delete(ctx context.Context, clientID, token string) error {
	c, err := s.Authorize(ctx, clientID, token)
	if err != nil {
		return err
	}
	return clientError(s.o.Clients.Delete(ctx, "client:"+c.ID, c.ID, tokenOf(token)))
}

// PruneUnused deletes the open registrations that were not used (no token
// issued to them) within UnusedTTL of now, and returns how many.
func (s *Service) PruneUnused(ctx context.Context) (int, error) {
	if s.o.UnusedTTL <= 0 {
		return 0, nil
	}
	return s.o.Clients.DeleteUnused(ctx, "system", Open, s.o.Now().Add(-s.o.UnusedTTL))
}

// Info returns the client information response for c (RFC 7592 §3):
// without a secret, which is stored only as a digest; the registration
// access token is the one the request presented.
func Info(c store.Client, clientURI, token, secret string) Response {
	r := Response{
		ClientID: c.ID, ClientSecret: secret, ClientIDIssuedAt: c.CreatedAt.Unix(),
		RegistrationAccessToken: token, RegistrationClientURI: clientURI,
		Metadata: Metadata{
			RedirectURIs: c.RedirectURIs, TokenEndpointAuthMethod: c.AuthMethod(), GrantTypes: c.GrantTypes,
			ClientName: c.Name, ClientURI: c.Website, Scope: scope.Join(c.Scopes), JWKSURI: c.JWKSURI,
		},
	}
	if slices.Contains(c.GrantTypes, store.GrantAuthorizationCode) {
		r.ResponseTypes = []string{"code"}
	} else {
		r.ResponseTypes = []string{}
	}
	if c.JWKS != "" {
		r.JWKS = json.RawMessage(c.JWKS)
	}
	if secretMethod(c.AuthMethod()) {
		var never int64
		r.ClientSecretExpiresAt = &never
	}
	return r
}

// spec validates md under policy and turns it into the client service's
// Spec. method is the client's current token endpoint auth method on an
// update ("" on a registration): the default of an omitted one.
func (s *Service) spec(md Metadata, policy, method string) (clients.Spec, error) {
	open := policy == Open
	sp := clients.Spec{Name: strings.TrimSpace(md.ClientName), Website: md.ClientURI, JWKSURI: md.JWKSURI}

	switch sp.TokenEndpointAuthMethod = md.TokenEndpointAuthMethod; {
	case sp.TokenEndpointAuthMethod != "":
	case method != "":
		sp.TokenEndpointAuthMethod = method
	case open:
		// The only method open registration allows (RFC 7591 §3.2.1 lets
		// the server replace a default).
		sp.TokenEndpointAuthMethod = store.AuthMethodNone
	default:
		sp.TokenEndpointAuthMethod = store.AuthMethodSecretBasic // RFC 7591 §2
	}
	switch m := sp.TokenEndpointAuthMethod; {
	case open && m != store.AuthMethodNone:
		return sp, oauth.InvalidClientMetadata("open registration is for public clients only: token_endpoint_auth_method must be none")
	case !slices.Contains([]string{store.AuthMethodNone, store.AuthMethodSecretBasic, store.AuthMethodSecretPost, store.AuthMethodPrivateKeyJWT}, m):
		return sp, oauth.InvalidClientMetadata("token_endpoint_auth_method %q is not supported (supported: none, client_secret_basic, client_secret_post, private_key_jwt)", printable(m))
	}
	if len(md.JWKS) > 0 && string(md.JWKS) != "null" {
		if md.JWKS[0] != '{' {
			return sp, oauth.InvalidClientMetadata("jwks must be a JSON Web Key Set object")
		}
		sp.JWKS = string(md.JWKS)
	}

	sp.GrantTypes = md.GrantTypes
	if len(sp.GrantTypes) == 0 {
		sp.GrantTypes = []string{store.GrantAuthorizationCode} // RFC 7591 §2
	}
	allowed := s.o.GrantTypes
	if open {
		allowed = []string{store.GrantAuthorizationCode, store.GrantRefreshToken}
	}
	for _, g := range sp.GrantTypes {
		if !slices.Contains(allowed, g) {
			return sp, oauth.InvalidClientMetadata("grant type %q may not be registered here (allowed: %s)", printable(g), strings.Join(allowed, ", "))
		}
	}
	code := slices.Contains(sp.GrantTypes, store.GrantAuthorizationCode)
	if open && !code {
		return sp, oauth.InvalidClientMetadata("open registration is for the authorization_code grant; include it in grant_types")
	}
	// RFC 7591 §2.1: response types and grant types must agree.
	for _, rt := range md.ResponseTypes {
		if rt != "code" {
			return sp, oauth.InvalidClientMetadata("response type %q is not supported (supported: code)", printable(rt))
		}
	}
	if len(md.ResponseTypes) > 0 && !code {
		return sp, oauth.InvalidClientMetadata("response type code needs the authorization_code grant")
	}
	if md.ResponseTypes != nil && len(md.ResponseTypes) == 0 && code {
		return sp, oauth.InvalidClientMetadata("the authorization_code grant needs the response type code")
	}

	if len(md.RedirectURIs) > MaxRedirectURIs {
		return sp, oauth.InvalidRedirectURI("at most %d redirect URIs", MaxRedirectURIs)
	}
	if code && len(md.RedirectURIs) == 0 {
		return sp, oauth.InvalidRedirectURI("the authorization_code grant needs at least one redirect URI")
	}
	for _, u := range md.RedirectURIs {
		if err := clients.CheckRedirectURI(u); err != nil {
			return sp, oauth.InvalidRedirectURI("%s", err.Error())
		}
		if pu, _ := url.Parse(u); open && pu.Scheme != "https" && pu.Scheme != "http" {
			// CheckRedirectURI allows http only on loopback hosts.
			return sp, oauth.InvalidRedirectURI("open registration allows https redirect URIs, and http ones on 127.0.0.1, [::1] or localhost (RFC 8252 §7.3), not %q", printable(u))
		}
	}
	sp.RedirectURIs = md.RedirectURIs

	if sp.Name == "" {
		sp.Name = "Unnamed client"
	}

	requested, err := scope.Split(md.Scope)
	if err != nil {
		return sp, oauth.InvalidClientMetadata("scope: %v", err)
	}
	if open {
		return s.openScopes(sp, requested)
	}
	for _, sc := range requested {
		if !s.o.Catalog.Has(sc) {
			return sp, oauth.InvalidClientMetadata("scope %q is not offered here (scopes: %s)", printable(sc), strings.Join(s.o.Catalog.Names(), " "))
		}
	}
	sp.Scopes = requested
	if len(requested) == 0 {
		sp.Scopes = s.o.Catalog.Defaults()
		if len(sp.Scopes) == 0 {
			return sp, oauth.InvalidClientMetadata("name the scopes the client needs in scope (scopes: %s)", strings.Join(s.o.Catalog.Names(), " "))
		}
	}
	return sp, nil
}

// openScopes sets the scopes and resources of an open registration: the
// requested scopes, each of which must be self-service, or else every
// self-service scope; and the resources whose catalogs offer them
// (clients.SelfService, the rule client ID metadata documents follow too).
func (s *Service) openScopes(sp clients.Spec, requested []string) (clients.Spec, error) {
	self := s.o.Clients.SelfService()
	offered := strings.Join(self.Scopes(), " ")
	if offered == "" {
		offered = "none"
	}
	for _, sc := range requested {
		if !self.Has(sc) {
			return sp, oauth.InvalidClientMetadata("scope %q may not be registered without an operator (self-service scopes: %s)", printable(sc), offered)
		}
	}
	sp.Scopes = requested
	if len(requested) == 0 {
		sp.Scopes = self.Scopes()
		if len(sp.Scopes) == 0 {
			return sp, oauth.InvalidClientMetadata("no scope may be registered without an operator here: the catalogs mark none self_service")
		}
	}
	sp.Resources = self.Resources(sp.Scopes)
	return sp, nil
}

// tokenOf is the condition, checked again in the store transaction of an
// update or a delete, that token is the client's registration access
// token: the SHA-256 of the presented token and the stored digest are
// compared in constant time.
func tokenOf(token string) clients.Require {
	return func(c store.Client) error {
		d := sha256.Sum256([]byte(token))
		if c.SelfRegistered == "" || len(c.RegistrationTokenDigest) != len(d) ||
			subtle.ConstantTimeCompare(d[:], c.RegistrationTokenDigest) != 1 {
			return invalidRegistrationToken()
		}
		return nil
	}
}

func invalidRegistrationToken() error {
	return oauth.InvalidToken("the registration access token is not valid for this client")
}

// clientError turns the client service's errors into the registration
// endpoint's: validation problems are invalid_client_metadata (400).
func clientError(err error) error {
	var ve *clients.ValidationError
	var oe *oauth.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &oe):
		return oe
	case errors.As(err, &ve):
		return oauth.InvalidClientMetadata("%s", ve.Error())
	case errors.Is(err, clients.ErrInitialAccessToken):
		return oauth.InvalidToken("the initial access token has expired or is used up")
	case errors.Is(err, clients.ErrNotFound):
		return invalidRegistrationToken()
	}
	return err
}

func secretMethod(m string) bool {
	return m == store.AuthMethodSecretBasic || m == store.AuthMethodSecretPost
}

// newToken returns a token (prefix and 32 random bytes, base64url) and its
// SHA-256.
func (s *Service) newToken(prefix string) (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(s.o.Rand, b); err != nil {
		return "", nil, fmt.Errorf("random: %w", err)
	}
	tok := prefix + base64.RawURLEncoding.EncodeToString(b)
	return tok, secret.Digest(tok), nil
}

// CreateToken issues an initial access token good for uses registrations
// until ttl from now, and returns it with the token itself, which is not
// stored and cannot be shown again.
func (s *Service) CreateToken(ctx context.Context, actor string, uses int, ttl time.Duration, description string) (store.InitialAccessToken, string, error) {
	var problems []string
	if uses < 1 || uses > MaxTokenUses {
		problems = append(problems, fmt.Sprintf("uses must be from 1 to %d, not %d", MaxTokenUses, uses))
	}
	if ttl <= 0 {
		problems = append(problems, "the token must expire: give a positive lifetime such as 24h")
	}
	if len(description) > 200 {
		problems = append(problems, "description is longer than 200 characters")
	}
	if len(problems) > 0 {
		return store.InitialAccessToken{}, "", &clients.ValidationError{Problems: problems}
	}
	plain, digest, err := s.newToken(InitialTokenPrefix)
	if err != nil {
		return store.InitialAccessToken{}, "", err
	}
	id := make([]byte, 8)
	if _, err := io.ReadFull(s.o.Rand, id); err != nil {
		return store.InitialAccessToken{}, "", fmt.Errorf("random: %w", err)
	}
	now := s.o.Now().UTC()
	t := store.InitialAccessToken{ID: "iat_" + hex.EncodeToString(id), Digest: digest, Description: description,
		CreatedAt: now, ExpiresAt: now.Add(ttl), MaxUses: uses}
	ev := store.AuditEvent{Time: now, Actor: actor, Action: "registration.token_create", Target: t.ID,
		Detail: fmt.Sprintf("initial access token for %d registration(s), expires %s", uses, t.ExpiresAt.Format(time.RFC3339))}
	if err := s.o.Store.CreateInitialAccessToken(ctx, t, ev); err != nil {
		return store.InitialAccessToken{}, "", err
	}
	return t, plain, nil
}

// ListTokens returns the initial access tokens, oldest first.
func (s *Service) ListTokens(ctx context.Context) ([]store.InitialAccessToken, error) {
	return s.o.Store.ListInitialAccessTokens(ctx)
}

// RevokeToken deletes an initial access token.
func (s *Service) RevokeToken(ctx context.Context, actor, id string) error {
	ev := store.AuditEvent{Time: s.o.Now().UTC(), Actor: actor, Action: "registration.token_revoke", Target: id, Detail: "initial access token revoked"}
	if err := s.o.Store.DeleteInitialAccessToken(ctx, id, ev); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("initial access token %q not found: %w", id, store.ErrNotFound)
		}
		return err
	}
	return nil
}

func printable(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
