// Package clients is the service layer for OAuth client registrations: the
// CLI, the console and any admin API create, change and delete clients, and
// revoke everything issued to one, only through it. It enforces the domain
// rules (ID syntax, known scopes, lifetime limits, secret strength) and
// records an audit event for every change.
package clients

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/duration"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/scope"
)

// MaxActiveSecrets bounds how many unexpired secrets a client may hold.
const MaxActiveSecrets = 10

// DefaultGrace is how long an old secret keeps working after a rotation.
const DefaultGrace = 24 * time.Hour

// Service manages clients.
type Service struct {
	st      store.Store
	catalog *scope.Catalog
	maxTTL  time.Duration
	now     func() time.Time
	rand    io.Reader
	extra   []string // scopes allowed besides the catalog's
	// resources are the configured resources besides the default (RFC
	// 8707) that clients may be allowed, with their catalogs.
	resources []Resource
}

// Resource is a configured resource besides the default one (RFC 8707):
// a client allowed it may also be allowed the scopes of its catalog.
type Resource struct {
	ID      string
	Catalog *scope.Catalog
}

// WithResources makes the service accept clients allowed the resources rs
// and their scopes, and returns it. Call it before the service is used.
func (s *Service) WithResources(rs []Resource) *Service {
	s.resources = rs
	return s
}

// resource returns the configured resource id, or nil.
func (s *Service) resource(id string) *Resource {
	for i := range s.resources {
		if s.resources[i].ID == id {
			return &s.resources[i]
		}
	}
	return nil
}

// knownScope reports whether sc is a scope a client allowed the resources
// ids (besides the default) may be allowed.
func (s *Service) knownScope(sc string, ids []string) bool {
	if s.catalog.Has(sc) || slices.Contains(s.extra, sc) {
		return true
	}
	for _, id := range ids {
		if r := s.resource(id); r != nil && r.Catalog.Has(sc) {
			return true
		}
	}
	return false
}

// NewService returns a Service. maxTTL bounds per-client token lifetimes.
// A client's scopes must be in the catalog or among extraScopes: scopes the
// server itself checks, such as the one the revocation feed may require.
func NewService(st store.Store, catalog *scope.Catalog, maxTTL time.Duration, now func() time.Time, rand io.Reader, extraScopes ...string) *Service {
	var extra []string
	for _, sc := range extraScopes {
		if sc != "" && !slices.Contains(extra, sc) {
			extra = append(extra, sc)
		}
	}
	return &Service{st: st, catalog: catalog, maxTTL: maxTTL, now: now, rand: rand, extra: extra}
}

// ValidationError lists everything wrong with a request.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string { return strings.Join(e.Problems, "; ") }

// Errors, compared with errors.Is. ErrNotFound and ErrConflict are the
// store's, wrapped with the client ID.
var (
	ErrNotFound     = store.ErrNotFound
	ErrConflict     = store.ErrConflict
	ErrNoSuchSecret = errors.New("no such secret")
	// ErrInitialAccessToken: Spec.InitialAccessToken is unknown, expired
	// or used up.
	ErrInitialAccessToken = errors.New("initial access token unknown, expired or used up")
)

// Spec describes a new client.
type Spec struct {
	ID           string // "" = generated
	Name         string
	Description  string
	GrantTypes   []string // nil = client_credentials
	Scopes       []string // nil = the catalog's default scopes; empty = none
	Accounts     []string
	RedirectURIs []string
	// Resources are configured resources (RFC 8707) the client may get
	// tokens for besides the default one; its Scopes may be theirs.
	Resources []string
	Audience  string
	TokenTTL  time.Duration // 0 = server default
	Secret    string        // "" = generated; must be "" for a public client
	Website   string        // shown on the consent page
	// TokenEndpointAuthMethod: store.AuthMethodSecretBasic ("" = that),
	// store.AuthMethodSecretPost, or store.AuthMethodNone for a public client
	// (no secret; PKCE required).
	TokenEndpointAuthMethod string
	// RefreshWithClientCredentials also issues refresh tokens with the
	// client_credentials grant (the client needs the refresh_token grant).
	RefreshWithClientCredentials bool
	// PKCEOptional lets a confidential client leave out PKCE at the
	// authorization endpoint although the server requires it (a legacy
	// client that cannot send it; CLI --require-pkce=false). Refused for a
	// public client.
	PKCEOptional bool
	// JWKS (a JSON Web Key Set document of public keys) or JWKSURI (its
	// https URL), exactly one, for store.AuthMethodPrivateKeyJWT: the
	// client then has no secret.
	JWKS, JWKSURI string
	// DPoPRequired: every token request must carry a DPoP proof (RFC
	// 9449), so every access token of the client is bound to its key.
	DPoPRequired bool
	// SelfRegistered and RegistrationTokenDigest: a client that registers
	// itself (RFC 7591; see internal/registration), the policy it
	// registers under and the SHA-256 of its registration access token.
	SelfRegistered          string
	RegistrationTokenDigest []byte
	// QuotaPerMinute, QuotaPerHour and ReuseMinRemaining: the client's
	// issuance quotas and token reuse window (store.Client); 0 = the
	// server's default, store.QuotaNone / store.ReuseOff = none.
	QuotaPerMinute, QuotaPerHour, ReuseMinRemaining int
	// InitialAccessToken, if set, is the SHA-256 of the initial access
	// token the registration spends, in the same store transaction as the
	// client's insert: ErrInitialAccessToken if it is unknown, expired or
	// used up.
	InitialAccessToken []byte
}

// Require is a condition on a client as stored, checked in the same store
// transaction as the change it guards (an If-Match, who may change it): an
// error aborts the change and is returned as it is.
type Require func(store.Client) error

// check runs the conditions.
func (rs requires) check(c store.Client) error {
	for _, r := range rs {
		if err := r(c); err != nil {
			return err
		}
	}
	return nil
}

type requires []Require

// Patch changes a client; nil fields stay as they are.
type Patch struct {
	Name, Description, Audience, Website       *string
	GrantTypes, Scopes, Accounts, RedirectURIs *[]string
	Resources                                  *[]string // see Spec.Resources
	TokenTTL                                   *time.Duration
	Disabled, RefreshWithClientCredentials     *bool
	PKCEOptional                               *bool
	// TokenEndpointAuthMethod switches how the client authenticates.
	// Between client_secret_basic and client_secret_post the secrets stay.
	// To none (a public client), the client must not keep the
	// client_credentials grant, and its secrets are deleted: a public
	// client has none. From none to a secret-based method a secret is
	// generated, so only [Service.UpdateIssuingSecret] accepts that.
	// To private_key_jwt, the patch must set JWKS or JWKSURI, and the
	// secrets are deleted; from it to a secret-based method a secret is
	// generated (as from none) and the JWKS and JWKS URI are cleared.
	TokenEndpointAuthMethod *string
	// JWKS and JWKSURI replace the keys of a private_key_jwt client; set
	// one and the other is cleared.
	JWKS, JWKSURI *string
	// DPoPRequired switches "DPoP required" (RFC 9449) on or off.
	DPoPRequired *bool
	// QuotaPerMinute, QuotaPerHour and ReuseMinRemaining: see Spec.
	QuotaPerMinute, QuotaPerHour, ReuseMinRemaining *int
}

// Create registers a client and returns it with its secret, which is not
// stored and cannot be shown again. A public client (token endpoint auth
// method "none") has no secret: the returned secret is "".
func (s *Service) Create(ctx context.Context, actor string, sp Spec) (store.Client, string, error) {
	var problems []string
	if sp.ID == "" {
		id, err := s.randomHex(12)
		if err != nil {
			return store.Client{}, "", err
		}
		sp.ID = id
	} else if err := CheckID(sp.ID); err != nil {
		problems = append(problems, err.Error())
	}
	if sp.GrantTypes == nil {
		sp.GrantTypes = []string{store.GrantClientCredentials}
	}
	if sp.Scopes == nil {
		sp.Scopes = s.catalog.Defaults()
		for _, id := range sp.Resources {
			if r := s.resource(strings.TrimSpace(id)); r != nil {
				sp.Scopes = append(sp.Scopes, r.Catalog.Defaults()...)
			}
		}
	}
	now := s.now().UTC()
	c := store.Client{
		ID: sp.ID, Name: sp.Name, Description: sp.Description, GrantTypes: dedupe(sp.GrantTypes),
		Scopes: dedupe(sp.Scopes), Accounts: dedupe(sp.Accounts), RedirectURIs: dedupe(sp.RedirectURIs),
		Audience: sp.Audience, TokenTTL: sp.TokenTTL, CreatedAt: now, UpdatedAt: now,
		Website: strings.TrimSpace(sp.Website), TokenEndpointAuthMethod: sp.TokenEndpointAuthMethod,
		RefreshWithClientCredentials: sp.RefreshWithClientCredentials, PKCEOptional: sp.PKCEOptional,
		JWKS: strings.TrimSpace(sp.JWKS), JWKSURI: strings.TrimSpace(sp.JWKSURI),
		Resources:      dedupe(sp.Resources),
		DPoPRequired:   sp.DPoPRequired,
		SelfRegistered: sp.SelfRegistered, RegistrationTokenDigest: sp.RegistrationTokenDigest,
		QuotaPerMinute: sp.QuotaPerMinute, QuotaPerHour: sp.QuotaPerHour, ReuseMinRemaining: sp.ReuseMinRemaining,
	}
	problems = append(problems, s.check(&c)...)
	switch c.SelfRegistered {
	case "", store.RegisteredOpen, store.RegisteredInitialAccessToken:
	default:
		problems = append(problems, fmt.Sprintf("self-registration policy %q is not known", printable(c.SelfRegistered)))
	}
	public := c.TokenEndpointAuthMethod == store.AuthMethodNone
	keyed := c.TokenEndpointAuthMethod == store.AuthMethodPrivateKeyJWT
	switch {
	case public && sp.Secret != "":
		problems = append(problems, "a public client (token endpoint auth method none) has no secret; do not supply one")
	case keyed && sp.Secret != "":
		problems = append(problems, "a private_key_jwt client authenticates with its keys and has no secret; do not supply one")
	case sp.Secret != "":
		if err := secret.CheckSupplied(sp.Secret); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return store.Client{}, "", &ValidationError{problems}
	}
	secretDetail, plain := "none (public client)", ""
	switch {
	case keyed && c.JWKSURI != "":
		secretDetail = "none (private_key_jwt, JWKS URI " + c.JWKSURI + ")"
	case keyed:
		secretDetail = "none (private_key_jwt, JWKS)"
	case !public:
		sec, p, err := s.newSecret(sp.Secret, now)
		if err != nil {
			return store.Client{}, "", err
		}
		c.Secrets = []store.Secret{sec}
		secretDetail, plain = sec.ID, p
	}
	ev := store.AuditEvent{Time: now, Actor: actor, Action: "client.create", Target: c.ID,
		Detail: fmt.Sprintf("name %q, grant types %s, scopes %s, secret %s", c.Name, list(c.GrantTypes), list(c.Scopes), secretDetail)}
	if c.PKCEOptional {
		ev.Detail += ", PKCE not required"
	}
	if len(c.Resources) > 0 {
		ev.Detail += ", resources " + list(c.Resources)
	}
	if c.DPoPRequired {
		ev.Detail += ", DPoP required"
	}
	if q := QuotaDetail(c); q != "" {
		ev.Detail += ", " + q
	}
	if c.SelfRegistered != "" {
		ev.Detail += ", self-registered (" + c.SelfRegistered + ")"
	}
	var err error
	if sp.InitialAccessToken != nil {
		_, err = s.st.CreateClientWithInitialAccessToken(ctx, c, sp.InitialAccessToken, now, ev)
		if errors.Is(err, store.ErrNotFound) {
			return store.Client{}, "", ErrInitialAccessToken
		}
	} else {
		err = s.st.CreateClient(ctx, c, ev)
	}
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.Client{}, "", fmt.Errorf("client ID %q is already taken: %w", c.ID, ErrConflict)
		}
		return store.Client{}, "", fmt.Errorf("create client: %w", err)
	}
	return c, plain, nil
}

// DefaultScopes returns the scopes a client created without a list of
// scopes is allowed: those the catalog marks default.
func (s *Service) DefaultScopes() []string { return s.catalog.Defaults() }

// Warnings lists what is legal about c but probably not meant: a client
// allowed no scope at all gets no tokens (the token endpoint answers
// invalid_scope).
func (s *Service) Warnings(c store.Client) []string {
	for _, sc := range c.Scopes {
		if s.knownScope(sc, c.Resources) {
			return nil
		}
	}
	return []string{fmt.Sprintf("client %q is allowed no scopes, so every token request it makes fails with invalid_scope", c.ID)}
}

// Get returns one client.
func (s *Service) Get(ctx context.Context, id string) (store.Client, error) {
	c, err := s.st.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return c, fmt.Errorf("client %q not found: %w", id, ErrNotFound)
	}
	return c, err
}

// List returns every client ordered by ID.
func (s *Service) List(ctx context.Context) ([]store.Client, error) {
	return s.st.ListClients(ctx)
}

// Update applies a patch. It refuses one that makes a public client
// confidential, which needs a new secret: see [Service.UpdateIssuingSecret].
func (s *Service) Update(ctx context.Context, actor, id string, p Patch, req ...Require) (store.Client, error) {
	c, _, err := s.update(ctx, actor, id, p, false, req)
	return c, err
}

// UpdateIssuingSecret applies a patch like Update and, when the patch makes
// a public client confidential, generates its secret and returns it (it is
// not stored and cannot be shown again); otherwise the secret is "".
func (s *Service) UpdateIssuingSecret(ctx context.Context, actor, id string, p Patch, req ...Require) (store.Client, string, error) {
	return s.update(ctx, actor, id, p, true, req)
}

func (s *Service) update(ctx context.Context, actor, id string, p Patch, mayIssue bool, req requires) (store.Client, string, error) {
	var changed []string
	var plain string
	ev := store.AuditEvent{Time: s.now().UTC(), Actor: actor, Action: "client.update", Target: id}
	c, err := s.st.UpdateClient(ctx, id, func(c *store.Client) error {
		if err := req.check(*c); err != nil {
			return err
		}
		changed = nil
		set := func(name string, dst *string, v *string) {
			if v != nil && *v != *dst {
				*dst = *v
				changed = append(changed, name)
			}
		}
		setList := func(name string, dst *[]string, v *[]string) {
			if v != nil && !slices.Equal(*dst, dedupe(*v)) {
				*dst = dedupe(*v)
				changed = append(changed, name)
			}
		}
		set("name", &c.Name, p.Name)
		set("description", &c.Description, p.Description)
		set("audience", &c.Audience, p.Audience)
		set("website", &c.Website, p.Website)
		if p.JWKS != nil && strings.TrimSpace(*p.JWKS) != c.JWKS {
			c.JWKS, c.JWKSURI = strings.TrimSpace(*p.JWKS), ""
			changed = append(changed, "JWKS")
		}
		if p.JWKSURI != nil && strings.TrimSpace(*p.JWKSURI) != c.JWKSURI {
			c.JWKSURI = strings.TrimSpace(*p.JWKSURI)
			if p.JWKS == nil || strings.TrimSpace(*p.JWKS) == "" {
				c.JWKS = ""
			}
			changed = append(changed, "JWKS URI "+printable(c.JWKSURI))
		}
		setList("grant types", &c.GrantTypes, p.GrantTypes)
		setList("scopes", &c.Scopes, p.Scopes)
		setList("accounts", &c.Accounts, p.Accounts)
		setList("redirect URIs", &c.RedirectURIs, p.RedirectURIs)
		setList("resources", &c.Resources, p.Resources)
		if p.TokenTTL != nil && *p.TokenTTL != c.TokenTTL {
			c.TokenTTL = *p.TokenTTL
			changed = append(changed, "token TTL")
		}
		if p.RefreshWithClientCredentials != nil && *p.RefreshWithClientCredentials != c.RefreshWithClientCredentials {
			c.RefreshWithClientCredentials = *p.RefreshWithClientCredentials
			changed = append(changed, "refresh with client credentials")
		}
		if p.PKCEOptional != nil && *p.PKCEOptional != c.PKCEOptional {
			c.PKCEOptional = *p.PKCEOptional
			changed = append(changed, map[bool]string{true: "PKCE not required", false: "PKCE required"}[c.PKCEOptional])
		}
		if p.DPoPRequired != nil && *p.DPoPRequired != c.DPoPRequired {
			c.DPoPRequired = *p.DPoPRequired
			changed = append(changed, map[bool]string{true: "DPoP required", false: "DPoP not required"}[c.DPoPRequired])
		}
		for _, f := range []struct {
			name  string
			to    *int
			field *int
		}{
			{"quota per minute", p.QuotaPerMinute, &c.QuotaPerMinute},
			{"quota per hour", p.QuotaPerHour, &c.QuotaPerHour},
			{"token reuse window", p.ReuseMinRemaining, &c.ReuseMinRemaining},
		} {
			if f.to != nil && *f.to != *f.field {
				*f.field = *f.to
				changed = append(changed, fmt.Sprintf("%s %s", f.name, limitText(*f.to, f.name == "token reuse window")))
			}
		}
		if p.Disabled != nil && *p.Disabled != c.Disabled {
			c.Disabled = *p.Disabled
			changed = append(changed, map[bool]string{true: "disabled", false: "enabled"}[c.Disabled])
		}
		plain = ""
		if m := p.TokenEndpointAuthMethod; m != nil && *m != c.AuthMethod() {
			old := c.AuthMethod()
			c.TokenEndpointAuthMethod = *m
			what := fmt.Sprintf("token endpoint auth method %s to %s", old, *m)
			switch {
			case !slices.Contains(authMethods, *m):
				// check reports it.
			case *m == store.AuthMethodNone || *m == store.AuthMethodPrivateKeyJWT:
				if len(c.Secrets) > 0 {
					what += " (secrets deleted)"
				}
				c.Secrets = nil
				if old == store.AuthMethodPrivateKeyJWT { // to none
					c.JWKS, c.JWKSURI = "", ""
				}
			case old == store.AuthMethodNone || old == store.AuthMethodPrivateKeyJWT:
				c.JWKS, c.JWKSURI = "", ""
				if !mayIssue {
					return &ValidationError{[]string{fmt.Sprintf("switching client %s from %s to %s issues a secret, which this caller cannot show; use the CLI: gatehouse clients update %s --token-endpoint-auth-method %s", c.ID, old, *m, c.ID, *m)}}
				}
				sec, pl, err := s.newSecret("", ev.Time)
				if err != nil {
					return err
				}
				c.Secrets, plain = []store.Secret{sec}, pl
				what += fmt.Sprintf(" (secret %s issued)", sec.ID)
			}
			changed = append(changed, what)
		}
		if IsMetadataDocumentID(c.ID) && slices.ContainsFunc(changed, func(ch string) bool { return ch != "enabled" && ch != "disabled" }) {
			return &ValidationError{[]string{fmt.Sprintf("client %s is described by its client ID metadata document, which the server fetches: only disable, enable or delete it here (changed: %s)", c.ID, strings.Join(changed, ", "))}}
		}
		if problems := s.check(c); len(problems) > 0 {
			return &ValidationError{problems}
		}
		c.UpdatedAt = ev.Time
		ev.Detail = "changed " + strings.Join(changed, ", ")
		if len(changed) == 0 {
			ev.Detail = "no changes"
		}
		return nil
	}, &ev)
	if err != nil {
		return c, "", s.wrap(id, err)
	}
	return c, plain, nil
}

// Delete removes a client; its secrets stop working at once and its tokens
// stop introspecting as active.
func (s *Service) Delete(ctx context.Context, actor, id string, req ...Require) error {
	ev := store.AuditEvent{Time: s.now().UTC(), Actor: actor, Action: "client.delete", Target: id}
	var check func(store.Client) error
	if len(req) > 0 {
		check = requires(req).check
	}
	return s.wrap(id, s.st.DeleteClient(ctx, id, check, ev))
}

// DeleteUnused deletes the clients registered under the self-registration
// policy (store.RegisteredOpen, say) that were created before before and
// not used since (no token issued to them, no secret used), each with its
// audit event by actor, and returns how many it deleted. Whether a client
// is still unused is checked again in the transaction that deletes it.
func (s *Service) DeleteUnused(ctx context.Context, actor, policy string, before time.Time) (int, error) {
	if policy == "" {
		return 0, errors.New("delete unused clients: a self-registration policy is required")
	}
	idle := func(c store.Client) error {
		if c.SelfRegistered != policy || !c.CreatedAt.Before(before) || !c.LastUsed().Before(before) {
			return errStillUsed
		}
		return nil
	}
	n, after := 0, ""
	for {
		page, err := s.st.ListClientPage(ctx, store.ClientQuery{After: after, Limit: 100, SelfRegistered: policy, IdleBefore: before})
		if err != nil {
			return n, err
		}
		for _, c := range page {
			ev := store.AuditEvent{Time: s.now().UTC(), Actor: actor, Action: "client.delete", Target: c.ID,
				Detail: fmt.Sprintf("self-registered (%s) and unused since %s", policy, before.UTC().Format(time.RFC3339))}
			switch err := s.st.DeleteClient(ctx, c.ID, idle, ev); {
			case err == nil:
				n++
			case errors.Is(err, errStillUsed), errors.Is(err, store.ErrNotFound):
			default:
				return n, err
			}
		}
		if len(page) < 100 {
			return n, nil
		}
		after = page[len(page)-1].ID
	}
}

var errStillUsed = errors.New("client used meanwhile")

// RotateSecret adds a new secret (supplied, or generated if empty) and makes
// the existing ones expire after grace (at once if grace is 0). It returns
// the new secret, which cannot be shown again.
func (s *Service) RotateSecret(ctx context.Context, actor, id string, grace time.Duration, supplied string, req ...Require) (store.Client, string, error) {
	if grace < 0 {
		return store.Client{}, "", &ValidationError{[]string{"grace period must not be negative"}}
	}
	if supplied != "" {
		if err := secret.CheckSupplied(supplied); err != nil {
			return store.Client{}, "", &ValidationError{[]string{err.Error()}}
		}
	}
	now := s.now().UTC()
	sec, plain, err := s.newSecret(supplied, now)
	if err != nil {
		return store.Client{}, "", err
	}
	until := now.Add(grace)
	ev := store.AuditEvent{Time: now, Actor: actor, Action: "client.rotate_secret", Target: id}
	c, err := s.st.UpdateClient(ctx, id, func(c *store.Client) error {
		if err := requires(req).check(*c); err != nil {
			return err
		}
		switch c.TokenEndpointAuthMethod {
		case store.AuthMethodNone:
			return &ValidationError{[]string{"a public client (token endpoint auth method none) has no secret to rotate"}}
		case store.AuthMethodPrivateKeyJWT:
			return &ValidationError{[]string{"a private_key_jwt client authenticates with its keys and has no secret to rotate; change its JWKS or JWKS URI"}}
		}
		kept := c.Secrets[:0]
		for _, old := range c.Secrets {
			if grace == 0 || (!old.ExpiresAt.IsZero() && !old.ExpiresAt.After(now)) {
				continue // expired, or revoked at once
			}
			if old.ExpiresAt.IsZero() || old.ExpiresAt.After(until) {
				old.ExpiresAt = until
			}
			kept = append(kept, old)
		}
		if len(kept)+1 > MaxActiveSecrets {
			return &ValidationError{[]string{fmt.Sprintf("client has %d active secrets (at most %d): revoke one or rotate with --grace 0", len(kept), MaxActiveSecrets)}}
		}
		c.Secrets = append(kept, sec)
		c.UpdatedAt = now
		ev.Detail = fmt.Sprintf("new secret %s; older secrets expire %s", sec.ID, graceText(grace, until))
		return nil
	}, &ev)
	if err != nil {
		return store.Client{}, "", s.wrap(id, err)
	}
	return c, plain, nil
}

// RevokeSecret removes one secret at once.
func (s *Service) RevokeSecret(ctx context.Context, actor, id, secretID string, req ...Require) (store.Client, error) {
	ev := store.AuditEvent{Time: s.now().UTC(), Actor: actor, Action: "client.revoke_secret", Target: id, Detail: "revoked secret " + secretID}
	c, err := s.st.UpdateClient(ctx, id, func(c *store.Client) error {
		if err := requires(req).check(*c); err != nil {
			return err
		}
		i := slices.IndexFunc(c.Secrets, func(s store.Secret) bool { return s.ID == secretID })
		if i < 0 {
			return fmt.Errorf("client %q has no secret %q: %w", id, secretID, ErrNoSuchSecret)
		}
		c.Secrets = slices.Delete(c.Secrets, i, i+1)
		c.UpdatedAt = ev.Time
		return nil
	}, &ev)
	return c, s.wrap(id, err)
}

// RevokeTokens revokes everything issued to the client until now, for a
// client whose secret leaked, and returns now (to the microsecond, as
// stored): every access token issued to it until now, which is every one
// whose iat (whole seconds) is at or before now's second, introspects as
// inactive at once and is refused by resource servers within their poll of
// the revocation feed; every refresh token of the client is revoked. The
// revocation is recorded with an audit event and kept until the last of
// those access tokens expires: the end of now's second plus the longest
// token lifetime (maxTTL).
//
// It does not stop the client from getting new tokens: after a leak,
// rotate the secret away first (RotateSecret with grace 0) and wait for
// every node to see that (cache.max_staleness), then revoke.
func (s *Service) RevokeTokens(ctx context.Context, actor, id string, req ...Require) (time.Time, error) {
	now := s.now().UTC().Truncate(time.Microsecond)
	// A token issued later in now's second has now's second as its iat and
	// is revoked too (fail closed): it expires by maxTTL after that second.
	until := time.Unix(IATBefore(now), 0).UTC().Add(s.maxTTL)
	ev := store.AuditEvent{Time: now, Actor: actor, Action: "client.revoke_tokens", Target: id,
		Detail: fmt.Sprintf("revoked the access tokens issued until %s (iat at or before %s) and every refresh token",
			now.Format(time.RFC3339Nano), now.Truncate(time.Second).Format(time.RFC3339))}
	var check func(store.Client) error
	if len(req) > 0 {
		check = requires(req).check
	}
	if err := s.st.RevokeClientTokens(ctx, id, now, until, check, ev); err != nil {
		return time.Time{}, s.wrap(id, err)
	}
	return now, nil
}

// IATBefore is what a revocation of a client's tokens issued until t
// revokes, as the revocation feed says it (iat_before): the tokens whose
// iat is less than it, the Unix time of the second after t's. A token's
// iat is whole seconds, so one issued in t's second, even after t, is
// revoked too.
func IATBefore(t time.Time) int64 { return t.Unix() + 1 }

func (s *Service) wrap(id string, err error) error {
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if errors.As(err, &ve) || errors.Is(err, ErrNoSuchSecret) {
		return err
	}
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("client %q not found: %w", id, ErrNotFound)
	}
	return err
}

func graceText(grace time.Duration, until time.Time) string {
	if grace == 0 {
		return "now"
	}
	return "in " + duration.Format(grace) + " (" + until.Format(time.RFC3339) + ")"
}

func (s *Service) newSecret(supplied string, now time.Time) (store.Secret, string, error) {
	plain := supplied
	if plain == "" {
		var err error
		if plain, err = secret.Generate(s.rand); err != nil {
			return store.Secret{}, "", err
		}
	}
	id, err := s.randomHex(8)
	if err != nil {
		return store.Secret{}, "", err
	}
	return store.Secret{ID: "sec_" + id, Digest: secret.Digest(plain), Hint: secret.Hint(plain), CreatedAt: now}, plain, nil
}

func (s *Service) randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// CheckID validates a client ID: 3–64 characters of [A-Za-z0-9._-].
func CheckID(id string) error {
	if len(id) < 3 || len(id) > 64 {
		return fmt.Errorf("client ID %q must be 3 to 64 characters long", printable(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("client ID %q may contain only letters, digits, '.', '_' and '-'", printable(id))
		}
	}
	return nil
}

var supportedGrants = []string{store.GrantClientCredentials, store.GrantAuthorizationCode, store.GrantRefreshToken}

var authMethods = []string{store.AuthMethodSecretBasic, store.AuthMethodSecretPost, store.AuthMethodPrivateKeyJWT, store.AuthMethodNone}

// check lists what is wrong with a client's fields.
func (s *Service) check(c *store.Client) []string {
	var p []string
	if c.QuotaPerMinute < store.QuotaNone || c.QuotaPerHour < store.QuotaNone {
		p = append(p, "a token quota is a number of tokens, 0 for the server's default, or -1 for none")
	}
	if c.QuotaPerMinute > 0 && c.QuotaPerHour > 0 && c.QuotaPerHour < c.QuotaPerMinute {
		p = append(p, fmt.Sprintf("the quota per hour (%d) is below the quota per minute (%d)", c.QuotaPerHour, c.QuotaPerMinute))
	}
	if c.ReuseMinRemaining < store.ReuseOff || c.ReuseMinRemaining > 99 {
		p = append(p, fmt.Sprintf("token reuse window %d: use a percentage from 1 to 99, 0 for the server's default, or -1 for off", c.ReuseMinRemaining))
	}
	if strings.TrimSpace(c.Name) == "" {
		p = append(p, "name is required")
	} else if len(c.Name) > 200 {
		p = append(p, "name is longer than 200 characters")
	}
	if len(c.Description) > 2000 {
		p = append(p, "description is longer than 2000 characters")
	}
	if len(c.GrantTypes) == 0 {
		p = append(p, "at least one grant type is required")
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(supportedGrants, g) {
			p = append(p, fmt.Sprintf("grant type %q is not supported (supported: %s)", printable(g), strings.Join(supportedGrants, ", ")))
		}
	}
	switch m := c.TokenEndpointAuthMethod; {
	case m != "" && !slices.Contains(authMethods, m):
		p = append(p, fmt.Sprintf("token endpoint auth method %q is not supported (supported: %s)", printable(m), strings.Join(authMethods, ", ")))
	case m == store.AuthMethodNone && slices.Contains(c.GrantTypes, store.GrantClientCredentials):
		p = append(p, "a public client (token endpoint auth method none) cannot use the client_credentials grant: it has no secret")
	}
	switch {
	case c.TokenEndpointAuthMethod != store.AuthMethodPrivateKeyJWT:
		if c.JWKS != "" || c.JWKSURI != "" {
			p = append(p, "a JWKS or JWKS URI is only for the private_key_jwt token endpoint auth method")
		}
	case c.JWKS != "" && c.JWKSURI != "":
		p = append(p, "private_key_jwt: register either a JWKS or a JWKS URI, not both")
	case c.JWKS != "":
		if _, err := ParseJWKS([]byte(c.JWKS)); err != nil {
			p = append(p, err.Error())
		}
	case c.JWKSURI != "":
		if err := CheckJWKSURI(c.JWKSURI); err != nil {
			p = append(p, err.Error())
		}
	default:
		p = append(p, "private_key_jwt needs the client's public keys: a JWKS or a JWKS URI")
	}
	if c.PKCEOptional && c.TokenEndpointAuthMethod == store.AuthMethodNone {
		p = append(p, "a public client (token endpoint auth method none) always needs PKCE: it has no secret to prove the code is its own; only a confidential client may be registered with --require-pkce=false")
	}
	if slices.Contains(c.GrantTypes, store.GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		p = append(p, "the authorization_code grant needs at least one redirect URI")
	}
	if slices.Contains(c.GrantTypes, store.GrantRefreshToken) && !slices.Contains(c.GrantTypes, store.GrantAuthorizationCode) && !slices.Contains(c.GrantTypes, store.GrantClientCredentials) {
		p = append(p, "the refresh_token grant needs authorization_code (or client_credentials) to start from")
	}
	if c.RefreshWithClientCredentials && !(slices.Contains(c.GrantTypes, store.GrantClientCredentials) && slices.Contains(c.GrantTypes, store.GrantRefreshToken)) {
		p = append(p, "refresh tokens with client credentials need both the client_credentials and the refresh_token grant")
	}
	if w := c.Website; w != "" {
		if u, err := url.Parse(w); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p = append(p, fmt.Sprintf("website %q must be an http or https URL", printable(w)))
		} else if len(w) > 2000 {
			p = append(p, "website is longer than 2000 characters")
		}
	}
	for _, sc := range c.Scopes {
		switch {
		case strings.HasPrefix(sc, scope.AccountPrefix):
			p = append(p, fmt.Sprintf("scope %q: account scopes are not granted to clients; allow accounts with --accounts", printable(sc)))
		case !s.knownScope(sc, c.Resources):
			known := append(s.catalog.Names(), s.extra...)
			for _, id := range c.Resources {
				if r := s.resource(id); r != nil {
					for _, n := range r.Catalog.Names() {
						if !slices.Contains(known, n) {
							known = append(known, n)
						}
					}
				}
			}
			where := "the scope catalog"
			if len(c.Resources) > 0 {
				where = "the scope catalog or the catalogs of the client's resources"
			}
			p = append(p, fmt.Sprintf("scope %q is not in %s (known: %s)", printable(sc), where, strings.Join(known, ", ")))
		}
	}
	if len(c.Resources) > 100 {
		p = append(p, "more than 100 resources")
	}
	for _, id := range c.Resources {
		if s.resource(id) == nil {
			known := make([]string, len(s.resources))
			for i, r := range s.resources {
				known[i] = r.ID
			}
			hint := "none are configured: add it to resources: in the configuration"
			if len(known) > 0 {
				hint = "configured: " + strings.Join(known, ", ")
			}
			p = append(p, fmt.Sprintf("resource %q is not a configured resource (%s)", printable(id), hint))
		}
	}
	for _, a := range c.Accounts {
		if a == store.AnyAccount {
			if len(c.Accounts) > 1 {
				p = append(p, `accounts: "*" (any account) cannot be combined with account IDs`)
			}
			continue
		}
		if _, ok := scope.AccountID(scope.AccountPrefix + a); !ok {
			p = append(p, fmt.Sprintf("account ID %q must be 1 to 128 characters of letters, digits, '.', '_' and '-'", printable(a)))
		}
	}
	for _, u := range c.RedirectURIs {
		if err := CheckRedirectURI(u); err != nil {
			p = append(p, err.Error())
		}
	}
	if len(c.Audience) > 512 {
		p = append(p, "audience is longer than 512 characters")
	}
	switch {
	case c.TokenTTL < 0:
		p = append(p, "token TTL must not be negative")
	case c.TokenTTL > 0 && c.TokenTTL < time.Minute:
		p = append(p, "token TTL must be at least 1m")
	case c.TokenTTL > s.maxTTL:
		p = append(p, fmt.Sprintf("token TTL %s exceeds the configured maximum %s", duration.Format(c.TokenTTL), duration.Format(s.maxTTL)))
	}
	return p
}

func dedupe(in []string) []string {
	var out []string
	for _, v := range in {
		v = strings.TrimSpace(v)
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func list(v []string) string {
	if len(v) == 0 {
		return "(none)"
	}
	return strings.Join(v, " ")
}

func printable(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// QuotaDetail describes the client's own quotas and reuse window for an
// audit event; "" if it has none (it follows the server's defaults).
func QuotaDetail(c store.Client) string {
	var parts []string
	if c.QuotaPerMinute != 0 {
		parts = append(parts, "quota per minute "+limitText(c.QuotaPerMinute, false))
	}
	if c.QuotaPerHour != 0 {
		parts = append(parts, "quota per hour "+limitText(c.QuotaPerHour, false))
	}
	if c.ReuseMinRemaining != 0 {
		parts = append(parts, "token reuse window "+limitText(c.ReuseMinRemaining, true))
	}
	return strings.Join(parts, ", ")
}

// limitText says what a quota or a reuse window's value means.
func limitText(v int, percent bool) string {
	switch {
	case v == 0:
		return "the server's default"
	case v < 0 && percent:
		return "off"
	case v < 0:
		return "none"
	case percent:
		return fmt.Sprintf("%d%% of the lifetime left", v)
	}
	return strconv.Itoa(v)
}
