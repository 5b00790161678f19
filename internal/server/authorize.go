package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/consents"
	"github.com/gatehouse/gatehouse/internal/grant"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/store"
)

// PathAuthorize is the authorization endpoint (RFC 6749 §3.1).
const PathAuthorize = "/oauth/authorize"

// Console is what the authorization endpoint needs from the console: the
// logged-in user, CSRF protection and page rendering (internal/console
// implements it).
type Console interface {
	// RequireUser returns the logged-in user, or redirects to the login
	// page (and back) and returns false.
	RequireUser(w http.ResponseWriter, r *http.Request) (store.User, bool)
	// CheckCSRF checks the "csrf_token" field of a parsed form.
	CheckCSRF(r *http.Request) error
	// Render writes internal/web/templates/NAME.html in the page layout.
	// The page gets the CSRF token for its form from Render.
	Render(w http.ResponseWriter, r *http.Request, status int, name string, data any)
}

// authzParams are the parameters of an authorization request that the
// consent form carries back, in this order.
var authzParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"}

// authzRequest is a validated authorization request.
type authzRequest struct {
	client      *cachedClient
	redirectURI string // as sent; "" if omitted
	target      string // where to send the response: redirectURI or the only registered one
	state       string
	scopes      []string
	challenge   string
	params      url.Values // the request's parameters, for the consent form
	// The resources named (RFC 8707; [nil] for none: the default) and
	// their identifiers as sent, which the code records.
	resources []*Resource
	granted   []string
}

// authzError is an authorization request that failed. With redirect set,
// the error goes back to the client at target (RFC 6749 §4.1.2.1);
// otherwise the redirect URI could not be trusted and the user sees a page.
type authzError struct {
	redirect    bool
	target      string
	state       string
	code, desc  string
	status      int // of the error page
	pageMessage string
}

func (e *authzError) Error() string { return e.code + ": " + e.desc }

func pageError(status int, msg string) *authzError {
	return &authzError{status: status, code: oauth.CodeInvalidRequest, desc: msg, pageMessage: msg}
}

// parseAuthorize validates an authorization request (RFC 6749 §4.1.1,
// RFC 7636 §4.3). The client and redirect URI are checked first; until
// both are trusted every error is a page, never a redirect.
func (s *Server) parseAuthorize(ctx context.Context, q url.Values) (*authzRequest, error) {
	one := func(k string) (string, bool) {
		v := q[k]
		switch len(v) {
		case 0:
			return "", true
		case 1:
			return v[0], true
		}
		return "", false
	}
	id, ok := one("client_id")
	if !ok {
		return nil, pageError(http.StatusBadRequest, "The request names more than one client_id.")
	}
	if id == "" {
		return nil, pageError(http.StatusBadRequest, "The request has no client_id.")
	}
	if err := s.checkClientDocument(ctx, id); err != nil { // clientmeta.go
		return nil, err
	}
	cc, err := s.clients.get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("load client: %w", err)
	}
	if cc == nil || cc.client.Disabled {
		return nil, pageError(http.StatusBadRequest, "The application that sent you here is unknown or disabled.")
	}
	sent, ok := one("redirect_uri")
	if !ok {
		return nil, pageError(http.StatusBadRequest, "The request has more than one redirect_uri.")
	}
	target, ok := clients.MatchRedirectURI(cc.client.RedirectURIs, sent)
	if clients.IsMetadataDocumentID(id) { // exactly one of its document's
		ok = sent != "" && slices.Contains(cc.client.RedirectURIs, sent)
	}
	if !ok {
		msg := "The redirect URI of the request is not registered for this application."
		if sent == "" {
			msg = "The request has no redirect_uri, and the application has several registered."
		}
		return nil, pageError(http.StatusBadRequest, msg)
	}
	// Registration refuses such URIs, but one stored before it did (e.g. a
	// javascript: or data: URI) must not be redirected to either.
	if err := clients.CheckRedirectURI(target); err != nil {
		s.log.Warn("authorization request for a registered redirect URI that is not allowed", "client", id, "err", err)
		return nil, pageError(http.StatusBadRequest, "The application's registered redirect URI is not allowed (it must be https, http on 127.0.0.1, [::1] or localhost, or a private-use scheme such as com.example.app:/callback). An administrator must correct it.")
	}
	state := ""
	if v := q["state"]; len(v) > 0 {
		state = v[0]
	}
	fail := func(code, format string, args ...any) error {
		return &authzError{redirect: true, target: target, state: state, code: code, desc: fmt.Sprintf(format, args...)}
	}
	for _, k := range authzParams {
		if len(q[k]) > 1 {
			return nil, fail(oauth.CodeInvalidRequest, "parameter %s is repeated", k)
		}
	}
	if !slices.Contains(cc.client.GrantTypes, store.GrantAuthorizationCode) {
		return nil, fail(oauth.CodeUnauthorizedClient, "this client may not use the authorization code grant")
	}
	switch rt := q.Get("response_type"); rt {
	case "code":
	case "":
		return nil, fail(oauth.CodeInvalidRequest, "missing response_type parameter")
	default:
		return nil, fail(oauth.CodeUnsupportedResponseType, "response_type %q is not supported; use code", safeName(rt))
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	// A client of a metadata document counts as public here: anyone may
	// publish one, so PKCE is what binds the code to the client.
	public := cc.client.TokenEndpointAuthMethod == store.AuthMethodNone || clients.IsMetadataDocumentID(id)
	switch {
	case method != "" && method != grant.MethodS256:
		return nil, fail(oauth.CodeInvalidRequest, "code_challenge_method %q is not supported; use S256", safeName(method))
	case challenge == "" && method != "":
		return nil, fail(oauth.CodeInvalidRequest, "missing code_challenge parameter")
	// A confidential client registered with --require-pkce=false may leave
	// PKCE out; a public client never may, whatever its record says.
	case challenge == "" && (public || (s.requirePKCE && !cc.client.PKCEOptional)):
		return nil, fail(oauth.CodeInvalidRequest, "PKCE is required: send code_challenge and code_challenge_method=S256 (RFC 7636)")
	case challenge != "" && method == "":
		return nil, fail(oauth.CodeInvalidRequest, "code_challenge_method must be S256 (plain is not supported)")
	case challenge != "" && !grant.ValidChallenge(challenge):
		return nil, fail(oauth.CodeInvalidRequest, "code_challenge must be the base64url SHA-256 of the code verifier (43 characters)")
	}
	// Resource indicators (RFC 8707 §2, resources.go): each must be a
	// resource the client may use; the scopes are checked against theirs.
	resources, granted, err := s.resourceParams(cc, q["resource"])
	var scopes []string
	if err == nil {
		v := s.view(cc, resources)
		scopes, _, err = s.resolveScope(cc, &v, q.Get("scope"), false)
	}
	if err != nil {
		var oe *oauth.Error
		if errors.As(err, &oe) {
			return nil, fail(oe.Code, "%s", oe.Description)
		}
		return nil, err
	}
	params := url.Values{}
	for _, k := range authzParams {
		if v := q.Get(k); v != "" {
			params.Set(k, v)
		}
	}
	if len(granted) > 0 {
		params["resource"] = granted
	}
	return &authzRequest{client: cc, redirectURI: sent, target: target, state: state,
		scopes: scopes, challenge: challenge, params: params, resources: resources, granted: granted}, nil
}

// consentPage is the data of consent.html.
type consentPage struct {
	ClientName string
	ClientID   string
	// ClientHost is the host of a client ID that is a metadata document
	// URL: who published the name shown (draft-ietf-oauth-client-id-metadata-document §6.4).
	ClientHost string
	Website    string
	User       string
	Scopes     []consents.Label
	Account    string // the account the token would be restricted to, if any
	Action     string
	Params     []formParam
	// SelfRegistered: the client registered itself (RFC 7591), so nobody
	// vouches for its name and website.
	SelfRegistered bool
}

type formParam struct{ Name, Value string }

// errorPage is the data of authorize_error.html.
type errorPage struct {
	Title   string
	Message string
}

// authorize is the authorization endpoint: GET shows the consent page (or
// answers at once if the user consented before, showConsent); POST is the
// consent form (decideConsent). Errors are redirected to the client once
// its redirect URI is trusted, and shown as a page before.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) error {
	var err error
	if r.Method == http.MethodPost {
		if perr := r.ParseForm(); perr != nil {
			s.errorPage(w, r, pageError(http.StatusBadRequest, "The form could not be read."))
			return nil
		}
		err = s.decideConsent(w, r, r.PostForm)
	} else {
		q, perr := url.ParseQuery(r.URL.RawQuery)
		if perr != nil {
			s.errorPage(w, r, pageError(http.StatusBadRequest, "The request's query string is malformed."))
			return nil
		}
		err = s.showConsent(w, r, q)
	}
	if err != nil {
		var ae *authzError
		if !errors.As(err, &ae) {
			ae = &authzError{status: http.StatusInternalServerError, code: oauth.CodeServerError,
				pageMessage: "Something went wrong on our side. Please try again later."}
			if oe := s.oauthError(r, err); oe.Status == http.StatusServiceUnavailable {
				setRetryAfter(w.Header(), oe)
				ae.status, ae.code = oe.Status, oe.Code
				ae.pageMessage = "The service is temporarily unavailable. Please try again in a few seconds."
			}
		}
		if ae.redirect {
			s.redirectWith(w, r, ae.target, url.Values{"error": {ae.code}, "error_description": {ae.desc}}, ae.state)
		} else {
			s.errorPage(w, r, ae)
		}
	}
	return nil
}

// showConsent answers an authorization request (GET): it validates the
// request, sends a visitor who is not logged in to the login page, and
// then issues a code at once if the user already allowed the client every
// requested scope, or shows the consent page.
func (s *Server) showConsent(w http.ResponseWriter, r *http.Request, q url.Values) error {
	ctx := r.Context()
	// A client ID metadata document is fetched for a logged-in user only:
	// anonymous requests cannot make the server fetch URLs (clientmeta.go).
	if clients.IsMetadataDocumentID(q.Get("client_id")) {
		if _, ok := s.console.RequireUser(w, r); !ok {
			return nil
		}
	}
	ar, err := s.parseAuthorize(ctx, q)
	if err != nil {
		return err
	}
	user, ok := s.console.RequireUser(w, r)
	if !ok {
		return nil
	}
	covered, err := s.consents.Covers(ctx, user.ID, ar.client.client.ID, s.consentScopes(ar.resources, ar.scopes))
	if err != nil {
		return err
	}
	if covered {
		return s.issueCode(w, r, ar, user)
	}
	page := consentPage{
		ClientName: ar.client.client.Name,
		ClientID:   ar.client.client.ID,
		ClientHost: documentHost(ar.client.client.ID),
		Website:    ar.client.client.Website,
		User:       user.DisplayName,
		Action:     PathAuthorize,
	}
	if page.User == "" {
		page.User = user.Username
	}
	page.SelfRegistered = ar.client.client.SelfRegistered != ""
	for _, l := range s.consents.Labels(s.consentScopes(ar.resources, ar.scopes)) {
		if l.Account != "" {
			page.Account = l.Account
			continue
		}
		page.Scopes = append(page.Scopes, l)
	}
	for _, k := range authzParams {
		if v := ar.params.Get(k); v != "" {
			page.Params = append(page.Params, formParam{k, v})
		}
	}
	for _, v := range ar.params["resource"] {
		page.Params = append(page.Params, formParam{"resource", v})
	}
	// The console's pages allow forms to post only to this site; the
	// consent form's answer is a redirect to the client, which browsers
	// also check against form-action.
	s.console.Render(&formActionWriter{ResponseWriter: w, origin: originOf(ar.target)}, r, http.StatusOK, "consent", page)
	return nil
}

// decideConsent handles the consent form (POST): with a session and a
// valid CSRF token, it re-validates the request the form carries back and
// either records the approval and issues a code or tells the client that
// the user denied it.
func (s *Server) decideConsent(w http.ResponseWriter, r *http.Request, q url.Values) error {
	ctx := r.Context()
	// A consent decision needs a session and a valid CSRF token before anything else.
	user, ok := s.console.RequireUser(w, r)
	if !ok {
		return nil
	}
	if err := s.console.CheckCSRF(r); err != nil {
		return pageError(http.StatusForbidden, "The form has expired or did not come from this site. Go back to the application and try again.")
	}
	ar, err := s.parseAuthorize(ctx, q)
	if err != nil {
		return err
	}
	switch q.Get("decision") {
	case "allow":
	case "deny":
		return &authzError{redirect: true, target: ar.target, state: ar.state,
			code: oauth.CodeAccessDenied, desc: "the user denied the request"}
	default:
		return pageError(http.StatusBadRequest, "The form has no decision: choose Allow or Deny.")
	}
	if _, err := s.consents.Approve(ctx, user.ID, ar.client.client.ID, s.consentScopes(ar.resources, ar.scopes)); err != nil {
		return err
	}
	return s.issueCode(w, r, ar, user)
}

// issueCode stores a new authorization code and sends it to the client.
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, ar *authzRequest, user store.User) error {
	code, err := grant.NewCode(s.rand)
	if err != nil {
		return err
	}
	now := s.now()
	err = s.st.CreateAuthCode(r.Context(), store.AuthCode{
		ID: grant.TokenID(code), ClientID: ar.client.client.ID, UserID: user.ID,
		RedirectURI: ar.redirectURI, Scopes: ar.scopes, CodeChallenge: ar.challenge,
		CreatedAt: now, ExpiresAt: now.Add(s.codeTTL), Resources: ar.granted,
	})
	if err != nil {
		return fmt.Errorf("store authorization code: %w", err)
	}
	s.usage.clientUsed(ar.client, now) // an authorization is a use (unused registrations are pruned)
	s.redirectWith(w, r, ar.target, url.Values{"code": {code}}, ar.state)
	return nil
}

// redirectWith sends the user agent to a validated redirect URI with the
// response parameters, the state and the issuer (RFC 9207) added to its query.
func (s *Server) redirectWith(w http.ResponseWriter, r *http.Request, target string, v url.Values, state string) {
	if state != "" {
		v.Set("state", state)
	}
	v.Set("iss", s.issuer)
	u, err := url.Parse(target)
	if err != nil { // registered URIs are validated; this cannot happen
		s.errorPage(w, r, pageError(http.StatusBadRequest, "The application's redirect URI is malformed."))
		return
	}
	if u.RawQuery != "" {
		u.RawQuery += "&" + v.Encode()
	} else {
		u.RawQuery = v.Encode()
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	http.Redirect(w, r, u.String(), status)
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, ae *authzError) {
	title := "This request cannot be completed"
	if ae.status == http.StatusForbidden {
		title = "Request refused"
	}
	s.console.Render(w, r, ae.status, "authorize_error", errorPage{Title: title, Message: ae.pageMessage})
}

// formActionWriter adds origin to the form-action directive of the
// Content-Security-Policy that the page is written with.
type formActionWriter struct {
	http.ResponseWriter
	origin string
}

func (w *formActionWriter) WriteHeader(status int) {
	h := w.Header()
	if csp := h.Get("Content-Security-Policy"); w.origin != "" && strings.Contains(csp, "form-action 'self'") {
		h.Set("Content-Security-Policy", strings.Replace(csp, "form-action 'self'", "form-action 'self' "+w.origin, 1))
	}
	w.ResponseWriter.WriteHeader(status)
}

// originOf returns the CSP source expression for a redirect URI: its
// scheme, host and port, or for a private-use scheme (RFC 8252 §7.1) the
// scheme alone.
func originOf(target string) string {
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" {
		return ""
	}
	for _, c := range u.Host {
		if c == ';' || c == ',' || c == ' ' || c == '\'' {
			return ""
		}
	}
	if u.Host == "" {
		return u.Scheme + ":"
	}
	return u.Scheme + "://" + u.Host
}
