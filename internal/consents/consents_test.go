package consents_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/consents"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/scope"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func setup(t *testing.T) (*consents.Service, store.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/g.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateUser(ctx, store.User{ID: "u1", Username: "bob", Role: store.RoleMember}, store.AuditEvent{Action: "user.create"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"app", "gone"} {
		c := store.Client{ID: id, Name: "The " + id, Website: "https://" + id + ".example"}
		if err := st.CreateClient(ctx, c, store.AuditEvent{Action: "client.create"}); err != nil {
			t.Fatal(err)
		}
	}
	return consents.New(st, scope.Default(), func() time.Time { return t0 }), st
}

func TestApproveAddsScopes(t *testing.T) {
	ctx := context.Background()
	svc, _ := setup(t)
	if ok, err := svc.Covers(ctx, "u1", "app", nil); err != nil || ok {
		t.Errorf("Covers without a consent = %v, %v; want false, nil", ok, err)
	}
	if _, err := svc.Approve(ctx, "u1", "app", []string{"profile", "search"}); err != nil {
		t.Fatal(err)
	}
	c, err := svc.Approve(ctx, "u1", "app", []string{"search", "api"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Scopes, []string{"profile", "search", "api"}; !slices.Equal(got, want) {
		t.Errorf("scopes after two approvals: got %q, want %q", got, want)
	}
	for _, tt := range []struct {
		scopes []string
		want   bool
	}{
		{nil, true},
		{[]string{"api", "profile"}, true},
		{[]string{"api:read-only"}, false},
	} {
		if got, err := svc.Covers(ctx, "u1", "app", tt.scopes); err != nil || got != tt.want {
			t.Errorf("Covers(%q) = %v, %v; want %v, nil", tt.scopes, got, err, tt.want)
		}
	}
	if _, err := svc.Approve(ctx, "nobody", "app", []string{"api"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Approve for an unknown user: got error %v, want ErrNotFound", err)
	}
}

// TestApproveConcurrent: approvals of different scopes for the same user
// and client at the same time keep every scope.
func TestApproveConcurrent(t *testing.T) {
	svc, _ := setup(t)
	var (
		wg   sync.WaitGroup
		want []string
	)
	for i := range 8 {
		name := fmt.Sprintf("s%d", i)
		want = append(want, name)
		wg.Go(func() {
			if _, err := svc.Approve(context.Background(), "u1", "app", []string{name}); err != nil {
				t.Errorf("Approve(%q): %v", name, err)
			}
		})
	}
	wg.Wait()
	ok, err := svc.Covers(context.Background(), "u1", "app", want)
	if err != nil || !ok {
		apps, _ := svc.List(context.Background(), "u1")
		t.Errorf("after concurrent approvals of %q: Covers = %v, %v; consents %+v", want, ok, err, apps)
	}
}

func TestListAndRevoke(t *testing.T) {
	ctx := context.Background()
	svc, st := setup(t)
	for _, id := range []string{"gone", "app"} {
		if _, err := svc.Approve(ctx, "u1", id, []string{"profile", "account:acme-1", "custom"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.DeleteClient(ctx, "gone", nil, store.AuditEvent{Action: "client.delete"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Approve(ctx, "u1", "gone", nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Approve for a deleted client: got error %v, want ErrNotFound", err)
	}
	apps, err := svc.List(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	want := []consents.App{{
		ClientID: "app", Name: "The app", Website: "https://app.example", GrantedAt: t0,
		Scopes: []consents.Label{
			{Name: "profile", Label: "Access your profile information"},
			{Name: "account:acme-1", Label: "Limited to the account acme-1", Account: "acme-1"},
			{Name: "custom", Label: "custom"},
		},
	}}
	if diff := cmp.Diff(want, apps); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}

	err = st.CreateRefreshToken(ctx, store.RefreshToken{ID: "rt", FamilyID: "fam", ClientID: "app", UserID: "u1",
		CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	bob := store.User{ID: "u1", Username: "bob"}
	if err := svc.Revoke(ctx, "console:bob", bob, "app"); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if err := svc.Revoke(ctx, "console:bob", bob, "app"); !errors.Is(err, consents.ErrNotFound) {
		t.Errorf("Revoke again: got error %v, want ErrNotFound", err)
	}
	if apps, err := svc.List(ctx, "u1"); err != nil || apps != nil {
		t.Errorf("List after Revoke = %+v, %v; want nil, nil", apps, err)
	}
	if rt, err := st.GetRefreshToken(ctx, "rt"); err != nil || rt.RevokedAt.IsZero() {
		t.Errorf("refresh token after Revoke: %+v, %v; want revoked", rt, err)
	}
	evs, err := st.ListAudit(ctx, store.AuditFilter{Action: "consent.revoke"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Actor != "console:bob" || evs[0].Target != "app" || !evs[0].Time.Equal(t0) ||
		evs[0].Detail != `user "bob" (u1) revoked the app's access` {
		t.Errorf("consent.revoke events = %+v, want one by console:bob on app at %v", evs, t0)
	}
}

func TestPageAndRevokeFor(t *testing.T) {
	ctx := context.Background()
	svc, st := setup(t)
	if err := st.CreateUser(ctx, store.User{ID: "u2", Username: "cyd", Role: store.RoleMember}, store.AuditEvent{Action: "user.create"}); err != nil {
		t.Fatal(err)
	}
	for _, k := range [][2]string{{"u1", "app"}, {"u2", "app"}, {"u1", "gone"}} {
		if _, err := svc.Approve(ctx, k[0], k[1], []string{"profile"}); err != nil {
			t.Fatal(err)
		}
	}
	page := func(q store.ConsentQuery) []string {
		t.Helper()
		cs, err := svc.Page(ctx, q)
		if err != nil {
			t.Fatalf("Page(%+v): %v", q, err)
		}
		var out []string
		for _, c := range cs {
			out = append(out, c.UserID+":"+c.ClientID)
		}
		return out
	}
	if got, want := page(store.ConsentQuery{ClientID: "app", Limit: 10}), []string{"u1:app", "u2:app"}; !slices.Equal(got, want) {
		t.Errorf("Page(client app) = %q, want %q", got, want)
	}
	if got, want := page(store.ConsentQuery{UserID: "u1", Limit: 1}), []string{"u1:app"}; !slices.Equal(got, want) {
		t.Errorf("Page(user u1, limit 1) = %q, want %q", got, want)
	}
	if _, err := svc.Page(ctx, store.ConsentQuery{Limit: 10}); err == nil {
		t.Error("Page without a user or a client: got no error")
	}

	if err := svc.RevokeFor(ctx, "api:ops", store.User{ID: "u2", Username: "cyd"}, "app"); err != nil {
		t.Fatalf("RevokeFor: %v", err)
	}
	if got, want := page(store.ConsentQuery{ClientID: "app", Limit: 10}), []string{"u1:app"}; !slices.Equal(got, want) {
		t.Errorf("Page(client app) after RevokeFor = %q, want %q", got, want)
	}
	evs, _ := st.ListAudit(ctx, store.AuditFilter{Action: "consent.revoke"})
	if len(evs) != 1 || evs[0].Actor != "api:ops" || evs[0].Target != "app" ||
		evs[0].Detail != `the app's access for user "cyd" (u2) revoked by an administrator` {
		t.Errorf("consent.revoke events = %+v; want one by api:ops saying an administrator revoked cyd's", evs)
	}
}

// TestLabelsResources: an entry "<resource ID>#<scope>" is labelled from
// that resource's catalog and names it; a default scope of the same name
// keeps the default catalog's label.
func TestLabelsResources(t *testing.T) {
	reports, err := scope.Parse([]byte("search:\n  label: Search reports\n  endpoints: [\"reports/search\": GET]\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := consents.New(nil, scope.Default(), nil).WithResources([]consents.Resource{
		{ID: "https://reports.example/api", Name: "Reports API", Catalog: reports},
		{ID: "urn:example:other", Catalog: reports},
	})
	got := s.Labels([]string{"search", "https://reports.example/api#search", "urn:example:other#search", "https://unknown.example#x"})
	def, _ := scope.Default().Get("search")
	want := []consents.Label{
		{Name: "search", Label: def.Label},
		{Name: "search", Label: "Search reports", Resource: "Reports API"},
		{Name: "search", Label: "Search reports", Resource: "urn:example:other"},
		{Name: "x", Label: "x", Resource: "https://unknown.example"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Labels (-want +got):\n%s", diff)
	}
}
