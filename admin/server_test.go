package admin_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/adminapi/apitest"
)

// These tests run the client against a real server with the admin API
// (adminapi/apitest: the real services, server and API on a SQLite store in
// a temporary directory, its catalog apitest.CatalogYAML).

// serverAPI starts a server and returns it with a client of its admin API
// authenticated as a client allowed gatehouse:admin, and that client's ID.
func serverAPI(t *testing.T) (*apitest.Server, *admin.API, string) {
	t.Helper()
	srv := apitest.Start(t)
	id, secret := srv.Client([]string{admin.ScopeAdmin}, nil)
	return srv, admin.New(srv.URL, admin.ClientCredentials(context.Background(), srv.URL, id, secret)), id
}

// problemOf returns err as a *admin.Problem, failing the test if it is not
// one with the status and type.
func problemOf(t *testing.T, what string, err error, status int, typ string) *admin.Problem {
	t.Helper()
	var p *admin.Problem
	if !errors.As(err, &p) {
		t.Fatalf("%s: got error %v (%T), want a *admin.Problem %d %s", what, err, err, status, typ)
	}
	if p.Status != status || p.Type != typ {
		t.Fatalf("%s: got problem %d %s (%v), want %d %s", what, p.Status, p.Type, p, status, typ)
	}
	return p
}

// tokenFor gets a token for a client at the server's token endpoint.
func tokenFor(srv *apitest.Server, id, secret string) error {
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: srv.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}
	_, err := cc.Token(context.Background())
	return err
}

// waitFor fails the test unless cond becomes true within 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5s for %s", what)
		}
	}
}

func TestClientLifecycle(t *testing.T) {
	srv, api, adminID := serverAPI(t)
	ctx := context.Background()

	nc := admin.NewClient{ClientID: "billing-sync", Name: "Billing sync", Scopes: []string{"orders", "reports"}, TokenTTLSeconds: 43200}
	created, err := api.CreateClient(ctx, nc, admin.IdempotencyKey("create-billing-sync"))
	if err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	if !strings.HasPrefix(created.ClientSecret, "ghs_") || created.ClientID != "billing-sync" || len(created.Secrets) != 1 ||
		!slices.Equal(created.Scopes, nc.Scopes) || created.TokenTTLSeconds != 43200 {
		t.Fatalf("CreateClient: got %+v, want billing-sync with a ghs_ secret, its scopes and TTL", created)
	}
	if err := tokenFor(srv, created.ClientID, created.ClientSecret); err != nil {
		t.Errorf("the created secret gets no token: %v", err)
	}

	// A retry with the same key is answered with the first response.
	again, err := api.CreateClient(ctx, nc, admin.IdempotencyKey("create-billing-sync"))
	if err != nil {
		t.Fatalf("CreateClient retried: %v", err)
	}
	if diff := cmp.Diff(created, again); diff != "" {
		t.Errorf("CreateClient retried with the same Idempotency-Key (-first +retry):\n%s", diff)
	}
	nc.Name = "Other"
	_, err = api.CreateClient(ctx, nc, admin.IdempotencyKey("create-billing-sync"))
	problemOf(t, "the key reused for another body", err, 422, admin.ProblemIdempotency)
	_, err = api.CreateClient(ctx, admin.NewClient{ClientID: "billing-sync", Name: "Twice"})
	problemOf(t, "a taken client ID", err, 409, admin.ProblemConflict)
	_, err = api.CreateClient(ctx, admin.NewClient{Name: "Unknown scope", Scopes: []string{"no-such-scope"}})
	if p := problemOf(t, "an unknown scope", err, 422, admin.ProblemInvalid); !strings.Contains(p.Detail, "no-such-scope") {
		t.Errorf("unknown scope: detail %q does not name the scope", p.Detail)
	}

	// An empty list of scopes is sent as [] (none), not left out (the
	// catalog's default scopes).
	none, err := api.CreateClient(ctx, admin.NewClient{Name: "No scopes", Scopes: []string{}})
	if err != nil || len(none.Scopes) != 0 {
		t.Errorf("CreateClient with Scopes []: scopes %q, err %v; want none", none.Scopes, err)
	}
	def, err := api.CreateClient(ctx, admin.NewClient{Name: "Default scopes"})
	if want := srv.Catalog.Defaults(); err != nil || !slices.Equal(def.Scopes, want) {
		t.Errorf("CreateClient with nil Scopes: scopes %q, err %v; want the defaults %q", def.Scopes, err, want)
	}

	got, etag, err := api.GetClient(ctx, "billing-sync")
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	want := created
	want.ClientSecret = ""
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetClient (-created +got):\n%s", diff)
	}
	if !strings.HasPrefix(etag, `"`) {
		t.Errorf("GetClient: ETag %q, want a strong entity tag", etag)
	}

	// A merge patch with If-Match; then the old tag no longer matches.
	name, scopes, ttl := "Billing sync v2", []string{"billing"}, int64(0)
	updated, etag2, err := api.UpdateClient(ctx, "billing-sync", admin.ClientPatch{Name: &name, Scopes: &scopes, TokenTTLSeconds: &ttl}, admin.IfMatch(etag))
	if err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	if updated.Name != name || !slices.Equal(updated.Scopes, scopes) || updated.TokenTTLSeconds != 0 || updated.Description != "" || etag2 == "" || etag2 == etag {
		t.Errorf("UpdateClient: got %+v with ETag %q (before %q); want the new name, scopes and default TTL and a new ETag", updated, etag2, etag)
	}
	disabled := true
	_, _, err = api.UpdateClient(ctx, "billing-sync", admin.ClientPatch{Disabled: &disabled}, admin.IfMatch(etag))
	problemOf(t, "UpdateClient with a stale If-Match", err, 412, admin.ProblemPrecondition)
	if c, _, _ := api.GetClient(ctx, "billing-sync"); c.Disabled {
		t.Errorf("the refused update disabled the client")
	}

	// Secrets: rotate with a grace period (both work), revoke the old one.
	rot, err := api.RotateSecret(ctx, "billing-sync", time.Hour, admin.IdempotencyKey("rotate-1"))
	if err != nil {
		t.Fatalf("RotateSecret: %v", err)
	}
	if rot.ClientID != "billing-sync" || rot.GraceSeconds != 3600 || len(rot.Secrets) != 2 || rot.Secrets[1].ID != rot.SecretID ||
		!strings.HasPrefix(rot.ClientSecret, "ghs_") || rot.ClientSecret == created.ClientSecret {
		t.Fatalf("RotateSecret: got %+v; want a new secret, 2 secrets and 3600 s grace", rot)
	}
	for _, s := range []string{created.ClientSecret, rot.ClientSecret} {
		if err := tokenFor(srv, "billing-sync", s); err != nil {
			t.Errorf("during the grace period a secret gets no token: %v", err)
		}
	}
	secrets, err := api.ListSecrets(ctx, "billing-sync")
	if err != nil || len(secrets) != 2 || secrets[0].ExpiresAt == nil || secrets[1].ExpiresAt != nil {
		t.Fatalf("ListSecrets: %+v, %v; want the old secret expiring and the new one", secrets, err)
	}
	if err := api.RevokeSecret(ctx, "billing-sync", secrets[0].ID); err != nil {
		t.Fatalf("RevokeSecret: %v", err)
	}
	// The server drops the client from its cache when it reads the change
	// feed (every second).
	waitFor(t, "the revoked secret to stop getting tokens", func() bool {
		return tokenFor(srv, "billing-sync", created.ClientSecret) != nil
	})
	err = api.RevokeSecret(ctx, "billing-sync", secrets[0].ID)
	problemOf(t, "revoking a revoked secret", err, 404, admin.ProblemNotFound)
	rot0, err := api.RotateSecret(ctx, "billing-sync", 0)
	if err != nil || rot0.GraceSeconds != 0 || len(rot0.Secrets) != 1 {
		t.Errorf("RotateSecret with no grace: %+v, %v; want only the new secret", rot0, err)
	}

	// Delete: If-Match holds here too.
	_, etag3, err := api.GetClient(ctx, "billing-sync")
	if err != nil {
		t.Fatal(err)
	}
	problemOf(t, "DeleteClient with a stale If-Match", api.DeleteClient(ctx, "billing-sync", admin.IfMatch(etag)), 412, admin.ProblemPrecondition)
	if err := api.DeleteClient(ctx, "billing-sync", admin.IfMatch(etag3)); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	_, _, err = api.GetClient(ctx, "billing-sync")
	problemOf(t, "GetClient of a deleted client", err, 404, admin.ProblemNotFound)

	// Every change above is in the audit trail, newest first, by the API's
	// client.
	page, err := api.ListAudit(ctx, admin.AuditFilter{Target: "billing-sync"})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	var actions []string
	for _, e := range page.Items {
		actions = append(actions, e.Action)
		if e.Actor != "api:"+adminID {
			t.Errorf("audit event %d: actor %q, want api:%s", e.ID, e.Actor, adminID)
		}
	}
	wantActions := []string{"client.delete", "client.rotate_secret", "client.revoke_secret", "client.rotate_secret", "client.update", "client.create"}
	if !slices.Equal(actions, wantActions) {
		t.Errorf("audit of billing-sync: got %q, want %q", actions, wantActions)
	}
}

func TestListClientsPages(t *testing.T) {
	_, api, adminID := serverAPI(t)
	ctx := context.Background()
	want := []string{adminID}
	for _, id := range []string{"paged-e", "paged-b", "paged-g", "paged-a", "paged-f", "paged-c", "paged-d"} {
		if _, err := api.CreateClient(ctx, admin.NewClient{ClientID: id, Name: "Paged " + id}); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	if _, err := api.CreateClient(ctx, admin.NewClient{ClientID: "acme-reports", Name: "Acme", Accounts: []string{"acme"}}); err != nil {
		t.Fatal(err)
	}
	want = append(want, "acme-reports")
	slices.Sort(want)

	first, err := api.ListClients(ctx, admin.ClientFilter{Limit: 3})
	if err != nil || len(first.Items) != 3 || first.NextCursor == "" {
		t.Fatalf("ListClients limit 3: %d items, cursor %q, %v; want 3 and a cursor", len(first.Items), first.NextCursor, err)
	}
	var ids []string
	for c, err := range api.AllClients(ctx, admin.ClientFilter{Limit: 3}) {
		if err != nil {
			t.Fatalf("AllClients: %v", err)
		}
		ids = append(ids, c.ClientID)
	}
	if !slices.Equal(ids, want) {
		t.Errorf("AllClients in pages of 3: got %q, want %q", ids, want)
	}
	ids = nil
	for c, err := range api.AllClients(ctx, admin.ClientFilter{Q: "PAGED", Limit: 2, Cursor: first.NextCursor}) {
		if err != nil {
			t.Fatalf("AllClients q=PAGED: %v", err)
		}
		ids = append(ids, c.ClientID)
	}
	var wantQ []string
	for _, id := range want {
		if strings.HasPrefix(id, "paged-") && id > first.Items[2].ClientID {
			wantQ = append(wantQ, id)
		}
	}
	if !slices.Equal(ids, wantQ) {
		t.Errorf("AllClients q=PAGED from the second page: got %q, want %q", ids, wantQ)
	}
	acme, err := api.ListClients(ctx, admin.ClientFilter{Account: "acme"})
	if err != nil || len(acme.Items) != 1 || acme.Items[0].ClientID != "acme-reports" || acme.NextCursor != "" {
		t.Errorf("ListClients account=acme: %+v, %v; want acme-reports alone", acme, err)
	}
	_, err = api.ListClients(ctx, admin.ClientFilter{Cursor: "not base64!"})
	problemOf(t, "a malformed cursor", err, 400, admin.ProblemInvalid)
}

func TestKeys(t *testing.T) {
	_, api, _ := serverAPI(t)
	ctx := context.Background()
	keys, err := api.ListKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].State != "active" {
		t.Fatalf("ListKeys: %+v, %v; want the one active key", keys, err)
	}
	next, err := api.RotateKey(ctx, false)
	if err != nil || next.State != "next" || next.ActiveAt.Sub(next.CreatedAt) < time.Minute {
		t.Fatalf("RotateKey: %+v, %v; want a next key signing after the lead time", next, err)
	}
	now, err := api.RotateKey(ctx, true)
	// It signs at once, or a second later if another key starts signing
	// in the same second (token.Keyring.Rotate).
	if err != nil || now.ActiveAt.Sub(now.CreatedAt) > 2*time.Second {
		t.Fatalf("RotateKey now: %+v, %v; want a key that signs at once", now, err)
	}
	keys, err = api.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	if !slices.Contains(ids, next.ID) || !slices.Contains(ids, now.ID) || len(keys) != 3 {
		t.Errorf("ListKeys after two rotations: %q; want 3 keys including %s and %s", ids, next.ID, now.ID)
	}
}

func TestAuditPages(t *testing.T) {
	_, api, _ := serverAPI(t)
	ctx := context.Background()
	start := time.Now()
	for _, id := range []string{"a1", "a2", "a3"} {
		if _, err := api.CreateClient(ctx, admin.NewClient{ClientID: "audit-" + id, Name: id}); err != nil {
			t.Fatal(err)
		}
	}
	var ids []int64
	var targets []string
	for e, err := range api.AllAudit(ctx, admin.AuditFilter{Action: "client.create", Limit: 1}) {
		if err != nil {
			t.Fatalf("AllAudit: %v", err)
		}
		ids, targets = append(ids, e.ID), append(targets, e.Target)
	}
	// The admin client itself was created before: by the test, not the API.
	if want := []string{"audit-a3", "audit-a2", "audit-a1"}; !slices.Equal(targets[:3], want) || !slices.IsSortedFunc(ids, func(a, b int64) int { return int(b - a) }) {
		t.Errorf("AllAudit client.create in pages of 1: targets %q ids %v; want %q first, newest first", targets, ids, want)
	}
	since, err := api.ListAudit(ctx, admin.AuditFilter{Since: start})
	if err != nil || len(since.Items) != 3 {
		t.Errorf("ListAudit since the first create: %+v, %v; want its 3 events", since, err)
	}
	byTest, err := api.ListAudit(ctx, admin.AuditFilter{Actor: "test"})
	if err != nil || len(byTest.Items) != 1 || byTest.Items[0].Action != "client.create" {
		t.Errorf("ListAudit by actor test: %+v, %v; want the admin client's creation", byTest, err)
	}
	later, err := api.ListAudit(ctx, admin.AuditFilter{Since: time.Now().Add(time.Hour)})
	if err != nil || len(later.Items) != 0 {
		t.Errorf("ListAudit since an hour from now: %+v, %v; want none", later, err)
	}
}

func TestScopes(t *testing.T) {
	srv, api, _ := serverAPI(t)
	scopes, err := api.ListScopes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range scopes {
		names = append(names, s.Name)
	}
	if want := srv.Catalog.Names(); !slices.Equal(names, want) {
		t.Errorf("ListScopes: %q, want %q", names, want)
	}
}

func TestServerRefusals(t *testing.T) {
	srv, api, _ := serverAPI(t)
	ctx := context.Background()

	// A read-only token reads but does not change.
	id, secret := srv.Client([]string{admin.ScopeAdminRead}, nil)
	reader := admin.New(srv.URL, admin.ClientCredentials(ctx, srv.URL, id, secret, admin.ScopeAdminRead))
	if _, err := reader.ListClients(ctx, admin.ClientFilter{}); err != nil {
		t.Errorf("ListClients with gatehouse:admin:read: %v", err)
	}
	_, err := reader.CreateClient(ctx, admin.NewClient{Name: "x"})
	problemOf(t, "CreateClient with gatehouse:admin:read", err, 403, admin.ProblemForbidden)

	// A token the server did not issue.
	forged := admin.New(srv.URL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "not.a.token", TokenType: "Bearer"}))
	_, err = forged.ListKeys(ctx)
	problemOf(t, "a forged token", err, 401, admin.ProblemUnauthorized)

	// Wrong client credentials: the token endpoint's error, never the secret.
	wrong := admin.New(srv.URL, admin.ClientCredentials(ctx, srv.URL, id, "ghs_wrong-secret-of-some-length"))
	_, err = wrong.ListKeys(ctx)
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_client" || strings.Contains(err.Error(), "ghs_wrong") {
		t.Errorf("wrong secret: got %v; want the token endpoint's invalid_client, without the secret", err)
	}

	// An unknown path is a problem too.
	_, _, err = api.GetClient(ctx, "no-such-client")
	problemOf(t, "an unknown client", err, 404, admin.ProblemNotFound)
	_, err = api.RotateSecret(ctx, "no-such-client", time.Hour)
	problemOf(t, "rotating an unknown client's secret", err, 404, admin.ProblemNotFound)
}
