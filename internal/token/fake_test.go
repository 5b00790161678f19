package token

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testutil"
)

// fakeStore is an in-memory KeyStore. UpdateSigningKeys holds the mutex for
// the whole call, as a backend's serialised transaction would.
type fakeStore struct {
	mu     sync.Mutex
	keys   []store.SigningKey
	events []store.AuditEvent
}

var _ KeyStore = (*fakeStore)(nil)

func (s *fakeStore) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedKeys(s.keys), nil
}

func (s *fakeStore) UpdateSigningKeys(ctx context.Context, fn func([]store.SigningKey) ([]store.SigningKey, []string, error), ev store.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	add, remove, err := fn(sortedKeys(s.keys))
	if err != nil {
		return err
	}
	keys := slices.Clone(s.keys)
	for _, k := range add {
		if slices.ContainsFunc(keys, func(o store.SigningKey) bool { return o.ID == k.ID }) {
			return fmt.Errorf("key %s: %w", k.ID, store.ErrConflict)
		}
		keys = append(keys, k)
	}
	keys = slices.DeleteFunc(keys, func(k store.SigningKey) bool { return slices.Contains(remove, k.ID) })
	s.keys = keys
	if ev.Action != "" {
		s.events = append(s.events, ev)
	}
	return nil
}

func (s *fakeStore) snapshot() ([]store.SigningKey, []store.AuditEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedKeys(s.keys), slices.Clone(s.events)
}

// newClock returns a settable clock at a fixed time.
func newClock() *testutil.Clock {
	return testutil.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
}

// testMaster is a fixed master key for tests.
func testMaster(t testing.TB, secret string) []byte {
	t.Helper()
	k, err := deriveMasterKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const testSecret = "correct horse battery staple, but longer"

// newTestKeyring returns a keyring on st with the given algorithm and clock,
// initialised. mod may adjust the config first.
func newTestKeyring(t testing.TB, st KeyStore, alg string, clk *testutil.Clock, mod func(*Config)) *Keyring {
	t.Helper()
	cfg := Config{
		Algorithm:   alg,
		MasterKey:   testMaster(t, testSecret),
		LeadTime:    time.Hour,
		MaxTokenTTL: 12 * time.Hour,
		Now:         clk.Now,
		Rand:        rand.Reader,
	}
	if mod != nil {
		mod(&cfg)
	}
	k, err := NewKeyring(st, cfg)
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	if err := k.Init(context.Background()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return k
}
