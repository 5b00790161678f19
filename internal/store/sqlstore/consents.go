package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// UpdateConsent loads the consent with a row lock, calls fn and saves what
// it left, in one transaction. Without a row to lock, the insert waits for
// a concurrent insert of the same consent to commit; if there was one, fn
// runs again on what that one stored.
func (s *Store) UpdateConsent(ctx context.Context, userID, clientID string, fn func(*store.Consent) error) (store.Consent, error) {
	var (
		out   store.Consent
		fnErr error
	)
	const get = `SELECT ` + ConsentColumns + ` FROM consents WHERE user_id = $1 AND client_id = $2`
	err := s.db.Write(ctx, func(tx Tx) error {
		fnErr = nil
		for {
			c, err := queryOne(ctx, s.db, tx, ScanConsent, get+s.d.ForUpdate, userID, clientID)
			found := err == nil
			if errors.Is(err, store.ErrNotFound) {
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
			if found {
				_, err = tx.Exec(ctx, `UPDATE consents SET scopes = $3, granted_at = $4 WHERE user_id = $1 AND client_id = $2`,
					ConsentArgs(s.db, c)...)
				if err != nil {
					return err
				}
			} else {
				n, err := tx.Exec(ctx, `INSERT INTO consents (`+ConsentColumns+`) VALUES ($1, $2, $3, $4)
					ON CONFLICT (user_id, client_id) DO NOTHING`, ConsentArgs(s.db, c)...)
				if err := s.insertErr(err, "user or client"); err != nil {
					return err
				}
				if n == 0 {
					continue // inserted concurrently: lock that row and start again
				}
			}
			out, err = queryOne(ctx, s.db, tx, ScanConsent, get, userID, clientID)
			return err
		}
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
	c, err := get(ctx, s, ScanConsent, `SELECT `+ConsentColumns+` FROM consents
		WHERE user_id = $1 AND client_id = $2`, userID, clientID)
	if err != nil {
		return store.Consent{}, fmt.Errorf("get consent of user %q for client %q: %w", userID, clientID, err)
	}
	return c, nil
}

// ListConsents returns the user's consents ordered by client ID.
func (s *Store) ListConsents(ctx context.Context, userID string) ([]store.Consent, error) {
	out, err := list(ctx, s, ScanConsent, `SELECT `+ConsentColumns+` FROM consents
		WHERE user_id = $1 ORDER BY client_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list consents of user %q: %w", userID, err)
	}
	return out, nil
}

// ListConsentPage returns a page of the consents that match q, ordered by
// user ID, then client ID.
func (s *Store) ListConsentPage(ctx context.Context, q store.ConsentQuery) ([]store.Consent, error) {
	if q.Limit <= 0 {
		return nil, fmt.Errorf("list consents: the limit must be positive, not %d", q.Limit)
	}
	where := []string{"(user_id > $1 OR (user_id = $1 AND client_id > $2))"}
	args := []any{q.AfterUser, q.AfterClient}
	param := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.UserID != "" {
		where = append(where, "user_id = "+param(q.UserID))
	}
	if q.ClientID != "" {
		where = append(where, "client_id = "+param(q.ClientID))
	}
	query := "SELECT " + ConsentColumns + " FROM consents WHERE " + strings.Join(where, " AND ") +
		" ORDER BY user_id, client_id LIMIT " + param(q.Limit)
	out, err := list(ctx, s, ScanConsent, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list consents: %w", err)
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
	err := s.db.Write(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, "DELETE FROM consents WHERE user_id = $1 AND client_id = $2", userID, clientID)
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		// Waits for the lock of a family being rotated, then sees the
		// committed row.
		if _, err := tx.Exec(ctx, `UPDATE refresh_families SET revoked_at = $3
			WHERE client_id = $1 AND user_id = $2 AND revoked_at IS NULL`, clientID, userID, s.db.Time(at)); err != nil {
			return fmt.Errorf("revoke refresh tokens: %w", err)
		}
		return s.addAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("delete consent of user %q for client %q: %w", userID, clientID, err)
	}
	return nil
}
