package resource

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/dpop"
	"github.com/gatehouse/gatehouse/internal/testutil"
)

const testExternal = "https://api.example"

// boundToken is a valid token bound to k.
func (iss *issuer) boundToken(scope string, k *testutil.DPoPKey) string {
	c := iss.claims(scope)
	c.JKT = k.JKT
	return iss.mint(c)
}

func (iss *issuer) proof(k *testutil.DPoPKey, method, path, tok string) string {
	iss.t.Helper()
	return k.Proof(iss.t, dpop.ProofClaims{Method: method, URL: testExternal + path, AccessToken: tok, IssuedAt: iss.clock.Now()})
}

// doDPoP sends method path with Authorization: DPoP tok and the proofs.
func (e *env) doDPoP(method, path, tok string, proofs ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(method, path, nil)
	r.Header.Set("Authorization", "DPoP "+tok)
	for _, p := range proofs {
		r.Header.Add("DPoP", p)
	}
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	return w
}

func dpopOn(c *Config) {
	c.ExternalURL = testExternal
	c.DPoP.Enabled = true
}

func wantRefusal(t *testing.T, e *env, w *httptest.ResponseRecorder, status int, code, reason string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("got %d %s, want %d", w.Code, w.Body, status)
	}
	if b := decodeError(t, w); b.Error != code {
		t.Errorf("error: got %q (%s), want %q", b.Error, b.Description, code)
	}
	if got := e.lastReason(); got != reason {
		t.Errorf("Observe reason: got %q, want %q", got, reason)
	}
}

// TestDPoPAccepted: a bound token with a good proof passes, with its jkt in
// the claims, repeatedly (a new proof each time), cached or not.
func TestDPoPAccepted(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, dpopOn)
	k := testutil.NewDPoPKey(t)
	tok := iss.boundToken("api", k)
	for i := range 3 {
		w := e.doDPoP("GET", "/v1/things?x=1", tok, iss.proof(k, "GET", "/v1/things", tok))
		if w.Code != http.StatusOK {
			t.Fatalf("request %d: got %d %s, want 200", i, w.Code, w.Body)
		}
		if s := decodeSeen(t, w); s.Claims.JKT != k.JKT {
			t.Errorf("claims JKT: got %q, want %q", s.Claims.JKT, k.JKT)
		}
	}
}

// TestDPoPStolenToken: what someone holding a copy of a bound token (and
// of proofs seen on the wire), but not the key, can try, is refused.
func TestDPoPStolenToken(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, dpopOn)
	k := testutil.NewDPoPKey(t)
	tok := iss.boundToken("api", k)
	seenProof := iss.proof(k, "GET", "/v1/things", tok)
	if w := e.doDPoP("GET", "/v1/things", tok, seenProof); w.Code != http.StatusOK {
		t.Fatalf("the owner's request: got %d %s", w.Code, w.Body)
	}
	thief := testutil.NewDPoPKey(t)
	for _, tc := range []struct {
		name   string
		do     func() *httptest.ResponseRecorder
		code   string
		reason string
	}{
		{"as Bearer", func() *httptest.ResponseRecorder { return e.do("GET", "/v1/things", tok) }, codeInvalidToken, ReasonDPoPBound},
		{"as Bearer with the proof", func() *httptest.ResponseRecorder { return e.do("GET", "/v1/things", tok, "DPoP", seenProof) }, codeInvalidToken, ReasonDPoPBound},
		{"the same proof replayed", func() *httptest.ResponseRecorder { return e.doDPoP("GET", "/v1/things", tok, seenProof) }, codeInvalidDPoPProof, ReasonInvalidDPoPProof},
		{"the proof for another path", func() *httptest.ResponseRecorder { return e.doDPoP("GET", "/v1/other", tok, seenProof) }, codeInvalidDPoPProof, ReasonInvalidDPoPProof},
		{"the proof for another method", func() *httptest.ResponseRecorder {
			return e.doDPoP("DELETE", "/v1/things", tok, iss.proof(k, "GET", "/v1/things", tok))
		}, codeInvalidDPoPProof, ReasonInvalidDPoPProof},
		{"the proof for another host", func() *httptest.ResponseRecorder {
			p, _ := dpop.Sign(k.Priv, "ES256", dpop.ProofClaims{Method: "GET", URL: "https://evil.example/v1/things", AccessToken: tok, IssuedAt: iss.clock.Now()})
			return e.doDPoP("GET", "/v1/things", tok, p)
		}, codeInvalidDPoPProof, ReasonInvalidDPoPProof},
		{"the proof for another token", func() *httptest.ResponseRecorder {
			return e.doDPoP("GET", "/v1/things", tok, iss.proof(k, "GET", "/v1/things", iss.boundToken("api", k)))
		}, codeInvalidDPoPProof, ReasonInvalidDPoPProof},
		{"no proof", func() *httptest.ResponseRecorder { return e.doDPoP("GET", "/v1/things", tok) }, codeInvalidDPoPProof, ReasonInvalidDPoPProof},
		{"two proofs", func() *httptest.ResponseRecorder {
			return e.doDPoP("GET", "/v1/things", tok, iss.proof(k, "GET", "/v1/things", tok), iss.proof(k, "GET", "/v1/things", tok))
		}, codeInvalidDPoPProof, ReasonInvalidDPoPProof},
		{"a proof by the thief's key", func() *httptest.ResponseRecorder {
			return e.doDPoP("GET", "/v1/things", tok, iss.proof(thief, "GET", "/v1/things", tok))
		}, codeInvalidToken, ReasonInvalidDPoPProof},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.do()
			wantRefusal(t, e, w, http.StatusUnauthorized, tc.code, tc.reason)
			ch := w.Header().Values("WWW-Authenticate")
			if len(ch) != 2 || !strings.HasPrefix(ch[0], "Bearer ") || !strings.HasPrefix(ch[1], `DPoP realm=`) ||
				!strings.Contains(ch[1], `algs="ES256 RS256 PS256 EdDSA"`) {
				t.Fatalf("WWW-Authenticate: got %q, want a Bearer and a DPoP challenge", ch)
			}
			inDPoP := tc.reason != ReasonDPoPBound
			if strings.Contains(ch[1], `error="`+tc.code+`"`) != inDPoP || strings.Contains(ch[0], "error=") == inDPoP {
				t.Errorf("WWW-Authenticate: got %q, want the error in the %s challenge", ch, map[bool]string{true: "DPoP", false: "Bearer"}[inDPoP])
			}
		})
	}
}

// TestDPoPBoundTokenWithoutDPoP: a guard without DPoP still refuses a bound
// token (fail closed), and answers the DPoP scheme as no token.
func TestDPoPBoundTokenWithoutDPoP(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, nil)
	k := testutil.NewDPoPKey(t)
	tok := iss.boundToken("api", k)
	wantRefusal(t, e, e.do("GET", "/v1/things", tok), http.StatusUnauthorized, codeInvalidToken, ReasonDPoPBound)
	w := e.doDPoP("GET", "/v1/things", tok, iss.proof(k, "GET", "/v1/things", tok))
	wantRefusal(t, e, w, http.StatusUnauthorized, codeUnauthorized, ReasonMissingToken)
	if ch := w.Header().Values("WWW-Authenticate"); len(ch) != 1 || strings.Contains(ch[0], "DPoP") {
		t.Errorf("WWW-Authenticate: got %q, want the Bearer challenge only", ch)
	}
	// A cnf the verifier cannot check is not taken for an unbound token.
	c := iss.claims("api")
	m := wireOf(c)
	m["cnf"] = map[string]any{"x5t#S256": "abc"}
	kk := newECKey(t, "extra")
	iss.set(func(iss *issuer) { iss.extra = append(iss.extra, kk) })
	wantRefusal(t, e, e.do("GET", "/v1/things", signRaw(t, kk, ecHeader(kk), m)), http.StatusUnauthorized, codeInvalidToken, ReasonInvalidToken)
}

// TestDPoPUnboundTokenWithDPoPScheme: a bearer token sent with the DPoP
// scheme is refused; with the Bearer scheme it passes.
func TestDPoPUnboundTokenWithDPoPScheme(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, dpopOn)
	k := testutil.NewDPoPKey(t)
	tok := iss.token("api")
	wantRefusal(t, e, e.doDPoP("GET", "/v1/things", tok, iss.proof(k, "GET", "/v1/things", tok)), http.StatusUnauthorized, codeInvalidToken, ReasonInvalidToken)
	if w := e.do("GET", "/v1/things", tok); w.Code != http.StatusOK {
		t.Fatalf("bearer token as Bearer: got %d %s", w.Code, w.Body)
	}
}

// TestDPoPCacheDoesNotSkipProof: a bound token verified and cached with a
// good proof still needs a proof on the next request.
func TestDPoPCacheDoesNotSkipProof(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, dpopOn)
	k := testutil.NewDPoPKey(t)
	tok := iss.boundToken("api", k)
	if w := e.doDPoP("GET", "/v1/things", tok, iss.proof(k, "GET", "/v1/things", tok)); w.Code != http.StatusOK {
		t.Fatalf("first: got %d %s", w.Code, w.Body)
	}
	wantRefusal(t, e, e.doDPoP("GET", "/v1/things", tok), http.StatusUnauthorized, codeInvalidDPoPProof, ReasonInvalidDPoPProof)
	wantRefusal(t, e, e.do("GET", "/v1/things", tok), http.StatusUnauthorized, codeInvalidToken, ReasonDPoPBound)
}

// TestDPoPRequired: with DPoP.Required a bearer token is refused, with the
// DPoP challenge only; the metadata says so.
func TestDPoPRequired(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, func(c *Config) {
		c.Resource = testExternal + "/v1"
		c.DPoP = DPoP{Enabled: true, Required: true, Algorithms: []string{ES256, EdDSA}}
	})
	w := e.do("GET", "/v1/things", iss.token("api"))
	wantRefusal(t, e, w, http.StatusUnauthorized, codeInvalidToken, ReasonDPoPBound)
	ch := w.Header().Values("WWW-Authenticate")
	if len(ch) != 1 || !strings.HasPrefix(ch[0], "DPoP ") || !strings.Contains(ch[0], `algs="ES256 EdDSA"`) || !strings.Contains(ch[0], "resource_metadata=") {
		t.Errorf("WWW-Authenticate: got %q, want the DPoP challenge only", ch)
	}
	k := testutil.NewDPoPKey(t)
	tok := iss.boundToken("api", k)
	if w := e.doDPoP("GET", "/v1/things", tok, iss.proof(k, "GET", "/v1/things", tok)); w.Code != http.StatusOK {
		t.Fatalf("bound token: got %d %s", w.Code, w.Body)
	}
	w = e.do("GET", "/.well-known/oauth-protected-resource/v1", "")
	var md map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &md); err != nil {
		t.Fatal(err)
	}
	if algs, _ := md["dpop_signing_alg_values_supported"].([]any); len(algs) != 2 || md["dpop_bound_access_tokens_required"] != true {
		t.Errorf("metadata: got %s, want the DPoP algorithms and dpop_bound_access_tokens_required", w.Body)
	}
}

func TestDPoPConfig(t *testing.T) {
	for name, d := range map[string]Config{
		"enabled without a URL":     {DPoP: DPoP{Enabled: true}},
		"required without enabled":  {ExternalURL: testExternal, DPoP: DPoP{Required: true}},
		"bad external URL":          {ExternalURL: "api.example", DPoP: DPoP{Enabled: true}},
		"HMAC":                      {ExternalURL: testExternal, DPoP: DPoP{Enabled: true, Algorithms: []string{"HS256"}}},
		"external URL with a query": {ExternalURL: testExternal + "?x", DPoP: DPoP{Enabled: true}},
	} {
		d.Issuer, d.Audience, d.RevocationPoll = "https://issuer.example", "a", -1
		if g, err := New(d); err == nil {
			g.Close()
			t.Errorf("%s: New succeeded", name)
		}
	}
	// The external URL defaults to Resource's origin.
	g, err := New(Config{Issuer: "https://issuer.example", Audience: "a", RevocationPoll: -1, Resource: "https://api.example/v1", DPoP: DPoP{Enabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.cfg.ExternalURL != "https://api.example" {
		t.Errorf("ExternalURL: got %q, want the resource's origin", g.cfg.ExternalURL)
	}
}
