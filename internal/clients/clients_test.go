package clients

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/scope"
)

type fixture struct {
	svc *Service
	st  store.Store
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/g.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, now: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)}
	f.svc = NewService(st, scope.Default(), 30*24*time.Hour, func() time.Time { return f.now }, rand.Reader)
	return f
}

func TestCreate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, plain, err := f.svc.Create(ctx, "tester", Spec{Name: "Billing", Scopes: []string{"search", "search", "api"}, Accounts: []string{"acme"}, TokenTTL: 14 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(plain, secret.Prefix) || len(plain) != 47 {
		t.Errorf("secret: got %q, want ghs_ + 43 base64url characters", plain)
	}
	if len(c.ID) != 24 || CheckID(c.ID) != nil {
		t.Errorf("generated ID: got %q", c.ID)
	}
	got, err := f.svc.Get(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.Scopes, " ") != "search api" || strings.Join(got.GrantTypes, " ") != "client_credentials" {
		t.Errorf("stored: got scopes %v grants %v", got.Scopes, got.GrantTypes)
	}
	if len(got.Secrets) != 1 || !secret.Matches(plain, got.Secrets[0].Digest) || strings.Contains(got.Secrets[0].Hint, plain[8:]) {
		t.Errorf("stored secret: got %+v", got.Secrets)
	}
	ev, _ := f.st.ListAudit(ctx, store.AuditFilter{Target: c.ID})
	if len(ev) != 1 || ev[0].Action != "client.create" || ev[0].Actor != "tester" || strings.Contains(ev[0].Detail, plain) {
		t.Errorf("audit: got %+v", ev)
	}

	if _, _, err := f.svc.Create(ctx, "tester", Spec{ID: c.ID, Name: "dup"}); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate ID: got %v, want ErrConflict", err)
	}
}

func TestCreateValidation(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		spec Spec
		want []string
	}{
		{"everything wrong", Spec{ID: "a!", Name: " ", Scopes: []string{"nope", "account:x"}, Accounts: []string{"*", "acme"},
			GrantTypes: []string{"password"}, TokenTTL: 31 * 24 * time.Hour, RedirectURIs: []string{"http://example.com/cb", "/relative"}},
			[]string{"client ID", "name is required", `scope "nope"`, "account scopes", `"*"`, `grant type "password"`, "exceeds the configured maximum", "https", "absolute URI"}},
		{"short secret", Spec{Name: "x", Secret: "short"}, []string{"at least 32"}},
		{"short ttl", Spec{Name: "x", TokenTTL: time.Second}, []string{"at least 1m"}},
		{"bad account", Spec{Name: "x", Accounts: []string{"a b"}}, []string{"account ID"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.svc.Create(context.Background(), "t", tc.spec)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a ValidationError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to mention %q", err, w)
				}
			}
			if len(ve.Problems) < len(tc.want) {
				t.Errorf("got %d problems, want at least %d: %q", len(ve.Problems), len(tc.want), ve.Problems)
			}
		})
	}
	if cs, _ := f.svc.List(context.Background()); len(cs) != 0 {
		t.Errorf("invalid creates stored %d clients", len(cs))
	}
}

func TestRotateAndRevokeSecret(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, first, _ := f.svc.Create(ctx, "t", Spec{Name: "x"})

	c, second, err := f.svc.RotateSecret(ctx, "t", c.ID, 24*time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Secrets) != 2 || !c.Secrets[0].ExpiresAt.Equal(f.now.Add(24*time.Hour)) || !c.Secrets[1].ExpiresAt.IsZero() {
		t.Fatalf("after rotation with grace: got %+v", c.Secrets)
	}
	if !secret.Matches(second, c.Secrets[1].Digest) || secret.Matches(first, c.Secrets[1].Digest) {
		t.Fatal("new secret digest mismatch")
	}
	// A second rotation shortens nothing that already expires sooner, and drops expired secrets.
	f.now = f.now.Add(25 * time.Hour)
	c, _, err = f.svc.RotateSecret(ctx, "t", c.ID, 48*time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Secrets) != 2 || !c.Secrets[0].ExpiresAt.Equal(f.now.Add(48*time.Hour)) {
		t.Fatalf("after second rotation: got %+v", c.Secrets)
	}
	// Grace 0: only the new secret remains.
	c, third, err := f.svc.RotateSecret(ctx, "t", c.ID, 0, strings.Repeat("x", 40))
	if err != nil || third != strings.Repeat("x", 40) {
		t.Fatal(err)
	}
	if len(c.Secrets) != 1 {
		t.Fatalf("after rotation with grace 0: got %d secrets, want 1", len(c.Secrets))
	}
	if _, err := f.svc.RevokeSecret(ctx, "t", c.ID, "sec_nope"); !errors.Is(err, ErrNoSuchSecret) {
		t.Errorf("revoke unknown secret: got %v", err)
	}
	c, err = f.svc.RevokeSecret(ctx, "t", c.ID, c.Secrets[0].ID)
	if err != nil || len(c.Secrets) != 0 {
		t.Fatalf("revoke: got %v, %d secrets", err, len(c.Secrets))
	}
	// At most MaxActiveSecrets.
	for i := 0; i < MaxActiveSecrets; i++ {
		if _, _, err = f.svc.RotateSecret(ctx, "t", c.ID, time.Hour, ""); err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
	}
	if _, _, err = f.svc.RotateSecret(ctx, "t", c.ID, time.Hour, ""); err == nil {
		t.Errorf("rotation beyond %d active secrets: got nil error", MaxActiveSecrets)
	}
	ev, _ := f.st.ListAudit(ctx, store.AuditFilter{Target: c.ID, Action: "client.rotate_secret"})
	if len(ev) != 3+MaxActiveSecrets {
		t.Errorf("rotation audit events: got %d, want %d", len(ev), 3+MaxActiveSecrets)
	}
	if _, _, err := f.svc.RotateSecret(ctx, "t", "missing", 0, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("rotate missing client: got %v", err)
	}
}

func TestUpdateAndDelete(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, _, _ := f.svc.Create(ctx, "t", Spec{Name: "x", Scopes: []string{"search"}})
	name, yes := "renamed", true
	scopes := []string{"api", "profile"}
	ttl := 2 * time.Hour
	f.now = f.now.Add(time.Minute)
	u, err := f.svc.Update(ctx, "t", c.ID, Patch{Name: &name, Scopes: &scopes, Disabled: &yes, TokenTTL: &ttl})
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "renamed" || !u.Disabled || u.TokenTTL != ttl || strings.Join(u.Scopes, " ") != "api profile" || !u.UpdatedAt.Equal(f.now) {
		t.Errorf("updated: got %+v", u)
	}
	bad := []string{"nope"}
	if _, err := f.svc.Update(ctx, "t", c.ID, Patch{Scopes: &bad}); err == nil {
		t.Error("update to unknown scope: got nil error")
	}
	got, _ := f.svc.Get(ctx, c.ID)
	if strings.Join(got.Scopes, " ") != "api profile" {
		t.Errorf("failed update changed scopes to %v", got.Scopes)
	}
	ev, _ := f.st.ListAudit(ctx, store.AuditFilter{Target: c.ID, Action: "client.update"})
	if len(ev) != 1 || !strings.Contains(ev[0].Detail, "scopes") {
		t.Errorf("update audit: got %+v", ev)
	}
	if err := f.svc.Delete(ctx, "t", c.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Delete(ctx, "t", c.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: got %v, want ErrNotFound", err)
	}
}

func FuzzCheckID(f *testing.F) {
	for _, s := range []string{"abc", "a", "my-app.v2_x", "has space", "ünï", strings.Repeat("a", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := CheckID(id)
		valid := len(id) >= 3 && len(id) <= 64
		for _, r := range id {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
				valid = false
			}
		}
		if (err == nil) != valid {
			t.Fatalf("CheckID(%q) = %v, want valid=%v", id, err, valid)
		}
	})
}

// TestExtraScopes: a scope the server checks itself (the revocation feed's)
// is allowed for clients only when the service is told about it.
func TestExtraScopes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const feed = "gatehouse:revocations"
	_, _, err := f.svc.Create(ctx, "t", Spec{Name: "gateway", Scopes: []string{feed}})
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), `scope "gatehouse:revocations" is not in the scope catalog`) {
		t.Fatalf("create with %s on a plain service: got %v, want a ValidationError naming the scope", feed, err)
	}

	svc := NewService(f.st, scope.Default(), 30*24*time.Hour, func() time.Time { return f.now }, rand.Reader, feed, "", feed)
	c, _, err := svc.Create(ctx, "t", Spec{Name: "gateway", Scopes: []string{"search", feed}})
	if err != nil {
		t.Fatalf("create with %s: %v", feed, err)
	}
	if got, want := strings.Join(c.Scopes, " "), "search "+feed; got != want {
		t.Errorf("scopes: got %q, want %q", got, want)
	}
	only := []string{feed}
	if _, err := svc.Update(ctx, "t", c.ID, Patch{Scopes: &only}); err != nil {
		t.Errorf("update to scopes %q: %v", only, err)
	}
	_, _, err = svc.Create(ctx, "t", Spec{Name: "x", Scopes: []string{"nope"}})
	if err == nil || !strings.Contains(err.Error(), "known: profile, search, api:read-only, api, "+feed) {
		t.Errorf("create with an unknown scope: got %v, want the known scopes listed with %s", err, feed)
	}
}

// TestPKCEOptional: a confidential client may be registered without PKCE
// (audited as such); a public client never may, on create or update.
func TestPKCEOptional(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	web := Spec{Name: "Cerb", GrantTypes: []string{store.GrantAuthorizationCode}, RedirectURIs: []string{"https://cerb.example/cb"}, PKCEOptional: true}
	c, _, err := f.svc.Create(ctx, "t", web)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := f.svc.Get(ctx, c.ID); !got.PKCEOptional {
		t.Errorf("stored PKCEOptional: got false, want true")
	}
	ev, _ := f.st.ListAudit(ctx, store.AuditFilter{Target: c.ID, Action: "client.create"})
	if len(ev) != 1 || !strings.Contains(ev[0].Detail, "PKCE not required") {
		t.Errorf("create audit: got %+v, want the detail to say PKCE not required", ev)
	}
	no := false
	if u, err := f.svc.Update(ctx, "t", c.ID, Patch{PKCEOptional: &no}); err != nil || u.PKCEOptional {
		t.Errorf("update to PKCE required: got %v, %v", u.PKCEOptional, err)
	}
	ev, _ = f.st.ListAudit(ctx, store.AuditFilter{Target: c.ID, Action: "client.update"})
	if len(ev) != 1 || ev[0].Detail != "changed PKCE required" {
		t.Errorf("update audit: got %+v, want changed PKCE required", ev)
	}

	pub := web
	pub.TokenEndpointAuthMethod = store.AuthMethodNone
	if _, _, err := f.svc.Create(ctx, "t", pub); err == nil || !strings.Contains(err.Error(), "public client") || !strings.Contains(err.Error(), "PKCE") {
		t.Errorf("public client without PKCE: got %v, want a validation error about PKCE", err)
	}
	pub.PKCEOptional = false
	p, _, err := f.svc.Create(ctx, "t", pub)
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	if _, err := f.svc.Update(ctx, "t", p.ID, Patch{PKCEOptional: &yes}); err == nil || !strings.Contains(err.Error(), "always needs PKCE") {
		t.Errorf("update public client to no PKCE: got %v, want a validation error", err)
	}
}

// TestDefaultScopes: a client created without a list of scopes is allowed
// the catalog's default ones; an explicit empty list means none, and is
// warned about, as is a client whose scopes all left the catalog.
func TestDefaultScopes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cat, err := scope.Parse([]byte("profile: {label: P}\nsearch: {label: S, default: true}\napi: {label: A, default: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	svc := NewService(f.st, cat, 30*24*time.Hour, func() time.Time { return f.now }, rand.Reader, "gatehouse:revocations")
	if got := strings.Join(svc.DefaultScopes(), " "); got != "search api" {
		t.Errorf("DefaultScopes() = %q, want %q", got, "search api")
	}
	tests := []struct {
		name   string
		scopes []string
		want   string
		warn   bool
	}{
		{"nil: the defaults", nil, "search api", false},
		{"empty: none", []string{}, "", true},
		{"given", []string{"profile"}, "profile", false},
		{"only a scope the server checks", []string{"gatehouse:revocations"}, "gatehouse:revocations", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := svc.Create(ctx, "t", Spec{Name: tt.name, Scopes: tt.scopes})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(c.Scopes, " "); got != tt.want {
				t.Errorf("scopes = %q, want %q", got, tt.want)
			}
			stored, _ := svc.Get(ctx, c.ID)
			if got := strings.Join(stored.Scopes, " "); got != tt.want {
				t.Errorf("stored scopes = %q, want %q", got, tt.want)
			}
			w := svc.Warnings(c)
			if got := len(w) > 0; got != tt.warn {
				t.Errorf("Warnings() = %q, want a warning: %v", w, tt.warn)
			}
			if tt.warn && !strings.Contains(w[0], "allowed no scopes") {
				t.Errorf("warning = %q, want it to say the client is allowed no scopes", w[0])
			}
		})
	}

	// The built-in catalog's default is api.
	c, _, err := f.svc.Create(ctx, "t", Spec{Name: "Named only"})
	if err != nil || strings.Join(c.Scopes, " ") != "api" {
		t.Errorf("built-in catalog: scopes = %q, %v; want api", c.Scopes, err)
	}
	// A client whose scopes are gone from the catalog is warned about too.
	if w := f.svc.Warnings(store.Client{ID: "old", Scopes: []string{"gone"}}); len(w) != 1 {
		t.Errorf("Warnings(scopes not in the catalog) = %q, want one", w)
	}
}

func TestUpdateAuthMethod(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ptr := func(s string) *string { return &s }
	grants := func(g ...string) *[]string { return &g }
	web := Spec{Name: "Web", GrantTypes: []string{store.GrantClientCredentials, store.GrantAuthorizationCode}, RedirectURIs: []string{"https://app.example/cb"}}
	c, plain, err := f.svc.Create(ctx, "t", web)
	if err != nil {
		t.Fatal(err)
	}

	// basic <-> post keeps the secret.
	got, sec, err := f.svc.UpdateIssuingSecret(ctx, "t", c.ID, Patch{TokenEndpointAuthMethod: ptr(store.AuthMethodSecretPost)})
	if err != nil || sec != "" || got.AuthMethod() != store.AuthMethodSecretPost || len(got.Secrets) != 1 || !secret.Matches(plain, got.Secrets[0].Digest) {
		t.Fatalf("to client_secret_post: got %s, %d secrets, new secret %q, %v; want the same secret", got.AuthMethod(), len(got.Secrets), sec, err)
	}

	// To none: refused while the client keeps client_credentials...
	_, err = f.svc.Update(ctx, "t", c.ID, Patch{TokenEndpointAuthMethod: ptr(store.AuthMethodNone)})
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "cannot use the client_credentials grant") {
		t.Fatalf("to none with client_credentials: got %v, want a validation error", err)
	}
	if got, _ := f.svc.Get(ctx, c.ID); got.AuthMethod() != store.AuthMethodSecretPost || len(got.Secrets) != 1 {
		t.Fatalf("a refused update changed the client: %s, %d secrets", got.AuthMethod(), len(got.Secrets))
	}
	// ...and, without it, deletes the secrets.
	got, err = f.svc.Update(ctx, "t", c.ID, Patch{TokenEndpointAuthMethod: ptr(store.AuthMethodNone), GrantTypes: grants(store.GrantAuthorizationCode)})
	if err != nil || got.AuthMethod() != store.AuthMethodNone || len(got.Secrets) != 0 {
		t.Fatalf("to none: got %s, %d secrets, %v; want none and no secrets", got.AuthMethod(), len(got.Secrets), err)
	}

	// Back to a secret: Update refuses, UpdateIssuingSecret issues one.
	if _, err := f.svc.Update(ctx, "t", c.ID, Patch{TokenEndpointAuthMethod: ptr(store.AuthMethodSecretBasic)}); !errors.As(err, &ve) {
		t.Fatalf("Update from none: got %v, want a validation error", err)
	}
	got, sec, err = f.svc.UpdateIssuingSecret(ctx, "t", c.ID, Patch{TokenEndpointAuthMethod: ptr(store.AuthMethodSecretBasic)})
	if err != nil || !strings.HasPrefix(sec, secret.Prefix) || len(got.Secrets) != 1 || !secret.Matches(sec, got.Secrets[0].Digest) || got.AuthMethod() != store.AuthMethodSecretBasic {
		t.Fatalf("from none: got %s, %d secrets, secret %q, %v; want one new secret", got.AuthMethod(), len(got.Secrets), sec, err)
	}
	if _, err := f.svc.Update(ctx, "t", c.ID, Patch{TokenEndpointAuthMethod: ptr("client_secret_jwt")}); !errors.As(err, &ve) || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("unsupported method: got %v, want a validation error", err)
	}

	ev, _ := f.st.ListAudit(ctx, store.AuditFilter{Target: c.ID, Action: "client.update"})
	var details []string
	for _, e := range ev {
		details = append(details, e.Detail)
		if strings.Contains(e.Detail, sec) {
			t.Errorf("audit detail shows the secret: %q", e.Detail)
		}
	}
	all := strings.Join(details, "\n")
	for _, want := range []string{"client_secret_basic to client_secret_post", "client_secret_post to none (secrets deleted)", "none to client_secret_basic (secret sec_"} {
		if !strings.Contains(all, want) {
			t.Errorf("audit details %q lack %q", all, want)
		}
	}
}

// TestRevokeTokens: the client's access tokens issued until now (by iat,
// whole seconds) are revoked until the last of them expires, its refresh
// tokens too, with an audit event; another client's are not.
func TestRevokeTokens(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.now = time.Date(2026, 11, 24, 9, 0, 0, 123_456_789, time.UTC)
	mk := func(id string) {
		t.Helper()
		if _, _, err := f.svc.Create(ctx, "tester", Spec{ID: id, Name: id, GrantTypes: []string{"client_credentials", "refresh_token"},
			RefreshWithClientCredentials: true}); err != nil {
			t.Fatal(err)
		}
		if err := f.st.CreateRefreshToken(ctx, store.RefreshToken{ID: id + "-rt", FamilyID: id + "-f", ClientID: id,
			CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	mk("leaky")
	mk("other")

	f.now = f.now.Add(time.Minute)
	at, err := f.svc.RevokeTokens(ctx, "cli:ops", "leaky")
	if err != nil {
		t.Fatal(err)
	}
	if want := f.now.Truncate(time.Microsecond); !at.Equal(want) || at.Location() != time.UTC {
		t.Errorf("RevokeTokens returned %v, want now to the microsecond in UTC, %v", at, want)
	}

	revs, err := f.st.ListRevocations(ctx, time.Time{}, f.now, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The last token it covers is issued at the end of now's second with
	// the longest lifetime, 30 days.
	wantUntil := time.Date(2026, 11, 24, 9, 1, 1, 0, time.UTC).Add(30 * 24 * time.Hour)
	if len(revs) != 1 || revs[0].ClientID != "leaky" || !revs[0].IssuedBefore.Equal(at) || !revs[0].ExpiresAt.Equal(wantUntil) {
		t.Fatalf("revocations: got %+v, want client leaky, issued before %v, until %v", revs, at, wantUntil)
	}
	for _, tc := range []struct {
		client string
		iat    time.Time
		want   bool
	}{
		{"leaky", at.Truncate(time.Second), true},                   // iat in the same second: fail closed
		{"leaky", at.Truncate(time.Second).Add(-time.Hour), true},   // issued an hour before
		{"leaky", at.Truncate(time.Second).Add(time.Second), false}, // issued in the next second
		{"other", at.Truncate(time.Second).Add(-time.Hour), false},  // another client
	} {
		got, err := f.st.IsTokenRevoked(ctx, "jti", tc.client, tc.iat)
		if err != nil || got != tc.want {
			t.Errorf("IsTokenRevoked(%s, iat %v): got %v, %v; want %v", tc.client, tc.iat, got, err, tc.want)
		}
	}
	for id, want := range map[string]bool{"leaky-rt": true, "other-rt": false} {
		rt, err := f.st.GetRefreshToken(ctx, id)
		if err != nil || rt.RevokedAt.IsZero() != !want {
			t.Errorf("refresh token %s: RevokedAt %v (%v), want revoked %v", id, rt.RevokedAt, err, want)
		}
	}
	ev, _ := f.st.ListAudit(ctx, store.AuditFilter{Action: "client.revoke_tokens"})
	if len(ev) != 1 || ev[0].Actor != "cli:ops" || ev[0].Target != "leaky" || !ev[0].Time.Equal(at) ||
		!strings.Contains(ev[0].Detail, "2026-11-24T09:01:00.123456Z") || !strings.Contains(ev[0].Detail, "refresh token") {
		t.Errorf("audit: got %+v", ev)
	}

	if _, err := f.svc.RevokeTokens(ctx, "cli:ops", "nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `client "nope" not found`) {
		t.Errorf("unknown client: got %v, want ErrNotFound naming it", err)
	}
}
