package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Users, sessions, consents, authorization codes and refresh tokens.
//
// Concurrency: RedeemAuthCode is one conditional UPDATE (... WHERE used_at
// IS NULL), so of concurrent redeemers exactly one changes the row. Every
// change to a refresh token family's tokens (rotation, reuse detection,
// revocation) first locks the family's row, so they are serialised per
// family; the rotated token is read after the lock is taken.

const userColumns = `id, username, display_name, password_hash, role, disabled, created_at, updated_at`

// usernameKey is the form of a username that the unique index compares.
func usernameKey(username string) string { return strings.ToLower(username) }

// CreateUser inserts u and records ev.
func (s *Store) CreateUser(ctx context.Context, u store.User, ev store.AuditEvent) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		if err := insertUser(ctx, tx, u); err != nil {
			return err
		}
		return addAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.ID, err)
	}
	return nil
}

// insertUser inserts u; ErrConflict if its ID or username is taken.
func insertUser(ctx context.Context, tx pgx.Tx, u store.User) error {
	_, err := tx.Exec(ctx, `INSERT INTO users (`+userColumns+`, username_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		u.ID, u.Username, u.DisplayName, u.PasswordHash, u.Role, u.Disabled,
		ts(u.CreatedAt), ts(u.UpdatedAt), usernameKey(u.Username))
	if isUniqueViolation(err) {
		return store.ErrConflict
	}
	return err
}

// GetUser returns the user with the ID.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	var u store.User
	err := s.query(ctx, func(q querier) (err error) {
		u, err = getUser(ctx, q, "id = $1", id)
		return err
	})
	if err != nil {
		return store.User{}, fmt.Errorf("get user %q: %w", id, err)
	}
	return u, nil
}

// GetUserByUsername returns the user whose username matches
// case-insensitively.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (store.User, error) {
	var u store.User
	err := s.query(ctx, func(q querier) (err error) {
		u, err = getUser(ctx, q, "username_key = $1", usernameKey(username))
		return err
	})
	if err != nil {
		return store.User{}, fmt.Errorf("get user by username %q: %w", username, err)
	}
	return u, nil
}

// ListUsers returns every user ordered by lower-cased username.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	var out []store.User
	err := s.query(ctx, func(q querier) error {
		out = nil
		rows, err := q.Query(ctx, "SELECT "+userColumns+" FROM users ORDER BY username_key")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return err
			}
			out = append(out, u)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// DeleteUser checks the user with fn and deletes it, in one transaction
// that first locks every administrator's row, so that of two concurrent
// deletions of the last two administrators the second sees the first.
func (s *Store) DeleteUser(ctx context.Context, id string, fn func(store.User, int) error, ev *store.AuditEvent) error {
	var fnErr error
	err := s.write(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT id, disabled FROM users WHERE role = $1 ORDER BY id FOR UPDATE", store.RoleAdmin)
		if err != nil {
			return err
		}
		admins := 0
		for rows.Next() {
			var aid string
			var disabled bool
			if err := rows.Scan(&aid, &disabled); err != nil {
				rows.Close()
				return err
			}
			if aid != id && !disabled {
				admins++
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		u, err := getUser(ctx, tx, "id = $1 FOR UPDATE", id)
		if err != nil {
			return err
		}
		if err := fn(u, admins); err != nil {
			fnErr = err
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM users WHERE id = $1", id); err != nil {
			return err
		}
		return addAudit(ctx, tx, *ev)
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("delete user %q: %w", id, err)
	}
	return nil
}

// UpdateUser locks the user's row, lets fn change the user and saves the
// result, all in one transaction.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(*store.User) error, ev *store.AuditEvent) (store.User, error) {
	var (
		out   store.User
		fnErr error
	)
	err := s.write(ctx, func(tx pgx.Tx) error {
		u, err := getUser(ctx, tx, "id = $1 FOR UPDATE", id)
		if err != nil {
			return err
		}
		if err := fn(&u); err != nil {
			fnErr = err
			return err
		}
		if u.ID != id {
			return fmt.Errorf("the update function changed the user ID to %q", u.ID)
		}
		_, err = tx.Exec(ctx, `UPDATE users SET username = $2, username_key = $3, display_name = $4,
			password_hash = $5, role = $6, disabled = $7, created_at = $8, updated_at = $9 WHERE id = $1`,
			id, u.Username, usernameKey(u.Username), u.DisplayName, u.PasswordHash, u.Role, u.Disabled,
			ts(u.CreatedAt), ts(u.UpdatedAt))
		if isUniqueViolation(err) {
			return fmt.Errorf("username %q: %w", u.Username, store.ErrConflict)
		}
		if err != nil {
			return err
		}
		if ev != nil {
			if err := addAudit(ctx, tx, *ev); err != nil {
				return err
			}
		}
		out, err = getUser(ctx, tx, "id = $1", id)
		return err
	})
	if fnErr != nil {
		return store.User{}, fnErr
	}
	if err != nil {
		return store.User{}, fmt.Errorf("update user %q: %w", id, err)
	}
	return out, nil
}

func getUser(ctx context.Context, q querier, where string, arg any) (store.User, error) {
	u, err := scanUser(q.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE "+where, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.User{}, store.ErrNotFound
	}
	return u, err
}

func scanUser(row scanner) (store.User, error) {
	var (
		u                store.User
		created, updated *time.Time
	)
	if err := row.Scan(&u.ID, &u.Username, &u.DisplayName, &u.PasswordHash, &u.Role, &u.Disabled, &created, &updated); err != nil {
		return store.User{}, err
	}
	u.CreatedAt = fromTS(created)
	u.UpdatedAt = fromTS(updated)
	return u, nil
}

// CreateSession inserts sess.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at)
			VALUES ($1, $2, $3, $4, $5)`, sess.ID, sess.UserID, ts(sess.CreatedAt), ts(sess.LastSeenAt), ts(sess.ExpiresAt))
		return insertErr(err, "user")
	})
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// GetSession returns the session.
func (s *Store) GetSession(ctx context.Context, id string) (store.Session, error) {
	var (
		sess                     store.Session
		created, seen, expiresAt *time.Time
	)
	err := s.query(ctx, func(q querier) error {
		return q.QueryRow(ctx, "SELECT id, user_id, created_at, last_seen_at, expires_at FROM sessions WHERE id = $1", id).
			Scan(&sess.ID, &sess.UserID, &created, &seen, &expiresAt)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("get session: %w", err)
	}
	sess.CreatedAt = fromTS(created)
	sess.LastSeenAt = fromTS(seen)
	sess.ExpiresAt = fromTS(expiresAt)
	return sess, nil
}

// TouchSession moves the session's LastSeenAt forward.
func (s *Store) TouchSession(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return nil
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE sessions SET last_seen_at = $2
			WHERE id = $1 AND (last_seen_at IS NULL OR last_seen_at < $2)`, id, ts(at))
		return err
	})
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession removes the session.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if err := s.exec(ctx, "DELETE FROM sessions WHERE id = $1", id); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions removes every session of the user.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) error {
	if err := s.exec(ctx, "DELETE FROM sessions WHERE user_id = $1", userID); err != nil {
		return fmt.Errorf("delete sessions of user %q: %w", userID, err)
	}
	return nil
}

// UpdateConsent loads the consent with a row lock, calls fn and saves what
// it left, in one transaction. Without a row to lock, the insert waits for
// a concurrent insert of the same consent to commit; if there was one, fn
// runs again on what that one stored.
func (s *Store) UpdateConsent(ctx context.Context, userID, clientID string, fn func(*store.Consent) error) (store.Consent, error) {
	var (
		out   store.Consent
		fnErr error
	)
	err := s.write(ctx, func(tx pgx.Tx) error {
		fnErr = nil
		for {
			c, err := scanConsent(tx.QueryRow(ctx, `SELECT user_id, client_id, scopes, granted_at FROM consents
				WHERE user_id = $1 AND client_id = $2 FOR UPDATE`, userID, clientID))
			found := err == nil
			if errors.Is(err, pgx.ErrNoRows) {
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
					userID, clientID, nonNilList(c.Scopes), ts(c.GrantedAt))
				if err != nil {
					return err
				}
			} else {
				tag, err := tx.Exec(ctx, `INSERT INTO consents (user_id, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4)
					ON CONFLICT (user_id, client_id) DO NOTHING`,
					userID, clientID, nonNilList(c.Scopes), ts(c.GrantedAt))
				if err := insertErr(err, "user or client"); err != nil {
					return err
				}
				if tag.RowsAffected() == 0 {
					continue // inserted concurrently: lock that row and start again
				}
			}
			out, err = scanConsent(tx.QueryRow(ctx, `SELECT user_id, client_id, scopes, granted_at FROM consents
				WHERE user_id = $1 AND client_id = $2`, userID, clientID))
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
	var c store.Consent
	err := s.query(ctx, func(q querier) (err error) {
		c, err = scanConsent(q.QueryRow(ctx, `SELECT user_id, client_id, scopes, granted_at FROM consents
			WHERE user_id = $1 AND client_id = $2`, userID, clientID))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Consent{}, fmt.Errorf("get consent of user %q for client %q: %w", userID, clientID, err)
	}
	return c, nil
}

// ListConsents returns the user's consents ordered by client ID.
func (s *Store) ListConsents(ctx context.Context, userID string) ([]store.Consent, error) {
	var out []store.Consent
	err := s.query(ctx, func(q querier) error {
		out = nil
		rows, err := q.Query(ctx, `SELECT user_id, client_id, scopes, granted_at FROM consents
			WHERE user_id = $1 ORDER BY client_id`, userID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanConsent(rows)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
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
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM consents WHERE user_id = $1 AND client_id = $2", userID, clientID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		// Waits for the lock of a family being rotated, then sees the
		// committed row.
		if _, err := tx.Exec(ctx, `UPDATE refresh_families SET revoked_at = $3
			WHERE client_id = $1 AND user_id = $2 AND revoked_at IS NULL`, clientID, userID, ts(at)); err != nil {
			return fmt.Errorf("revoke refresh tokens: %w", err)
		}
		return addAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("delete consent of user %q for client %q: %w", userID, clientID, err)
	}
	return nil
}

func scanConsent(row scanner) (store.Consent, error) {
	var (
		c       store.Consent
		granted *time.Time
	)
	if err := row.Scan(&c.UserID, &c.ClientID, &c.Scopes, &granted); err != nil {
		return store.Consent{}, err
	}
	c.Scopes = nilIfEmpty(c.Scopes)
	c.GrantedAt = fromTS(granted)
	return c, nil
}

const authCodeColumns = `id, client_id, user_id, redirect_uri, scopes, code_challenge, nonce,
	created_at, expires_at, used_at, access_token_jti, access_token_expires, refresh_family_id`

// CreateAuthCode inserts c.
func (s *Store) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO auth_codes (`+authCodeColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			c.ID, c.ClientID, c.UserID, c.RedirectURI, nonNilList(c.Scopes), c.CodeChallenge, c.Nonce,
			ts(c.CreatedAt), ts(c.ExpiresAt), ts(c.UsedAt), c.AccessTokenJTI, ts(c.AccessTokenExpires), c.RefreshFamilyID)
		return insertErr(err, "client or user")
	})
	if err != nil {
		return fmt.Errorf("create authorization code: %w", err)
	}
	return nil
}

// RedeemAuthCode marks the code used, unless it already was. Of concurrent
// UPDATEs of the row, the later ones wait for the first to commit and then
// find used_at set.
func (s *Store) RedeemAuthCode(ctx context.Context, id string, at time.Time) (store.AuthCode, error) {
	var (
		c    store.AuthCode
		used bool
	)
	err := s.write(ctx, func(tx pgx.Tx) (err error) {
		c, err = scanAuthCode(tx.QueryRow(ctx, `UPDATE auth_codes SET used_at = $2
			WHERE id = $1 AND used_at IS NULL RETURNING `+authCodeColumns, id, ts(at)))
		if used = errors.Is(err, pgx.ErrNoRows); !used {
			return err
		}
		c, err = scanAuthCode(tx.QueryRow(ctx, "SELECT "+authCodeColumns+" FROM auth_codes WHERE id = $1", id))
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return store.AuthCode{}, fmt.Errorf("redeem authorization code: %w", err)
	}
	if used {
		return c, fmt.Errorf("redeem authorization code: %w", store.ErrUsed)
	}
	return c, nil
}

// RecordAuthCodeIssue stores what the redemption of the code issued.
func (s *Store) RecordAuthCodeIssue(ctx context.Context, id, accessJTI string, accessExpires time.Time, refreshFamilyID string) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE auth_codes SET access_token_jti = $2, access_token_expires = $3,
			refresh_family_id = $4 WHERE id = $1`, id, accessJTI, ts(accessExpires), refreshFamilyID)
		if err == nil && tag.RowsAffected() == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("record authorization code issue: %w", err)
	}
	return nil
}

func scanAuthCode(row scanner) (store.AuthCode, error) {
	var (
		c                                     store.AuthCode
		created, expires, used, accessExpires *time.Time
	)
	err := row.Scan(&c.ID, &c.ClientID, &c.UserID, &c.RedirectURI, &c.Scopes, &c.CodeChallenge, &c.Nonce,
		&created, &expires, &used, &c.AccessTokenJTI, &accessExpires, &c.RefreshFamilyID)
	if err != nil {
		return store.AuthCode{}, err
	}
	c.Scopes = nilIfEmpty(c.Scopes)
	c.CreatedAt = fromTS(created)
	c.ExpiresAt = fromTS(expires)
	c.UsedAt = fromTS(used)
	c.AccessTokenExpires = fromTS(accessExpires)
	return c, nil
}

// CreateRefreshToken inserts t as the first token of a new family.
func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		var userID *string
		if t.UserID != "" {
			userID = &t.UserID
		}
		_, err := tx.Exec(ctx, `INSERT INTO refresh_families (id, client_id, user_id, expires_at, revoked_at)
			VALUES ($1, $2, $3, $4, $5)`, t.FamilyID, t.ClientID, userID, ts(t.FamilyExpiresAt), ts(t.RevokedAt))
		if err := insertErr(err, "client or user"); err != nil {
			return fmt.Errorf("family %q: %w", t.FamilyID, err)
		}
		return insertRefreshToken(ctx, tx, t)
	})
	if err != nil {
		return fmt.Errorf("create refresh token: %w", err)
	}
	return nil
}

// GetRefreshToken returns the token.
func (s *Store) GetRefreshToken(ctx context.Context, id string) (store.RefreshToken, error) {
	var t store.RefreshToken
	err := s.query(ctx, func(q querier) (err error) {
		t, err = getRefreshToken(ctx, q, id)
		return err
	})
	if err != nil {
		return store.RefreshToken{}, fmt.Errorf("get refresh token: %w", err)
	}
	return t, nil
}

// RotateRefreshToken replaces the current token of a family with next, or
// detects the reuse of a replaced one, holding the family's row lock.
func (s *Store) RotateRefreshToken(ctx context.Context, id string, at time.Time, next store.RefreshToken) (store.RefreshToken, error) {
	var (
		old     store.RefreshToken
		outcome error // ErrRevoked or ErrReused, after committing
	)
	err := s.write(ctx, func(tx pgx.Tx) error {
		// A token's family never changes, so it can be read before the lock.
		var familyID string
		err := tx.QueryRow(ctx, "SELECT family_id FROM refresh_tokens WHERE id = $1", id).Scan(&familyID)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SELECT 1 FROM refresh_families WHERE id = $1 FOR UPDATE", familyID); err != nil {
			return fmt.Errorf("lock refresh token family: %w", err)
		}
		// READ COMMITTED: this statement sees what the lock's previous
		// holder committed.
		if old, err = getRefreshToken(ctx, tx, id); err != nil {
			return err
		}
		if !old.RevokedAt.IsZero() {
			outcome = store.ErrRevoked
			return nil
		}
		if !old.UsedAt.IsZero() {
			// Reuse: commit the family's revocation.
			if err := revokeFamily(ctx, tx, old.FamilyID, at); err != nil {
				return err
			}
			old.RevokedAt = *ts(at)
			outcome = store.ErrReused
			return nil
		}
		if next.FamilyID != "" && next.FamilyID != old.FamilyID {
			return fmt.Errorf("the next token's family %q is not the family %q", next.FamilyID, old.FamilyID)
		}
		next.FamilyID = old.FamilyID
		if _, err := tx.Exec(ctx, "UPDATE refresh_tokens SET used_at = $2 WHERE id = $1", id, ts(at)); err != nil {
			return err
		}
		if err := insertRefreshToken(ctx, tx, next); err != nil {
			return fmt.Errorf("next token: %w", err)
		}
		old.UsedAt = *ts(at)
		return nil
	})
	if err != nil {
		return store.RefreshToken{}, fmt.Errorf("rotate refresh token: %w", err)
	}
	if outcome != nil {
		return old, fmt.Errorf("rotate refresh token: %w", outcome)
	}
	return old, nil
}

// RevokeRefreshFamily revokes every token of the family. The UPDATE waits
// for a rotation holding the family's lock.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string, at time.Time) error {
	err := s.write(ctx, func(tx pgx.Tx) error { return revokeFamily(ctx, tx, familyID, at) })
	if err != nil {
		return fmt.Errorf("revoke refresh token family %q: %w", familyID, err)
	}
	return nil
}

func revokeFamily(ctx context.Context, q querier, familyID string, at time.Time) error {
	_, err := q.Exec(ctx, "UPDATE refresh_families SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
		familyID, ts(at))
	return err
}

func insertRefreshToken(ctx context.Context, tx pgx.Tx, t store.RefreshToken) error {
	_, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (id, family_id, scopes, account_id, created_at, expires_at, used_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, t.ID, t.FamilyID, nonNilList(t.Scopes), t.AccountID,
		ts(t.CreatedAt), ts(t.ExpiresAt), ts(t.UsedAt))
	return insertErr(err, "family")
}

func getRefreshToken(ctx context.Context, q querier, id string) (store.RefreshToken, error) {
	var (
		t                                                store.RefreshToken
		userID                                           *string
		created, expires, used, familyExpires, revokedAt *time.Time
	)
	err := q.QueryRow(ctx, `SELECT t.id, t.family_id, f.client_id, f.user_id, t.scopes, t.account_id,
			t.created_at, t.expires_at, f.expires_at, t.used_at, f.revoked_at
		FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.id = $1`, id).Scan(
		&t.ID, &t.FamilyID, &t.ClientID, &userID, &t.Scopes, &t.AccountID,
		&created, &expires, &familyExpires, &used, &revokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.RefreshToken{}, store.ErrNotFound
	}
	if err != nil {
		return store.RefreshToken{}, err
	}
	if userID != nil {
		t.UserID = *userID
	}
	t.Scopes = nilIfEmpty(t.Scopes)
	t.CreatedAt = fromTS(created)
	t.ExpiresAt = fromTS(expires)
	t.FamilyExpiresAt = fromTS(familyExpires)
	t.UsedAt = fromTS(used)
	t.RevokedAt = fromTS(revokedAt)
	return t, nil
}

// prunePeople deletes expired sessions, authorization codes that expired
// more than an hour ago and expired refresh token families.
func prunePeople(ctx context.Context, tx pgx.Tx, now time.Time) error {
	if _, err := tx.Exec(ctx, "DELETE FROM sessions WHERE expires_at < $1", now.UTC()); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "DELETE FROM auth_codes WHERE expires_at < $1", now.Add(-time.Hour).UTC()); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "DELETE FROM refresh_families WHERE expires_at < $1", now.UTC())
	return err
}

// insertErr maps the constraint violations of an INSERT: a duplicate key
// is store.ErrConflict, a reference to a missing row store.ErrNotFound.
func insertErr(err error, referenced string) error {
	switch {
	case err == nil:
		return nil
	case isUniqueViolation(err):
		return store.ErrConflict
	case isForeignKeyViolation(err):
		return fmt.Errorf("%s: %w", referenced, store.ErrNotFound)
	}
	return err
}
