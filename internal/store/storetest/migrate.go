package storetest

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pressly/goose/v3"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Legacy is a new, empty database of a backend, for the tests of its
// schema migrations.
type Legacy struct {
	// Migrations are the backend's embedded migrations, on the database.
	Migrations *goose.Provider
	// Exec runs a statement on the database; its parameters are $1, $2, …
	Exec func(query string, args ...any) error
	// At is how the backend stores a time.
	At func(time.Time) any
	// Open opens the store on the database, which applies the remaining
	// migrations.
	Open func() store.Store
}

// MigrateRevocationFeed upgrades a database with revocations recorded
// before the revocation feed existed (version 1): they are listed, stamped
// with the time of the upgrade give or take slack (the database's clock may
// be another machine's). It returns them in feed order.
func MigrateRevocationFeed(t *testing.T, l Legacy, slack time.Duration) []store.Revocation {
	ctx := t.Context()
	if _, err := l.Migrations.UpTo(ctx, 1); err != nil {
		t.Fatalf("migrate to version 1: %v", err)
	}
	exp := l.At(time.Now().Add(time.Hour))
	for _, jti := range []string{"z", "a", "m"} {
		if err := l.Exec("INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2)", jti, exp); err != nil {
			t.Fatal(err)
		}
	}

	before := time.Now()
	s := l.Open()
	after := time.Now()
	got, err := s.ListRevocations(ctx, time.Time{}, time.Now(), 0)
	if err != nil {
		t.Fatalf("ListRevocations: %v", err)
	}
	var jtis []string
	for _, r := range got {
		jtis = append(jtis, r.JTI)
		if r.RevokedAt.Before(before.Add(-slack)) || r.RevokedAt.After(after.Add(slack)) {
			t.Errorf("%q: RevokedAt = %v, want the time of the upgrade (%v to %v)", r.JTI, r.RevokedAt, before, after)
		}
	}
	slices.Sort(jtis)
	if want := []string{"a", "m", "z"}; !slices.Equal(jtis, want) {
		t.Errorf("ListRevocations after the upgrade: got %q, want %q", jtis, want)
	}
	return got
}

// MigratePeople upgrades a database with a client made before the people
// migration (version 3): it reads back with the new fields empty. The
// migration can be rolled back and applied again.
func MigratePeople(t *testing.T, l Legacy) {
	ctx := t.Context()
	if _, err := l.Migrations.UpTo(ctx, 2); err != nil {
		t.Fatalf("migrate to version 2: %v", err)
	}
	if err := l.Exec(`INSERT INTO clients (id, name, description, audience, token_ttl_ns, disabled)
		VALUES ('old', 'Old', '', '', 0, $1)`, false); err != nil {
		t.Fatal(err)
	}
	for i, step := range []func() error{
		func() error { _, err := l.Migrations.Up(ctx); return err },
		func() error { _, err := l.Migrations.DownTo(ctx, 2); return err },
		func() error { _, err := l.Migrations.Up(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("migration step %d: %v", i+1, err)
		}
	}

	got, err := l.Open().GetClient(ctx, "old")
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	if want := (store.Client{ID: "old", Name: "Old"}); !reflect.DeepEqual(got, want) {
		t.Errorf("client from before the migration: got %+v, want %+v", got, want)
	}
}

// MigrateClientRevocations upgrades a database with a client and a revoked
// token made before client revocations existed (version 5): the token's
// revocation is listed as before, and the client's tokens can be revoked.
// The migration can be rolled back (which drops the client revocations)
// and applied again.
func MigrateClientRevocations(t *testing.T, l Legacy) {
	ctx := t.Context()
	if _, err := l.Migrations.UpTo(ctx, 5); err != nil {
		t.Fatalf("migrate to version 5: %v", err)
	}
	now := time.Now()
	if err := l.Exec(`INSERT INTO clients (id, name, description, audience, token_ttl_ns, disabled)
		VALUES ('old', 'Old', '', '', 0, $1)`, false); err != nil {
		t.Fatal(err)
	}
	if err := l.Exec("INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES ('j', $1, $2)",
		l.At(now.Add(time.Hour)), l.At(now)); err != nil {
		t.Fatal(err)
	}
	insert := func() error {
		return l.Exec("INSERT INTO client_revocations (client_id, issued_before, expires_at, revoked_at) VALUES ('gone', $1, $2, $3)",
			l.At(now), l.At(now.Add(time.Hour)), l.At(now))
	}
	if insert() == nil {
		t.Fatal("client_revocations exists at version 5")
	}
	for i, step := range []func() error{
		func() error { _, err := l.Migrations.Up(ctx); return err },
		insert,
		func() error { _, err := l.Migrations.DownTo(ctx, 5); return err },
		func() error {
			if insert() == nil {
				return errors.New("client_revocations is still there after migrating down to version 5")
			}
			return nil
		},
		func() error { _, err := l.Migrations.Up(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("migration step %d: %v", i+1, err)
		}
	}

	s := l.Open()
	list := func() []store.Revocation {
		t.Helper()
		got, err := s.ListRevocations(ctx, time.Time{}, now, 0)
		if err != nil {
			t.Fatalf("ListRevocations: %v", err)
		}
		return got
	}
	want := []store.Revocation{{JTI: "j", ExpiresAt: now.Add(time.Hour).UTC().Truncate(time.Microsecond), RevokedAt: now.UTC().Truncate(time.Microsecond)}}
	if diff := cmp.Diff(want, list()); diff != "" {
		t.Errorf("ListRevocations after the migrations (-want +got):\n%s", diff)
	}
	before := now.Add(time.Minute)
	if err := s.RevokeClientTokens(ctx, "old", before, before.Add(time.Hour), nil, store.AuditEvent{Action: "client.revoke_tokens", Target: "old"}); err != nil {
		t.Fatalf("RevokeClientTokens after the migrations: %v", err)
	}
	got := list()
	if len(got) != 2 || got[1].ClientID != "old" || !got[1].IssuedBefore.Equal(before.Truncate(time.Microsecond)) {
		t.Errorf("ListRevocations after RevokeClientTokens: got %+v, want the token's and then the client's", got)
	}
	if ok, err := s.IsTokenRevoked(ctx, "other", "old", now); err != nil || !ok {
		t.Errorf("IsTokenRevoked for a token of the client: got %v, %v; want true", ok, err)
	}
}
