package users_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/users"
)

func ptr[T any](v T) *T { return &v }

func TestUpdate(t *testing.T) {
	ctx := context.Background()
	svc, st, clk := setup(t, users.Options{})
	u, err := svc.Create(ctx, "t", users.Spec{Username: "hana", DisplayName: "Hana", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	created := u.UpdatedAt
	clk.Add(time.Minute)
	const pw2 = "a brand new password"
	got, err := svc.Update(ctx, "api:x", u.ID, users.Patch{
		DisplayName: ptr("  Hana H.  "), Role: ptr(store.RoleAdmin), Password: ptr(pw2),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.DisplayName != "Hana H." || got.Role != store.RoleAdmin || got.Disabled || !got.UpdatedAt.Equal(clk.Now()) {
		t.Errorf("Update = %+v; want display name Hana H., role admin, enabled, updated now", got)
	}
	if _, err := svc.Authenticate(ctx, "hana", pw2, "a"); err != nil {
		t.Errorf("new password: %v", err)
	}
	evs, _ := st.ListAudit(ctx, store.AuditFilter{Target: u.ID, Action: "user.update"})
	if len(evs) != 1 || evs[0].Actor != "api:x" || evs[0].Detail != `username "hana": changed display name, role member to admin, password` {
		t.Errorf("audit = %+v; want one user.update by api:x listing the changes", evs)
	}
	if strings.Contains(evs[0].Detail, pw2) {
		t.Error("the audit event holds the password")
	}

	// An empty display name is the username; nothing changed keeps the time.
	clk.Add(time.Minute)
	got, err = svc.Update(ctx, "t", u.ID, users.Patch{DisplayName: ptr("")})
	if err != nil || got.DisplayName != "hana" {
		t.Errorf("Update(display name \"\") = %+v, %v; want the username", got, err)
	}
	before := got.UpdatedAt
	clk.Add(time.Minute)
	if got, err = svc.Update(ctx, "t", u.ID, users.Patch{Role: ptr(store.RoleAdmin)}); err != nil || !got.UpdatedAt.Equal(before) {
		t.Errorf("Update without a change = %+v, %v; want UpdatedAt kept at %v", got, err, before)
	}
	if created.Equal(before) {
		t.Error("UpdatedAt never moved")
	}

	// Bad patches are refused as a whole.
	for _, p := range []users.Patch{
		{Role: ptr("root"), DisplayName: ptr("X")},
		{Password: ptr("short")},
		{DisplayName: ptr(strings.Repeat("x", 201))},
	} {
		var ve *users.ValidationError
		if _, err := svc.Update(ctx, "t", u.ID, p); !errors.As(err, &ve) {
			t.Errorf("Update(%+v) = %v; want a ValidationError", p, err)
		}
	}
	if got, _ := svc.Get(ctx, u.ID); got.DisplayName != "hana" || got.Role != store.RoleAdmin {
		t.Errorf("after refused patches: %+v; want unchanged", got)
	}
	if _, err := svc.Update(ctx, "t", "usr_nobody", users.Patch{DisplayName: ptr("x")}); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("Update(unknown) = %v; want ErrNotFound", err)
	}
}

// TestUpdateRequire: a Require is checked in the transaction, and its
// error comes back as it is, with nothing changed.
func TestUpdateRequire(t *testing.T) {
	ctx := context.Background()
	svc, st, _ := setup(t, users.Options{})
	u, err := svc.Create(ctx, "t", users.Spec{Username: "ivy", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	stale := errors.New("stale")
	var seen store.User
	_, err = svc.Update(ctx, "t", u.ID, users.Patch{DisplayName: ptr("Ivy")}, func(got store.User) error {
		seen = got
		return stale
	})
	if err != stale {
		t.Errorf("Update with a failing Require: got %v, want its error as it is", err)
	}
	if seen.ID != u.ID || seen.DisplayName != "ivy" {
		t.Errorf("Require saw %+v; want the stored user", seen)
	}
	if _, err := svc.Delete(ctx, "t", u.ID, func(store.User) error { return stale }); err != stale {
		t.Errorf("Delete with a failing Require: got %v, want its error as it is", err)
	}
	if got, _ := svc.Get(ctx, u.ID); got.DisplayName != "ivy" {
		t.Errorf("user after refused changes: %+v", got)
	}
	if evs, _ := st.ListAudit(ctx, store.AuditFilter{Target: u.ID}); len(evs) != 1 {
		t.Errorf("audit after refused changes: %+v; want only the create", evs)
	}
}

// TestUpdateLastAdmin: demoting or disabling the last enabled administrator
// is refused, by Update and by Disable.
func TestUpdateLastAdmin(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := setup(t, users.Options{})
	ann, err := svc.Create(ctx, "t", users.Spec{Username: "ann", Password: pw, Role: store.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		do   func() error
		want string
	}{
		{"demote", func() error {
			_, err := svc.Update(ctx, "t", ann.ID, users.Patch{Role: ptr(store.RoleMember)})
			return err
		}, "cannot demote ann"},
		{"disable by patch", func() error { _, err := svc.Update(ctx, "t", ann.ID, users.Patch{Disabled: ptr(true)}); return err }, "cannot disable ann"},
		{"Disable", func() error { _, err := svc.Disable(ctx, "t", ann.ID); return err }, "cannot disable ann"},
	} {
		if err := tc.do(); !errors.Is(err, users.ErrLastAdmin) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want ErrLastAdmin saying %q", tc.name, err, tc.want)
		}
	}
	if got, _ := svc.Get(ctx, ann.ID); got.Role != store.RoleAdmin || got.Disabled {
		t.Errorf("the last admin after refused changes: %+v", got)
	}
	// With a second enabled admin, either change works once.
	bob, err := svc.Create(ctx, "t", users.Spec{Username: "bob", Password: pw, Role: store.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Update(ctx, "t", ann.ID, users.Patch{Role: ptr(store.RoleMember)}); err != nil {
		t.Fatalf("demote ann with bob left: %v", err)
	}
	if _, err := svc.Update(ctx, "t", bob.ID, users.Patch{Disabled: ptr(true)}); !errors.Is(err, users.ErrLastAdmin) {
		t.Errorf("disable bob, now the last: got %v, want ErrLastAdmin", err)
	}
	// Promoting and enabling in one patch needs no other admin; a disabled
	// admin may be changed freely.
	if _, err := svc.Update(ctx, "t", ann.ID, users.Patch{Role: ptr(store.RoleAdmin), Disabled: ptr(false)}); err != nil {
		t.Fatalf("promote ann: %v", err)
	}
	if _, err := svc.Disable(ctx, "t", bob.ID); err != nil {
		t.Fatalf("disable bob with ann back: %v", err)
	}
	if _, err := svc.Update(ctx, "t", bob.ID, users.Patch{Role: ptr(store.RoleMember)}); err != nil {
		t.Errorf("demote disabled bob: %v", err)
	}
}

// TestUpdateEndsSessions: disabling and a new password end the user's
// sessions; other changes do not.
func TestUpdateEndsSessions(t *testing.T) {
	ctx := context.Background()
	svc, st, clk := setup(t, users.Options{})
	u, err := svc.Create(ctx, "t", users.Spec{Username: "jo", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Create(ctx, "t", users.Spec{Username: "root", Password: pw, Role: store.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	n := 0
	newSession := func() string {
		t.Helper()
		n++
		id := fmt.Sprintf("s%d", n)
		now := clk.Now()
		if err := st.CreateSession(ctx, store.Session{ID: id, UserID: u.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	for _, tc := range []struct {
		p    users.Patch
		ends bool
	}{
		{users.Patch{DisplayName: ptr("Jo")}, false},
		{users.Patch{Role: ptr(store.RoleAdmin)}, false},
		{users.Patch{Password: ptr("another long password")}, true},
		{users.Patch{Disabled: ptr(true)}, true},
		{users.Patch{Disabled: ptr(false)}, false},
	} {
		id := newSession()
		if _, err := svc.Update(ctx, "t", u.ID, tc.p); err != nil {
			t.Fatalf("Update(%+v): %v", tc.p, err)
		}
		_, err := st.GetSession(ctx, id)
		if ended := errors.Is(err, store.ErrNotFound); ended != tc.ends {
			t.Errorf("Update(%+v): session ended %v (%v), want %v", tc.p, ended, err, tc.ends)
		}
	}
}

func TestPage(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := setup(t, users.Options{})
	for _, sp := range []users.Spec{
		{Username: "zoe", DisplayName: "Zoë Quinn"},
		{Username: "Adam", DisplayName: "Adam Smith"},
		{Username: "bea", DisplayName: "Beatrice QUINN"},
	} {
		sp.Password = pw
		if _, err := svc.Create(ctx, "t", sp); err != nil {
			t.Fatal(err)
		}
	}
	names := func(q store.UserQuery) string {
		t.Helper()
		us, err := svc.Page(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, u := range us {
			out = append(out, u.Username)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		q    store.UserQuery
		want string
	}{
		{store.UserQuery{Limit: 10}, "Adam,bea,zoe"},
		{store.UserQuery{Limit: 1, After: "adam"}, "bea"},
		{store.UserQuery{Limit: 10, Search: "quinn"}, "bea,zoe"},
		{store.UserQuery{Limit: 10, Search: "ADAM"}, "Adam"},
	} {
		if got := names(tc.q); got != tc.want {
			t.Errorf("Page(%+v) = %s; want %s", tc.q, got, tc.want)
		}
	}
}
