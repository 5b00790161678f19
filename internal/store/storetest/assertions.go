package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// The jtis of client assertions (RFC 7523 §3 item 7): each accepted once
// within its lifetime.

func useJTI(t *testing.T, s store.Store, client, jti string, exp, now time.Time) bool {
	t.Helper()
	ok, err := s.UseClientAssertionJTI(t.Context(), client, jti, exp, now)
	if err != nil {
		t.Fatalf("UseClientAssertionJTI(%q, %q): %v", client, jti, err)
	}
	return ok
}

func testClientAssertionJTIs(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreate(t, s, minimalClient("a"))
	mustCreate(t, s, minimalClient("b"))
	exp := t0.Add(5 * time.Minute)
	steps := []struct {
		client, jti string
		exp, now    time.Time
		want        bool
	}{
		{"a", "j1", exp, t0, true},
		{"a", "j1", exp, t0.Add(time.Minute), false},                     // a replay
		{"a", "j1", exp.Add(time.Hour), t0, false},                       // a replay with a later exp
		{"b", "j1", exp, t0, true},                                       // another client's jti
		{"a", "j2", exp, t0, true},                                       //
		{"a", "j1", exp.Add(time.Hour), exp, true},                       // the record expired at now: replaced
		{"a", "j1", exp.Add(2 * time.Hour), exp.Add(time.Minute), false}, // the replacement holds
	}
	for i, st := range steps {
		if got := useJTI(t, s, st.client, st.jti, st.exp, st.now); got != st.want {
			t.Errorf("step %d: UseClientAssertionJTI(%q, %q): got %v, want %v", i, st.client, st.jti, got, st.want)
		}
	}
	if _, err := s.UseClientAssertionJTI(ctx, "missing", "j", exp, t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UseClientAssertionJTI(missing client): got error %v, want ErrNotFound", err)
	}

	// Prune drops what expired; until then it is remembered.
	if err := s.Prune(ctx, exp.Add(30*time.Minute)); err != nil {
		t.Fatalf("Prune: %v", err)
	}
	if !useJTI(t, s, "b", "j1", exp.Add(time.Hour), t0) {
		t.Errorf("after Prune: b's expired j1: got a replay, want new")
	}
	if useJTI(t, s, "a", "j1", exp.Add(3*time.Hour), exp.Add(30*time.Minute)) {
		t.Errorf("after Prune: a's unexpired j1: got new, want a replay")
	}

	// Deleting a client deletes its jtis: a client of the same ID later
	// starts afresh.
	if err := s.DeleteClient(ctx, "a", nil, ev("client.delete", "a")); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	mustCreate(t, s, minimalClient("a"))
	if !useJTI(t, s, "a", "j2", exp, t0) {
		t.Errorf("after re-creating the client: got a replay, want new")
	}
}

func testClientAssertionJTIsConcurrent(t *testing.T, s store.Store) {
	mustCreate(t, s, minimalClient("a"))
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		news int
	)
	for range n {
		wg.Go(func() {
			ok, err := s.UseClientAssertionJTI(t.Context(), "a", "same", t0.Add(time.Minute), t0)
			if err != nil {
				t.Errorf("UseClientAssertionJTI: %v", err)
				return
			}
			if ok {
				mu.Lock()
				news++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if news != 1 {
		t.Errorf("%d concurrent uses of one jti: %d were new, want 1", n, news)
	}
}
