package gateway_test

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/testutil"
)

// authServer is a stand-in authorization server (testutil.NewIssuer) plus
// a way to mint access tokens the way gatehouse serve does (RFC 9068).
type authServer struct {
	srv    *httptest.Server
	signer *testutil.Signer
}

func newAuthServer(t testing.TB) *authServer {
	t.Helper()
	s := testutil.NewSigner(t, "test-key")
	return &authServer{srv: testutil.NewIssuer(t, s), signer: s}
}

// token mints an access token for client with the given space-separated
// scope; an "account:ID" scope also sets the account_id claim.
func (as *authServer) token(t testing.TB, client, scope string) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{
		"iss": as.srv.URL, "aud": as.srv.URL, "sub": client, "client_id": client,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"jti": rand.Text(), "scope": scope,
	}
	for s := range strings.FieldsSeq(scope) {
		if id, ok := strings.CutPrefix(s, "account:"); ok {
			claims["account_id"] = id
		}
	}
	return as.signer.Sign(t, claims)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
