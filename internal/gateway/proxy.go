package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/resource"
	"github.com/gatehouse/gatehouse/scope"
)

// newTransport returns the transport to the upstream: the standard one's
// settings, enough idle connections for a busy gateway (the default of two
// per host would reconnect under load), and timeout as the bound on the
// wait for response headers.
func newTransport(timeout time.Duration) *http.Transport {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: timeout,
	}
}

// flushInterval bounds how long the proxy holds response bytes of a body
// with a known length. Streams (text/event-stream, or no Content-Length)
// are flushed on every write whatever this is (httputil does so). A
// negative interval would flush every response's headers and each write on
// their own (an extra goroutine and write per response, about 13% of the
// gateway's throughput in bench/gateway.sh); a short positive one costs a
// stopped timer for a fast response and still passes a slow body on
// within 10 ms.
const flushInterval = 10 * time.Millisecond

// newProxy returns the reverse proxy to upstream. It must be called behind
// the resource guard: it takes the caller's identity from the verified
// claims in the request context. paths must be the guard's path rules.
func newProxy(upstream *url.URL, tr http.RoundTripper, hr headerRules, paths scope.PathRules, m *metrics, log *slog.Logger) http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// httputil has already removed hop-by-hop headers (those
			// that Connection names, too) and the incoming X-Forwarded-*
			// headers; what is set here cannot be removed that way.
			canonicalize(pr.Out.URL, paths)
			pr.SetURL(upstream)
			pr.SetXForwarded()
			hr.strip(pr.Out.Header)
			if c, ok := resource.ClaimsFrom(pr.In.Context()); ok {
				setIdentity(pr.Out.Header, hr.account, c)
			}
		},
		// The gateway answers CORS for the API (corsPolicy): the upstream's
		// own Access-Control-* headers would repeat or contradict its.
		ModifyResponse: func(resp *http.Response) error {
			stripCORS(resp.Header)
			return nil
		},
		Transport:     timedTransport{next: tr, m: m},
		FlushInterval: flushInterval,
		BufferPool:    newBufferPool(32 << 10),
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			upstreamError(w, r, err, m, log)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := resource.ClaimsFrom(r.Context()); !ok && !resource.PublicFrom(r.Context()) {
			// Not reached behind the guard (which lets a request without
			// claims through only as a public call, with AllowPublic);
			// refuse rather than pass on an unauthenticated request.
			log.Error("gateway: request reached the proxy without verified claims", "method", r.Method, "path", r.URL.Path)
			writeJSONError(w, http.StatusInternalServerError, "server_error", "the gateway could not authorize the request")
			return
		}
		rp.ServeHTTP(w, r)
	})
}

// stripCORS removes the Access-Control-* headers from h, an upstream's
// response.
func stripCORS(h http.Header) {
	for name := range h {
		if len(name) >= len(corsPrefix) && strings.EqualFold(name[:len(corsPrefix)], corsPrefix) {
			delete(h, name)
		}
	}
}

const corsPrefix = "Access-Control-"

// canonicalize rewrites u's path to the cleaned form the guard authorized
// ("//", "." and ".." resolved, each segment re-escaped), so an upstream
// that routes on the raw path cannot be sent somewhere other than what the
// scope check allowed: "/admin/../workers/me" is passed on as "/workers/me".
// A "/" inside a segment (allowed by paths) is passed on as "%2F". A
// trailing "/" is kept.
func canonicalize(u *url.URL, paths scope.PathRules) {
	escaped := u.EscapedPath()
	segs, err := paths.Split(escaped)
	if err != nil {
		return // the guard refuses such paths before the proxy runs
	}
	var path, raw strings.Builder
	for _, seg := range segs {
		path.WriteString("/" + seg)
		raw.WriteString("/" + url.PathEscape(seg))
	}
	if len(segs) == 0 || strings.HasSuffix(escaped, "/") {
		path.WriteByte('/')
		raw.WriteByte('/')
	}
	u.Path, u.RawPath = path.String(), raw.String()
	if u.RawPath == u.Path {
		u.RawPath = ""
	}
}

// setIdentity sets the identity headers from verified claims, and for an
// account-restricted token the account header (named account) too, so
// that the upstream sees exactly the token's account. Empty values are
// left out, so an upstream can tell "no account" from "".
func setIdentity(h http.Header, account string, c *resource.Claims) {
	set := func(name, value string) {
		if value != "" {
			h[name] = []string{value}
		}
	}
	set(HeaderClientID, c.ClientID)
	set(HeaderSubject, c.Subject)
	set(HeaderScope, strings.Join(c.Scopes, " "))
	set(HeaderAccount, c.AccountID)
	set(account, c.AccountID)
}

// upstreamError answers a request the upstream did not answer: 504 when
// it timed out, 502 otherwise. The cause is logged, never sent.
func upstreamError(w http.ResponseWriter, r *http.Request, err error, m *metrics, log *slog.Logger) {
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		// The client went away; nobody reads this answer.
		m.upstreamErrors.WithLabelValues("client_canceled").Inc()
		log.Debug("gateway: client canceled", "method", r.Method, "path", r.URL.Path)
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	if isTimeout(err) {
		m.upstreamErrors.WithLabelValues("timeout").Inc()
		log.Warn("gateway: upstream timed out", "method", r.Method, "path", r.URL.Path, "err", err)
		writeJSONError(w, http.StatusGatewayTimeout, "gateway_timeout", "the upstream service did not answer in time")
		return
	}
	m.upstreamErrors.WithLabelValues("error").Inc()
	log.Warn("gateway: upstream failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeJSONError(w, http.StatusBadGateway, "bad_gateway", "the upstream service could not be reached")
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// writeJSONError writes {"error":..., "error_description":...}.
func writeJSONError(w http.ResponseWriter, status int, code, description string) {
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{code, description})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// timedTransport records how long the upstream takes to answer with its
// response headers.
type timedTransport struct {
	next http.RoundTripper
	m    *metrics
}

func (t timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	t.m.upstreamDuration.Observe(time.Since(start).Seconds())
	return resp, err
}

// bufferPool reuses the buffers that copy response bodies.
type bufferPool struct{ p sync.Pool }

func newBufferPool(size int) *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, size); return &b }}}
}

func (bp *bufferPool) Get() []byte  { return *bp.p.Get().(*[]byte) }
func (bp *bufferPool) Put(b []byte) { bp.p.Put(&b) }
