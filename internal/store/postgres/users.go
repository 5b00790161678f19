package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlstore"
)

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
	_, err := tx.Exec(ctx, `INSERT INTO users (`+sqlstore.UserColumns+`, username_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, sqlstore.UserArgs(codec{}, u)...)
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
		u, err = getUser(ctx, q, "username_key = $1", sqlstore.UsernameKey(username))
		return err
	})
	if err != nil {
		return store.User{}, fmt.Errorf("get user by username %q: %w", username, err)
	}
	return u, nil
}

// ListUsers returns every user ordered by lower-cased username.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	out, err := list(ctx, s, sqlstore.ScanUser, "SELECT "+sqlstore.UserColumns+" FROM users ORDER BY username_key")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
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
		_, err = tx.Exec(ctx, `UPDATE users SET username = $2, display_name = $3, password_hash = $4,
			role = $5, disabled = $6, created_at = $7, updated_at = $8, username_key = $9 WHERE id = $1`,
			sqlstore.UserArgs(codec{}, u)...)
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

func getUser(ctx context.Context, q querier, where string, arg any) (store.User, error) {
	u, err := scanUser(q.QueryRow(ctx, "SELECT "+sqlstore.UserColumns+" FROM users WHERE "+where, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.User{}, store.ErrNotFound
	}
	return u, err
}

func scanUser(row sqlstore.Scanner) (store.User, error) { return sqlstore.ScanUser(codec{}, row) }
