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

// Setup tokens: one-time links that create the first administrator.

func setupToken(id string, expires time.Time) store.SetupToken {
	return store.SetupToken{ID: id, CreatedAt: t0, ExpiresAt: expires}
}

func mustCreateSetupToken(t *testing.T, s store.Store, tok store.SetupToken) {
	t.Helper()
	if err := s.CreateSetupToken(t.Context(), tok); err != nil {
		t.Fatalf("CreateSetupToken(%q): %v", tok.ID, err)
	}
}

// admin returns an administrator with only the fields the store requires.
func admin(id string) store.User {
	return store.User{ID: id, Username: id, Role: store.RoleAdmin}
}

// setupTokenIDs returns which of ids GetSetupToken still finds.
func setupTokenIDs(t *testing.T, s store.Store, ids ...string) []string {
	t.Helper()
	var out []string
	for _, id := range ids {
		_, err := s.GetSetupToken(t.Context(), id)
		switch {
		case err == nil:
			out = append(out, id)
		case !errors.Is(err, store.ErrNotFound):
			t.Fatalf("GetSetupToken(%q): %v", id, err)
		}
	}
	return out
}

func testSetupTokenRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.GetSetupToken(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSetupToken(missing): got error %v, want ErrNotFound", err)
	}
	for _, tok := range []store.SetupToken{
		setupToken("tok1", t0.Add(time.Hour)),
		setupToken("tok2", t0.Add(2*time.Hour)), // an earlier token stays
		{ID: "tok-zero"},
	} {
		mustCreateSetupToken(t, s, tok)
		got, err := s.GetSetupToken(ctx, tok.ID)
		if err != nil {
			t.Fatalf("GetSetupToken(%q): %v", tok.ID, err)
		}
		checkUTC(t, "setup token "+tok.ID, got.CreatedAt, got.ExpiresAt)
		want := store.SetupToken{ID: tok.ID, CreatedAt: normTime(tok.CreatedAt), ExpiresAt: normTime(tok.ExpiresAt)}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GetSetupToken(%q) mismatch (-want +got):\n%s", tok.ID, diff)
		}
	}
	err := s.CreateSetupToken(ctx, setupToken("tok1", t0.Add(5*time.Hour)))
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateSetupToken with an existing ID: got error %v, want ErrConflict", err)
	}
	if got, _ := s.GetSetupToken(ctx, "tok1"); !got.ExpiresAt.Equal(normTime(t0.Add(time.Hour))) {
		t.Errorf("a conflicting CreateSetupToken changed ExpiresAt to %v", got.ExpiresAt)
	}
	if got := auditActions(t, s, store.AuditFilter{}); got != nil {
		t.Errorf("setup tokens wrote audit events %q, want none", got)
	}
	if got := changes(t, s); got != nil {
		t.Errorf("setup tokens wrote change-feed entries %q, want none", got)
	}
}

func testRedeemSetupToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := t0.Add(time.Hour)
	mustCreateSetupToken(t, s, setupToken("tok1", exp))
	mustCreateSetupToken(t, s, setupToken("tok2", exp.Add(time.Minute)))
	mustCreateUser(t, s, member("bob")) // a member is not an administrator
	all := []string{"tok1", "tok2"}

	// Failures write nothing: no user, no audit event, no token removed.
	for _, tt := range []struct {
		name    string
		id      string
		at      time.Time
		u       store.User
		wantErr error
	}{
		{"unknown token", "nope", t0, admin("usr_root"), store.ErrNotFound},
		{"expired token", "tok1", exp, admin("usr_root"), store.ErrNotFound},
		{"long expired token", "tok1", exp.Add(time.Hour), admin("usr_root"), store.ErrNotFound},
		{"username taken", "tok1", t0, store.User{ID: "usr_root", Username: "BOB", Role: store.RoleAdmin}, store.ErrConflict},
		{"user ID taken", "tok1", t0, store.User{ID: "bob", Username: "root", Role: store.RoleAdmin}, store.ErrConflict},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := s.RedeemSetupToken(ctx, tt.id, tt.at, tt.u, ev("user.create", tt.u.ID))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("RedeemSetupToken: got error %v, want %v", err, tt.wantErr)
			}
			if _, err := s.GetUser(ctx, "usr_root"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetUser after a failed redemption: got error %v, want ErrNotFound", err)
			}
			if got, want := auditActions(t, s, store.AuditFilter{}), []string{"user.create bob"}; !slices.Equal(got, want) {
				t.Errorf("audit after a failed redemption: got %q, want %q", got, want)
			}
			if got := setupTokenIDs(t, s, all...); !slices.Equal(got, all) {
				t.Errorf("setup tokens after a failed redemption: got %q, want %q", got, all)
			}
		})
	}

	// Just before expiry it works, creates the user as given, records the
	// event and deletes every setup token.
	root := fullUser("usr_root", "Root")
	if err := s.RedeemSetupToken(ctx, "tok1", exp.Add(-time.Microsecond), root, ev("user.create", root.ID)); err != nil {
		t.Fatalf("RedeemSetupToken: %v", err)
	}
	if diff := cmp.Diff(normUser(root), mustGetUser(t, s, root.ID)); diff != "" {
		t.Errorf("GetUser after RedeemSetupToken mismatch (-want +got):\n%s", diff)
	}
	if got, want := auditActions(t, s, store.AuditFilter{}), []string{"user.create usr_root", "user.create bob"}; !slices.Equal(got, want) {
		t.Errorf("audit after RedeemSetupToken: got %q, want %q", got, want)
	}
	if got := setupTokenIDs(t, s, all...); got != nil {
		t.Errorf("setup tokens left after RedeemSetupToken: %q, want none", got)
	}
	if got := changes(t, s); got != nil {
		t.Errorf("RedeemSetupToken wrote change-feed entries %q, want none", got)
	}

	// Once an administrator exists every redemption is ErrUsed, even with
	// a token created afterwards or an unknown one, and writes nothing.
	mustCreateSetupToken(t, s, setupToken("tok3", exp))
	for _, id := range []string{"tok1", "tok3", "nope"} {
		u := admin("usr_second")
		if err := s.RedeemSetupToken(ctx, id, t0, u, ev("user.create", u.ID)); !errors.Is(err, store.ErrUsed) {
			t.Errorf("RedeemSetupToken(%q) with an administrator: got error %v, want ErrUsed", id, err)
		}
	}
	if _, err := s.GetUser(ctx, "usr_second"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser(usr_second): got error %v, want ErrNotFound", err)
	}
	if got := setupTokenIDs(t, s, "tok3"); got == nil {
		t.Errorf("a refused RedeemSetupToken deleted setup token tok3")
	}
	if n := len(auditActions(t, s, store.AuditFilter{})); n != 2 {
		t.Errorf("%d audit events after refused redemptions, want 2", n)
	}
}

// testRedeemSetupTokenConcurrent redeems two tokens (as printed by two
// servers) from many goroutines at once, each creating a different
// administrator: exactly one may succeed.
func testRedeemSetupTokenConcurrent(t *testing.T, s store.Store) {
	const n = 8
	exp := t0.Add(time.Hour)
	mustCreateSetupToken(t, s, setupToken("node-a", exp))
	mustCreateSetupToken(t, s, setupToken("node-b", exp))
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []string
		nUsed   int
	)
	for i := range n {
		wg.Go(func() {
			tok := []string{"node-a", "node-b"}[i%2]
			u := admin(fmt.Sprintf("admin%d", i))
			err := s.RedeemSetupToken(t.Context(), tok, t0, u, ev("user.create", u.ID))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, u.ID)
			case errors.Is(err, store.ErrUsed):
				nUsed++
			default:
				t.Errorf("RedeemSetupToken #%d (%s): %v", i, tok, err)
			}
		})
	}
	wg.Wait()
	if len(winners) != 1 || nUsed != n-1 {
		t.Fatalf("%d concurrent redemptions: %d succeeded and %d got ErrUsed, want 1 and %d", n, len(winners), nUsed, n-1)
	}
	us, err := s.ListUsers(t.Context())
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	if len(us) != 1 || us[0].ID != winners[0] {
		t.Errorf("users after concurrent redemptions: got %d (%+v), want only the winner %s", len(us), us, winners[0])
	}
	if got, want := auditActions(t, s, store.AuditFilter{}), []string{"user.create " + winners[0]}; !slices.Equal(got, want) {
		t.Errorf("audit after concurrent redemptions: got %q, want %q", got, want)
	}
}

func testPruneSetupTokens(t *testing.T, s store.Store) {
	now := t0.Add(24 * time.Hour)
	mustCreateSetupToken(t, s, setupToken("expired", now.Add(-time.Second)))
	mustCreateSetupToken(t, s, setupToken("valid", now.Add(time.Second)))
	if err := s.Prune(t.Context(), now); err != nil {
		t.Fatalf("Prune: %v", err)
	}
	if got, want := setupTokenIDs(t, s, "expired", "valid"), []string{"valid"}; !slices.Equal(got, want) {
		t.Errorf("setup tokens after Prune: got %q, want %q", got, want)
	}
}
