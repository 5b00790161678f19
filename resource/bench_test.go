package resource

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/testutil"
	"github.com/gatehouse/gatehouse/internal/token"
)

// The Verify benchmarks run the whole middleware path: a GET
// /records/1 with an ES256 token from a real token.Keyring, through
// Guard.Handler to a handler that does nothing, on a ResponseWriter that
// discards. Keys are fetched (from an httptest issuer) before the timer
// starts. Compare:
//
//	go test -run x -bench . -benchmem ./resource/

// BenchmarkBareECDSAVerify is the floor for a cold ES256 verification: one
// crypto/ecdsa.Verify of a P-256 signature, nothing else.
func BenchmarkBareECDSAVerify(b *testing.B) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	d := sha256.Sum256([]byte("the JWS signing input"))
	r, s, err := ecdsa.Sign(rand.Reader, k, d[:])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !ecdsa.Verify(&k.PublicKey, d[:], r, s) {
			b.Fatal("bad signature")
		}
	}
}

// BenchmarkVerifyCold verifies the token in full on every request (cache
// disabled): parse, signature, claims, catalog.
func BenchmarkVerifyCold(b *testing.B) {
	for _, alg := range []string{token.ES256, token.EdDSA, token.RS256, token.PS256} {
		b.Run(alg, func(b *testing.B) { benchMiddleware(b, alg, -1, false, false) })
	}
}

// BenchmarkVerifyWarm finds the token in the verified-token cache: hash,
// lookup, compare, revocation check (nothing revoked), catalog, context.
func BenchmarkVerifyWarm(b *testing.B) { benchMiddleware(b, token.ES256, 0, false, false) }

// BenchmarkVerifyWarmParallel is BenchmarkVerifyWarm from GOMAXPROCS
// goroutines.
func BenchmarkVerifyWarmParallel(b *testing.B) { benchMiddleware(b, token.ES256, 0, false, true) }

// BenchmarkVerifyWarmRevocations is BenchmarkVerifyWarm while the feed has
// revoked 1,000 token IDs and the tokens of 100 clients (not the token's):
// the revocation check looks up the jti and the client.
func BenchmarkVerifyWarmRevocations(b *testing.B) { benchMiddleware(b, token.ES256, 0, true, false) }

func benchMiddleware(b *testing.B, alg string, cacheSize int, revocations, parallel bool) {
	iss := newIssuerAlg(b, alg)
	g, err := New(Config{Issuer: iss.URL(), Audience: testAudience, RevocationPoll: -1, CacheSize: cacheSize, Now: iss.clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	if revocations {
		exp := iss.clock.Now().Add(time.Hour).Unix()
		var add []revokedEntry
		for i := range 1000 {
			add = append(add, revokedEntry{JTI: fmt.Sprintf("revoked-%d", i), Exp: exp})
		}
		for i := range 100 {
			add = append(add, revokedEntry{ClientID: fmt.Sprintf("client-%d", i+2), IATBefore: iss.clock.Now().Unix(), Exp: exp})
		}
		g.addRevocations(add)
	}
	var served atomic.Int64
	h := g.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served.Add(1) }))
	r := httptest.NewRequest("GET", "/records/1", nil)
	r.Header.Set("Authorization", "Bearer "+iss.token("api:read-only"))
	h.ServeHTTP(&discard{h: http.Header{}}, r) // fetch the keys
	if served.Load() != 1 {
		b.Fatal("the warm-up request was refused")
	}
	served.Store(0)
	b.ReportAllocs()
	b.ResetTimer()
	var n atomic.Int64
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			w := &discard{h: http.Header{}}
			for pb.Next() {
				h.ServeHTTP(w, r)
				n.Add(1)
			}
		})
	} else {
		w := &discard{h: http.Header{}}
		for b.Loop() {
			h.ServeHTTP(w, r)
			n.Add(1)
		}
	}
	b.StopTimer()
	if served.Load() != n.Load() {
		b.Fatalf("%d of %d requests refused", n.Load()-served.Load(), n.Load())
	}
}

// discard is a ResponseWriter that throws everything away.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkDPoPVerify compares, in one run, a call with a bearer token
// and one with a DPoP-bound token and its proof (RFC 9449 §7), both tokens
// in the verified-token cache: the DPoP call also parses the proof's JWK,
// checks its ES256 signature, htm, htu, iat, ath and key binding, and
// remembers its jti. Proofs are signed before the timer starts, one per
// request.
//
//	go test -run x -bench 'TokenIssuance|DPoPVerify' -benchmem ./internal/server/ ./resource/
func BenchmarkDPoPVerify(b *testing.B) {
	for _, bound := range []bool{false, true} {
		name := map[bool]string{false: "bearer", true: "dpop"}[bound]
		b.Run(name, func(b *testing.B) {
			iss := newIssuer(b)
			g, err := New(Config{Issuer: iss.URL(), Audience: testAudience, RevocationPoll: -1, Now: iss.clock.Now,
				ExternalURL: testExternal, DPoP: DPoP{Enabled: true}})
			if err != nil {
				b.Fatal(err)
			}
			defer g.Close()
			var served atomic.Int64
			h := g.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served.Add(1) }))
			k := testutil.NewDPoPKey(b)
			auth, tok := "Bearer ", iss.token("api:read-only")
			if bound {
				auth, tok = "DPoP ", iss.boundToken("api:read-only", k)
			}
			n := b.N + 1
			reqs := make([]*http.Request, n)
			for i := range reqs {
				r := httptest.NewRequest("GET", "/records/1", nil)
				r.Header.Set("Authorization", auth+tok)
				if bound {
					r.Header.Set("DPoP", iss.proof(k, "GET", "/records/1", tok))
				}
				reqs[i] = r
			}
			w := &discard{h: http.Header{}}
			h.ServeHTTP(w, reqs[n-1]) // fetch the keys, cache the token
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h.ServeHTTP(w, reqs[i])
			}
			b.StopTimer()
			if served.Load() != int64(n) {
				b.Fatalf("%d of %d requests refused", int64(n)-served.Load(), n)
			}
		})
	}
}
