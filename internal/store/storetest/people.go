package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Users, sessions, consents, authorization codes and refresh tokens.

func fullUser(id, username string) store.User {
	return store.User{
		ID:           id,
		Username:     username,
		DisplayName:  "Zoë O'Brien — 東京\"; DROP TABLE users;--",
		PasswordHash: "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
		Role:         store.RoleAdmin,
		Disabled:     true,
		CreatedAt:    t0,
		UpdatedAt:    t0.Add(time.Second + 1),
	}
}

func normUser(u store.User) store.User {
	u.CreatedAt = normTime(u.CreatedAt)
	u.UpdatedAt = normTime(u.UpdatedAt)
	return u
}

func mustCreateUser(t *testing.T, s store.Store, u store.User) {
	t.Helper()
	if err := s.CreateUser(t.Context(), u, ev("user.create", u.ID)); err != nil {
		t.Fatalf("CreateUser(%q): %v", u.ID, err)
	}
}

func mustGetUser(t *testing.T, s store.Store, id string) store.User {
	t.Helper()
	u, err := s.GetUser(t.Context(), id)
	if err != nil {
		t.Fatalf("GetUser(%q): %v", id, err)
	}
	checkUTC(t, "user "+id, u.CreatedAt, u.UpdatedAt)
	return u
}

// member returns a user with only the fields the store requires.
func member(id string) store.User {
	return store.User{ID: id, Username: id, Role: store.RoleMember}
}

func testUserRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	if got, err := s.ListUsers(ctx); err != nil || got != nil {
		t.Errorf("ListUsers on an empty store = %#v, %v; want nil, nil", got, err)
	}
	users := []store.User{
		fullUser("usr_1", "carol"),
		{ID: "usr_2", Username: "Alice"},
		member("bob"),
		fullUser("usr_4", "Émile.Ünal"),
	}
	for _, u := range users {
		mustCreateUser(t, s, u)
		if diff := cmp.Diff(normUser(u), mustGetUser(t, s, u.ID)); diff != "" {
			t.Errorf("GetUser(%q) mismatch (-want +got):\n%s", u.ID, diff)
		}
	}
	for _, tt := range []struct {
		username string
		wantID   string // "" = ErrNotFound
	}{
		{"carol", "usr_1"},
		{"CAROL", "usr_1"},
		{"alice", "usr_2"},
		{"Alice", "usr_2"},
		{"aLiCe", "usr_2"},
		{"émile.ünal", "usr_4"},
		{"ÉMILE.ÜNAL", "usr_4"},
		{"emile.unal", ""},
		{"alice ", ""},
		{"usr_2", ""},
		{"", ""},
	} {
		got, err := s.GetUserByUsername(ctx, tt.username)
		switch {
		case tt.wantID == "" && !errors.Is(err, store.ErrNotFound):
			t.Errorf("GetUserByUsername(%q) = %q, %v; want ErrNotFound", tt.username, got.ID, err)
		case tt.wantID != "" && err != nil:
			t.Errorf("GetUserByUsername(%q): %v", tt.username, err)
		case tt.wantID != "" && got.ID != tt.wantID:
			t.Errorf("GetUserByUsername(%q): got user %q, want %q", tt.username, got.ID, tt.wantID)
		}
	}
	if _, err := s.GetUser(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser(missing): got error %v, want ErrNotFound", err)
	}

	list, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	// By lower-cased username, bytewise: alice, bob, carol, émile.ünal.
	want := []store.User{normUser(users[1]), normUser(users[2]), normUser(users[0]), normUser(users[3])}
	if diff := cmp.Diff(want, list); diff != "" {
		t.Errorf("ListUsers (-want +got):\n%s", diff)
	}
	if got, want := auditActions(t, s, store.AuditFilter{}), []string{
		"user.create usr_4", "user.create bob", "user.create usr_2", "user.create usr_1",
	}; !slices.Equal(got, want) {
		t.Errorf("audit events: got %q, want %q", got, want)
	}
	if got := changes(t, s); got != nil {
		t.Errorf("CreateUser wrote to the change feed: %q", got)
	}
}

func testUserConflicts(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := fullUser("usr_a", "Alice")
	mustCreateUser(t, s, alice)
	mustCreateUser(t, s, member("émile"))
	for _, u := range []store.User{
		member("usr_a"),                  // same ID
		{ID: "usr_b", Username: "Alice"}, // same username
		{ID: "usr_c", Username: "alice"}, // same username, other case
		{ID: "usr_d", Username: "ALICE"},
		{ID: "usr_e", Username: "ÉMILE"},
	} {
		t.Run(u.ID+" "+u.Username, func(t *testing.T) {
			if err := s.CreateUser(ctx, u, ev("user.create", u.ID)); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("CreateUser(%q, %q): got error %v, want ErrConflict", u.ID, u.Username, err)
			}
			if u.ID != "usr_a" {
				if _, err := s.GetUser(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("GetUser(%q) after a failed create: got error %v, want ErrNotFound", u.ID, err)
				}
			}
		})
	}
	if diff := cmp.Diff(normUser(alice), mustGetUser(t, s, "usr_a")); diff != "" {
		t.Errorf("existing user changed by conflicting creates (-want +got):\n%s", diff)
	}
	if got, want := auditActions(t, s, store.AuditFilter{}), []string{"user.create émile", "user.create usr_a"}; !slices.Equal(got, want) {
		t.Errorf("audit events: got %q, want %q", got, want)
	}
}

func testUpdateUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := fullUser("usr_a", "alice")
	mustCreateUser(t, s, orig)
	mustCreateUser(t, s, member("bob"))

	var want store.User
	got, err := s.UpdateUser(ctx, "usr_a", func(u *store.User, _ int) error {
		if diff := cmp.Diff(normUser(orig), *u); diff != "" {
			t.Errorf("fn got a user different from the stored one (-want +got):\n%s", diff)
		}
		u.Username = "ALICE" // its own name in another case
		u.DisplayName = "Alice A."
		u.PasswordHash = "$argon2id$v=19$m=65536,t=2,p=1$bmV3$bmV3"
		u.Role = store.RoleMember
		u.Disabled = false
		u.UpdatedAt = t0.Add(time.Hour + 7)
		want = normUser(*u)
		return nil
	}, evp("user.update", "usr_a"))
	if err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UpdateUser result (-want +got):\n%s", diff)
	}
	checkUTC(t, "UpdateUser result", got.CreatedAt, got.UpdatedAt)
	if diff := cmp.Diff(want, mustGetUser(t, s, "usr_a")); diff != "" {
		t.Errorf("GetUser after update (-want +got):\n%s", diff)
	}
	if u, err := s.GetUserByUsername(ctx, "alice"); err != nil || u.Username != "ALICE" {
		t.Errorf("GetUserByUsername(alice) after update = %q, %v; want username ALICE", u.Username, err)
	}

	// Renaming frees the old name; a nil event records nothing.
	if _, err := s.UpdateUser(ctx, "usr_a", func(u *store.User, _ int) error { u.Username = "Alicia"; return nil }, nil); err != nil {
		t.Fatalf("UpdateUser renaming: %v", err)
	}
	if _, err := s.GetUserByUsername(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUserByUsername(old name): got error %v, want ErrNotFound", err)
	}
	if u, err := s.GetUserByUsername(ctx, "alicia"); err != nil || u.ID != "usr_a" {
		t.Errorf("GetUserByUsername(new name) = %q, %v; want usr_a", u.ID, err)
	}
	mustCreateUser(t, s, store.User{ID: "usr_new", Username: "Alice"})

	if got, want := auditActions(t, s, store.AuditFilter{}), []string{
		"user.create usr_new", "user.update usr_a", "user.create bob", "user.create usr_a",
	}; !slices.Equal(got, want) {
		t.Errorf("audit events: got %q, want %q", got, want)
	}
	if got := changes(t, s); got != nil {
		t.Errorf("user changes wrote to the change feed: %q", got)
	}
}

func testUpdateUserFailures(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, fullUser("usr_a", "alice"))
	mustCreateUser(t, s, member("bob"))
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		id      string
		fn      func(u *store.User) error
		wantErr error // nil: any error
	}{
		{"fn fails", "usr_a", func(u *store.User) error {
			u.DisplayName = "changed"
			return fmt.Errorf("checking: %w", errBoom)
		}, errBoom},
		{"fn changes the ID", "usr_a", func(u *store.User) error {
			u.ID = "usr_renamed"
			u.DisplayName = "changed"
			return nil
		}, nil},
		{"username of another user", "usr_a", func(u *store.User) error {
			u.Username = "BOB"
			u.DisplayName = "changed"
			return nil
		}, store.ErrConflict},
		{"missing user", "missing", func(u *store.User) error {
			t.Errorf("UpdateUser called fn for a missing user: %+v", u)
			return nil
		}, store.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.UpdateUser(ctx, tt.id, func(u *store.User, _ int) error { return tt.fn(u) }, evp("user.update", tt.id))
			switch {
			case err == nil:
				t.Fatalf("UpdateUser succeeded with %+v, want an error", got)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("UpdateUser: got error %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(normUser(fullUser("usr_a", "alice")), mustGetUser(t, s, "usr_a")); diff != "" {
				t.Errorf("user changed by a failed update (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(member("bob"), mustGetUser(t, s, "bob")); diff != "" {
				t.Errorf("other user changed by a failed update (-want +got):\n%s", diff)
			}
			if _, err := s.GetUser(ctx, "usr_renamed"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetUser(usr_renamed): got error %v, want ErrNotFound", err)
			}
		})
	}
	if got, want := auditActions(t, s, store.AuditFilter{}), []string{"user.create bob", "user.create usr_a"}; !slices.Equal(got, want) {
		t.Errorf("audit events: got %q, want %q", got, want)
	}
}

func testUpdateUserConcurrent(t *testing.T, s store.Store) {
	const n = 10
	mustCreateUser(t, s, member("u"))
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := s.UpdateUser(t.Context(), "u", func(u *store.User, _ int) error {
				u.DisplayName += "x"
				return nil
			}, evp("user.update", "u"))
			if err != nil {
				t.Errorf("UpdateUser #%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if got, want := mustGetUser(t, s, "u").DisplayName, strings.Repeat("x", n); got != want {
		t.Errorf("display name after %d concurrent appends: got %q, want %q", n, got, want)
	}
	if got := len(auditActions(t, s, store.AuditFilter{Action: "user.update"})); got != n {
		t.Errorf("got %d user.update audit events, want %d", got, n)
	}
}

func normSession(sess store.Session) store.Session {
	sess.CreatedAt = normTime(sess.CreatedAt)
	sess.LastSeenAt = normTime(sess.LastSeenAt)
	sess.ExpiresAt = normTime(sess.ExpiresAt)
	return sess
}

func testSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, member("u1"))
	mustCreateUser(t, s, member("u2"))
	get := func(id string) (store.Session, error) {
		t.Helper()
		sess, err := s.GetSession(ctx, id)
		if err == nil {
			checkUTC(t, "session "+id, sess.CreatedAt, sess.LastSeenAt, sess.ExpiresAt)
		}
		return sess, err
	}
	s1 := store.Session{ID: "sha-1", UserID: "u1", CreatedAt: t0, LastSeenAt: t0.Add(1), ExpiresAt: t0.Add(24*time.Hour + 999)}
	for _, sess := range []store.Session{s1,
		{ID: "sha-2", UserID: "u1"},
		{ID: "sha-3", UserID: "u2", CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour)},
	} {
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatalf("CreateSession(%q): %v", sess.ID, err)
		}
		if got, err := get(sess.ID); err != nil {
			t.Errorf("GetSession(%q): %v", sess.ID, err)
		} else if diff := cmp.Diff(normSession(sess), got); diff != "" {
			t.Errorf("GetSession(%q) (-want +got):\n%s", sess.ID, diff)
		}
	}
	if err := s.CreateSession(ctx, store.Session{ID: "sha-1", UserID: "u2"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateSession with an existing ID: got error %v, want ErrConflict", err)
	}
	if err := s.CreateSession(ctx, store.Session{ID: "sha-x", UserID: "nobody"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateSession for a missing user: got error %v, want ErrNotFound", err)
	}
	for _, id := range []string{"sha-x", "missing"} {
		if _, err := get(id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetSession(%q): got error %v, want ErrNotFound", id, err)
		}
	}

	// LastSeenAt moves forward only.
	want := normSession(s1)
	for _, step := range []struct {
		at      time.Time
		forward bool
	}{
		{t0.Add(time.Hour + 5), true},
		{t0.Add(30 * time.Minute), false},
		{t0.Add(time.Hour + 5), false},
		{time.Time{}, false},
		{t0.Add(2 * time.Hour), true},
	} {
		if err := s.TouchSession(ctx, "sha-1", step.at); err != nil {
			t.Fatalf("TouchSession(%v): %v", step.at, err)
		}
		if step.forward {
			want.LastSeenAt = normTime(step.at)
		}
		got, err := get("sha-1")
		if err != nil {
			t.Fatalf("GetSession: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("session after TouchSession(%v) (-want +got):\n%s", step.at, diff)
		}
	}
	if err := s.TouchSession(ctx, "sha-2", t0); err != nil {
		t.Errorf("TouchSession on a session never seen: %v", err)
	}
	if got, err := get("sha-2"); err != nil || !got.LastSeenAt.Equal(normTime(t0)) {
		t.Errorf("session never seen after TouchSession(t0) = %+v, %v; want LastSeenAt %v", got, err, normTime(t0))
	}
	if err := s.TouchSession(ctx, "missing", t0); err != nil {
		t.Errorf("TouchSession(missing): got error %v, want nil", err)
	}

	// Deleting.
	if err := s.DeleteUserSessions(ctx, "u1"); err != nil {
		t.Fatalf("DeleteUserSessions(u1): %v", err)
	}
	for _, id := range []string{"sha-1", "sha-2"} {
		if _, err := get(id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetSession(%q) after DeleteUserSessions: got error %v, want ErrNotFound", id, err)
		}
	}
	if _, err := get("sha-3"); err != nil {
		t.Errorf("another user's session after DeleteUserSessions(u1): %v", err)
	}
	if err := s.DeleteUserSessions(ctx, "u1"); err != nil {
		t.Errorf("DeleteUserSessions again: %v", err)
	}
	for i := range 2 {
		if err := s.DeleteSession(ctx, "sha-3"); err != nil {
			t.Errorf("DeleteSession #%d: %v", i+1, err)
		}
	}
	if _, err := get("sha-3"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSession after DeleteSession: got error %v, want ErrNotFound", err)
	}
	if got := len(auditActions(t, s, store.AuditFilter{})); got != 2 {
		t.Errorf("got %d audit events, want 2 (the user creates)", got)
	}
	if got := changes(t, s); got != nil {
		t.Errorf("sessions wrote to the change feed: %q", got)
	}
}

func normConsent(c store.Consent) store.Consent {
	c.Scopes = normList(c.Scopes)
	c.GrantedAt = normTime(c.GrantedAt)
	return c
}

func testConsents(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, member("u1"))
	mustCreateUser(t, s, member("u2"))
	for _, id := range []string{"c1", "c2", "c3"} {
		mustCreate(t, s, minimalClient(id))
	}
	if got, err := s.ListConsents(ctx, "u1"); err != nil || got != nil {
		t.Errorf("ListConsents with none = %#v, %v; want nil, nil", got, err)
	}
	save := func(c store.Consent) {
		t.Helper()
		if got := mustSaveConsent(t, s, c); !cmp.Equal(got, normConsent(c)) {
			t.Errorf("UpdateConsent(%q, %q) returned %#v, want %#v", c.UserID, c.ClientID, got, normConsent(c))
		}
	}
	get := func(userID, clientID string) (store.Consent, error) {
		t.Helper()
		c, err := s.GetConsent(ctx, userID, clientID)
		if err == nil {
			checkUTC(t, "consent", c.GrantedAt)
		}
		return c, err
	}
	c12 := store.Consent{UserID: "u1", ClientID: "c2", Scopes: []string{"api:read", "profile"}, GrantedAt: t0}
	c11 := store.Consent{UserID: "u1", ClientID: "c1", Scopes: []string{}}
	c21 := store.Consent{UserID: "u2", ClientID: "c1", Scopes: []string{"x"}, GrantedAt: t0.Add(time.Minute)}
	for _, c := range []store.Consent{c12, c11, c21} {
		save(c)
		got, err := get(c.UserID, c.ClientID)
		if err != nil {
			t.Fatalf("GetConsent(%q, %q): %v", c.UserID, c.ClientID, err)
		}
		if diff := cmp.Diff(normConsent(c), got); diff != "" {
			t.Errorf("GetConsent(%q, %q) (-want +got):\n%s", c.UserID, c.ClientID, diff)
		}
	}
	for _, k := range [][2]string{{"u2", "c2"}, {"u1", "c3"}, {"nobody", "c1"}} {
		if _, err := get(k[0], k[1]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetConsent(%q, %q): got error %v, want ErrNotFound", k[0], k[1], err)
		}
	}

	// Updating again replaces what the function leaves.
	c12.Scopes = []string{"api:read", "profile", "api:write"}
	c12.GrantedAt = t0.Add(time.Hour)
	save(c12)
	list, err := s.ListConsents(ctx, "u1")
	if err != nil {
		t.Fatalf("ListConsents: %v", err)
	}
	if diff := cmp.Diff([]store.Consent{normConsent(c11), normConsent(c12)}, list); diff != "" {
		t.Errorf("ListConsents(u1) (-want +got):\n%s", diff)
	}

	for _, c := range []store.Consent{{UserID: "nobody", ClientID: "c1"}, {UserID: "u1", ClientID: "nothing"}} {
		if _, err := s.UpdateConsent(ctx, c.UserID, c.ClientID, func(*store.Consent) error { return nil }); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateConsent(%q, %q): got error %v, want ErrNotFound", c.UserID, c.ClientID, err)
		}
		if _, err := get(c.UserID, c.ClientID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetConsent(%q, %q) after a failed save: got error %v, want ErrNotFound", c.UserID, c.ClientID, err)
		}
	}

	if err := s.DeleteConsent(ctx, "u1", "c1", ev("consent.revoke", "c1")); err != nil {
		t.Fatalf("DeleteConsent: %v", err)
	}
	if _, err := get("u1", "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetConsent after DeleteConsent: got error %v, want ErrNotFound", err)
	}
	if err := s.DeleteConsent(ctx, "u1", "c1", ev("consent.revoke", "c1")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteConsent again: got error %v, want ErrNotFound", err)
	}
	if _, err := get("u2", "c1"); err != nil {
		t.Errorf("another user's consent after DeleteConsent: %v", err)
	}
	if got, want := auditActions(t, s, store.AuditFilter{Action: "consent.revoke"}), []string{"consent.revoke c1"}; !slices.Equal(got, want) {
		t.Errorf("consent audit events: got %q, want %q", got, want)
	}
	if got, want := changes(t, s), []string{"client:c1", "client:c2", "client:c3"}; !slices.Equal(got, want) {
		t.Errorf("change feed: got %q, want %q", got, want)
	}
}

// refresh returns a refresh token with every field set, the first of family.
func refresh(id, family, clientID, userID string) store.RefreshToken {
	return store.RefreshToken{
		ID:              id,
		FamilyID:        family,
		ClientID:        clientID,
		UserID:          userID,
		Scopes:          []string{"api:read", "offline"},
		AccountID:       "acct-" + id,
		CreatedAt:       t0,
		ExpiresAt:       t0.Add(24*time.Hour + 1),
		FamilyExpiresAt: t0.Add(30*24*time.Hour + 3),
		Resources:       []string{"https://billing.example/api", "urn:example:reports?ü"},
		JKT:             "jkt-" + family,
	}
}

func normRefresh(rt store.RefreshToken) store.RefreshToken {
	rt.Scopes = normList(rt.Scopes)
	rt.Resources = normList(rt.Resources)
	rt.CreatedAt = normTime(rt.CreatedAt)
	rt.ExpiresAt = normTime(rt.ExpiresAt)
	rt.FamilyExpiresAt = normTime(rt.FamilyExpiresAt)
	rt.UsedAt = normTime(rt.UsedAt)
	rt.RevokedAt = normTime(rt.RevokedAt)
	return rt
}

func mustCreateRefresh(t *testing.T, s store.Store, rt store.RefreshToken) {
	t.Helper()
	if err := s.CreateRefreshToken(t.Context(), rt); err != nil {
		t.Fatalf("CreateRefreshToken(%q): %v", rt.ID, err)
	}
}

func mustGetRefresh(t *testing.T, s store.Store, id string) store.RefreshToken {
	t.Helper()
	rt, err := s.GetRefreshToken(t.Context(), id)
	if err != nil {
		t.Fatalf("GetRefreshToken(%q): %v", id, err)
	}
	checkUTC(t, "refresh token "+id, rt.CreatedAt, rt.ExpiresAt, rt.FamilyExpiresAt, rt.UsedAt, rt.RevokedAt)
	return rt
}

func mustRotate(t *testing.T, s store.Store, id string, at time.Time, next store.RefreshToken) store.RefreshToken {
	t.Helper()
	old, err := s.RotateRefreshToken(t.Context(), id, at, next)
	if err != nil {
		t.Fatalf("RotateRefreshToken(%q): %v", id, err)
	}
	return old
}

func refreshGone(t *testing.T, s store.Store, id string) {
	t.Helper()
	if rt, err := s.GetRefreshToken(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRefreshToken(%q) = %+v, %v; want ErrNotFound", id, rt, err)
	}
}

// mustSaveConsent stores c through UpdateConsent and returns what it
// returned.
func mustSaveConsent(t *testing.T, s store.Store, c store.Consent) store.Consent {
	t.Helper()
	got, err := s.UpdateConsent(t.Context(), c.UserID, c.ClientID, func(have *store.Consent) error {
		have.Scopes, have.GrantedAt = c.Scopes, c.GrantedAt
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateConsent(%q, %q): %v", c.UserID, c.ClientID, err)
	}
	return got
}

func testUpdateConsent(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, member("u1"))
	mustCreate(t, s, minimalClient("c1"))

	// A new consent: fn sees only the user and the client.
	var seen []store.Consent
	got, err := s.UpdateConsent(ctx, "u1", "c1", func(c *store.Consent) error {
		seen = append(seen, *c)
		c.Scopes, c.GrantedAt = []string{"a"}, t0
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateConsent: %v", err)
	}
	if diff := cmp.Diff(store.Consent{UserID: "u1", ClientID: "c1"}, seen[len(seen)-1]); diff != "" {
		t.Errorf("UpdateConsent of a new consent: fn saw (-want +got):\n%s", diff)
	}
	want := normConsent(store.Consent{UserID: "u1", ClientID: "c1", Scopes: []string{"a"}, GrantedAt: t0})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UpdateConsent returned (-want +got):\n%s", diff)
	}

	// An existing one: fn sees it.
	seen = nil
	if _, err := s.UpdateConsent(ctx, "u1", "c1", func(c *store.Consent) error {
		seen = append(seen, *c)
		c.Scopes = append(c.Scopes, "b")
		return nil
	}); err != nil {
		t.Fatalf("UpdateConsent: %v", err)
	}
	if diff := cmp.Diff(want, normConsent(seen[len(seen)-1])); diff != "" {
		t.Errorf("UpdateConsent of an existing consent: fn saw (-want +got):\n%s", diff)
	}

	// An error from fn writes nothing and is returned as it is.
	errFn := errors.New("refused")
	if _, err := s.UpdateConsent(ctx, "u1", "c1", func(c *store.Consent) error {
		c.Scopes = nil
		return errFn
	}); err != errFn {
		t.Errorf("UpdateConsent with a failing fn: got error %v, want %v", err, errFn)
	}
	mustCreate(t, s, minimalClient("c2"))
	if _, err := s.UpdateConsent(ctx, "u1", "c2", func(*store.Consent) error { return errFn }); err != errFn {
		t.Errorf("UpdateConsent of a new consent with a failing fn: got error %v, want %v", err, errFn)
	}
	if _, err := s.GetConsent(ctx, "u1", "c2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetConsent after a failed UpdateConsent of a new consent: got error %v, want ErrNotFound", err)
	}

	// fn may not change the key.
	if _, err := s.UpdateConsent(ctx, "u1", "c1", func(c *store.Consent) error {
		c.ClientID = "c2"
		return nil
	}); err == nil {
		t.Error("UpdateConsent that changed the client ID: got no error")
	}
	c, err := s.GetConsent(ctx, "u1", "c1")
	if err != nil {
		t.Fatalf("GetConsent: %v", err)
	}
	if got, want := c.Scopes, []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("scopes after the failed updates: got %q, want %q", got, want)
	}
	if got := changes(t, s); !slices.Equal(got, []string{"client:c1", "client:c2"}) {
		t.Errorf("consents wrote to the change feed: %q", got)
	}
}

// testUpdateConsentConcurrent is the regression test for approvals that
// lost scopes: two approvals of different scopes for the same user and
// client, read at the same time, must both be kept. Each fn waits (briefly)
// for the others to have read too, so an implementation that does not
// serialise the read with the write loses scopes every time.
func testUpdateConsentConcurrent(t *testing.T, s store.Store) {
	const n = 4
	mustCreateUser(t, s, member("u1"))
	mustCreate(t, s, minimalClient("c1"))
	for _, existing := range []bool{false, true} {
		if existing {
			mustSaveConsent(t, s, store.Consent{UserID: "u1", ClientID: "c1", Scopes: []string{"first"}})
		}
		var (
			mu      sync.Mutex
			arrived int
			all     = make(chan struct{})
			wg      sync.WaitGroup
		)
		for i := range n {
			wg.Go(func() {
				name := fmt.Sprintf("scope-%d", i)
				_, err := s.UpdateConsent(t.Context(), "u1", "c1", func(c *store.Consent) error {
					mu.Lock()
					if arrived++; arrived == n {
						close(all)
					}
					mu.Unlock()
					select {
					case <-all:
					case <-time.After(100 * time.Millisecond):
					}
					if !slices.Contains(c.Scopes, name) {
						c.Scopes = append(c.Scopes, name)
					}
					return nil
				})
				if err != nil {
					t.Errorf("UpdateConsent #%d: %v", i, err)
				}
			})
		}
		wg.Wait()
		c, err := s.GetConsent(t.Context(), "u1", "c1")
		if err != nil {
			t.Fatalf("GetConsent: %v", err)
		}
		want := []string{"scope-0", "scope-1", "scope-2", "scope-3"}
		if existing {
			want = append([]string{"first"}, want...)
		}
		got := slices.Clone(c.Scopes)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("scopes after %d concurrent approvals (existing consent: %v): got %q, want %q", n, existing, got, want)
		}
		if err := s.DeleteConsent(t.Context(), "u1", "c1", ev("consent.revoke", "c1")); err != nil {
			t.Fatalf("DeleteConsent: %v", err)
		}
	}
}

func testDeleteConsent(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, member("u1"))
	mustCreateUser(t, s, member("u2"))
	mustCreate(t, s, minimalClient("c1"))
	mustCreate(t, s, minimalClient("c2"))
	mustSaveConsent(t, s, store.Consent{UserID: "u1", ClientID: "c1", Scopes: []string{"a"}})
	mustCreateRefresh(t, s, refresh("f1-t1", "f1", "c1", "u1"))
	mustCreateRefresh(t, s, refresh("f2-t1", "f2", "c1", "u1"))
	mustRotate(t, s, "f2-t1", t0.Add(time.Minute), store.RefreshToken{ID: "f2-t2"})
	mustCreateRefresh(t, s, refresh("f3-t1", "f3", "c2", "u1")) // other client
	mustCreateRefresh(t, s, refresh("f4-t1", "f4", "c1", "u2")) // other user
	mustCreateRefresh(t, s, refresh("f5-t1", "f5", "c1", ""))   // client credentials
	mustCreateRefresh(t, s, refresh("f6-t1", "f6", "c1", "u1"))
	revokedEarlier := t0.Add(2 * time.Minute)
	if err := s.RevokeRefreshFamily(ctx, "f6", revokedEarlier); err != nil {
		t.Fatalf("RevokeRefreshFamily: %v", err)
	}

	e := ev("consent.revoke", "c1")
	e.Time = t0.Add(time.Hour + 3)
	if err := s.DeleteConsent(ctx, "u1", "c1", e); err != nil {
		t.Fatalf("DeleteConsent: %v", err)
	}
	for _, tt := range []struct {
		id          string
		wantRevoked time.Time
	}{
		{"f1-t1", e.Time}, {"f2-t1", e.Time}, {"f2-t2", e.Time},
		{"f3-t1", time.Time{}}, {"f4-t1", time.Time{}}, {"f5-t1", time.Time{}},
		{"f6-t1", revokedEarlier},
	} {
		if got := mustGetRefresh(t, s, tt.id).RevokedAt; !got.Equal(normTime(tt.wantRevoked)) {
			t.Errorf("refresh token %q after DeleteConsent: RevokedAt = %v, want %v", tt.id, got, normTime(tt.wantRevoked))
		}
	}
	if _, err := s.RotateRefreshToken(ctx, "f1-t1", t0.Add(2*time.Hour), store.RefreshToken{ID: "f1-t2"}); !errors.Is(err, store.ErrRevoked) {
		t.Errorf("RotateRefreshToken after DeleteConsent: got error %v, want ErrRevoked", err)
	}
	refreshGone(t, s, "f1-t2")

	// Without a consent: ErrNotFound, and nothing is revoked or recorded.
	if err := s.DeleteConsent(ctx, "u2", "c1", ev("consent.revoke", "c1")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteConsent without a consent: got error %v, want ErrNotFound", err)
	}
	if got := mustGetRefresh(t, s, "f4-t1").RevokedAt; !got.IsZero() {
		t.Errorf("failed DeleteConsent revoked a token at %v", got)
	}
	evs, err := s.ListAudit(ctx, store.AuditFilter{Action: "consent.revoke"})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	e.Time = normTime(e.Time)
	if diff := cmp.Diff([]store.AuditEvent{e}, evs, cmpopts.IgnoreFields(store.AuditEvent{}, "ID")); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
}

func fullCode(id, clientID, userID string) store.AuthCode {
	return store.AuthCode{
		ID:            id,
		ClientID:      clientID,
		UserID:        userID,
		RedirectURI:   "https://app.example/cb?x=1&y=2",
		Scopes:        []string{"api:read", "profile"},
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		Nonce:         "n-0S6_WzA2Mj",
		CreatedAt:     t0,
		ExpiresAt:     t0.Add(time.Minute),
		Resources:     []string{"https://billing.example/api", "urn:example:reports"},
	}
}

func normCode(c store.AuthCode) store.AuthCode {
	c.Scopes = normList(c.Scopes)
	c.Resources = normList(c.Resources)
	c.CreatedAt = normTime(c.CreatedAt)
	c.ExpiresAt = normTime(c.ExpiresAt)
	c.UsedAt = normTime(c.UsedAt)
	c.AccessTokenExpires = normTime(c.AccessTokenExpires)
	return c
}

func testAuthCodes(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, member("u1"))
	mustCreate(t, s, minimalClient("c1"))
	code := fullCode("code-1", "c1", "u1")
	bare := store.AuthCode{ID: "code-2", ClientID: "c1", UserID: "u1", Scopes: []string{}, Resources: []string{}}
	for _, c := range []store.AuthCode{code, bare} {
		if err := s.CreateAuthCode(ctx, c); err != nil {
			t.Fatalf("CreateAuthCode(%q): %v", c.ID, err)
		}
	}
	for _, tt := range []struct {
		c       store.AuthCode
		wantErr error
	}{
		{fullCode("code-1", "c1", "u1"), store.ErrConflict},
		{fullCode("code-x", "nothing", "u1"), store.ErrNotFound},
		{fullCode("code-y", "c1", "nobody"), store.ErrNotFound},
	} {
		if err := s.CreateAuthCode(ctx, tt.c); !errors.Is(err, tt.wantErr) {
			t.Errorf("CreateAuthCode(%q, client %q, user %q): got error %v, want %v", tt.c.ID, tt.c.ClientID, tt.c.UserID, err, tt.wantErr)
		}
	}
	for _, id := range []string{"missing", "code-x", "code-y"} {
		if _, err := s.RedeemAuthCode(ctx, id, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RedeemAuthCode(%q): got error %v, want ErrNotFound", id, err)
		}
	}

	first := t0.Add(10*time.Second + 1)
	got, err := s.RedeemAuthCode(ctx, "code-1", first)
	if err != nil {
		t.Fatalf("RedeemAuthCode: %v", err)
	}
	want := normCode(code)
	want.UsedAt = normTime(first)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RedeemAuthCode (-want +got):\n%s", diff)
	}
	checkUTC(t, "code", got.CreatedAt, got.ExpiresAt, got.UsedAt, got.AccessTokenExpires)

	if err := s.RecordAuthCodeIssue(ctx, "code-1", "jti-1", t0.Add(time.Hour+7), "fam-1"); err != nil {
		t.Fatalf("RecordAuthCodeIssue: %v", err)
	}
	if err := s.RecordAuthCodeIssue(ctx, "missing", "jti-x", t0, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RecordAuthCodeIssue(missing): got error %v, want ErrNotFound", err)
	}
	want.AccessTokenJTI = "jti-1"
	want.AccessTokenExpires = normTime(t0.Add(time.Hour + 7))
	want.RefreshFamilyID = "fam-1"
	for i := range 2 {
		got, err = s.RedeemAuthCode(ctx, "code-1", t0.Add(20*time.Second))
		if !errors.Is(err, store.ErrUsed) {
			t.Fatalf("RedeemAuthCode again #%d: got error %v, want ErrUsed", i+1, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("RedeemAuthCode again #%d: the stored code (-want +got):\n%s", i+1, diff)
		}
	}

	got, err = s.RedeemAuthCode(ctx, "code-2", first)
	if err != nil {
		t.Fatalf("RedeemAuthCode(code-2): %v", err)
	}
	bare.Scopes, bare.Resources = nil, nil
	bare.UsedAt = normTime(first)
	if diff := cmp.Diff(bare, got); diff != "" {
		t.Errorf("RedeemAuthCode(code-2) (-want +got):\n%s", diff)
	}
	if got := len(auditActions(t, s, store.AuditFilter{})); got != 2 {
		t.Errorf("got %d audit events, want 2 (the creates)", got)
	}
	if got, want := changes(t, s), []string{"client:c1"}; !slices.Equal(got, want) {
		t.Errorf("change feed: got %q, want %q", got, want)
	}
}

func testRedeemAuthCodeConcurrent(t *testing.T, s store.Store) {
	const n = 8
	mustCreateUser(t, s, member("u1"))
	mustCreate(t, s, minimalClient("c1"))
	if err := s.CreateAuthCode(t.Context(), fullCode("code", "c1", "u1")); err != nil {
		t.Fatalf("CreateAuthCode: %v", err)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		winners  []time.Time
		nUsed    int
		usedAtOK = true
	)
	for i := range n {
		wg.Go(func() {
			at := t0.Add(time.Duration(i+1) * time.Second)
			c, err := s.RedeemAuthCode(t.Context(), "code", at)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, c.UsedAt)
			case errors.Is(err, store.ErrUsed):
				nUsed++
				if c.ID != "code" || c.UsedAt.IsZero() {
					usedAtOK = false
				}
			default:
				t.Errorf("RedeemAuthCode #%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if len(winners) != 1 || nUsed != n-1 {
		t.Fatalf("%d concurrent redemptions: %d succeeded and %d got ErrUsed, want 1 and %d", n, len(winners), nUsed, n-1)
	}
	if !usedAtOK {
		t.Errorf("a redemption that got ErrUsed did not get the stored, used code")
	}
	got, err := s.RedeemAuthCode(t.Context(), "code", t0.Add(time.Hour))
	if !errors.Is(err, store.ErrUsed) || !got.UsedAt.Equal(winners[0]) {
		t.Errorf("RedeemAuthCode afterwards = UsedAt %v, %v; want the winner's %v, ErrUsed", got.UsedAt, err, winners[0])
	}
}

func testRefreshTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, member("u1"))
	mustCreate(t, s, minimalClient("c1"))
	rt := refresh("t1", "f1", "c1", "u1")
	cc := store.RefreshToken{ID: "t2", FamilyID: "f2", ClientID: "c1", Scopes: []string{}, Resources: []string{}}
	for _, r := range []store.RefreshToken{rt, cc} {
		mustCreateRefresh(t, s, r)
		if diff := cmp.Diff(normRefresh(r), mustGetRefresh(t, s, r.ID)); diff != "" {
			t.Errorf("GetRefreshToken(%q) (-want +got):\n%s", r.ID, diff)
		}
	}
	for _, tt := range []struct {
		name    string
		rt      store.RefreshToken
		wantErr error
	}{
		{"existing ID", refresh("t1", "f9", "c1", "u1"), store.ErrConflict},
		{"existing family", refresh("t9", "f1", "c1", "u1"), store.ErrConflict},
		{"missing client", refresh("t9", "f9", "nothing", "u1"), store.ErrNotFound},
		{"missing user", refresh("t9", "f9", "c1", "nobody"), store.ErrNotFound},
	} {
		if err := s.CreateRefreshToken(ctx, tt.rt); !errors.Is(err, tt.wantErr) {
			t.Errorf("CreateRefreshToken with %s: got error %v, want %v", tt.name, err, tt.wantErr)
		}
	}
	refreshGone(t, s, "t9")
	refreshGone(t, s, "missing")
	if diff := cmp.Diff(normRefresh(rt), mustGetRefresh(t, s, "t1")); diff != "" {
		t.Errorf("refresh token changed by failed creates (-want +got):\n%s", diff)
	}
	// The family of a failed create is still free.
	mustCreateRefresh(t, s, refresh("t3", "f9", "c1", "u1"))

	// Revoking keeps the first time and affects only its family; an
	// unknown family is not an error.
	for _, at := range []time.Time{t0.Add(time.Hour + 1), t0.Add(2 * time.Hour)} {
		if err := s.RevokeRefreshFamily(ctx, "f1", at); err != nil {
			t.Fatalf("RevokeRefreshFamily: %v", err)
		}
	}
	if err := s.RevokeRefreshFamily(ctx, "nothing", t0); err != nil {
		t.Errorf("RevokeRefreshFamily(unknown): %v", err)
	}
	want := normRefresh(rt)
	want.RevokedAt = normTime(t0.Add(time.Hour + 1))
	if diff := cmp.Diff(want, mustGetRefresh(t, s, "t1")); diff != "" {
		t.Errorf("refresh token after RevokeRefreshFamily twice (-want +got):\n%s", diff)
	}
	for _, id := range []string{"t2", "t3"} {
		if got := mustGetRefresh(t, s, id).RevokedAt; !got.IsZero() {
			t.Errorf("refresh token %q of another family revoked at %v", id, got)
		}
	}
	if got := len(auditActions(t, s, store.AuditFilter{})); got != 2 {
		t.Errorf("got %d audit events, want 2 (the creates)", got)
	}
	if got, want := changes(t, s), []string{"client:c1"}; !slices.Equal(got, want) {
		t.Errorf("change feed: got %q, want %q", got, want)
	}
}

func testRotateRefreshToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, member("u1"))
	mustCreate(t, s, minimalClient("c1"))
	mustCreate(t, s, minimalClient("c2"))
	first := refresh("t1", "f1", "c1", "u1")
	mustCreateRefresh(t, s, first)
	mustCreateRefresh(t, s, refresh("other", "f2", "c1", "u1"))

	// The next token takes the family's fields, whatever it says.
	at1 := t0.Add(time.Minute + 1)
	next := store.RefreshToken{
		ID: "t2", ClientID: "c2", UserID: "", Scopes: []string{"api:read"}, AccountID: "acct-2",
		CreatedAt: at1, ExpiresAt: at1.Add(24 * time.Hour), FamilyExpiresAt: t0.Add(time.Hour),
		Resources: []string{"https://elsewhere.example"},
		JKT:       "another-key",
	}
	old := mustRotate(t, s, "t1", at1, next)
	wantOld := normRefresh(first)
	wantOld.UsedAt = normTime(at1)
	if diff := cmp.Diff(wantOld, old); diff != "" {
		t.Errorf("RotateRefreshToken result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantOld, mustGetRefresh(t, s, "t1")); diff != "" {
		t.Errorf("rotated token (-want +got):\n%s", diff)
	}
	wantNext := store.RefreshToken{
		ID: "t2", FamilyID: "f1", ClientID: "c1", UserID: "u1", Scopes: []string{"api:read"}, AccountID: "acct-2",
		CreatedAt: normTime(at1), ExpiresAt: normTime(at1.Add(24 * time.Hour)), FamilyExpiresAt: normTime(first.FamilyExpiresAt),
		Resources: normList(first.Resources),
		JKT:       first.JKT, // the family's key binding never changes
	}
	if diff := cmp.Diff(wantNext, mustGetRefresh(t, s, "t2")); diff != "" {
		t.Errorf("next token (-want +got):\n%s", diff)
	}

	// A chain in family f3; next may name its family.
	mustCreateRefresh(t, s, refresh("k1", "f3", "c1", "u1"))
	at2 := t0.Add(2 * time.Minute)
	mustRotate(t, s, "k1", at2, store.RefreshToken{ID: "k2", FamilyID: "f3"})
	mustRotate(t, s, "k2", at2.Add(time.Second), store.RefreshToken{ID: "k3"})

	// Failures that write nothing.
	for _, tt := range []struct {
		name    string
		next    store.RefreshToken
		wantErr error // nil: any error
	}{
		{"next in another family", store.RefreshToken{ID: "k4", FamilyID: "f2"}, nil},
		{"next ID exists", store.RefreshToken{ID: "t1"}, store.ErrConflict},
	} {
		_, err := s.RotateRefreshToken(ctx, "k3", at2.Add(time.Minute), tt.next)
		switch {
		case err == nil:
			t.Errorf("RotateRefreshToken with %s succeeded, want an error", tt.name)
		case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
			t.Errorf("RotateRefreshToken with %s: got error %v, want %v", tt.name, err, tt.wantErr)
		}
		if got := mustGetRefresh(t, s, "k3"); !got.UsedAt.IsZero() || !got.RevokedAt.IsZero() {
			t.Errorf("after RotateRefreshToken with %s: token UsedAt %v, RevokedAt %v; want both zero", tt.name, got.UsedAt, got.RevokedAt)
		}
	}
	refreshGone(t, s, "k4")
	if _, err := s.RotateRefreshToken(ctx, "missing", at2, store.RefreshToken{ID: "k5"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RotateRefreshToken(missing): got error %v, want ErrNotFound", err)
	}
	refreshGone(t, s, "k5")

	// Reuse of k1 (rotated) revokes the whole family f3.
	reuse := at2.Add(5 * time.Minute)
	got, err := s.RotateRefreshToken(ctx, "k1", reuse, store.RefreshToken{ID: "k6"})
	if !errors.Is(err, store.ErrReused) {
		t.Fatalf("RotateRefreshToken of a rotated token: got error %v, want ErrReused", err)
	}
	if got.ID != "k1" || !got.UsedAt.Equal(normTime(at2)) || !got.RevokedAt.Equal(normTime(reuse)) {
		t.Errorf("RotateRefreshToken of a rotated token returned %q, UsedAt %v, RevokedAt %v; want k1, %v, %v",
			got.ID, got.UsedAt, got.RevokedAt, normTime(at2), normTime(reuse))
	}
	refreshGone(t, s, "k6")
	for _, id := range []string{"k1", "k2", "k3"} {
		if got := mustGetRefresh(t, s, id).RevokedAt; !got.Equal(normTime(reuse)) {
			t.Errorf("token %q after reuse: RevokedAt = %v, want %v", id, got, normTime(reuse))
		}
	}
	// The current token of a revoked family: ErrRevoked, nothing changes.
	got, err = s.RotateRefreshToken(ctx, "k3", reuse.Add(time.Minute), store.RefreshToken{ID: "k7"})
	if !errors.Is(err, store.ErrRevoked) {
		t.Errorf("RotateRefreshToken in a revoked family: got error %v, want ErrRevoked", err)
	}
	if got.ID != "k3" || !got.UsedAt.IsZero() || !got.RevokedAt.Equal(normTime(reuse)) {
		t.Errorf("RotateRefreshToken in a revoked family returned %q, UsedAt %v, RevokedAt %v; want k3, zero, %v",
			got.ID, got.UsedAt, got.RevokedAt, normTime(reuse))
	}
	refreshGone(t, s, "k7")
	// Reusing again keeps the first revocation time.
	if _, err := s.RotateRefreshToken(ctx, "k2", reuse.Add(time.Hour), store.RefreshToken{ID: "k8"}); !errors.Is(err, store.ErrRevoked) {
		t.Errorf("RotateRefreshToken of a rotated token in a revoked family: got error %v, want ErrRevoked", err)
	}
	if got := mustGetRefresh(t, s, "k1").RevokedAt; !got.Equal(normTime(reuse)) {
		t.Errorf("RevokedAt after a second reuse: got %v, want %v", got, normTime(reuse))
	}
	// Other families are untouched.
	for _, id := range []string{"t1", "t2", "other"} {
		if got := mustGetRefresh(t, s, id).RevokedAt; !got.IsZero() {
			t.Errorf("token %q of another family revoked at %v", id, got)
		}
	}
	if got := len(auditActions(t, s, store.AuditFilter{})); got != 3 {
		t.Errorf("got %d audit events, want 3 (the creates)", got)
	}
	if got, want := changes(t, s), []string{"client:c1", "client:c2"}; !slices.Equal(got, want) {
		t.Errorf("change feed: got %q, want %q", got, want)
	}
}

func testRotateRefreshTokenConcurrent(t *testing.T, s store.Store) {
	mustCreateUser(t, s, member("u1"))
	mustCreate(t, s, minimalClient("c1"))
	at := t0.Add(time.Minute)

	// Two at a time, several rounds: exactly one wins, the other gets
	// ErrReused, and the family is revoked, the winner's new token too.
	const rounds = 5
	for r := range rounds {
		id, fam := fmt.Sprintf("r%d", r), fmt.Sprintf("f%d", r)
		mustCreateRefresh(t, s, refresh(id, fam, "c1", "u1"))
		var errs [2]error
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				_, errs[i] = s.RotateRefreshToken(t.Context(), id, at, store.RefreshToken{ID: fmt.Sprintf("%s-next%d", id, i)})
			})
		}
		wg.Wait()
		var won, reused int
		for i, err := range errs {
			switch {
			case err == nil:
				won++
				if got := mustGetRefresh(t, s, fmt.Sprintf("%s-next%d", id, i)).RevokedAt; got.IsZero() {
					t.Errorf("round %d: the winner's new token is live after the reuse, want it revoked", r)
				}
			case errors.Is(err, store.ErrReused):
				reused++
				refreshGone(t, s, fmt.Sprintf("%s-next%d", id, i))
			default:
				t.Errorf("round %d: RotateRefreshToken #%d: %v", r, i, err)
			}
		}
		if won != 1 || reused != 1 {
			t.Errorf("round %d: 2 concurrent rotations: %d succeeded and %d got ErrReused, want 1 and 1", r, won, reused)
		}
		if got := mustGetRefresh(t, s, id).RevokedAt; got.IsZero() {
			t.Errorf("round %d: family not revoked after concurrent rotations", r)
		}
	}

	// Many at once: still exactly one wins; the others get ErrReused or,
	// once the family is revoked, ErrRevoked.
	const n = 8
	mustCreateRefresh(t, s, refresh("many", "f-many", "c1", "u1"))
	var (
		wg                    sync.WaitGroup
		mu                    sync.Mutex
		won, reused, nRevoked int
	)
	for i := range n {
		wg.Go(func() {
			_, err := s.RotateRefreshToken(t.Context(), "many", at, store.RefreshToken{ID: fmt.Sprintf("many-%d", i)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, store.ErrReused):
				reused++
			case errors.Is(err, store.ErrRevoked):
				nRevoked++
			default:
				t.Errorf("RotateRefreshToken #%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if won != 1 || reused < 1 || won+reused+nRevoked != n {
		t.Errorf("%d concurrent rotations: %d succeeded, %d ErrReused, %d ErrRevoked; want 1, at least 1, the rest",
			n, won, reused, nRevoked)
	}
	if got := mustGetRefresh(t, s, "many").RevokedAt; got.IsZero() {
		t.Errorf("family not revoked after %d concurrent rotations", n)
	}
}

// testRevokeDuringRotation revokes a family while its token is rotated in
// a loop: the rotation stops with ErrRevoked and every token it made is
// revoked.
func testRevokeDuringRotation(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, member("u1"))
	mustCreate(t, s, minimalClient("c1"))
	mustCreateRefresh(t, s, refresh("t0", "f", "c1", "u1"))
	const steps = 200
	var (
		wg      sync.WaitGroup
		made    = []string{"t0"}
		started = make(chan struct{})
		lastErr error
	)
	wg.Go(func() {
		cur := "t0"
		for i := 1; i <= steps; i++ {
			next := fmt.Sprintf("t%d", i)
			_, err := s.RotateRefreshToken(ctx, cur, t0.Add(time.Duration(i)*time.Second), store.RefreshToken{ID: next})
			if i == 3 {
				close(started)
			}
			if err != nil {
				lastErr = err
				if i < 3 {
					close(started)
				}
				return
			}
			made = append(made, next)
			cur = next
		}
	})
	<-started
	if err := s.RevokeRefreshFamily(ctx, "f", t0.Add(time.Hour)); err != nil {
		t.Errorf("RevokeRefreshFamily: %v", err)
	}
	wg.Wait()
	if len(made) <= steps && !errors.Is(lastErr, store.ErrRevoked) {
		t.Errorf("rotation stopped with error %v, want ErrRevoked", lastErr)
	}
	for _, id := range made {
		if got := mustGetRefresh(t, s, id).RevokedAt; got.IsZero() {
			t.Errorf("token %q is live after its family was revoked", id)
		}
	}
}

func testDeleteClientCascades(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, member("u1"))
	for _, id := range []string{"c1", "c2"} {
		mustCreate(t, s, minimalClient(id))
		mustSaveConsent(t, s, store.Consent{UserID: "u1", ClientID: id, Scopes: []string{"a"}})
		if err := s.CreateAuthCode(ctx, fullCode("code-"+id, id, "u1")); err != nil {
			t.Fatalf("CreateAuthCode: %v", err)
		}
		mustCreateRefresh(t, s, refresh("rt-"+id, "f-"+id, id, "u1"))
		mustCreateRefresh(t, s, refresh("cc-"+id, "fcc-"+id, id, ""))
	}
	if err := s.DeleteClient(ctx, "c1", nil, ev("client.delete", "c1")); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	// Recreating the client does not bring anything back.
	mustCreate(t, s, minimalClient("c1"))
	if _, err := s.GetConsent(ctx, "u1", "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetConsent of a deleted client: got error %v, want ErrNotFound", err)
	}
	if _, err := s.RedeemAuthCode(ctx, "code-c1", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RedeemAuthCode of a deleted client's code: got error %v, want ErrNotFound", err)
	}
	refreshGone(t, s, "rt-c1")
	refreshGone(t, s, "cc-c1")
	if _, err := s.RotateRefreshToken(ctx, "rt-c1", t0, store.RefreshToken{ID: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RotateRefreshToken of a deleted client's token: got error %v, want ErrNotFound", err)
	}
	// The family ID is free again.
	mustCreateRefresh(t, s, refresh("rt-c1-again", "f-c1", "c1", "u1"))

	if _, err := s.GetConsent(ctx, "u1", "c2"); err != nil {
		t.Errorf("GetConsent of another client: %v", err)
	}
	if _, err := s.RedeemAuthCode(ctx, "code-c2", t0); err != nil {
		t.Errorf("RedeemAuthCode of another client's code: %v", err)
	}
	mustGetRefresh(t, s, "rt-c2")
	mustGetRefresh(t, s, "cc-c2")
}

func testPrunePeople(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, member("u1"))
	mustCreate(t, s, minimalClient("c1"))
	now := t0.Add(24 * time.Hour)

	for _, sess := range []store.Session{
		{ID: "s-expired", UserID: "u1", ExpiresAt: now.Add(-time.Second)},
		{ID: "s-valid", UserID: "u1", ExpiresAt: now.Add(time.Minute)},
		{ID: "s-forever", UserID: "u1"},
	} {
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatalf("CreateSession(%q): %v", sess.ID, err)
		}
	}
	for _, c := range []struct {
		id  string
		exp time.Time
	}{
		{"code-long-expired", now.Add(-61 * time.Minute)},
		{"code-expired", now.Add(-59 * time.Minute)}, // kept an hour, to detect replays
		{"code-valid", now.Add(time.Minute)},
		{"code-forever", time.Time{}},
	} {
		code := fullCode(c.id, "c1", "u1")
		code.ExpiresAt = c.exp
		if err := s.CreateAuthCode(ctx, code); err != nil {
			t.Fatalf("CreateAuthCode(%q): %v", c.id, err)
		}
	}
	for _, f := range []struct {
		id  string
		exp time.Time
	}{
		{"expired", now.Add(-time.Second)},
		{"valid", now.Add(time.Minute)},
		{"forever", time.Time{}},
	} {
		rt := refresh(f.id+"-1", f.id, "c1", "u1")
		rt.ExpiresAt = now.Add(-time.Hour) // idle expiry alone does not prune
		rt.FamilyExpiresAt = f.exp
		mustCreateRefresh(t, s, rt)
		mustRotate(t, s, f.id+"-1", t0, store.RefreshToken{ID: f.id + "-2", ExpiresAt: now.Add(-time.Hour)})
	}

	if err := s.Prune(ctx, now); err != nil {
		t.Fatalf("Prune: %v", err)
	}
	for _, id := range []string{"s-expired", "s-valid", "s-forever"} {
		_, err := s.GetSession(ctx, id)
		if gone := errors.Is(err, store.ErrNotFound); gone != (id == "s-expired") || err != nil && !gone {
			t.Errorf("GetSession(%q) after Prune: got error %v", id, err)
		}
	}
	for _, id := range []string{"code-long-expired", "code-expired", "code-valid", "code-forever"} {
		_, err := s.RedeemAuthCode(ctx, id, now)
		if gone := errors.Is(err, store.ErrNotFound); gone != (id == "code-long-expired") || err != nil && !gone {
			t.Errorf("RedeemAuthCode(%q) after Prune: got error %v", id, err)
		}
	}
	for _, f := range []string{"expired", "valid", "forever"} {
		for _, id := range []string{f + "-1", f + "-2"} {
			_, err := s.GetRefreshToken(ctx, id)
			if gone := errors.Is(err, store.ErrNotFound); gone != (f == "expired") || err != nil && !gone {
				t.Errorf("GetRefreshToken(%q) after Prune: got error %v", id, err)
			}
		}
	}
	// Prune leaves users, clients and consents alone.
	mustGetUser(t, s, "u1")
	mustGet(t, s, "c1")
}

func testDeleteUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	admin := func(id string, disabled bool) store.User {
		return store.User{ID: id, Username: id, Role: store.RoleAdmin, Disabled: disabled}
	}
	mustCreateUser(t, s, admin("a1", false))
	mustCreateUser(t, s, admin("a2", false))
	mustCreateUser(t, s, admin("a3-disabled", true))
	mustCreateUser(t, s, member("m1"))
	mustCreate(t, s, minimalClient("c1"))
	if err := s.CreateSession(ctx, store.Session{ID: "sess-m1", UserID: "m1", CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	mustSaveConsent(t, s, store.Consent{UserID: "m1", ClientID: "c1", Scopes: []string{"a"}})
	mustCreateRefresh(t, s, refresh("rt-m1", "f-m1", "c1", "m1"))

	// fn sees the user and the other enabled admins; its error writes nothing.
	refuse := errors.New("refused")
	for _, tc := range []struct {
		id     string
		admins int
	}{{"m1", 2}, {"a1", 1}, {"a3-disabled", 2}} {
		err := s.DeleteUser(ctx, tc.id, func(u store.User, admins int) error {
			if u.ID != tc.id || admins != tc.admins {
				t.Errorf("DeleteUser(%q): fn got user %q and %d other admins, want %q and %d", tc.id, u.ID, admins, tc.id, tc.admins)
			}
			return refuse
		}, evp("user.delete", tc.id))
		if !errors.Is(err, refuse) {
			t.Errorf("DeleteUser(%q) with a refusing fn: got error %v, want fn's", tc.id, err)
		}
		mustGetUser(t, s, tc.id)
	}
	if got := auditActions(t, s, store.AuditFilter{Action: "user.delete"}); got != nil {
		t.Errorf("a refused DeleteUser recorded %q", got)
	}

	ok := func(store.User, int) error { return nil }
	if err := s.DeleteUser(ctx, "m1", ok, evp("user.delete", "m1")); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := s.GetUser(ctx, "m1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser after DeleteUser: got error %v, want ErrNotFound", err)
	}
	if _, err := s.GetSession(ctx, "sess-m1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSession of a deleted user: got error %v, want ErrNotFound", err)
	}
	if _, err := s.GetConsent(ctx, "m1", "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetConsent of a deleted user: got error %v, want ErrNotFound", err)
	}
	refreshGone(t, s, "rt-m1")
	if got, want := auditActions(t, s, store.AuditFilter{Action: "user.delete"}), []string{"user.delete m1"}; !slices.Equal(got, want) {
		t.Errorf("audit events: got %q, want %q", got, want)
	}
	if err := s.DeleteUser(ctx, "m1", ok, evp("user.delete", "m1")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteUser again: got error %v, want ErrNotFound", err)
	}
	// The username is free again.
	mustCreateUser(t, s, member("m1"))
}

// testDeleteUserConcurrent: of two concurrent deletions of the last two
// enabled admins, each refusing to leave none, exactly one succeeds.
func testDeleteUserConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"a1", "a2"} {
		mustCreateUser(t, s, store.User{ID: id, Username: id, Role: store.RoleAdmin})
	}
	last := errors.New("last admin")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, id := range []string{"a1", "a2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.DeleteUser(ctx, id, func(_ store.User, admins int) error {
				if admins == 0 {
					return last
				}
				return nil
			}, evp("user.delete", id))
		}()
	}
	wg.Wait()
	n := 0
	for _, err := range errs {
		switch {
		case err == nil:
			n++
		case errors.Is(err, last):
		default:
			t.Errorf("DeleteUser: %v", err)
		}
	}
	if n != 1 {
		t.Errorf("%d of two concurrent deletions of the last two admins succeeded (%v), want 1", n, errs)
	}
}

// testUpdateUserAdmins: UpdateUser's fn sees the other enabled
// administrators, counted like DeleteUser's.
func testUpdateUserAdmins(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, u := range []store.User{
		{ID: "a1", Username: "a1", Role: store.RoleAdmin},
		{ID: "a2", Username: "a2", Role: store.RoleAdmin},
		{ID: "a3-disabled", Username: "a3", Role: store.RoleAdmin, Disabled: true},
		member("m1"),
	} {
		mustCreateUser(t, s, u)
	}
	for _, tc := range []struct {
		id     string
		admins int
	}{{"m1", 2}, {"a1", 1}, {"a2", 1}, {"a3-disabled", 2}} {
		_, err := s.UpdateUser(ctx, tc.id, func(u *store.User, admins int) error {
			if u.ID != tc.id || admins != tc.admins {
				t.Errorf("UpdateUser(%q): fn got user %q and %d other admins, want %q and %d", tc.id, u.ID, admins, tc.id, tc.admins)
			}
			return nil
		}, nil)
		if err != nil {
			t.Errorf("UpdateUser(%q): %v", tc.id, err)
		}
	}
}

// testUpdateUserAdminsConcurrent: of concurrent changes that each take one
// of the last two enabled administrators away (a demotion, a disabling, a
// deletion), each refusing to leave none, exactly one succeeds.
func testUpdateUserAdminsConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	last := errors.New("last admin")
	type change func(id string) error
	demote := func(id string) error {
		_, err := s.UpdateUser(ctx, id, func(u *store.User, admins int) error {
			if admins == 0 {
				return last
			}
			u.Role = store.RoleMember
			return nil
		}, evp("user.update", id))
		return err
	}
	disable := func(id string) error {
		_, err := s.UpdateUser(ctx, id, func(u *store.User, admins int) error {
			if admins == 0 {
				return last
			}
			u.Disabled = true
			return nil
		}, evp("user.update", id))
		return err
	}
	del := func(id string) error {
		return s.DeleteUser(ctx, id, func(_ store.User, admins int) error {
			if admins == 0 {
				return last
			}
			return nil
		}, evp("user.delete", id))
	}
	for _, tc := range []struct {
		name string
		a, b change
	}{
		{"demote both", demote, demote},
		{"disable both", disable, disable},
		{"demote and disable", demote, disable},
		{"demote and delete", demote, del},
		{"disable and delete", disable, del},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := "a-"+strings.ReplaceAll(tc.name, " ", "-"), "b-"+strings.ReplaceAll(tc.name, " ", "-")
			for _, id := range []string{a, b} {
				mustCreateUser(t, s, store.User{ID: id, Username: id, Role: store.RoleAdmin})
			}
			var wg sync.WaitGroup
			errs := make([]error, 2)
			wg.Go(func() { errs[0] = tc.a(a) })
			wg.Go(func() { errs[1] = tc.b(b) })
			wg.Wait()
			n := 0
			for _, err := range errs {
				switch {
				case err == nil:
					n++
				case errors.Is(err, last):
				default:
					t.Errorf("change: %v", err)
				}
			}
			if n != 1 {
				t.Errorf("%d of two concurrent changes to the last two admins succeeded (%v), want 1", n, errs)
			}
			// Leave no enabled admin behind for the next case.
			for _, id := range []string{a, b} {
				if _, err := s.UpdateUser(ctx, id, func(u *store.User, _ int) error { u.Disabled = true; return nil }, nil); err != nil && !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("disable %s: %v", id, err)
				}
			}
		})
	}
}
