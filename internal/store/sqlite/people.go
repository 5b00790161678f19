package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Users, sessions, consents, authorization codes and refresh tokens.
//
// Every write transaction holds the database's write lock from its start
// (BEGIN IMMEDIATE), so the read-check-write sequences below (redeeming a
// code, rotating a refresh token) cannot interleave.

const userColumns = `id, username, display_name, password_hash, role, disabled, created_at, updated_at`

// usernameKey is the form of a username that the unique index compares.
func usernameKey(username string) string { return strings.ToLower(username) }

// CreateUser inserts u and records ev.
func (s *Store) CreateUser(ctx context.Context, u store.User, ev store.AuditEvent) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
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
func insertUser(ctx context.Context, tx *sql.Tx, u store.User) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO users (`+userColumns+`, username_key)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Username, u.DisplayName, u.PasswordHash, u.Role, u.Disabled,
		micros(u.CreatedAt), micros(u.UpdatedAt), usernameKey(u.Username))
	if isUniqueViolation(err) {
		return store.ErrConflict
	}
	return err
}

// GetUser returns the user with the ID.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	var u store.User
	err := s.query(ctx, func(q querier) (err error) {
		u, err = getUser(ctx, q, "id = ?", id)
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
		u, err = getUser(ctx, q, "username_key = ?", usernameKey(username))
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
		rows, err := q.QueryContext(ctx, "SELECT "+userColumns+" FROM users ORDER BY username_key")
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

// UpdateUser loads the user, lets fn change it and saves the result, all in
// one transaction.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(*store.User) error, ev *store.AuditEvent) (store.User, error) {
	var (
		out   store.User
		fnErr error
	)
	err := s.write(ctx, func(tx *sql.Tx) error {
		u, err := getUser(ctx, tx, "id = ?", id)
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
		_, err = tx.ExecContext(ctx, `UPDATE users SET username = ?, username_key = ?, display_name = ?,
			password_hash = ?, role = ?, disabled = ?, created_at = ?, updated_at = ? WHERE id = ?`,
			u.Username, usernameKey(u.Username), u.DisplayName, u.PasswordHash, u.Role, u.Disabled,
			micros(u.CreatedAt), micros(u.UpdatedAt), id)
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
		out, err = getUser(ctx, tx, "id = ?", id)
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

// DeleteUser checks the user with fn and deletes it, in one transaction;
// writes are serialised (see write), so the admin count stays true.
func (s *Store) DeleteUser(ctx context.Context, id string, fn func(store.User, int) error, ev *store.AuditEvent) error {
	var fnErr error
	err := s.write(ctx, func(tx *sql.Tx) error {
		u, err := getUser(ctx, tx, "id = ?", id)
		if err != nil {
			return err
		}
		var admins int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE role = ? AND NOT disabled AND id <> ?",
			store.RoleAdmin, id).Scan(&admins); err != nil {
			return err
		}
		if err := fn(u, admins); err != nil {
			fnErr = err
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM users WHERE id = ?", id); err != nil {
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

func getUser(ctx context.Context, q querier, where string, arg any) (store.User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE "+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return store.User{}, store.ErrNotFound
	}
	return u, err
}

func scanUser(row scanner) (store.User, error) {
	var (
		u                store.User
		disabled         int64
		created, updated sql.NullInt64
	)
	if err := row.Scan(&u.ID, &u.Username, &u.DisplayName, &u.PasswordHash, &u.Role, &disabled, &created, &updated); err != nil {
		return store.User{}, err
	}
	u.Disabled = disabled != 0
	u.CreatedAt = fromMicros(created)
	u.UpdatedAt = fromMicros(updated)
	return u, nil
}

// CreateSession inserts sess.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at)
			VALUES (?, ?, ?, ?, ?)`, sess.ID, sess.UserID, micros(sess.CreatedAt), micros(sess.LastSeenAt), micros(sess.ExpiresAt))
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
		created, seen, expiresAt sql.NullInt64
	)
	err := s.query(ctx, func(q querier) error {
		return q.QueryRowContext(ctx, "SELECT id, user_id, created_at, last_seen_at, expires_at FROM sessions WHERE id = ?", id).
			Scan(&sess.ID, &sess.UserID, &created, &seen, &expiresAt)
	})
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("get session: %w", err)
	}
	sess.CreatedAt = fromMicros(created)
	sess.LastSeenAt = fromMicros(seen)
	sess.ExpiresAt = fromMicros(expiresAt)
	return sess, nil
}

// TouchSession moves the session's LastSeenAt forward.
func (s *Store) TouchSession(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ?1
			WHERE id = ?2 AND (last_seen_at IS NULL OR last_seen_at < ?1)`, micros(at), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession removes the session.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE id = ?", id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions removes every session of the user.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ?", userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete sessions of user %q: %w", userID, err)
	}
	return nil
}

// UpdateConsent loads the consent, calls fn and saves what it left, in one
// write transaction (which holds the write lock from its start).
func (s *Store) UpdateConsent(ctx context.Context, userID, clientID string, fn func(*store.Consent) error) (store.Consent, error) {
	var (
		out   store.Consent
		fnErr error
	)
	err := s.write(ctx, func(tx *sql.Tx) error {
		c, err := scanConsent(tx.QueryRowContext(ctx, `SELECT user_id, client_id, scopes, granted_at FROM consents
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
		_, err = tx.ExecContext(ctx, `INSERT INTO consents (user_id, client_id, scopes, granted_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`,
			c.UserID, c.ClientID, jsonList(c.Scopes), micros(c.GrantedAt))
		if err := insertErr(err, "user or client"); err != nil {
			return err
		}
		out, err = scanConsent(tx.QueryRowContext(ctx, `SELECT user_id, client_id, scopes, granted_at FROM consents
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
	var c store.Consent
	err := s.query(ctx, func(q querier) (err error) {
		c, err = scanConsent(q.QueryRowContext(ctx, `SELECT user_id, client_id, scopes, granted_at FROM consents
			WHERE user_id = ? AND client_id = ?`, userID, clientID))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
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
		rows, err := q.QueryContext(ctx, `SELECT user_id, client_id, scopes, granted_at FROM consents
			WHERE user_id = ? ORDER BY client_id`, userID)
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

func scanConsent(row scanner) (store.Consent, error) {
	var (
		c       store.Consent
		scopes  string
		granted sql.NullInt64
	)
	if err := row.Scan(&c.UserID, &c.ClientID, &scopes, &granted); err != nil {
		return store.Consent{}, err
	}
	var err error
	if c.Scopes, err = parseList(scopes); err != nil {
		return store.Consent{}, err
	}
	c.GrantedAt = fromMicros(granted)
	return c, nil
}

const authCodeColumns = `id, client_id, user_id, redirect_uri, scopes, code_challenge, nonce,
	created_at, expires_at, used_at, access_token_jti, access_token_expires, refresh_family_id`

// CreateAuthCode inserts c.
func (s *Store) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO auth_codes (`+authCodeColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.ClientID, c.UserID, c.RedirectURI, jsonList(c.Scopes), c.CodeChallenge, c.Nonce,
			micros(c.CreatedAt), micros(c.ExpiresAt), micros(c.UsedAt),
			c.AccessTokenJTI, micros(c.AccessTokenExpires), c.RefreshFamilyID)
		return insertErr(err, "client or user")
	})
	if err != nil {
		return fmt.Errorf("create authorization code: %w", err)
	}
	return nil
}

// RedeemAuthCode marks the code used, unless it already was.
func (s *Store) RedeemAuthCode(ctx context.Context, id string, at time.Time) (store.AuthCode, error) {
	var c store.AuthCode
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if c, err = getAuthCode(ctx, tx, id); err != nil {
			return err
		}
		if !c.UsedAt.IsZero() {
			return store.ErrUsed
		}
		if _, err := tx.ExecContext(ctx, "UPDATE auth_codes SET used_at = ? WHERE id = ?", at.UnixMicro(), id); err != nil {
			return err
		}
		c.UsedAt = time.UnixMicro(at.UnixMicro()).UTC()
		return nil
	})
	if errors.Is(err, store.ErrUsed) {
		return c, fmt.Errorf("redeem authorization code: %w", err)
	}
	if err != nil {
		return store.AuthCode{}, fmt.Errorf("redeem authorization code: %w", err)
	}
	return c, nil
}

// RecordAuthCodeIssue stores what the redemption of the code issued.
func (s *Store) RecordAuthCodeIssue(ctx context.Context, id, accessJTI string, accessExpires time.Time, refreshFamilyID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE auth_codes SET access_token_jti = ?, access_token_expires = ?,
			refresh_family_id = ? WHERE id = ?`, accessJTI, micros(accessExpires), refreshFamilyID, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record authorization code issue: %w", err)
	}
	return nil
}

func getAuthCode(ctx context.Context, q querier, id string) (store.AuthCode, error) {
	var (
		c                                     store.AuthCode
		scopes                                string
		created, expires, used, accessExpires sql.NullInt64
	)
	err := q.QueryRowContext(ctx, "SELECT "+authCodeColumns+" FROM auth_codes WHERE id = ?", id).Scan(
		&c.ID, &c.ClientID, &c.UserID, &c.RedirectURI, &scopes, &c.CodeChallenge, &c.Nonce,
		&created, &expires, &used, &c.AccessTokenJTI, &accessExpires, &c.RefreshFamilyID)
	if errors.Is(err, sql.ErrNoRows) {
		return store.AuthCode{}, store.ErrNotFound
	}
	if err != nil {
		return store.AuthCode{}, err
	}
	if c.Scopes, err = parseList(scopes); err != nil {
		return store.AuthCode{}, err
	}
	c.CreatedAt = fromMicros(created)
	c.ExpiresAt = fromMicros(expires)
	c.UsedAt = fromMicros(used)
	c.AccessTokenExpires = fromMicros(accessExpires)
	return c, nil
}

// CreateRefreshToken inserts t as the first token of a new family.
func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO refresh_families (id, client_id, user_id, expires_at, revoked_at)
			VALUES (?, ?, ?, ?, ?)`, t.FamilyID, t.ClientID, nullString(t.UserID), micros(t.FamilyExpiresAt), micros(t.RevokedAt))
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
// detects the reuse of a replaced one.
func (s *Store) RotateRefreshToken(ctx context.Context, id string, at time.Time, next store.RefreshToken) (store.RefreshToken, error) {
	var (
		old     store.RefreshToken
		outcome error // ErrRevoked or ErrReused, after committing
	)
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
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
			old.RevokedAt = time.UnixMicro(at.UnixMicro()).UTC()
			outcome = store.ErrReused
			return nil
		}
		if next.FamilyID != "" && next.FamilyID != old.FamilyID {
			return fmt.Errorf("the next token's family %q is not the family %q", next.FamilyID, old.FamilyID)
		}
		next.FamilyID = old.FamilyID
		if _, err := tx.ExecContext(ctx, "UPDATE refresh_tokens SET used_at = ? WHERE id = ?", at.UnixMicro(), id); err != nil {
			return err
		}
		if err := insertRefreshToken(ctx, tx, next); err != nil {
			return fmt.Errorf("next token: %w", err)
		}
		old.UsedAt = time.UnixMicro(at.UnixMicro()).UTC()
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

// RevokeRefreshFamily revokes every token of the family.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string, at time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		return revokeFamily(ctx, tx, familyID, at)
	})
	if err != nil {
		return fmt.Errorf("revoke refresh token family %q: %w", familyID, err)
	}
	return nil
}

func revokeFamily(ctx context.Context, tx *sql.Tx, familyID string, at time.Time) error {
	_, err := tx.ExecContext(ctx, "UPDATE refresh_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
		at.UnixMicro(), familyID)
	return err
}

func insertRefreshToken(ctx context.Context, tx *sql.Tx, t store.RefreshToken) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (id, family_id, scopes, account_id, created_at, expires_at, used_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, t.ID, t.FamilyID, jsonList(t.Scopes), t.AccountID,
		micros(t.CreatedAt), micros(t.ExpiresAt), micros(t.UsedAt))
	return insertErr(err, "family")
}

func getRefreshToken(ctx context.Context, q querier, id string) (store.RefreshToken, error) {
	var (
		t                                                store.RefreshToken
		userID                                           sql.NullString
		scopes                                           string
		created, expires, used, familyExpires, revokedAt sql.NullInt64
	)
	err := q.QueryRowContext(ctx, `SELECT t.id, t.family_id, f.client_id, f.user_id, t.scopes, t.account_id,
			t.created_at, t.expires_at, f.expires_at, t.used_at, f.revoked_at
		FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.id = ?`, id).Scan(
		&t.ID, &t.FamilyID, &t.ClientID, &userID, &scopes, &t.AccountID,
		&created, &expires, &familyExpires, &used, &revokedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return store.RefreshToken{}, store.ErrNotFound
	}
	if err != nil {
		return store.RefreshToken{}, err
	}
	if t.Scopes, err = parseList(scopes); err != nil {
		return store.RefreshToken{}, err
	}
	t.UserID = userID.String
	t.CreatedAt = fromMicros(created)
	t.ExpiresAt = fromMicros(expires)
	t.FamilyExpiresAt = fromMicros(familyExpires)
	t.UsedAt = fromMicros(used)
	t.RevokedAt = fromMicros(revokedAt)
	return t, nil
}

// prunePeople deletes expired sessions, authorization codes that expired
// more than an hour ago and expired refresh token families.
func prunePeople(ctx context.Context, tx *sql.Tx, now time.Time) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE expires_at < ?", now.UnixMicro()); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM auth_codes WHERE expires_at < ?", now.Add(-time.Hour).UnixMicro()); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "DELETE FROM refresh_families WHERE expires_at < ?", now.UnixMicro())
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

func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}
