package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Path is where the admin API lives under a server's URL.
const Path = "/admin/v1"

// The system scopes: what an access token may do with the admin API.
const (
	// ScopeAdmin allows every call.
	ScopeAdmin = "gatehouse:admin"
	// ScopeAdminRead allows every GET.
	ScopeAdminRead = "gatehouse:admin:read"
	// ScopeClients allows managing clients and their secrets; with an
	// account:<id> scope, only the clients bound to that account.
	ScopeClients = "gatehouse:clients"
	// ScopeUsage allows reporting usage (POST /usage): the scope of a
	// gateway's client.
	ScopeUsage = "gatehouse:usage"
)

// Response bodies are read up to these sizes; a larger one is an error.
const (
	maxResponse = 8 << 20  // a successful response: a page of 200 clients is far less
	maxProblem  = 64 << 10 // an error response
	maxExcerpt  = 200      // the part of a non-problem error body a Problem quotes
)

// API is a client of Gatehouse's admin API. Its methods are safe for
// concurrent use. Every response other than 2xx is returned as a
// *[Problem]; other errors (the network, the token source, a response that
// is not the JSON expected) are returned wrapped.
type API struct {
	base string // the server's URL, without a trailing slash
	ts   oauth2.TokenSource
	hc   *http.Client
}

// Option configures an [API].
type Option func(*API)

// WithHTTPClient makes the API send its requests with hc instead of a
// client with a 30-second timeout that follows no redirect (the API sends
// none; following one could carry the token elsewhere, and a 3xx is
// returned as a [Problem]). The token source has its own client (for
// [ClientCredentials], the one in its context, see oauth2.HTTPClient).
func WithHTTPClient(hc *http.Client) Option {
	return func(a *API) { a.hc = hc }
}

// NoRedirects is an http.Client CheckRedirect function that follows no
// redirect: the client returns the 3xx response itself.
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// New returns a client of the admin API of the Gatehouse server at baseURL
// (the server's URL, its issuer, e.g. "https://auth.example.com"; the API
// is under baseURL + [Path]). Every request carries an access token of ts
// as a bearer token (RFC 6750 §2.1); the token needs one of the system
// scopes (see [ClientCredentials]).
//
// Send the token only over https: http is for a server on the same host.
func New(baseURL string, ts oauth2.TokenSource, opts ...Option) *API {
	a := &API{base: strings.TrimRight(baseURL, "/"), ts: ts}
	for _, o := range opts {
		o(a)
	}
	if a.hc == nil {
		a.hc = &http.Client{Timeout: 30 * time.Second, CheckRedirect: NoRedirects}
	}
	return a
}

// ClientCredentials returns a source of access tokens for the admin API:
// the client credentials grant (RFC 6749 §4.4) at issuer's token endpoint
// (issuer + "/oauth/token"), authenticating with HTTP Basic (RFC 6749
// §2.3.1, client_secret_basic) and asking for scopes, by default
// [ScopeAdmin]. Tokens are reused until shortly before they expire. ctx is
// used for every token request; an *http.Client in it (oauth2.HTTPClient)
// sends them.
func ClientCredentials(ctx context.Context, issuer, clientID, clientSecret string, scopes ...string) oauth2.TokenSource {
	if len(scopes) == 0 {
		scopes = []string{ScopeAdmin}
	}
	cc := &clientcredentials.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		TokenURL:     strings.TrimRight(issuer, "/") + "/oauth/token",
		Scopes:       scopes,
		AuthStyle:    oauth2.AuthStyleInHeader,
	}
	return cc.TokenSource(ctx)
}

// A CallOption adds a precondition or a retry key to a request that
// changes something.
type CallOption struct{ header, value string }

// IfMatch makes the change conditional on the resource still having the
// entity tag etag (RFC 9110 §13.1.1), as returned by a Get or an Update:
// if it changed since, the call fails with a 412 [Problem] of type
// [ProblemPrecondition] and changes nothing.
func IfMatch(etag string) CallOption { return CallOption{"If-Match", etag} }

// IdempotencyKey lets a create be retried safely: a retry with the same key
// (1 to 255 visible ASCII characters, e.g. a UUID) within an hour gets the
// first response again, including a secret it showed, instead of creating a
// second time.
func IdempotencyKey(key string) CallOption { return CallOption{"Idempotency-Key", key} }

// request is one call of the API.
type request struct {
	method string
	path   string // under Path, with its segments escaped
	query  url.Values
	body   []byte
	ctype  string // the body's content type
	opts   []CallOption
}

// do sends r and decodes a successful response's JSON body into out (unless
// out is nil); it returns the response's headers.
func (a *API) do(ctx context.Context, r request, out any) (http.Header, error) {
	where := r.method + " " + Path + r.path
	u := a.base + Path + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("admin: %s: %w", where, err)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", r.ctype)
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	for _, o := range r.opts {
		req.Header.Set(o.header, o.value)
	}
	if a.ts == nil {
		return nil, fmt.Errorf("admin: %s: no token source", where)
	}
	tok, err := a.ts.Token()
	if err != nil {
		return nil, fmt.Errorf("admin: get an access token: %w", err)
	}
	if tok.AccessToken == "" || !strings.EqualFold(tok.Type(), "Bearer") {
		return nil, fmt.Errorf("admin: the token source gave no bearer token (token type %q)", tok.Type())
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin: %s: %w", where, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.Header, problemFrom(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return resp.Header, nil
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return resp.Header, fmt.Errorf("admin: %s: the response is %q, not application/json", where, resp.Header.Get("Content-Type"))
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return resp.Header, fmt.Errorf("admin: %s: read the response: %w", where, err)
	}
	if len(b) > maxResponse {
		return resp.Header, fmt.Errorf("admin: %s: the response is larger than %d MiB", where, maxResponse>>20)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return resp.Header, fmt.Errorf("admin: %s: decode the response: %w", where, err)
	}
	return resp.Header, nil
}

// problemFrom returns the problem an error response describes (RFC 9457):
// its application/problem+json body, or, for any other body, a problem with
// the status and an excerpt of the body. The HTTP status is authoritative
// (RFC 9457 §3.1.2).
func problemFrom(resp *http.Response) *Problem {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxProblem))
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var p Problem
	if mt != "application/problem+json" || json.Unmarshal(b, &p) != nil {
		p = Problem{Detail: excerpt(b)}
		if mt != "" {
			p.Detail = "unexpected " + mt + " response"
			if ex := excerpt(b); ex != "" {
				p.Detail += ": " + ex
			}
		}
	}
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
		// Not followed: check the URL the API was given.
		p.Detail = "redirected to " + excerpt([]byte(loc)) + ", which is not followed"
	}
	p.Status = resp.StatusCode
	if p.Type == "" {
		p.Type = "about:blank" // RFC 9457 §4.2.1
	}
	if p.Title == "" {
		p.Title = http.StatusText(resp.StatusCode)
	}
	return &p
}

// excerpt is the start of b as one line of printable text.
func excerpt(b []byte) string {
	var s strings.Builder
	space := false
	for len(b) > 0 && s.Len() < maxExcerpt {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		switch {
		case unicode.IsSpace(r) || !unicode.IsPrint(r):
			space = s.Len() > 0
			continue
		case space:
			s.WriteByte(' ')
			space = false
		}
		s.WriteRune(r)
	}
	if len(b) > 0 {
		s.WriteString("…")
	}
	return s.String()
}

// jsonBody is the JSON encoding of v.
func jsonBody(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("admin: encode the request: %w", err)
	}
	return b, nil
}

// segment escapes an ID as one path segment; an empty ID is an error, as
// it would name another resource.
func segment(what, id string) (string, error) {
	if id == "" {
		return "", fmt.Errorf("admin: empty %s ID", what)
	}
	return "/" + url.PathEscape(id), nil
}

// pageQuery is the query of a page: limit and cursor, and the filters.
func pageQuery(limit int, cursor string, kv ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	return q
}

// all iterates over the items of every page from the one at cursor on;
// list fetches the page at a cursor. An error ends the iteration after it
// is yielded.
func all[T any](cursor string, list func(cursor string) (Page[T], error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		for {
			p, err := list(cursor)
			if err != nil {
				yield(zero, err)
				return
			}
			for _, it := range p.Items {
				if !yield(it, nil) {
					return
				}
			}
			if p.NextCursor == "" {
				return
			}
			if p.NextCursor == cursor {
				yield(zero, errors.New("admin: the server returned the same page cursor again"))
				return
			}
			cursor = p.NextCursor
		}
	}
}

func errorf(format string, args ...any) error { return fmt.Errorf("admin: "+format, args...) }
