package clients

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestCreateWithInitialAccessToken: a registration spends a use of the
// initial access token with the client's insert; a refused one spends
// none; a token used up, expired or unknown is ErrInitialAccessToken.
func TestCreateWithInitialAccessToken(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tok := store.InitialAccessToken{ID: "iat_1", Digest: secret.Digest("ghi_x"), CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour), MaxUses: 1}
	if err := f.st.CreateInitialAccessToken(ctx, tok, store.AuditEvent{Action: "registration.token_create", Target: "iat_1"}); err != nil {
		t.Fatal(err)
	}
	sp := Spec{Name: "Registered", SelfRegistered: store.RegisteredInitialAccessToken, RegistrationTokenDigest: secret.Digest("ghm_y"),
		InitialAccessToken: secret.Digest("ghi_x")}
	bad := sp
	bad.Scopes = []string{"nope"}
	var ve *ValidationError
	if _, _, err := f.svc.Create(ctx, "t", bad); !errors.As(err, &ve) {
		t.Fatalf("invalid spec: got %v, want a ValidationError", err)
	}
	c, _, err := f.svc.Create(ctx, "t", sp)
	if err != nil {
		t.Fatalf("registration: %v", err)
	}
	if c.SelfRegistered != store.RegisteredInitialAccessToken || !secret.Matches("ghm_y", c.RegistrationTokenDigest) {
		t.Errorf("registered client: %+v", c)
	}
	if _, _, err := f.svc.Create(ctx, "t", sp); !errors.Is(err, ErrInitialAccessToken) {
		t.Errorf("second registration with a single-use token: got %v, want ErrInitialAccessToken", err)
	}
	evs, _ := f.st.ListAudit(ctx, store.AuditFilter{Target: c.ID})
	if len(evs) != 1 || !strings.Contains(evs[0].Detail, "self-registered (initial_access_token)") {
		t.Errorf("audit: %+v, want the creation marked self-registered", evs)
	}
	odd := Spec{Name: "x", SelfRegistered: "sometimes"}
	if _, _, err := f.svc.Create(ctx, "t", odd); !errors.As(err, &ve) {
		t.Errorf("an unknown self-registration policy: got %v, want a ValidationError", err)
	}
}

// TestDeleteUnused deletes the clients of one self-registration policy not
// used since a time, each with its audit event, and nothing else.
func TestDeleteUnused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mk := func(name, policy string) string {
		t.Helper()
		sp := Spec{Name: name, GrantTypes: []string{store.GrantAuthorizationCode}, RedirectURIs: []string{"https://a.example/cb"},
			TokenEndpointAuthMethod: store.AuthMethodNone, SelfRegistered: policy}
		c, _, err := f.svc.Create(ctx, "t", sp)
		if err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	idle, used, other, operator := mk("idle", store.RegisteredOpen), mk("used", store.RegisteredOpen),
		mk("iat", store.RegisteredInitialAccessToken), mk("operator", "")
	if err := f.st.TouchClients(ctx, map[string]time.Time{used: f.now.Add(48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(72 * time.Hour)
	n, err := f.svc.DeleteUnused(ctx, "system", store.RegisteredOpen, f.now.Add(-48*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("DeleteUnused: %d, %v; want 1", n, err)
	}
	for id, want := range map[string]bool{idle: false, used: true, other: true, operator: true} {
		if _, err := f.svc.Get(ctx, id); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", id, err == nil, want)
		}
	}
	evs, _ := f.st.ListAudit(ctx, store.AuditFilter{Target: idle, Action: "client.delete"})
	if len(evs) != 1 || evs[0].Actor != "system" || !strings.Contains(evs[0].Detail, "unused since") {
		t.Errorf("audit: %+v", evs)
	}
	if _, err := f.svc.DeleteUnused(ctx, "system", "", f.now); err == nil {
		t.Errorf("DeleteUnused without a policy: want an error")
	}
}
