// Package users is the service layer for people: the CLI and the console
// create, change and authenticate users only through it. It enforces the
// username and password rules, hashes passwords with argon2id, records an
// audit event for every change and rate-limits failed logins per username
// and per source address (sparing the username and address pairs that
// logged in recently).
package users

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Store is what the service needs from the store.
type Store interface {
	CreateUser(ctx context.Context, u store.User, ev store.AuditEvent) error
	GetUser(ctx context.Context, id string) (store.User, error)
	GetUserByUsername(ctx context.Context, username string) (store.User, error)
	ListUsers(ctx context.Context) ([]store.User, error)
	ListUserPage(ctx context.Context, q store.UserQuery) ([]store.User, error)
	UpdateUser(ctx context.Context, id string, fn func(u *store.User, otherAdmins int) error, ev *store.AuditEvent) (store.User, error)
	DeleteUser(ctx context.Context, id string, fn func(u store.User, otherAdmins int) error, ev *store.AuditEvent) error
	DeleteUserSessions(ctx context.Context, userID string) error

	CreateSetupToken(ctx context.Context, t store.SetupToken) error
	GetSetupToken(ctx context.Context, id string) (store.SetupToken, error)
	RedeemSetupToken(ctx context.Context, id string, at time.Time, u store.User, ev store.AuditEvent) error

	CreateUserWithPasswordToken(ctx context.Context, u store.User, t store.PasswordToken, ev store.AuditEvent) error
	GetPasswordToken(ctx context.Context, id string) (store.PasswordToken, error)
	RedeemPasswordToken(ctx context.Context, id string, at time.Time, fn func(*store.User) error, ev *store.AuditEvent) (store.User, error)
}

var _ Store = store.Store(nil)

// Errors, compared with errors.Is.
var (
	ErrNotFound = store.ErrNotFound
	// ErrUsernameTaken wraps store.ErrConflict.
	ErrUsernameTaken = fmt.Errorf("username is taken: %w", store.ErrConflict)
	// ErrInvalidCredentials: unknown username or wrong password (the
	// caller must not tell the two apart).
	ErrInvalidCredentials = errors.New("wrong username or password")
	// ErrDisabled: the password was right but the user is disabled.
	ErrDisabled = errors.New("user is disabled")
	// ErrLastAdmin: the change would leave no enabled administrator.
	ErrLastAdmin = errors.New("no other enabled administrator would be left")
)

// RateLimitError is returned by Authenticate while the username or the
// address has no failure allowance left.
type RateLimitError struct{ RetryAfter time.Duration }

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many failed logins; try again in %s", e.RetryAfter)
}

// ValidationError lists everything wrong with a request.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string { return strings.Join(e.Problems, "; ") }

// Options configures a Service. Store is required.
type Options struct {
	Store Store
	Now   func() time.Time // default time.Now
	Rand  io.Reader        // default crypto/rand.Reader

	// Failed logins allowed per minute per username and per address,
	// after a burst of FailureBurst at once. Zero or negative means no
	// limit; the defaults are in package config.
	FailuresPerUser, FailuresPerAddress, FailureBurst int
	// RememberSuccess is how long a (username, address) pair that logged
	// in passes those limits; zero or negative: never.
	RememberSuccess time.Duration

	// Password is the argon2id cost of new password hashes; zero means
	// secret.DefaultArgon2(). Tests pass cheap parameters here.
	Password secret.Argon2Params
}

// Service manages users.
type Service struct {
	st   Store
	now  func() time.Time
	rand io.Reader
	cost secret.Argon2Params

	limiter *ratelimit.Guard

	dummyOnce sync.Once
	dummy     string // a hash to verify against for unknown usernames
}

// New returns a Service.
func New(o Options) *Service {
	s := &Service{st: o.Store, now: o.Now, rand: o.Rand, cost: o.Password}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	s.limiter = ratelimit.NewGuard(ratelimit.GuardOptions{
		PerSubject: o.FailuresPerUser, PerAddress: o.FailuresPerAddress, Burst: o.FailureBurst,
		Remember: o.RememberSuccess,
	})
	return s
}

// Spec describes a new user.
type Spec struct {
	Username    string
	DisplayName string // default: the username
	Password    string
	Role        string // store.RoleAdmin or store.RoleMember; default member
}

// CheckUsername reports why a username is unacceptable, or nil: 1 to 64
// characters, letters, digits and . _ - @, starting with a letter or digit.
func CheckUsername(u string) error {
	n := utf8.RuneCountInString(u)
	if n < 1 || n > 64 {
		return fmt.Errorf("username must be 1 to 64 characters")
	}
	for i, r := range u {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !ok && (i == 0 || !strings.ContainsRune("._-@", r)) {
			return fmt.Errorf("username %q: use letters, digits and . _ - @, starting with a letter or digit", u)
		}
	}
	return nil
}

// Create adds a user. A username that differs from an existing one only in
// case is taken (ErrUsernameTaken).
func (s *Service) Create(ctx context.Context, actor string, sp Spec) (store.User, error) {
	u, ev, err := s.newUser(actor, sp)
	if err != nil {
		return store.User{}, err
	}
	if err := s.st.CreateUser(ctx, u, ev); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.User{}, fmt.Errorf("user %q: %w", u.Username, ErrUsernameTaken)
		}
		return store.User{}, fmt.Errorf("create user %q: %w", u.Username, err)
	}
	return u, nil
}

// newUser checks sp and returns the user it describes, with a new ID and
// password hash, and the audit event that records its creation by actor.
func (s *Service) newUser(actor string, sp Spec) (store.User, store.AuditEvent, error) {
	return s.newUserWith(actor, sp, true)
}

// newUserWith is newUser; without withPassword the user has no password
// (sp.Password must be "") and cannot log in until one is set.
func (s *Service) newUserWith(actor string, sp Spec, withPassword bool) (store.User, store.AuditEvent, error) {
	var problems []string
	sp.Username = strings.TrimSpace(sp.Username)
	if err := CheckUsername(sp.Username); err != nil {
		problems = append(problems, err.Error())
	}
	sp.DisplayName = strings.TrimSpace(sp.DisplayName)
	if sp.DisplayName == "" {
		sp.DisplayName = sp.Username
	}
	if err := checkDisplayName(sp.DisplayName); err != nil {
		problems = append(problems, err.Error())
	}
	if sp.Role == "" {
		sp.Role = store.RoleMember
	}
	if err := checkRole(sp.Role); err != nil {
		problems = append(problems, err.Error())
	}
	switch {
	case withPassword:
		if err := secret.CheckPassword(sp.Password); err != nil {
			problems = append(problems, err.Error())
		}
	case sp.Password != "":
		problems = append(problems, "a user created with a set-password link has no password yet; leave it out")
	}
	if len(problems) > 0 {
		return store.User{}, store.AuditEvent{}, &ValidationError{problems}
	}
	hash := ""
	if withPassword {
		var err error
		if hash, err = secret.HashPassword(sp.Password, s.cost, s.rand); err != nil {
			return store.User{}, store.AuditEvent{}, err
		}
	}
	id, err := s.newID()
	if err != nil {
		return store.User{}, store.AuditEvent{}, err
	}
	now := s.now().UTC()
	u := store.User{
		ID: id, Username: sp.Username, DisplayName: sp.DisplayName, PasswordHash: hash,
		Role: sp.Role, CreatedAt: now, UpdatedAt: now,
	}
	ev := store.AuditEvent{Time: now, Actor: actor, Action: "user.create", Target: id,
		Detail: fmt.Sprintf("username %q, role %s", u.Username, u.Role)}
	return u, ev, nil
}

func checkDisplayName(d string) error {
	if utf8.RuneCountInString(d) > 200 || !utf8.ValidString(d) {
		return errors.New("display name must be valid UTF-8, at most 200 characters")
	}
	return nil
}

func checkRole(r string) error {
	if r != store.RoleAdmin && r != store.RoleMember {
		return fmt.Errorf("role %q: use %s or %s", r, store.RoleAdmin, store.RoleMember)
	}
	return nil
}

// List returns all users ordered by username.
func (s *Service) List(ctx context.Context) ([]store.User, error) {
	return s.st.ListUsers(ctx)
}

// Page returns at most q.Limit users ordered by lower-cased username,
// after q.After, whose username or display name contains q.Search
// (ignoring case).
func (s *Service) Page(ctx context.Context, q store.UserQuery) ([]store.User, error) {
	return s.st.ListUserPage(ctx, q)
}

// Get returns the user with this ID.
func (s *Service) Get(ctx context.Context, id string) (store.User, error) {
	u, err := s.st.GetUser(ctx, id)
	if err != nil {
		return u, fmt.Errorf("user %s: %w", id, err)
	}
	return u, nil
}

// GetByUsername returns the user with this username (case-insensitive).
func (s *Service) GetByUsername(ctx context.Context, username string) (store.User, error) {
	u, err := s.st.GetUserByUsername(ctx, username)
	if err != nil {
		return u, fmt.Errorf("user %q: %w", username, err)
	}
	return u, nil
}

// HasAdmin reports whether any admin exists (enabled or not).
func (s *Service) HasAdmin(ctx context.Context) (bool, error) {
	us, err := s.st.ListUsers(ctx)
	if err != nil {
		return false, err
	}
	for _, u := range us {
		if u.Role == store.RoleAdmin {
			return true, nil
		}
	}
	return false, nil
}

// SetPassword replaces a user's password and ends all of their sessions.
func (s *Service) SetPassword(ctx context.Context, actor, id, password string) error {
	if err := secret.CheckPassword(password); err != nil {
		return &ValidationError{[]string{err.Error()}}
	}
	hash, err := secret.HashPassword(password, s.cost, s.rand)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	ev := &store.AuditEvent{Time: now, Actor: actor, Action: "user.set_password", Target: id}
	if _, err := s.st.UpdateUser(ctx, id, func(u *store.User, _ int) error {
		u.PasswordHash = hash
		u.UpdatedAt = now
		ev.Detail = fmt.Sprintf("username %q", u.Username)
		return nil
	}, ev); err != nil {
		return fmt.Errorf("set password of user %s: %w", id, err)
	}
	return s.endSessions(ctx, id)
}

// Disable disables a user and ends all of their sessions. It refuses
// (ErrLastAdmin) to disable the last enabled administrator, counted in the
// same transaction.
func (s *Service) Disable(ctx context.Context, actor, id string) (store.User, error) {
	u, err := s.setDisabled(ctx, actor, id, true)
	if err != nil {
		return u, err
	}
	return u, s.endSessions(ctx, id)
}

// Enable enables a disabled user.
func (s *Service) Enable(ctx context.Context, actor, id string) (store.User, error) {
	return s.setDisabled(ctx, actor, id, false)
}

func (s *Service) setDisabled(ctx context.Context, actor, id string, disabled bool) (store.User, error) {
	action := "user.enable"
	if disabled {
		action = "user.disable"
	}
	now := s.now().UTC()
	ev := &store.AuditEvent{Time: now, Actor: actor, Action: action, Target: id}
	u, err := s.st.UpdateUser(ctx, id, func(u *store.User, otherAdmins int) error {
		if disabled && lastAdmin(*u, otherAdmins) {
			return fmt.Errorf("cannot disable %s, the last enabled administrator; create or enable another admin first: %w", u.Username, ErrLastAdmin)
		}
		u.Disabled = disabled
		u.UpdatedAt = now
		ev.Detail = fmt.Sprintf("username %q", u.Username)
		return nil
	}, ev)
	switch {
	case errors.Is(err, ErrLastAdmin):
		return store.User{}, err
	case err != nil:
		return u, fmt.Errorf("%s %s: %w", strings.TrimPrefix(action, "user."), id, err)
	}
	return u, nil
}

// lastAdmin reports whether u is an enabled administrator and no other
// enabled administrator exists.
func lastAdmin(u store.User, otherAdmins int) bool {
	return u.Role == store.RoleAdmin && !u.Disabled && otherAdmins == 0
}

// Patch changes a user; nil fields stay as they are.
type Patch struct {
	DisplayName *string // "" is the username
	Role        *string // store.RoleAdmin or store.RoleMember
	Disabled    *bool
	Password    *string // the new password; it ends the user's sessions
}

// Require is a condition on a user as stored, checked in the same store
// transaction as the change it guards (an If-Match): an error aborts the
// change and is returned as it is.
type Require func(store.User) error

// Update applies a patch in one store transaction, recorded as one
// user.update audit event. It refuses (ErrLastAdmin) to demote or disable
// the last enabled administrator, counted in the same transaction as the
// change, and checks req there first. Disabling the user or setting their
// password ends their sessions, and a password set here spends any
// set-password link of theirs.
func (s *Service) Update(ctx context.Context, actor, id string, p Patch, req ...Require) (store.User, error) {
	var problems []string
	if p.DisplayName != nil {
		d := strings.TrimSpace(*p.DisplayName)
		p.DisplayName = &d
		if err := checkDisplayName(d); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if p.Role != nil {
		if err := checkRole(*p.Role); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if p.Password != nil {
		if err := secret.CheckPassword(*p.Password); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return store.User{}, &ValidationError{problems}
	}
	hash := ""
	if p.Password != nil {
		var err error
		if hash, err = secret.HashPassword(*p.Password, s.cost, s.rand); err != nil {
			return store.User{}, err
		}
	}
	now := s.now().UTC()
	ev := &store.AuditEvent{Time: now, Actor: actor, Action: "user.update", Target: id}
	var (
		disabledNow bool
		refused     error // fn's error
	)
	u, err := s.st.UpdateUser(ctx, id, func(u *store.User, otherAdmins int) error {
		refused = nil
		for _, r := range req {
			if err := r(*u); err != nil {
				refused = err
				return err
			}
		}
		was := *u
		var changed []string
		if p.DisplayName != nil {
			d := *p.DisplayName
			if d == "" {
				d = u.Username
			}
			if d != u.DisplayName {
				u.DisplayName = d
				changed = append(changed, "display name")
			}
		}
		if p.Role != nil && *p.Role != u.Role {
			changed = append(changed, "role "+u.Role+" to "+*p.Role)
			u.Role = *p.Role
		}
		if p.Disabled != nil && *p.Disabled != u.Disabled {
			u.Disabled = *p.Disabled
			changed = append(changed, map[bool]string{true: "disabled", false: "enabled"}[u.Disabled])
		}
		if p.Password != nil {
			u.PasswordHash = hash
			changed = append(changed, "password")
		}
		if lastAdmin(was, otherAdmins) && (u.Role != store.RoleAdmin || u.Disabled) {
			verb := "disable"
			if u.Role != store.RoleAdmin {
				verb = "demote"
			}
			refused = fmt.Errorf("cannot %s %s, the last enabled administrator; create or enable another admin first: %w", verb, u.Username, ErrLastAdmin)
			return refused
		}
		disabledNow = u.Disabled && !was.Disabled
		ev.Detail = fmt.Sprintf("username %q: no changes", u.Username)
		if len(changed) > 0 {
			u.UpdatedAt = now
			ev.Detail = fmt.Sprintf("username %q: changed %s", u.Username, strings.Join(changed, ", "))
		}
		return nil
	}, ev)
	switch {
	case refused != nil:
		return store.User{}, err // a Require's or the last-admin refusal, as it is
	case err != nil:
		return store.User{}, fmt.Errorf("update user %s: %w", id, err)
	}
	if disabledNow || p.Password != nil {
		return u, s.endSessions(ctx, id)
	}
	return u, nil
}

// Delete deletes a user, with their sessions, consents, refresh tokens
// and set-password link. It refuses (ErrLastAdmin) to delete the last
// enabled administrator, counted in the same transaction as the deletion,
// and checks req there first.
func (s *Service) Delete(ctx context.Context, actor, id string, req ...Require) (store.User, error) {
	var deleted store.User
	ev := &store.AuditEvent{Time: s.now().UTC(), Actor: actor, Action: "user.delete", Target: id}
	var refused error
	err := s.st.DeleteUser(ctx, id, func(u store.User, otherAdmins int) error {
		refused = nil
		for _, r := range req {
			if err := r(u); err != nil {
				refused = err
				return err
			}
		}
		if lastAdmin(u, otherAdmins) {
			return fmt.Errorf("cannot delete %s, the last enabled administrator; create or enable another admin first: %w", u.Username, ErrLastAdmin)
		}
		deleted = u
		ev.Detail = fmt.Sprintf("username %q, role %s", u.Username, u.Role)
		return nil
	}, ev)
	if err != nil {
		if errors.Is(err, ErrLastAdmin) || refused != nil {
			return store.User{}, err
		}
		return store.User{}, fmt.Errorf("delete user %s: %w", id, err)
	}
	return deleted, nil
}

func (s *Service) endSessions(ctx context.Context, id string) error {
	if err := s.st.DeleteUserSessions(ctx, id); err != nil {
		return fmt.Errorf("end sessions of user %s: %w", id, err)
	}
	return nil
}

// Authenticate checks a username and password from addr (the client's
// address). It returns ErrInvalidCredentials for an unknown username or a
// wrong password alike, ErrDisabled for a disabled user with the right
// password, and *RateLimitError while the username or the address is over
// its allowance of failures. Only failures spend allowance; while a limit
// is exhausted no password is checked at all, so guessing stops. A username
// that logged in from addr within Options.RememberSuccess is exempt: its
// user is not locked out by someone guessing elsewhere or sharing the
// address, and its own failures count against that pair alone.
func (s *Service) Authenticate(ctx context.Context, username, password, addr string) (store.User, error) {
	now := s.now()
	key := strings.ToLower(strings.TrimSpace(username))
	attempt, wait, allowed := s.limiter.Check(key, addr, now)
	if !allowed {
		return store.User{}, &RateLimitError{RetryAfter: wait}
	}
	u, err := s.st.GetUserByUsername(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Spend the same time as a real check so that response times do
		// not tell which usernames exist.
		_, _ = secret.VerifyPassword(password, s.dummyHash())
		attempt.Failure()
		return store.User{}, ErrInvalidCredentials
	case err != nil:
		return store.User{}, fmt.Errorf("authenticate: %w", err)
	}
	if u.PasswordHash == "" {
		// Created with a set-password link that has not been used: no
		// password is right.
		_, _ = secret.VerifyPassword(password, s.dummyHash())
		attempt.Failure()
		return store.User{}, ErrInvalidCredentials
	}
	ok, err := secret.VerifyPassword(password, u.PasswordHash)
	if err != nil {
		return store.User{}, fmt.Errorf("authenticate user %s: %w", u.ID, err)
	}
	if !ok {
		attempt.Failure()
		return store.User{}, ErrInvalidCredentials
	}
	if u.Disabled {
		return store.User{}, ErrDisabled
	}
	attempt.Success()
	return u, nil
}

func (s *Service) dummyHash() string {
	s.dummyOnce.Do(func() {
		h, err := secret.HashPassword("dummy password for timing", s.cost, s.rand)
		if err == nil {
			s.dummy = h
		}
	})
	return s.dummy
}

func (s *Service) newID() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		return "", fmt.Errorf("generate user ID: %w", err)
	}
	return "usr_" + hex.EncodeToString(b[:]), nil
}
