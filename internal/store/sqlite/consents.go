package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlstore"
)

// UpdateConsent loads the consent, calls fn and saves what it left, in one
// write transaction (which holds the write lock from its start).
func (s *Store) UpdateConsent(ctx context.Context, userID, clientID string, fn func(*store.Consent) error) (store.Consent, error) {
	var (
		out   store.Consent
		fnErr error
	)
	err := s.write(ctx, func(tx *sql.Tx) error {
		c, err := scanConsent(tx.QueryRowContext(ctx, `SELECT `+sqlstore.ConsentColumns+` FROM consents
			WHERE user_id = ? AND client_id = ?`, userID, clientID))
		if errors.Is(err, sql.ErrNoRows) {
			c, err = store.Consent{UserID: userID, ClientID: clientID}, nil
		}
		if err != nil {
			return err
		}
		if err := fn(&c); err != nil {
			fnErr = err
			return err
		}
		if c.UserID != userID || c.ClientID != clientID {
			return fmt.Errorf("the update function changed the consent's user or client to %q, %q", c.UserID, c.ClientID)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO consents (`+sqlstore.ConsentColumns+`) VALUES (?, ?, ?, ?)
			ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`,
			sqlstore.ConsentArgs(codec{}, c)...)
		if err := insertErr(err, "user or client"); err != nil {
			return err
		}
		out, err = scanConsent(tx.QueryRowContext(ctx, `SELECT `+sqlstore.ConsentColumns+` FROM consents
			WHERE user_id = ? AND client_id = ?`, userID, clientID))
		return err
	})
	if fnErr != nil {
		return store.Consent{}, fnErr
	}
	if err != nil {
		return store.Consent{}, fmt.Errorf("update consent of user %q for client %q: %w", userID, clientID, err)
	}
	return out, nil
}

// GetConsent returns the user's consent for the client.
func (s *Store) GetConsent(ctx context.Context, userID, clientID string) (store.Consent, error) {
	c, err := get(ctx, s, sqlstore.ScanConsent, `SELECT `+sqlstore.ConsentColumns+` FROM consents
			WHERE user_id = ? AND client_id = ?`, userID, clientID)
	if err != nil {
		return store.Consent{}, fmt.Errorf("get consent of user %q for client %q: %w", userID, clientID, err)
	}
	return c, nil
}

// ListConsents returns the user's consents ordered by client ID.
func (s *Store) ListConsents(ctx context.Context, userID string) ([]store.Consent, error) {
	out, err := list(ctx, s, sqlstore.ScanConsent, `SELECT `+sqlstore.ConsentColumns+` FROM consents
			WHERE user_id = ? ORDER BY client_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list consents of user %q: %w", userID, err)
	}
	return out, nil
}

// DeleteConsent removes the consent and revokes the refresh token families
// issued under it.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string, ev store.AuditEvent) error {
	at := ev.Time
	if at.IsZero() {
		at = time.Now()
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM consents WHERE user_id = ? AND client_id = ?", userID, clientID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_families SET revoked_at = ?
			WHERE client_id = ? AND user_id = ? AND revoked_at IS NULL`, micros(at), clientID, userID); err != nil {
			return fmt.Errorf("revoke refresh tokens: %w", err)
		}
		return addAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("delete consent of user %q for client %q: %w", userID, clientID, err)
	}
	return nil
}

func scanConsent(row sqlstore.Scanner) (store.Consent, error) {
	return sqlstore.ScanConsent(codec{}, row)
}
