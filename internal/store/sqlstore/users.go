package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/store"
)

// CreateUser inserts u and records ev.
func (s *Store) CreateUser(ctx context.Context, u store.User, ev store.AuditEvent) error {
	err := s.db.Write(ctx, func(tx Tx) error {
		if err := s.insertUser(ctx, tx, u); err != nil {
			return err
		}
		return s.addAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.ID, err)
	}
	return nil
}

// insertUser inserts u; ErrConflict if its ID or username is taken.
func (s *Store) insertUser(ctx context.Context, tx Tx, u store.User) error {
	_, err := tx.Exec(ctx, `INSERT INTO users (`+UserColumns+`, username_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, UserArgs(s.db, u)...)
	return s.insertErr(err, "")
}

const getUser = "SELECT " + UserColumns + " FROM users WHERE "

// GetUser returns the user with the ID.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	u, err := get(ctx, s, ScanUser, getUser+"id = $1", id)
	if err != nil {
		return store.User{}, fmt.Errorf("get user %q: %w", id, err)
	}
	return u, nil
}

// GetUserByUsername returns the user whose username matches
// case-insensitively.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (store.User, error) {
	u, err := get(ctx, s, ScanUser, getUser+"username_key = $1", UsernameKey(username))
	if err != nil {
		return store.User{}, fmt.Errorf("get user by username %q: %w", username, err)
	}
	return u, nil
}

// ListUsers returns every user ordered by lower-cased username.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	out, err := list(ctx, s, ScanUser, "SELECT "+UserColumns+" FROM users ORDER BY username_key")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// ListUserPage returns a page of the users that match q, ordered by
// lower-cased username.
func (s *Store) ListUserPage(ctx context.Context, q store.UserQuery) ([]store.User, error) {
	if q.Limit <= 0 {
		return nil, fmt.Errorf("list users: the limit must be positive, not %d", q.Limit)
	}
	where := "username_key > $1"
	args := []any{q.After}
	if q.Search != "" {
		// username_key is already lower-cased as Go does it.
		args = append(args, "%"+likeEscaper.Replace(strings.ToLower(q.Search))+"%")
		where += ` AND (username_key LIKE $2 ESCAPE '\' OR lower(display_name) LIKE $2 ESCAPE '\')`
	}
	args = append(args, q.Limit)
	out, err := list(ctx, s, ScanUser, "SELECT "+UserColumns+" FROM users WHERE "+where+
		" ORDER BY username_key LIMIT $"+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// lockUser locks every administrator's row and then the user's, and
// returns the user and the number of other enabled administrators. Every
// change that may leave fewer enabled administrators (UpdateUser,
// DeleteUser, RedeemPasswordToken) takes these locks first and in this
// order, so that of two concurrent changes to the last two administrators
// the second sees the first, and none waits for another in a cycle.
func (s *Store) lockUser(ctx context.Context, tx Tx, id string) (store.User, int, error) {
	admins, err := queryAll(ctx, s.db, tx, ScanUser, getUser+"role = $1 ORDER BY id"+s.d.ForUpdate, store.RoleAdmin)
	if err != nil {
		return store.User{}, 0, err
	}
	others := 0
	for _, a := range admins {
		if a.ID != id && !a.Disabled {
			others++
		}
	}
	u, err := queryOne(ctx, s.db, tx, ScanUser, getUser+"id = $1"+s.d.ForUpdate, id)
	if err != nil {
		return store.User{}, 0, err
	}
	return u, others, nil
}

// saveUser writes u, locked by lockUser, and records ev (if not nil), and
// returns the user as stored.
func (s *Store) saveUser(ctx context.Context, tx Tx, id string, u store.User, ev *store.AuditEvent) (store.User, error) {
	if u.ID != id {
		return store.User{}, fmt.Errorf("the update function changed the user ID to %q", u.ID)
	}
	_, err := tx.Exec(ctx, `UPDATE users SET username = $2, display_name = $3, password_hash = $4,
		role = $5, disabled = $6, created_at = $7, updated_at = $8, username_key = $9 WHERE id = $1`,
		UserArgs(s.db, u)...)
	if err := s.insertErr(err, ""); err != nil {
		return store.User{}, fmt.Errorf("username %q: %w", u.Username, err)
	}
	if ev != nil {
		if err := s.addAudit(ctx, tx, *ev); err != nil {
			return store.User{}, err
		}
	}
	return queryOne(ctx, s.db, tx, ScanUser, getUser+"id = $1", id)
}

// UpdateUser locks the administrators' rows and the user's, lets fn
// change the user and saves the result, all in one transaction.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(*store.User, int) error, ev *store.AuditEvent) (store.User, error) {
	var (
		out   store.User
		fnErr error
	)
	err := s.db.Write(ctx, func(tx Tx) error {
		fnErr = nil
		u, others, err := s.lockUser(ctx, tx, id)
		if err != nil {
			return err
		}
		old := u.PasswordHash
		if err := fn(&u, others); err != nil {
			fnErr = err
			return err
		}
		if out, err = s.saveUser(ctx, tx, id, u, ev); err != nil {
			return err
		}
		if u.PasswordHash != old {
			// A set-password link must not replace the password set now.
			if _, err := tx.Exec(ctx, "DELETE FROM password_tokens WHERE user_id = $1", id); err != nil {
				return fmt.Errorf("delete set-password tokens: %w", err)
			}
		}
		return nil
	})
	if fnErr != nil {
		return store.User{}, fnErr
	}
	if err != nil {
		return store.User{}, fmt.Errorf("update user %q: %w", id, err)
	}
	return out, nil
}

// DeleteUser checks the user with fn and deletes it, in one transaction
// that first locks every administrator's row (lockUser).
func (s *Store) DeleteUser(ctx context.Context, id string, fn func(store.User, int) error, ev *store.AuditEvent) error {
	var fnErr error
	err := s.db.Write(ctx, func(tx Tx) error {
		fnErr = nil
		u, others, err := s.lockUser(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := fn(u, others); err != nil {
			fnErr = err
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM users WHERE id = $1", id); err != nil {
			return err
		}
		return s.addAudit(ctx, tx, *ev)
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("delete user %q: %w", id, err)
	}
	return nil
}
