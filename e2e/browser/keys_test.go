package browser

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/chromedp/chromedp"
	"github.com/gatehouse/gatehouse/e2e/harness"
)

// TestAppWithPublicKey: an administrator creates a private_key_jwt app in
// the console by pasting its PEM public key instead of taking a secret;
// the app gets a token with a JWT signed with its private key. Pasting a
// new key on the app page replaces the old one, which stops working.
func TestAppWithPublicKey(t *testing.T) {
	in := newInstance(t)
	srv := in.serve(true)
	ctx := newBrowser(t)
	setupAdmin(t, ctx, srv)

	k1 := newSigningKey(t)
	do(t, ctx, "fill in the new app form with a public key",
		chromedp.Navigate(srv.URL+"/console/apps/new"),
		chromedp.WaitVisible(chromedp.CSS(`#app-form #save`)),
		chromedp.SendKeys(chromedp.CSS(`#app-form [name=name]`), "Signed job"),
		script(`(() => {
			const check = (sel) => { const el = document.querySelector(sel); if (el && !el.checked) el.click(); return !!el; };
			check('#app-form input[type=checkbox][value="client_credentials"]');
			check('#app-form input[type=checkbox][value="search"]');
			return check('#auth-private-key-jwt');
		})()`),
		chromedp.SendKeys(chromedp.CSS(`#app-form #jwks`), k1.pem))
	do(t, ctx, "save the app",
		chromedp.Click(chromedp.CSS(`#app-form #save`)),
		chromedp.WaitVisible(chromedp.CSS(`#keys .kid`)))
	id, kid := valueOrText(t, ctx, "#client-id"), valueOrText(t, ctx, "#keys .kid")
	if got := valueOrText(t, ctx, "#client-type"); got != "confidential (private_key_jwt)" {
		t.Errorf("client type: got %q, want confidential (private_key_jwt)", got)
	}
	if code, m := srv.assertionToken(t, id, kid, k1); code != http.StatusOK || m["access_token"] == nil {
		t.Fatalf("token with a JWT signed with the registered key: got %d %v, want 200 and a token", code, m)
	}

	k2 := newSigningKey(t)
	do(t, ctx, "replace the key on the app page",
		chromedp.SendKeys(chromedp.CSS(`#keys-form #jwks`), k2.pem),
		chromedp.Click(chromedp.CSS(`#keys-form #save-keys`)))
	var kid2 string
	harness.Within(t, stepTimeout, "the app page to show the new key", func() bool {
		kid2 = valueOrText(t, ctx, "#keys .kid")
		return kid2 != "" && kid2 != kid
	})
	harness.Within(t, 5*time.Second, "the old key to be refused", func() bool {
		code, _ := srv.assertionToken(t, id, kid, k1)
		return code == http.StatusUnauthorized
	})
	if code, m := srv.assertionToken(t, id, kid2, k2); code != http.StatusOK {
		t.Errorf("token with the new key: got %d %v, want 200", code, m)
	}
}

type signingKey struct {
	priv *ecdsa.PrivateKey
	pem  string
}

func newSigningKey(t *testing.T) signingKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{k, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}
}

// assertionToken asks for a token with client credentials, authenticating
// with a client assertion (RFC 7523 §2.2) signed with k under kid.
func (s *server) assertionToken(t *testing.T, clientID, kid string, k signingKey) (int, map[string]any) {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.priv},
		(&jose.SignerOptions{}).WithHeader("kid", kid).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	assertion, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: clientID, Subject: clientID, Audience: jwt.Audience{s.URL + "/oauth/token"},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)), ID: rand.Text(),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
	req, _ := http.NewRequest("POST", s.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return harness.DoJSON(t, req)
}
