package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Benchmark measures the store calls on request paths: the revocation
// check of introspection (a token's and its client's), a client read (a cache miss of the token
// endpoint), reading the revocation feed and a session touch.
func Benchmark(b *testing.B, s store.Store) {
	ctx := b.Context()
	exp := time.Now().Add(time.Hour)
	for i := range 100 {
		if err := s.RevokeToken(ctx, fmt.Sprintf("jti-%03d", i), exp); err != nil {
			b.Fatal(err)
		}
	}
	c := store.Client{ID: "bench", Name: "Bench", GrantTypes: []string{"client_credentials"}, Scopes: []string{"a", "b"},
		Secrets: []store.Secret{{ID: "bench-s1", Digest: []byte{1}, CreatedAt: t0}, {ID: "bench-s2", Digest: []byte{2}, CreatedAt: t0}}}
	if err := s.CreateClient(ctx, c, store.AuditEvent{Time: t0, Action: "client.create", Target: c.ID}); err != nil {
		b.Fatal(err)
	}
	// The client's tokens issued before t0 are revoked: each check finds
	// that record and compares it.
	if err := s.RevokeClientTokens(ctx, c.ID, t0, exp, nil, store.AuditEvent{Time: t0, Action: "client.revoke_tokens", Target: c.ID}); err != nil {
		b.Fatal(err)
	}
	iat := time.Now().Truncate(time.Second)
	b.Run("IsTokenRevoked", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := s.IsTokenRevoked(ctx, fmt.Sprintf("jti-%03d", i%200), c.ID, iat); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GetClient", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.GetClient(ctx, c.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ListRevocations", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.ListRevocations(ctx, time.Time{}, time.Now(), 100); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("RevokeToken", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := s.RevokeToken(ctx, fmt.Sprintf("new-%d", i), exp); err != nil {
				b.Fatal(err)
			}
		}
	})
}
