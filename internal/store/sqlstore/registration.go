package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Initial access tokens (RFC 7591 §3): operator-issued bearer tokens that
// let their holders register clients, each good for a number of
// registrations until it expires.

// CreateInitialAccessToken inserts t and records ev.
func (s *Store) CreateInitialAccessToken(ctx context.Context, t store.InitialAccessToken, ev store.AuditEvent) error {
	err := s.db.Write(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO initial_access_tokens ("+InitialAccessTokenColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7)",
			InitialAccessTokenArgs(s.db, t)...)
		if err := s.insertErr(err, ""); err != nil {
			return err
		}
		return s.addAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("create initial access token %q: %w", t.ID, err)
	}
	return nil
}

const getInitialAccessToken = "SELECT " + InitialAccessTokenColumns + " FROM initial_access_tokens WHERE digest = $1"

// GetInitialAccessToken returns the token with the digest.
func (s *Store) GetInitialAccessToken(ctx context.Context, digest []byte) (store.InitialAccessToken, error) {
	t, err := get(ctx, s, ScanInitialAccessToken, getInitialAccessToken, NonNilBytes(digest))
	if err != nil {
		return store.InitialAccessToken{}, fmt.Errorf("get initial access token: %w", err)
	}
	return t, nil
}

// ListInitialAccessTokens returns every token, oldest first.
func (s *Store) ListInitialAccessTokens(ctx context.Context) ([]store.InitialAccessToken, error) {
	var out []store.InitialAccessToken
	err := s.db.Read(ctx, func(tx Tx) (err error) {
		out, err = queryAll(ctx, s.db, tx, ScanInitialAccessToken,
			"SELECT "+InitialAccessTokenColumns+" FROM initial_access_tokens ORDER BY created_at NULLS FIRST, id"+s.d.Bytewise)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list initial access tokens: %w", err)
	}
	return out, nil
}

// DeleteInitialAccessToken removes the token and records ev.
func (s *Store) DeleteInitialAccessToken(ctx context.Context, id string, ev store.AuditEvent) error {
	err := s.db.Write(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, "DELETE FROM initial_access_tokens WHERE id = $1", id)
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		return s.addAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("delete initial access token %q: %w", id, err)
	}
	return nil
}

// CreateClientWithInitialAccessToken spends a use of the token, with its
// row locked, and inserts the client in the same transaction.
func (s *Store) CreateClientWithInitialAccessToken(ctx context.Context, c store.Client, digest []byte, at time.Time, ev store.AuditEvent) (store.InitialAccessToken, error) {
	var out store.InitialAccessToken
	err := s.db.Write(ctx, func(tx Tx) error {
		t, err := queryOne(ctx, s.db, tx, ScanInitialAccessToken, getInitialAccessToken+s.d.ForUpdate, NonNilBytes(digest))
		if err != nil {
			return err
		}
		switch {
		case !at.Before(t.ExpiresAt):
			return fmt.Errorf("initial access token %q expired: %w", t.ID, store.ErrNotFound)
		case t.Uses >= t.MaxUses:
			return fmt.Errorf("initial access token %q used up: %w", t.ID, store.ErrNotFound)
		}
		t.Uses++
		if _, err := tx.Exec(ctx, "UPDATE initial_access_tokens SET uses = $2 WHERE id = $1", t.ID, t.Uses); err != nil {
			return err
		}
		if err := s.insertClient(ctx, tx, c, ev); err != nil {
			return err
		}
		out = t
		return nil
	})
	if err != nil {
		return store.InitialAccessToken{}, fmt.Errorf("create client %q with an initial access token: %w", c.ID, err)
	}
	return out, nil
}
