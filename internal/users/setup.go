package users

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// First-administrator setup. A setup token is 32 random bytes, base64url;
// the store keeps only its SHA-256 (hex), so every server sharing the
// database accepts a token that any of them issued. Each token works for
// SetupValidity, and all of them stop working once an administrator exists.

// SetupValidity is how long a setup token works.
const SetupValidity = time.Hour

// Setup errors, compared with errors.Is.
var (
	// ErrSetupDone: an administrator exists, so there is nothing to set
	// up. It wraps store.ErrUsed.
	ErrSetupDone = fmt.Errorf("an administrator exists: %w", store.ErrUsed)
	// ErrSetupInvalid: the setup token is unknown, already used or expired.
	ErrSetupInvalid = errors.New("setup token is invalid, used or expired")
)

// tokenID is the ID under which the store keeps a one-time token (a setup
// or set-password token): its SHA-256, hex.
func tokenID(tok string) string {
	d := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(d[:])
}

// newToken returns 32 random bytes, base64url.
func (s *Service) newToken() (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// IssueSetupToken stores and returns a new setup token, valid for
// SetupValidity, or returns "" if an administrator exists. Tokens issued
// earlier stay valid until they expire or an administrator is created.
func (s *Service) IssueSetupToken(ctx context.Context) (string, error) {
	has, err := s.HasAdmin(ctx)
	if err != nil || has {
		return "", err
	}
	tok, err := s.newToken()
	if err != nil {
		return "", fmt.Errorf("setup token: %w", err)
	}
	now := s.now().UTC()
	if err := s.st.CreateSetupToken(ctx, store.SetupToken{
		ID: tokenID(tok), CreatedAt: now, ExpiresAt: now.Add(SetupValidity),
	}); err != nil {
		return "", err
	}
	return tok, nil
}

// CheckSetupToken reports whether tok can create the first administrator
// now: nil if so, ErrSetupDone if an administrator exists, ErrSetupInvalid
// if the token is unknown or expired.
func (s *Service) CheckSetupToken(ctx context.Context, tok string) error {
	has, err := s.HasAdmin(ctx)
	if err != nil {
		return err
	}
	if has {
		return ErrSetupDone
	}
	t, err := s.st.GetSetupToken(ctx, tokenID(tok))
	if errors.Is(err, store.ErrNotFound) {
		// Setup deletes every token when it creates the administrator: a
		// token that vanished since HasAdmin above may have been spent by
		// a setup that just succeeded, on this server or another.
		return s.invalidOrDone(ctx)
	}
	if err != nil {
		return err
	}
	if !s.now().Before(t.ExpiresAt) {
		return ErrSetupInvalid
	}
	return nil
}

// invalidOrDone is ErrSetupDone if an administrator exists now, else
// ErrSetupInvalid.
func (s *Service) invalidOrDone(ctx context.Context) error {
	has, err := s.HasAdmin(ctx)
	if err != nil {
		return err
	}
	if has {
		return ErrSetupDone
	}
	return ErrSetupInvalid
}

// Setup creates the first administrator as sp describes (its Role is
// ignored) with the setup token tok, which it spends together with every
// other setup token. The check that no administrator exists, the check of
// the token and the creation happen in one store transaction, so of
// concurrent calls on any number of servers at most one succeeds; the others
// get ErrSetupDone. It returns a *ValidationError for a bad spec (the token
// stays valid), ErrSetupInvalid for an unknown or expired token and
// ErrUsernameTaken for the username of an existing member.
func (s *Service) Setup(ctx context.Context, actor, tok string, sp Spec) (store.User, error) {
	sp.Role = store.RoleAdmin
	u, ev, err := s.newUser(actor, sp)
	if err != nil {
		return store.User{}, err
	}
	err = s.st.RedeemSetupToken(ctx, tokenID(tok), s.now(), u, ev)
	switch {
	case err == nil:
		return u, nil
	case errors.Is(err, store.ErrUsed):
		return store.User{}, ErrSetupDone
	case errors.Is(err, store.ErrNotFound):
		return store.User{}, ErrSetupInvalid
	case errors.Is(err, store.ErrConflict):
		return store.User{}, fmt.Errorf("user %q: %w", u.Username, ErrUsernameTaken)
	}
	return store.User{}, fmt.Errorf("create the first administrator: %w", err)
}
