package users

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Set-password links. A user may be created without a password (Invite):
// then they get a one-time set-password token, 32 random bytes base64url,
// of which the store keeps only the SHA-256 (hex). Whoever holds the token
// may choose the user's password once, within SetPasswordValidity; until
// then no password logs the user in. Spending the token, any other change
// of the user's password and deleting the user make it stop working.

// SetPasswordValidity is how long a set-password token works.
const SetPasswordValidity = 72 * time.Hour

// SetPasswordPath is the console page where a token sets a password.
const SetPasswordPath = "/console/set-password"

// SetPasswordLink returns the link that hands tok to the set-password page
// of the server at issuer: issuer + SetPasswordPath + "#" + tok. The token
// is in the fragment, which browsers never send to a server, so it appears
// in no request line, access log or Referer; the page's script reads it.
func SetPasswordLink(issuer, tok string) string {
	return strings.TrimSuffix(issuer, "/") + SetPasswordPath + "#" + tok
}

// ErrPasswordTokenInvalid: the set-password token is unknown, used or
// expired, or its user is disabled.
var ErrPasswordTokenInvalid = errors.New("set-password link is invalid, used or expired")

// Invitation is the set-password token of a user created without a
// password. The token is a credential: it is not stored and cannot be shown
// again, and must never be logged.
type Invitation struct {
	Token     string
	ExpiresAt time.Time
}

// Invite adds a user without a password, as sp describes (sp.Password
// must be ""), together with a set-password token valid for
// SetPasswordValidity, in one store transaction. A username that differs
// from an existing one only in case is taken (ErrUsernameTaken).
func (s *Service) Invite(ctx context.Context, actor string, sp Spec) (store.User, Invitation, error) {
	u, ev, err := s.newUserWith(actor, sp, false)
	if err != nil {
		return store.User{}, Invitation{}, err
	}
	tok, err := s.newToken()
	if err != nil {
		return store.User{}, Invitation{}, fmt.Errorf("set-password token: %w", err)
	}
	inv := Invitation{Token: tok, ExpiresAt: u.CreatedAt.Add(SetPasswordValidity)}
	ev.Detail += ", no password yet: set-password link valid until " + inv.ExpiresAt.Format(time.RFC3339)
	err = s.st.CreateUserWithPasswordToken(ctx, u, store.PasswordToken{
		ID: tokenID(tok), UserID: u.ID, CreatedAt: u.CreatedAt, ExpiresAt: inv.ExpiresAt,
	}, ev)
	switch {
	case errors.Is(err, store.ErrConflict):
		return store.User{}, Invitation{}, fmt.Errorf("user %q: %w", u.Username, ErrUsernameTaken)
	case err != nil:
		return store.User{}, Invitation{}, fmt.Errorf("create user %q: %w", u.Username, err)
	}
	return u, inv, nil
}

// CheckPasswordToken reports whether tok can set a password now: nil if
// so, ErrPasswordTokenInvalid if it is unknown or expired or its user is
// disabled. It spends nothing; RedeemPasswordToken checks again.
func (s *Service) CheckPasswordToken(ctx context.Context, tok string) error {
	t, err := s.st.GetPasswordToken(ctx, tokenID(tok))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ErrPasswordTokenInvalid
	case err != nil:
		return err
	case !s.now().Before(t.ExpiresAt):
		return ErrPasswordTokenInvalid
	}
	u, err := s.st.GetUser(ctx, t.UserID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ErrPasswordTokenInvalid
	case err != nil:
		return err
	case u.Disabled:
		return ErrPasswordTokenInvalid
	}
	return nil
}

// errDisabled aborts the redemption of a disabled user's token.
var errDisabled = errors.New("user is disabled")

// RedeemPasswordToken sets the password of the user of set-password token
// tok and spends the token, recording a user.set_password event by actor,
// and ends the user's sessions. Checking and spending the token and setting
// the password are one store transaction: of concurrent calls with one
// token at most one succeeds. It returns a *ValidationError for a password
// the rules refuse (the token stays valid) and ErrPasswordTokenInvalid for
// an unknown, spent or expired token or a disabled user.
func (s *Service) RedeemPasswordToken(ctx context.Context, actor, tok, password string) (store.User, error) {
	if err := secret.CheckPassword(password); err != nil {
		return store.User{}, &ValidationError{[]string{err.Error()}}
	}
	hash, err := secret.HashPassword(password, s.cost, s.rand)
	if err != nil {
		return store.User{}, err
	}
	now := s.now().UTC()
	ev := &store.AuditEvent{Time: now, Actor: actor, Action: "user.set_password"}
	u, err := s.st.RedeemPasswordToken(ctx, tokenID(tok), now, func(u *store.User) error {
		if u.Disabled {
			return errDisabled
		}
		u.PasswordHash = hash
		u.UpdatedAt = now
		ev.Target = u.ID
		ev.Detail = fmt.Sprintf("username %q, with a one-time set-password link", u.Username)
		return nil
	}, ev)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, errDisabled):
		return store.User{}, ErrPasswordTokenInvalid
	case err != nil:
		return store.User{}, fmt.Errorf("set password with a link: %w", err)
	}
	return u, s.endSessions(ctx, u.ID)
}
