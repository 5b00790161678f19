package users_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testutil"
	"github.com/gatehouse/gatehouse/internal/users"
)

func TestSetup(t *testing.T) {
	ctx := context.Background()
	svc, st, clk := setup(t, users.Options{})
	tok1, err := svc.IssueSetupToken(ctx)
	if err != nil || len(tok1) != 43 {
		t.Fatalf("IssueSetupToken = %q, %v; want 43 characters", tok1, err)
	}
	clk.Add(time.Minute)
	tok2, err := svc.IssueSetupToken(ctx)
	if err != nil || tok2 == tok1 {
		t.Fatalf("second IssueSetupToken = %q, %v; want another token", tok2, err)
	}
	// Both work until an administrator exists, also on another service (as
	// on another server) sharing the store.
	other := users.New(users.Options{Store: st, Now: clk.Now, Password: testutil.CheapPassword()})
	for _, tok := range []string{tok1, tok2} {
		if err := other.CheckSetupToken(ctx, tok); err != nil {
			t.Errorf("CheckSetupToken on another service: %v, want nil", err)
		}
	}
	if err := svc.CheckSetupToken(ctx, tok1+"x"); !errors.Is(err, users.ErrSetupInvalid) {
		t.Errorf("CheckSetupToken(wrong token) = %v, want ErrSetupInvalid", err)
	}

	// Mistakes leave the token valid.
	if _, err := svc.Create(ctx, "cli:test", users.Spec{Username: "bob", Password: pw}); err != nil {
		t.Fatal(err)
	}
	var ve *users.ValidationError
	if _, err := svc.Setup(ctx, "console:setup", tok1, users.Spec{Username: "root", Password: "short"}); !errors.As(err, &ve) {
		t.Errorf("Setup with a short password = %v, want a ValidationError", err)
	}
	if _, err := svc.Setup(ctx, "console:setup", tok1, users.Spec{Username: "BOB", Password: pw}); !errors.Is(err, users.ErrUsernameTaken) {
		t.Errorf("Setup with a member's username = %v, want ErrUsernameTaken", err)
	}
	if _, err := svc.Setup(ctx, "console:setup", "nope", users.Spec{Username: "root", Password: pw}); !errors.Is(err, users.ErrSetupInvalid) {
		t.Errorf("Setup with an unknown token = %v, want ErrSetupInvalid", err)
	}
	if err := svc.CheckSetupToken(ctx, tok1); err != nil {
		t.Fatalf("CheckSetupToken after failed setups = %v, want nil", err)
	}

	// The role in the spec is ignored: setup makes an administrator.
	u, err := other.Setup(ctx, "console:setup", tok1, users.Spec{Username: "root", Password: pw, Role: store.RoleMember})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	if u.Role != store.RoleAdmin {
		t.Errorf("Setup made role %q, want admin", u.Role)
	}
	ev, err := st.ListAudit(ctx, store.AuditFilter{Target: u.ID})
	if err != nil || len(ev) != 1 || ev[0].Action != "user.create" || ev[0].Actor != "console:setup" {
		t.Errorf("audit = %+v, %v; want one user.create by console:setup", ev, err)
	}

	// Now every token is spent, and no new one is issued.
	for _, tok := range []string{tok1, tok2} {
		if err := svc.CheckSetupToken(ctx, tok); !errors.Is(err, users.ErrSetupDone) {
			t.Errorf("CheckSetupToken after setup = %v, want ErrSetupDone", err)
		}
		if _, err := svc.Setup(ctx, "console:setup", tok, users.Spec{Username: "eve", Password: pw}); !errors.Is(err, users.ErrSetupDone) {
			t.Errorf("Setup after setup = %v, want ErrSetupDone", err)
		}
	}
	if tok, err := svc.IssueSetupToken(ctx); tok != "" || err != nil {
		t.Errorf("IssueSetupToken with an administrator = %q, %v; want \"\", nil", tok, err)
	}
}

func TestSetupTokenExpiry(t *testing.T) {
	ctx := context.Background()
	svc, _, clk := setup(t, users.Options{})
	tok, err := svc.IssueSetupToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(users.SetupValidity - time.Microsecond)
	if err := svc.CheckSetupToken(ctx, tok); err != nil {
		t.Errorf("CheckSetupToken just before expiry = %v, want nil", err)
	}
	clk.Add(time.Microsecond)
	if err := svc.CheckSetupToken(ctx, tok); !errors.Is(err, users.ErrSetupInvalid) {
		t.Errorf("CheckSetupToken at expiry = %v, want ErrSetupInvalid", err)
	}
	if _, err := svc.Setup(ctx, "console:setup", tok, users.Spec{Username: "root", Password: pw}); !errors.Is(err, users.ErrSetupInvalid) {
		t.Errorf("Setup at expiry = %v, want ErrSetupInvalid", err)
	}
}

// raceStore lets another server finish setup between CheckSetupToken's
// look for an administrator and its look for the token, as happens when two
// browsers submit the setup form on two servers at the same moment.
type raceStore struct {
	store.Store
	before func()
}

func (s *raceStore) GetSetupToken(ctx context.Context, id string) (store.SetupToken, error) {
	if f := s.before; f != nil {
		s.before = nil
		f()
	}
	return s.Store.GetSetupToken(ctx, id)
}

// The losing server's token was spent by the winner's setup: it is told an
// administrator exists, not that its link is invalid.
func TestCheckSetupTokenLosingRace(t *testing.T) {
	ctx := context.Background()
	winner, st, clk := setup(t, users.Options{})
	tokA, err := winner.IssueSetupToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rs := &raceStore{Store: st}
	loser := users.New(users.Options{Store: rs, Now: clk.Now, Password: testutil.CheapPassword()})
	tokB, err := loser.IssueSetupToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rs.before = func() {
		if _, err := winner.Setup(ctx, "console:setup", tokA, users.Spec{Username: "alice", Password: pw}); err != nil {
			t.Errorf("winner's Setup: %v", err)
		}
	}
	if err := loser.CheckSetupToken(ctx, tokB); !errors.Is(err, users.ErrSetupDone) {
		t.Errorf("CheckSetupToken after another server's setup = %v, want ErrSetupDone", err)
	}
}
