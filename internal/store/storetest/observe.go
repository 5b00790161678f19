package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// revocationObserver is what a backend that reports the revocations
// recorded through it offers (the SQL stores' ObserveRevocations); the
// server keeps its in-memory revocation set current with it.
type revocationObserver interface {
	ObserveRevocations(fn func(store.Revocation)) (stop func())
}

// testObserveRevocations: each RevokeToken and RevokeClientTokens that
// succeeds is reported once, as given (times to the microsecond, in UTC),
// by the time it returns; a failed one is not; nothing is reported after
// stop.
func testObserveRevocations(t *testing.T, s store.Store) {
	o, ok := s.(revocationObserver)
	if !ok {
		t.Skip("the store does not report revocations (ObserveRevocations)")
	}
	ctx := t.Context()
	mustCreate(t, s, minimalClient("c1"))
	var got []store.Revocation
	stop := o.ObserveRevocations(func(rv store.Revocation) { got = append(got, rv) })
	exp := t0.Add(time.Hour)
	before := t0.Add(time.Minute)
	if err := s.RevokeToken(ctx, "j1", exp); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeClientTokens(ctx, "c1", before, exp, nil, ev("client.revoke_tokens", "c1")); err != nil {
		t.Fatal(err)
	}
	refuse := errors.New("refused")
	if err := s.RevokeClientTokens(ctx, "c1", before, exp, func(store.Client) error { return refuse }, ev("client.revoke_tokens", "c1")); !errors.Is(err, refuse) {
		t.Fatalf("RevokeClientTokens refused by its check: got %v, want %v", err, refuse)
	}
	if err := s.RevokeClientTokens(ctx, "nobody", before, exp, nil, ev("client.revoke_tokens", "nobody")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RevokeClientTokens of an unknown client: got %v, want ErrNotFound", err)
	}
	want := []store.Revocation{
		{JTI: "j1", ExpiresAt: normTime(exp)},
		{ClientID: "c1", IssuedBefore: normTime(before), ExpiresAt: normTime(exp)},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("revocations reported (-want +got):\n%s", d)
	}
	stop()
	if err := s.RevokeToken(ctx, "j2", exp); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("a revocation was reported after stop: %v", got[len(want):])
	}
}
