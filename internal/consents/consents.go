// Package consents is the service layer for remembered consents: the
// scopes a user allowed a client. The authorization endpoint and the
// console's "Authorized apps" page go through it: it decides whether a
// request needs the consent page, records an approval (adding the approved
// scopes to what the user granted before, in one store transaction),
// lists a user's consents (and, for the admin API, pages of a user's or a
// client's) and revokes one, with its audit event and the revocation of the
// refresh tokens issued under it. Labels turns scope names into what both
// pages show.
package consents

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/scope"
)

// Store is what the service needs from the store.
type Store interface {
	GetClient(ctx context.Context, id string) (store.Client, error)
	GetConsent(ctx context.Context, userID, clientID string) (store.Consent, error)
	ListConsents(ctx context.Context, userID string) ([]store.Consent, error)
	ListConsentPage(ctx context.Context, q store.ConsentQuery) ([]store.Consent, error)
	UpdateConsent(ctx context.Context, userID, clientID string, fn func(*store.Consent) error) (store.Consent, error)
	DeleteConsent(ctx context.Context, userID, clientID string, ev store.AuditEvent) error
}

var _ Store = store.Store(nil)

// ErrNotFound: the user has not authorized the client.
var ErrNotFound = store.ErrNotFound

// Service owns the consent rules.
type Service struct {
	st        Store
	catalog   *scope.Catalog
	resources []Resource
	now       func() time.Time
}

// Resource is an API besides the default one (RFC 8707) whose scopes a
// consent may hold: recorded as "<ID>#<scope>" (a resource identifier has
// no fragment, so such an entry is never a scope of the default catalog's
// by another name), labelled from Catalog.
type Resource struct {
	ID, Name string // Name "" = ID
	Catalog  *scope.Catalog
}

// WithResources makes the service label the scopes of rs too, and returns
// it. Call it before the service is used.
func (s *Service) WithResources(rs []Resource) *Service {
	s.resources = rs
	return s
}

// New returns a Service. catalog labels the scopes (nil: scope.Default());
// now defaults to time.Now.
func New(st Store, catalog *scope.Catalog, now func() time.Time) *Service {
	if catalog == nil {
		catalog = scope.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, catalog: catalog, now: now}
}

// Covers reports whether the user has already allowed the client every
// scope in scopes, so that the authorization endpoint need not ask again.
func (s *Service) Covers(ctx context.Context, userID, clientID string, scopes []string) (bool, error) {
	c, err := s.st.GetConsent(ctx, userID, clientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("load consent: %w", err)
	}
	for _, sc := range scopes {
		if !slices.Contains(c.Scopes, sc) {
			return false, nil
		}
	}
	return true, nil
}

// Approve records that the user allowed the client scopes: they are added
// to the scopes the user allowed it before, and the consent's time is now.
// The union is computed inside one store transaction, so concurrent
// approvals of different scopes keep them all.
func (s *Service) Approve(ctx context.Context, userID, clientID string, scopes []string) (store.Consent, error) {
	at := s.now().UTC()
	c, err := s.st.UpdateConsent(ctx, userID, clientID, func(c *store.Consent) error {
		for _, sc := range scopes {
			if !slices.Contains(c.Scopes, sc) {
				c.Scopes = append(c.Scopes, sc)
			}
		}
		c.GrantedAt = at
		return nil
	})
	if err != nil {
		return store.Consent{}, fmt.Errorf("save consent: %w", err)
	}
	return c, nil
}

// App is a client the user authorized, as the "Authorized apps" page
// shows it.
type App struct {
	ClientID, Name, Website string // Name is the client ID if the client is gone
	Scopes                  []Label
	GrantedAt               time.Time
}

// List returns the apps the user authorized, ordered by client ID.
func (s *Service) List(ctx context.Context, userID string) ([]App, error) {
	cs, err := s.st.ListConsents(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list consents: %w", err)
	}
	var out []App
	for _, c := range cs {
		a := App{ClientID: c.ClientID, Name: c.ClientID, GrantedAt: c.GrantedAt, Scopes: s.Labels(c.Scopes)}
		cl, err := s.st.GetClient(ctx, c.ClientID)
		switch {
		case err == nil:
			a.Name, a.Website = cl.Name, cl.Website
		case !errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("load client %q: %w", c.ClientID, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// Page returns at most q.Limit consents, of q.UserID or to q.ClientID (at
// least one of them is required), ordered by user ID and then client ID,
// after (q.AfterUser, q.AfterClient).
func (s *Service) Page(ctx context.Context, q store.ConsentQuery) ([]store.Consent, error) {
	if q.UserID == "" && q.ClientID == "" {
		return nil, errors.New("list consents: name a user, a client or both")
	}
	cs, err := s.st.ListConsentPage(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list consents: %w", err)
	}
	return cs, nil
}

// Revoke removes the user's consent for the client and revokes the refresh
// tokens issued under it, recording a consent.revoke audit event by actor,
// all in one transaction: the user revokes an app's access. ErrNotFound if
// the user has not authorized the client.
func (s *Service) Revoke(ctx context.Context, actor string, user store.User, clientID string) error {
	return s.revoke(ctx, actor, user, clientID, fmt.Sprintf("user %q (%s) revoked the app's access", user.Username, user.ID))
}

// RevokeFor is Revoke by an administrator (actor) for the user.
func (s *Service) RevokeFor(ctx context.Context, actor string, user store.User, clientID string) error {
	return s.revoke(ctx, actor, user, clientID, fmt.Sprintf("the app's access for user %q (%s) revoked by an administrator", user.Username, user.ID))
}

func (s *Service) revoke(ctx context.Context, actor string, user store.User, clientID, detail string) error {
	ev := store.AuditEvent{Time: s.now().UTC(), Actor: actor, Action: "consent.revoke", Target: clientID, Detail: detail}
	if err := s.st.DeleteConsent(ctx, user.ID, clientID, ev); err != nil {
		return fmt.Errorf("revoke consent: %w", err)
	}
	return nil
}

// Label is a scope as the consent and "Authorized apps" pages show it.
type Label struct {
	Name  string
	Label string // the catalog's label; for account:<id>, "Limited to the account <id>"; else the name
	// Account is the account of an account:<id> scope, "" for others.
	Account string
	// Resource names the resource (RFC 8707) a scope is of, for an entry
	// "<resource ID>#<scope>"; "" for the default resource's.
	Resource string
}

// Labels pairs scope names with what the pages show for them, in order.
func (s *Service) Labels(names []string) []Label {
	out := make([]Label, 0, len(names))
	for _, n := range names {
		l := Label{Name: n, Label: n}
		if id, sc, ok := strings.Cut(n, "#"); ok {
			l.Name, l.Label, l.Resource = sc, sc, id
			for _, r := range s.resources {
				if r.ID != id {
					continue
				}
				if r.Name != "" {
					l.Resource = r.Name
				}
				if def, ok := r.Catalog.Get(sc); ok && def.Label != "" {
					l.Label = def.Label
				}
			}
		} else if sc, ok := s.catalog.Get(n); ok && sc.Label != "" {
			l.Label = sc.Label
		} else if acct, ok := scope.AccountID(n); ok {
			l.Account, l.Label = acct, "Limited to the account "+acct
		}
		out = append(out, l)
	}
	return out
}
