package server

import (
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/safefetch"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/scope"
)

// docServer is an https server on 127.0.0.1 that publishes client ID
// metadata documents, and counts how often each is fetched.
type docServer struct {
	srv *httptest.Server

	mu      sync.Mutex
	docs    map[string]func(w http.ResponseWriter) // by path
	fetches map[string]int
}

func newDocServer(t *testing.T) *docServer {
	t.Helper()
	ds := &docServer{docs: map[string]func(http.ResponseWriter){}, fetches: map[string]int{}}
	ds.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ds.mu.Lock()
		ds.fetches[r.URL.Path]++
		h := ds.docs[r.URL.Path]
		ds.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w)
	}))
	t.Cleanup(ds.srv.Close)
	return ds
}

// fetchOptions trusts the server's certificate and allows its loopback
// address.
func (ds *docServer) fetchOptions() safefetch.Options {
	return safefetch.Options{TLSConfig: ds.srv.Client().Transport.(*http.Transport).TLSClientConfig, AllowLoopback: true}
}

// publish serves doc (a JSON value; its client_id, if "", is set to the
// URL) at path with the given Cache-Control, and returns the URL.
func (ds *docServer) publish(path string, doc map[string]any, cacheControl string) string {
	u := ds.srv.URL + path
	if _, ok := doc["client_id"]; !ok {
		doc["client_id"] = u
	}
	b, _ := json.Marshal(doc)
	ds.serve(path, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		if cacheControl != "" {
			w.Header().Set("Cache-Control", cacheControl)
		}
		w.Write(b)
	})
	return u
}

func (ds *docServer) serve(path string, h func(http.ResponseWriter)) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	ds.docs[path] = h
}

func (ds *docServer) count(path string) int {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return ds.fetches[path]
}

func appDoc() map[string]any {
	return map[string]any{
		"client_name":                "Agent Smith",
		"client_uri":                 "https://agent.example",
		"redirect_uris":              []string{testRedirect, "http://127.0.0.1/cb"},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
	}
}

func newDocHarness(t *testing.T, ds *docServer) *authzHarness {
	return newAuthzHarness(t, func(o *Options) {
		o.Fetch = ds.fetchOptions()
		o.ClientMetadata = ClientMetadataOptions{Enabled: true}
	})
}

func TestClientMetadataDocumentFlow(t *testing.T) {
	ds := newDocServer(t)
	id := ds.publish("/agent.json", appDoc(), "max-age=600")
	ah := newDocHarness(t, ds)

	// Not logged in: to the login page first, without a fetch, so that
	// anonymous requests cannot make the server fetch URLs.
	ver, chal := pkce(t)
	p := ah.get(authorizePath(authzParamsFor(id, chal, "profile search")))
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/console/login?next=") || ds.count("/agent.json") != 0 {
		t.Fatalf("not logged in: got %d Location %q, %d fetches; want 303 to the login page and no fetch", p.status, p.header.Get("Location"), ds.count("/agent.json"))
	}
	ah.login()
	p = ah.get(authorizePath(authzParamsFor(id, chal, "profile search")))
	if p.status != http.StatusOK {
		t.Fatalf("consent page: got %d, want 200\n%s", p.status, p.body)
	}
	host := strings.TrimPrefix(ds.srv.URL, "https://")
	for _, want := range []string{"Agent Smith", "identified by a document on <strong>" + host + "</strong>", "https://agent.example", "Access your profile information"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	f := p.hidden()
	f.Set("decision", "allow")
	q := ah.redirectParams(ah.postForm(PathAuthorize, f))

	// A public client at the token endpoint: client_id in the body, no secret.
	r := ah.exchange(id, "", q.Get("code"), ver)
	if r.status != http.StatusOK {
		t.Fatalf("token: got %d %s", r.status, r.body)
	}
	c := claims(t, r.json["access_token"].(string))
	if c["client_id"] != id || c["sub"] != ah.user.ID || c["scope"] != "profile search" {
		t.Errorf("claims client_id=%v sub=%v scope=%v, want %s, %s, %q", c["client_id"], c["sub"], c["scope"], id, ah.user.ID, "profile search")
	}
	if r := ah.refresh(id, "", r.json["refresh_token"].(string), ""); r.status != http.StatusOK {
		t.Errorf("refresh: got %d %s", r.status, r.body)
	}
	// Fetched once: the rest came from the cache.
	if n := ds.count("/agent.json"); n != 1 {
		t.Errorf("document fetched %d times, want 1", n)
	}
	if m := ah.metrics(); !strings.Contains(m, `gatehouse_client_metadata_fetches_total{result="ok"} 1`) {
		t.Errorf("metrics lack one ok fetch:\n%s", m)
	}

	// Stored as a client written from its document, with its audit event.
	sc, err := ah.st.GetClient(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Name != "Agent Smith" || sc.AuthMethod() != store.AuthMethodNone || !slices.Equal(sc.Scopes, []string{"profile", "search", "api:read-only"}) {
		t.Errorf("stored client: name %q, auth method %q, scopes %v; want the document's, with the self-service scopes", sc.Name, sc.AuthMethod(), sc.Scopes)
	}
	evs, err := ah.st.ListAudit(t.Context(), store.AuditFilter{Target: id})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Actor != clients.ActorMetadataDocument || evs[0].Action != "client.create" {
		t.Errorf("audit events %+v: want one by %s", evs, clients.ActorMetadataDocument)
	}

	// Advertised.
	md := ah.do(mustRequest(t, "GET", ah.http.URL+PathMetadata))
	if md.json["client_id_metadata_document_supported"] != true {
		t.Errorf("metadata: client_id_metadata_document_supported = %v, want true", md.json["client_id_metadata_document_supported"])
	}
}

// Every document the draft (or this server's policy) refuses gives an
// error page naming why, never a redirect, and stores nothing.
func TestClientMetadataDocumentRefused(t *testing.T) {
	ds := newDocServer(t)
	ah := newDocHarness(t, ds)
	ah.login()
	with := func(kv ...any) map[string]any {
		d := appDoc()
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(d, kv[i].(string))
			} else {
				d[kv[i].(string)] = kv[i+1]
			}
		}
		return d
	}
	k := newAssertionKey(t, "k1")
	var jwks any
	json.Unmarshal([]byte(jwksDoc(t, k)), &jwks)
	cases := []struct {
		name string
		doc  map[string]any
		want string
	}{
		{"client_id mismatch", with("client_id", "https://other.example/agent.json"), "not exactly the URL"},
		{"client_id spelled differently", with("client_id", "SAME/"), "not exactly the URL"},
		{"client secret", with("client_secret", "s3cret"), "shared secret"},
		{"secret auth method", with("token_endpoint_auth_method", "client_secret_basic"), "is not accepted"},
		{"no redirect URIs", with("redirect_uris", nil), "no redirect_uris"},
		{"bad redirect URI", with("redirect_uris", []string{"javascript:alert(1)"}), "redirect URI"},
		{"client credentials", with("grant_types", []string{"client_credentials"}), "is not accepted"},
		{"implicit", with("response_types", []string{"token"}), "is not accepted"},
		{"keys for a public client", with("jwks", jwks), "only for token_endpoint_auth_method private_key_jwt"},
		{"private_key_jwt without keys", with("token_endpoint_auth_method", "private_key_jwt"), "jwks or jwks_uri"},
		{"javascript client_uri", with("client_uri", "javascript:alert(1)"), "client_uri must be an https URL"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := "/doc" + string(rune('a'+i)) + ".json"
			if tc.doc["client_id"] == "SAME/" { // the URL with a slash more: simple string comparison
				tc.doc["client_id"] = ds.srv.URL + path + "/"
			}
			id := ds.publish(path, tc.doc, "")
			_, chal := pkce(t)
			p := ah.get(authorizePath(authzParamsFor(id, chal, "")))
			if p.status != http.StatusBadRequest || !strings.Contains(html.UnescapeString(p.body), tc.want) {
				t.Fatalf("got %d, want 400 saying %q\n%s", p.status, tc.want, p.body)
			}
			if _, err := ah.st.GetClient(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("stored client: got %v, want none", err)
			}
		})
	}

	// Answers that are not a document.
	ds.serve("/html.json", func(w http.ResponseWriter) { w.Header().Set("Content-Type", "text/html"); w.Write([]byte("{}")) })
	ds.serve("/moved.json", func(w http.ResponseWriter) {
		w.Header().Set("Location", ds.srv.URL+"/agent.json")
		w.WriteHeader(http.StatusFound)
	})
	ds.serve("/big.json", func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"client_name":"` + strings.Repeat("x", MaxClientMetadataSize) + `"}`))
	})
	for path, want := range map[string]string{
		"/html.json": "is not JSON", "/moved.json": "redirects are not followed", "/big.json": "larger than",
		"/missing.json": "status 404",
	} {
		_, chal := pkce(t)
		p := ah.get(authorizePath(authzParamsFor(ds.srv.URL+path, chal, "")))
		if p.status != http.StatusBadRequest || !strings.Contains(html.UnescapeString(p.body), want) {
			t.Errorf("%s: got %d, want 400 saying %q\n%s", path, p.status, want, p.body)
		}
	}
}

func TestClientMetadataDocumentRedirectURIs(t *testing.T) {
	ds := newDocServer(t)
	id := ds.publish("/agent.json", appDoc(), "")
	ah := newDocHarness(t, ds)
	ah.login()
	for _, tc := range []struct{ name, redirect string }{
		{"not in the list", "https://evil.example/callback"},
		{"omitted", ""},
		// A loopback URI registered without a port matches any port for
		// other clients (RFC 8252 §7.3); a document's list is matched exactly.
		{"loopback with another port", "http://127.0.0.1:5000/cb"},
	} {
		_, chal := pkce(t)
		v := authzParamsFor(id, chal, "")
		if tc.redirect == "" {
			v.Del("redirect_uri")
		} else {
			v.Set("redirect_uri", tc.redirect)
		}
		p := ah.get(authorizePath(v))
		if p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
			t.Errorf("%s: got %d Location %q, want an error page", tc.name, p.status, p.header.Get("Location"))
		}
	}
	// Listed exactly: fine.
	_, chal := pkce(t)
	v := authzParamsFor(id, chal, "")
	v.Set("redirect_uri", "http://127.0.0.1/cb")
	if p := ah.get(authorizePath(v)); p.status != http.StatusOK {
		t.Errorf("listed loopback URI: got %d, want the consent page\n%s", p.status, p.body)
	}
	// PKCE is required: the error goes to the (now trusted) redirect URI.
	q := ah.redirectParams(ah.get(authorizePath(authzParamsFor(id, "", ""))))
	if q.Get("error") != "invalid_request" || !strings.Contains(q.Get("error_description"), "PKCE") {
		t.Errorf("without PKCE: got %v, want invalid_request about PKCE", q)
	}
}

func TestClientMetadataDocumentScopes(t *testing.T) {
	ds := newDocServer(t)
	d := appDoc()
	d["scope"] = "profile api"
	id := ds.publish("/agent.json", d, "")
	ah := newDocHarness(t, ds)
	ah.login()
	// api is not self_service: the document cannot ask for it.
	_, chal := pkce(t)
	q := ah.redirectParams(ah.get(authorizePath(authzParamsFor(id, chal, "api"))))
	if q.Get("error") != "invalid_scope" {
		t.Errorf("scope api: got %v, want invalid_scope", q)
	}
	ver, chal := pkce(t)
	r := ah.exchange(id, "", ah.code(authzParamsFor(id, chal, "")), ver)
	if r.status != http.StatusOK || r.json["scope"] != "profile" {
		t.Errorf("no scope named: got %d %s, want scope profile", r.status, r.body)
	}
}

// The document is cached as its Cache-Control says, within bounds; a
// changed document changes the stored client; one that goes away makes the
// client unknown, at the authorization and the token endpoint.
func TestClientMetadataDocumentCache(t *testing.T) {
	ds := newDocServer(t)
	id := ds.publish("/agent.json", appDoc(), "max-age=60") // below the 5m minimum
	ah := newDocHarness(t, ds)
	ah.login()
	ver, chal := pkce(t)
	r := ah.exchange(id, "", ah.code(authzParamsFor(id, chal, "profile")), ver)
	if r.status != http.StatusOK {
		t.Fatalf("token: got %d %s", r.status, r.body)
	}
	rt := r.json["refresh_token"].(string)

	d := appDoc()
	d["client_name"] = "Agent Smith 2"
	ds.publish("/agent.json", d, "max-age=600")
	ah.clock.Add(2 * time.Minute) // past max-age, within the minimum
	_, chal = pkce(t)
	if p := ah.get(authorizePath(authzParamsFor(id, chal, "search"))); !strings.Contains(p.body, "Agent Smith") || strings.Contains(p.body, "Agent Smith 2") || ds.count("/agent.json") != 1 {
		t.Errorf("within the minimum cache lifetime: got %d fetches, page %q; want the cached document", ds.count("/agent.json"), p.body)
	}
	ah.clock.Add(4 * time.Minute)
	if p := ah.get(authorizePath(authzParamsFor(id, chal, "search"))); !strings.Contains(p.body, "Agent Smith 2") || ds.count("/agent.json") != 2 {
		t.Errorf("after it: got %d fetches; want the new document's name on the page\n%s", ds.count("/agent.json"), p.body)
	}
	if sc, _ := ah.st.GetClient(t.Context(), id); sc.Name != "Agent Smith 2" {
		t.Errorf("stored name %q, want the new document's", sc.Name)
	}

	// The document goes away: after its 10 minutes, the client is unknown.
	ds.serve("/agent.json", nil)
	ah.clock.Add(11 * time.Minute)
	wantError(t, ah.refresh(id, "", rt, ""), http.StatusUnauthorized, "invalid_client")
	n := ds.count("/agent.json")
	// A failure is remembered briefly: no fetch per request.
	if p := ah.get(authorizePath(authzParamsFor(id, chal, ""))); p.status != http.StatusBadRequest || ds.count("/agent.json") != n {
		t.Errorf("failed document: got %d, %d fetches; want 400 without a new fetch", p.status, ds.count("/agent.json")-n)
	}
	// Back, it works again once the failure is forgotten.
	ds.publish("/agent.json", appDoc(), "")
	ah.clock.Add(docFailureTTL)
	if r := ah.refresh(id, "", rt, ""); r.status != http.StatusOK {
		t.Errorf("document back: got %d %s", r.status, r.body)
	}
}

// An administrator may disable a document's client, not edit it.
func TestClientMetadataDocumentAdministrator(t *testing.T) {
	ds := newDocServer(t)
	id := ds.publish("/agent.json", appDoc(), "")
	ah := newDocHarness(t, ds)
	ah.login()
	_, chal := pkce(t)
	if p := ah.get(authorizePath(authzParamsFor(id, chal, ""))); p.status != http.StatusOK {
		t.Fatalf("consent page: got %d", p.status)
	}
	name := "Renamed"
	var ve *clients.ValidationError
	if _, err := ah.svc.Update(t.Context(), "admin", id, clients.Patch{Name: &name}); !errors.As(err, &ve) {
		t.Errorf("rename: got %v, want a validation error", err)
	}
	yes := true
	if _, err := ah.svc.Update(t.Context(), "admin", id, clients.Patch{Disabled: &yes}); err != nil {
		t.Fatalf("disable: %v", err)
	}
	ah.srv.clients.invalidate(id) // the change feed would, within a second
	if p := ah.get(authorizePath(authzParamsFor(id, chal, ""))); p.status != http.StatusBadRequest || !strings.Contains(p.body, "unknown or disabled") {
		t.Errorf("disabled: got %d, want the unknown-or-disabled page", p.status)
	}
}

func TestClientMetadataDocumentPrivateKeyJWT(t *testing.T) {
	ds := newDocServer(t)
	k := newAssertionKey(t, "k1")
	var jwks any
	json.Unmarshal([]byte(jwksDoc(t, k)), &jwks)
	d := appDoc()
	d["token_endpoint_auth_method"] = "private_key_jwt"
	d["jwks"] = jwks
	id := ds.publish("/agent.json", d, "")
	no := false
	ah := newAuthzHarness(t, func(o *Options) {
		o.Fetch = ds.fetchOptions()
		o.ClientMetadata = ClientMetadataOptions{Enabled: true}
		o.RequirePKCE = &no // of confidential clients; a document's client needs it still
	})
	ah.login()
	q := ah.redirectParams(ah.get(authorizePath(authzParamsFor(id, "", ""))))
	if q.Get("error") != "invalid_request" || !strings.Contains(q.Get("error_description"), "PKCE") {
		t.Errorf("without PKCE: got %v, want invalid_request about PKCE", q)
	}
	ver, chal := pkce(t)
	code := ah.code(authzParamsFor(id, chal, "profile"))
	v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {ver}}
	// Without its assertion the client is refused: it is confidential.
	if r := ah.clientPost(PathToken, id, "", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {ver}}); r.status != http.StatusUnauthorized {
		t.Errorf("no assertion: got %d %s, want 401", r.status, r.body)
	}
	code = ah.code(authzParamsFor(id, chal, "profile"))
	v.Set("code", code)
	body := v.Encode() + "&" + assertionBody(k.sign(t, assertionClaims(id, "http://issuer.test"+PathToken, ah.clock.Now(), newJTI()), nil))
	if r := ah.post(PathToken, body, nil); r.status != http.StatusOK {
		t.Errorf("with its assertion: got %d %s, want a token", r.status, r.body)
	}
}

func TestClientMetadataDocumentOff(t *testing.T) {
	ds := newDocServer(t)
	id := ds.publish("/agent.json", appDoc(), "")
	for _, tc := range []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"disabled", func(o *Options) { o.Fetch = ds.fetchOptions() }, "does not accept client IDs that are URLs"},
		// Enabled, but the document's host is on a loopback address, which
		// the default fetch options refuse at dial time.
		{"loopback not allowed", func(o *Options) {
			o.Fetch = ds.fetchOptions()
			o.Fetch.AllowLoopback = false
			o.ClientMetadata.Enabled = true
		}, "not allowed"},
	} {
		ah := newAuthzHarness(t, tc.mod)
		ah.login()
		_, chal := pkce(t)
		p := ah.get(authorizePath(authzParamsFor(id, chal, "")))
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, tc.want) {
			t.Errorf("%s: got %d, want 400 saying %q\n%s", tc.name, p.status, tc.want, p.body)
		}
		md := ah.do(mustRequest(t, "GET", ah.http.URL+PathMetadata))
		if _, ok := md.json["client_id_metadata_document_supported"]; ok != (tc.name != "disabled") {
			t.Errorf("%s: metadata has client_id_metadata_document_supported: %v", tc.name, ok)
		}
		// Nor at the token endpoint.
		wantError(t, ah.clientPost(PathToken, id, "", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}), http.StatusUnauthorized, "invalid_client")
	}
	if n := ds.count("/agent.json"); n != 0 {
		t.Errorf("document fetched %d times, want 0", n)
	}
}

func TestClientIDURLRules(t *testing.T) {
	d := newClientDocs(Options{}, nil, nil, time.Now, nil)
	dl := newClientDocs(Options{Fetch: safefetch.Options{AllowLoopback: true}}, nil, nil, time.Now, nil)
	for _, tc := range []struct {
		id       string
		ok, okLo bool
	}{
		{"https://app.example/client.json", true, true},
		{"https://app.example:8443/c?v=1", true, true},
		{"https://app.example", false, false},
		{"https://app.example/c#frag", false, false},
		{"https://user@app.example/c", false, false},
		{"https://app.example/a/../c", false, false},
		{"https://app.example/./c", false, false},
		{"https://app.example/a/%2e%2E/c", false, false},
		{"http://app.example/c", false, false},
		{"http://127.0.0.1:8000/c", false, true},
		{"http://localhost/c", false, true},
		{"https://app.example/" + strings.Repeat("a", maxClientIDURLLen), false, false},
	} {
		if err := d.checkURL(tc.id); (err == nil) != tc.ok {
			t.Errorf("checkURL(%q) = %v, want ok %v", tc.id, err, tc.ok)
		}
		if err := dl.checkURL(tc.id); (err == nil) != tc.okLo {
			t.Errorf("with loopback: checkURL(%q) = %v, want ok %v", tc.id, err, tc.okLo)
		}
	}
}

func TestCacheTTL(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	lo, hi := 5*time.Minute, 24*time.Hour
	for _, tc := range []struct {
		h    map[string]string
		want time.Duration
	}{
		{nil, lo},
		{map[string]string{"Cache-Control": "max-age=3600"}, time.Hour},
		{map[string]string{"Cache-Control": "public, max-age=3600", "Age": "600"}, 50 * time.Minute},
		{map[string]string{"Cache-Control": "max-age=10"}, lo},
		{map[string]string{"Cache-Control": "max-age=99999999"}, hi},
		{map[string]string{"Cache-Control": "no-store, max-age=3600"}, lo},
		{map[string]string{"Cache-Control": "no-cache"}, lo},
		{map[string]string{"Expires": now.Add(2 * time.Hour).Format(http.TimeFormat)}, 2 * time.Hour},
		{map[string]string{"Expires": now.Add(3 * time.Hour).Format(http.TimeFormat), "Date": now.Add(time.Hour).Format(http.TimeFormat)}, 2 * time.Hour},
		{map[string]string{"Expires": "0"}, lo},
	} {
		h := http.Header{}
		for k, v := range tc.h {
			h.Set(k, v)
		}
		if got := cacheTTL(h, now, lo, hi); got != tc.want {
			t.Errorf("cacheTTL(%v) = %s, want %s", tc.h, got, tc.want)
		}
	}
}

// FuzzClientMetadataDocument: parse never panics, and whatever it accepts
// keeps the rules: the URL's client_id, no secret-based method, redirect
// URIs, the code grant, self-service scopes only.
func FuzzClientMetadataDocument(f *testing.F) {
	const id = "https://agent.example/client.json"
	b, _ := json.Marshal(map[string]any{"client_id": id, "redirect_uris": []string{testRedirect}, "scope": "profile api"})
	f.Add(string(b))
	f.Add(`{"client_id":"` + id + `","redirect_uris":["x"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[]}}`)
	f.Add(`{"client_id":"` + id + `","client_secret":null}`)
	f.Add(`[]`)
	d := newClientDocs(Options{}, nil, scope.Default(), time.Now, nil)
	self := scope.Default().SelfService()
	f.Fuzz(func(t *testing.T, body string) {
		c, err := d.parse(id, []byte(body))
		if err != nil {
			return
		}
		switch {
		case c.ID != id:
			t.Errorf("accepted with ID %q", c.ID)
		case c.TokenEndpointAuthMethod != store.AuthMethodNone && c.TokenEndpointAuthMethod != store.AuthMethodPrivateKeyJWT:
			t.Errorf("accepted with auth method %q", c.TokenEndpointAuthMethod)
		case len(c.RedirectURIs) == 0 || !slices.Contains(c.GrantTypes, store.GrantAuthorizationCode):
			t.Errorf("accepted without redirect URIs or the code grant: %+v", c)
		case slices.ContainsFunc(c.Scopes, func(s string) bool { return !slices.Contains(self, s) }):
			t.Errorf("accepted with scopes %v beyond the self-service %v", c.Scopes, self)
		}
	})
}

const mcpResourceID = "https://mcp.test/mcp"

// mcpResources is an MCP server as a resource besides the default one: one
// self-service scope, one that is not.
func mcpResources(t testing.TB) []Resource {
	t.Helper()
	cat, err := scope.Parse([]byte(`
mcp:tools:
  label: Use the tools
  endpoints: ["mcp": [GET, POST, DELETE]]
  self_service: true
mcp:admin:
  label: Administer the MCP server
  endpoints: ["admin/*"]
`))
	if err != nil {
		t.Fatal(err)
	}
	return []Resource{{ID: mcpResourceID, Name: "MCP server", Catalog: cat}}
}

// TestClientMetadataDocumentResources: a document's client is allowed the
// self-service scopes of every resource's catalog too, and those
// resources, so it gets tokens for an MCP server configured as a resource;
// a scope of that resource that is not self-service is refused, also when
// the document names it.
func TestClientMetadataDocumentResources(t *testing.T) {
	ds := newDocServer(t)
	id := ds.publish("/agent.json", appDoc(), "")
	d := appDoc()
	d["scope"] = "mcp:tools mcp:admin"
	narrow := ds.publish("/narrow.json", d, "")
	ah := newAuthzHarness(t, func(o *Options) {
		o.Fetch = ds.fetchOptions()
		o.ClientMetadata = ClientMetadataOptions{Enabled: true}
		o.Resources = mcpResources(t)
	})
	ah.login()
	for _, tc := range []struct {
		id     string
		scopes []string
	}{
		{id, []string{"profile", "search", "api:read-only", "mcp:tools"}},
		{narrow, []string{"mcp:tools"}},
	} {
		ver, chal := pkce(t)
		v := authzParamsFor(tc.id, chal, "mcp:tools")
		v.Set("resource", mcpResourceID)
		wantToken(t, ah.exchangeFor(tc.id, "", ah.code(v), ver, mcpResourceID), mcpResourceID, "mcp:tools")

		v = authzParamsFor(tc.id, chal, "mcp:admin")
		v.Set("resource", mcpResourceID)
		if q := ah.redirectParams(ah.get(authorizePath(v))); q.Get("error") != "invalid_scope" {
			t.Errorf("%s: scope mcp:admin, which is not self-service: got %v, want invalid_scope", tc.id, q)
		}
		c, err := ah.st.GetClient(t.Context(), tc.id)
		if err != nil || !slices.Equal(c.Scopes, tc.scopes) || !slices.Equal(c.Resources, []string{mcpResourceID}) {
			t.Errorf("%s: stored scopes %q, resources %q (%v); want %q, [%s]", tc.id, c.Scopes, c.Resources, err, tc.scopes, mcpResourceID)
		}
	}
}
