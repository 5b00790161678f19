package token

import (
	"crypto/rand"
	"testing"
)

func benchmarkSign(b *testing.B, alg string) {
	clk := newClock()
	k := newTestKeyring(b, &fakeStore{}, alg, clk, nil)
	c := testClaims(clk.Now())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Sign(&c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignES256(b *testing.B) { benchmarkSign(b, ES256) }
func BenchmarkSignRS256(b *testing.B) { benchmarkSign(b, RS256) }
func BenchmarkSignPS256(b *testing.B) { benchmarkSign(b, PS256) }
func BenchmarkSignEdDSA(b *testing.B) { benchmarkSign(b, EdDSA) }

// BenchmarkSignES256Parallel signs from GOMAXPROCS goroutines, as the token
// endpoint does.
func BenchmarkSignES256Parallel(b *testing.B) {
	clk := newClock()
	k := newTestKeyring(b, &fakeStore{}, ES256, clk, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := testClaims(clk.Now())
		for pb.Next() {
			if _, err := k.Sign(&c); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func benchmarkVerify(b *testing.B, alg string) {
	clk := newClock()
	k := newTestKeyring(b, &fakeStore{}, alg, clk, nil)
	c := testClaims(clk.Now())
	tok, err := k.Sign(&c)
	if err != nil {
		b.Fatal(err)
	}
	now := clk.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Verify(tok, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyES256(b *testing.B) { benchmarkVerify(b, ES256) }
func BenchmarkVerifyRS256(b *testing.B) { benchmarkVerify(b, RS256) }
func BenchmarkVerifyEdDSA(b *testing.B) { benchmarkVerify(b, EdDSA) }

func BenchmarkNewJTI(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewJTI(rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendClaims is the JSON part of Sign alone.
func BenchmarkAppendClaims(b *testing.B) {
	c := testClaims(newClock().Now())
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendClaims(buf[:0], &c)
	}
}
