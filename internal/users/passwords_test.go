package users_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/users"
)

func TestInvite(t *testing.T) {
	ctx := context.Background()
	svc, st, clk := setup(t, users.Options{})
	u, inv, err := svc.Invite(ctx, "api:prov", users.Spec{Username: "Kim", DisplayName: "Kim K", Role: store.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if u.PasswordHash != "" || u.Role != store.RoleAdmin || u.DisplayName != "Kim K" {
		t.Errorf("invited user = %+v; want no password hash, role admin, display name Kim K", u)
	}
	if len(inv.Token) != 43 || !inv.ExpiresAt.Equal(clk.Now().Add(72*time.Hour)) {
		t.Errorf("invitation = token of %d characters, expires %v; want 43 and 72 h from now", len(inv.Token), inv.ExpiresAt)
	}
	evs, _ := st.ListAudit(ctx, store.AuditFilter{})
	if len(evs) != 1 || evs[0].Action != "user.create" || evs[0].Actor != "api:prov" || !strings.Contains(evs[0].Detail, "set-password link") {
		t.Errorf("audit = %+v; want one user.create by api:prov that mentions the link", evs)
	}
	for _, e := range evs {
		if strings.Contains(e.Detail, inv.Token) {
			t.Error("the audit trail holds the set-password token")
		}
	}
	if _, err := st.GetPasswordToken(ctx, inv.Token); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the store finds the token by its plain value (%v); want only its digest stored", err)
	}

	// No password logs in before the link is used, the empty one neither.
	for _, p := range []string{"", pw} {
		if _, err := svc.Authenticate(ctx, "kim", p, "a"); !errors.Is(err, users.ErrInvalidCredentials) {
			t.Errorf("Authenticate(kim, %q) before the link: got %v, want ErrInvalidCredentials", p, err)
		}
	}
	if err := svc.CheckPasswordToken(ctx, inv.Token); err != nil {
		t.Errorf("CheckPasswordToken: %v", err)
	}
	for _, tok := range []string{"", "nope", inv.Token + "x", strings.ToUpper(inv.Token)} {
		if err := svc.CheckPasswordToken(ctx, tok); !errors.Is(err, users.ErrPasswordTokenInvalid) {
			t.Errorf("CheckPasswordToken(%q): got %v, want ErrPasswordTokenInvalid", tok, err)
		}
	}

	// A password the rules refuse keeps the link.
	var ve *users.ValidationError
	if _, err := svc.RedeemPasswordToken(ctx, "console:set-password", inv.Token, "short"); !errors.As(err, &ve) {
		t.Errorf("RedeemPasswordToken(short): got %v, want a ValidationError", err)
	}
	got, err := svc.RedeemPasswordToken(ctx, "console:set-password", inv.Token, pw)
	if err != nil {
		t.Fatalf("RedeemPasswordToken: %v", err)
	}
	if got.ID != u.ID || got.PasswordHash == "" {
		t.Errorf("RedeemPasswordToken = %+v; want %s with a password", got, u.ID)
	}
	if _, err := svc.Authenticate(ctx, "kim", pw, "a"); err != nil {
		t.Errorf("login with the password set by link: %v", err)
	}
	if _, err := svc.RedeemPasswordToken(ctx, "console:set-password", inv.Token, "another long password"); !errors.Is(err, users.ErrPasswordTokenInvalid) {
		t.Errorf("second use of the link: got %v, want ErrPasswordTokenInvalid", err)
	}
	if err := svc.CheckPasswordToken(ctx, inv.Token); !errors.Is(err, users.ErrPasswordTokenInvalid) {
		t.Errorf("CheckPasswordToken after use: got %v, want ErrPasswordTokenInvalid", err)
	}
	evs, _ = st.ListAudit(ctx, store.AuditFilter{Action: "user.set_password"})
	if len(evs) != 1 || evs[0].Target != u.ID || evs[0].Actor != "console:set-password" {
		t.Errorf("audit = %+v; want one user.set_password of %s by console:set-password", evs, u.ID)
	}

	// A username that is taken, a password given: refused, nothing made.
	if _, _, err := svc.Invite(ctx, "t", users.Spec{Username: "KIM"}); !errors.Is(err, users.ErrUsernameTaken) {
		t.Errorf("Invite(taken username): got %v, want ErrUsernameTaken", err)
	}
	if _, _, err := svc.Invite(ctx, "t", users.Spec{Username: "lee", Password: pw}); !errors.As(err, &ve) {
		t.Errorf("Invite with a password: got %v, want a ValidationError", err)
	}
}

// TestPasswordTokenEnds: a link stops working when it expires, when its
// user is disabled, when an administrator sets the password, and when the
// user is deleted.
func TestPasswordTokenEnds(t *testing.T) {
	ctx := context.Background()
	svc, _, clk := setup(t, users.Options{})
	invite := func(name string) (store.User, string) {
		t.Helper()
		u, inv, err := svc.Invite(ctx, "t", users.Spec{Username: name})
		if err != nil {
			t.Fatal(err)
		}
		return u, inv.Token
	}
	_, expiring := invite("exp")
	disabled, disabledTok := invite("dis")
	reset, resetTok := invite("res")
	deleted, deletedTok := invite("del")
	if _, err := svc.Disable(ctx, "t", disabled.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Update(ctx, "t", reset.ID, users.Patch{Password: ptr("set by an administrator")}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Delete(ctx, "t", deleted.ID); err != nil {
		t.Fatal(err)
	}
	clk.Add(users.SetPasswordValidity - time.Second)
	if err := svc.CheckPasswordToken(ctx, expiring); err != nil {
		t.Errorf("a second before expiry: %v", err)
	}
	for name, tok := range map[string]string{"disabled user": disabledTok, "password reset": resetTok, "deleted user": deletedTok} {
		if err := svc.CheckPasswordToken(ctx, tok); !errors.Is(err, users.ErrPasswordTokenInvalid) {
			t.Errorf("CheckPasswordToken (%s): got %v, want ErrPasswordTokenInvalid", name, err)
		}
		if _, err := svc.RedeemPasswordToken(ctx, "t", tok, pw); !errors.Is(err, users.ErrPasswordTokenInvalid) {
			t.Errorf("RedeemPasswordToken (%s): got %v, want ErrPasswordTokenInvalid", name, err)
		}
	}
	if _, err := svc.Authenticate(ctx, "res", "set by an administrator", "a"); err != nil {
		t.Errorf("the administrator's password after a refused link: %v", err)
	}
	clk.Add(time.Second)
	if err := svc.CheckPasswordToken(ctx, expiring); !errors.Is(err, users.ErrPasswordTokenInvalid) {
		t.Errorf("CheckPasswordToken at expiry: got %v, want ErrPasswordTokenInvalid", err)
	}
	if _, err := svc.RedeemPasswordToken(ctx, "t", expiring, pw); !errors.Is(err, users.ErrPasswordTokenInvalid) {
		t.Errorf("RedeemPasswordToken at expiry: got %v, want ErrPasswordTokenInvalid", err)
	}
}

// TestRedeemPasswordTokenConcurrent: of two submissions of one link at
// once, one sets its password and the other is told the link is spent.
func TestRedeemPasswordTokenConcurrent(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := setup(t, users.Options{})
	_, inv, err := svc.Invite(ctx, "t", users.Spec{Username: "max"})
	if err != nil {
		t.Fatal(err)
	}
	passwords := []string{"first long password", "second long password"}
	errs := make([]error, len(passwords))
	var wg sync.WaitGroup
	for i, p := range passwords {
		wg.Go(func() { _, errs[i] = svc.RedeemPasswordToken(ctx, "t", inv.Token, p) })
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won < 0:
			won = i
		case errors.Is(err, users.ErrPasswordTokenInvalid):
		default:
			t.Errorf("redemption %d: %v", i, err)
		}
	}
	if won < 0 {
		t.Fatalf("no redemption succeeded: %v", errs)
	}
	if _, err := svc.Authenticate(ctx, "max", passwords[won], "a"); err != nil {
		t.Errorf("the winner's password: %v", err)
	}
	if _, err := svc.Authenticate(ctx, "max", passwords[1-won], "b"); !errors.Is(err, users.ErrInvalidCredentials) {
		t.Errorf("the loser's password: got %v, want ErrInvalidCredentials", err)
	}
}
