package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Set-password tokens: one-time links with which a user created without a
// password chooses one.

func passwordToken(id, userID string, expires time.Time) store.PasswordToken {
	return store.PasswordToken{ID: id, UserID: userID, CreatedAt: t0, ExpiresAt: expires}
}

// invited returns a member without a password.
func invited(id string) store.User {
	return store.User{ID: id, Username: id, DisplayName: "Invited " + id, Role: store.RoleMember,
		CreatedAt: t0, UpdatedAt: t0}
}

func mustInvite(t *testing.T, s store.Store, u store.User, tok store.PasswordToken) {
	t.Helper()
	if err := s.CreateUserWithPasswordToken(t.Context(), u, tok, ev("user.create", u.ID)); err != nil {
		t.Fatalf("CreateUserWithPasswordToken(%q, %q): %v", u.ID, tok.ID, err)
	}
}

// passwordTokenIDs returns which of ids GetPasswordToken still finds.
func passwordTokenIDs(t *testing.T, s store.Store, ids ...string) []string {
	t.Helper()
	var out []string
	for _, id := range ids {
		_, err := s.GetPasswordToken(t.Context(), id)
		switch {
		case err == nil:
			out = append(out, id)
		case !errors.Is(err, store.ErrNotFound):
			t.Fatalf("GetPasswordToken(%q): %v", id, err)
		}
	}
	return out
}

func testPasswordTokenRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.GetPasswordToken(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetPasswordToken(missing): got error %v, want ErrNotFound", err)
	}
	u := invited("usr_p")
	tok := passwordToken("tok-p", "usr_p", t0.Add(72*time.Hour+1))
	mustInvite(t, s, u, tok)
	if diff := cmp.Diff(normUser(u), mustGetUser(t, s, u.ID)); diff != "" {
		t.Errorf("GetUser of an invited user (-want +got):\n%s", diff)
	}
	got, err := s.GetPasswordToken(ctx, tok.ID)
	if err != nil {
		t.Fatalf("GetPasswordToken: %v", err)
	}
	checkUTC(t, "set-password token", got.CreatedAt, got.ExpiresAt)
	want := store.PasswordToken{ID: tok.ID, UserID: u.ID, CreatedAt: normTime(tok.CreatedAt), ExpiresAt: normTime(tok.ExpiresAt)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetPasswordToken (-want +got):\n%s", diff)
	}

	// A failed create writes nothing: neither the user nor the token.
	for _, tt := range []struct {
		name string
		u    store.User
		tok  store.PasswordToken
	}{
		{"username taken", store.User{ID: "usr_q", Username: "USR_P", Role: store.RoleMember}, passwordToken("tok-q", "usr_q", t0)},
		{"user ID taken", invited("usr_p"), passwordToken("tok-q", "usr_p", t0)},
		{"token ID taken", invited("usr_q"), passwordToken("tok-p", "usr_q", t0)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CreateUserWithPasswordToken(ctx, tt.u, tt.tok, ev("user.create", tt.u.ID))
			if !errors.Is(err, store.ErrConflict) {
				t.Fatalf("CreateUserWithPasswordToken: got error %v, want ErrConflict", err)
			}
		})
	}
	if err := s.CreateUserWithPasswordToken(ctx, invited("usr_q"), passwordToken("tok-q", "usr_other", t0), ev("user.create", "usr_q")); err == nil {
		t.Error("CreateUserWithPasswordToken with a token for another user: got no error")
	}
	if _, err := s.GetUser(ctx, "usr_q"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser after failed creates: got error %v, want ErrNotFound", err)
	}
	if got := passwordTokenIDs(t, s, "tok-p", "tok-q"); !slices.Equal(got, []string{"tok-p"}) {
		t.Errorf("set-password tokens after failed creates: got %q, want [tok-p]", got)
	}
	if got, want := auditActions(t, s, store.AuditFilter{}), []string{"user.create usr_p"}; !slices.Equal(got, want) {
		t.Errorf("audit events: got %q, want %q", got, want)
	}
	if got := changes(t, s); got != nil {
		t.Errorf("set-password tokens wrote change-feed entries %q, want none", got)
	}
}

func testRedeemPasswordToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := t0.Add(time.Hour)
	u := invited("usr_p")
	mustInvite(t, s, u, passwordToken("tok", u.ID, exp))
	setHash := func(h string) func(*store.User) error {
		return func(u *store.User) error {
			u.PasswordHash = h
			u.UpdatedAt = t0.Add(time.Minute)
			return nil
		}
	}
	refuse := errors.New("refused")

	// Failures write nothing: the user unchanged, no event, the token kept.
	for _, tt := range []struct {
		name    string
		id      string
		at      time.Time
		fn      func(*store.User) error
		wantErr error // nil: any error
	}{
		{"unknown token", "nope", t0, setHash("h"), store.ErrNotFound},
		{"expired token", "tok", exp, setHash("h"), store.ErrNotFound},
		{"long expired token", "tok", exp.Add(time.Hour), setHash("h"), store.ErrNotFound},
		{"fn refuses", "tok", t0, func(u *store.User) error {
			if u.ID != "usr_p" || u.Username != "usr_p" {
				t.Errorf("fn got user %+v, want usr_p", u)
			}
			u.PasswordHash = "h"
			return refuse
		}, refuse},
		{"fn changes the ID", "tok", t0, func(u *store.User) error { u.ID = "usr_x"; return nil }, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.RedeemPasswordToken(ctx, tt.id, tt.at, tt.fn, evp("user.set_password", u.ID))
			switch {
			case err == nil:
				t.Fatalf("RedeemPasswordToken succeeded with %+v, want an error", got)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("RedeemPasswordToken: got error %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(normUser(u), mustGetUser(t, s, u.ID)); diff != "" {
				t.Errorf("user changed by a failed redemption (-want +got):\n%s", diff)
			}
			if got := passwordTokenIDs(t, s, "tok"); got == nil {
				t.Error("a failed redemption spent the token")
			}
		})
	}
	if got, want := auditActions(t, s, store.AuditFilter{}), []string{"user.create usr_p"}; !slices.Equal(got, want) {
		t.Errorf("audit after failed redemptions: got %q, want %q", got, want)
	}

	// Just before expiry it works, once.
	got, err := s.RedeemPasswordToken(ctx, "tok", exp.Add(-time.Microsecond), setHash("h1"), evp("user.set_password", u.ID))
	if err != nil {
		t.Fatalf("RedeemPasswordToken: %v", err)
	}
	want := normUser(u)
	want.PasswordHash, want.UpdatedAt = "h1", normTime(t0.Add(time.Minute))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RedeemPasswordToken result (-want +got):\n%s", diff)
	}
	checkUTC(t, "RedeemPasswordToken result", got.CreatedAt, got.UpdatedAt)
	if diff := cmp.Diff(want, mustGetUser(t, s, u.ID)); diff != "" {
		t.Errorf("GetUser after RedeemPasswordToken (-want +got):\n%s", diff)
	}
	if got := passwordTokenIDs(t, s, "tok"); got != nil {
		t.Errorf("set-password token left after its redemption")
	}
	if _, err := s.RedeemPasswordToken(ctx, "tok", t0, setHash("h2"), evp("user.set_password", u.ID)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RedeemPasswordToken again: got error %v, want ErrNotFound", err)
	}
	if h := mustGetUser(t, s, u.ID).PasswordHash; h != "h1" {
		t.Errorf("password hash after a second redemption: got %q, want h1", h)
	}
	if got, want := auditActions(t, s, store.AuditFilter{}), []string{"user.set_password usr_p", "user.create usr_p"}; !slices.Equal(got, want) {
		t.Errorf("audit after RedeemPasswordToken: got %q, want %q", got, want)
	}

	// Setting the password otherwise spends the user's token; other
	// changes do not. Deleting the user deletes it.
	mustInvite(t, s, invited("usr_q"), passwordToken("tok-q", "usr_q", exp))
	mustInvite(t, s, invited("usr_r"), passwordToken("tok-r", "usr_r", exp))
	update := func(id string, fn func(*store.User)) {
		t.Helper()
		if _, err := s.UpdateUser(ctx, id, func(u *store.User, _ int) error { fn(u); return nil }, nil); err != nil {
			t.Fatalf("UpdateUser(%q): %v", id, err)
		}
	}
	update("usr_q", func(u *store.User) { u.DisplayName, u.Disabled, u.Role = "Q", true, store.RoleAdmin })
	if got := passwordTokenIDs(t, s, "tok-q"); got == nil {
		t.Error("UpdateUser without a password change deleted the set-password token")
	}
	update("usr_q", func(u *store.User) { u.PasswordHash = "set by an admin" })
	if got := passwordTokenIDs(t, s, "tok-q"); got != nil {
		t.Error("UpdateUser changing the password hash left the set-password token")
	}
	if err := s.DeleteUser(ctx, "usr_r", func(store.User, int) error { return nil }, evp("user.delete", "usr_r")); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if got := passwordTokenIDs(t, s, "tok-r"); got != nil {
		t.Error("DeleteUser left the user's set-password token")
	}
	if got := changes(t, s); got != nil {
		t.Errorf("set-password tokens wrote change-feed entries %q, want none", got)
	}
}

// testRedeemPasswordTokenConcurrent redeems one token from many goroutines
// at once, each setting another password: exactly one may succeed.
func testRedeemPasswordTokenConcurrent(t *testing.T, s store.Store) {
	const n = 8
	u := invited("usr_p")
	mustInvite(t, s, u, passwordToken("tok", u.ID, t0.Add(time.Hour)))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		winners  []string
		notFound int
	)
	for i := range n {
		wg.Go(func() {
			hash := fmt.Sprintf("hash-%d", i)
			_, err := s.RedeemPasswordToken(t.Context(), "tok", t0, func(u *store.User) error {
				u.PasswordHash = hash
				return nil
			}, evp("user.set_password", u.ID))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, hash)
			case errors.Is(err, store.ErrNotFound):
				notFound++
			default:
				t.Errorf("RedeemPasswordToken #%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if len(winners) != 1 || notFound != n-1 {
		t.Fatalf("%d concurrent redemptions: %d succeeded and %d got ErrNotFound, want 1 and %d", n, len(winners), notFound, n-1)
	}
	if got := mustGetUser(t, s, u.ID).PasswordHash; got != winners[0] {
		t.Errorf("password hash after concurrent redemptions: got %q, want the winner's %q", got, winners[0])
	}
	if got := len(auditActions(t, s, store.AuditFilter{Action: "user.set_password"})); got != 1 {
		t.Errorf("got %d user.set_password events, want 1", got)
	}
}

func testPrunePasswordTokens(t *testing.T, s store.Store) {
	now := t0.Add(24 * time.Hour)
	mustInvite(t, s, invited("usr_a"), passwordToken("expired", "usr_a", now.Add(-time.Second)))
	mustInvite(t, s, invited("usr_b"), passwordToken("valid", "usr_b", now.Add(time.Second)))
	if err := s.Prune(t.Context(), now); err != nil {
		t.Fatalf("Prune: %v", err)
	}
	if got, want := passwordTokenIDs(t, s, "expired", "valid"), []string{"valid"}; !slices.Equal(got, want) {
		t.Errorf("set-password tokens after Prune: got %q, want %q", got, want)
	}
	// The users stay.
	mustGetUser(t, s, "usr_a")
	mustGetUser(t, s, "usr_b")
}
