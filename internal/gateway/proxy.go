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

// NewTransport returns the transport to the upstream: the standard one's
// settings, enough idle connections for a busy gateway (the default of two
// per host would reconnect under load), and timeout as the bound on the
// wait for response headers.
func NewTransport(timeout time.Duration) *http.Transport {
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
			c, _ := resource.ClaimsFrom(pr.In.Context())
			setHeaders(pr, hr, c)
		},
		// The gateway answers CORS for the API (corsPolicy): the upstream's
		// own Access-Control-* headers would repeat or contradict its.
		ModifyResponse: func(resp *http.Response) error {
			stripCORS(resp.Header)
			return nil
		},
		Transport:     timedTransport{next: tr, m: m},
		FlushInterval: flushInterval,
		BufferPool:    NewBufferPool(),
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
	if isCanonical(escaped) {
		u.Path, u.RawPath = escaped, ""
		return
	}
	rebuild(u, escaped, paths)
}

// rebuild is canonicalize for a path that is not already canonical.
func rebuild(u *url.URL, escaped string, paths scope.PathRules) {
	segs, err := paths.Split(escaped)
	if err != nil {
		return // the guard refuses such paths before the proxy runs
	}
	var path, raw strings.Builder
	path.Grow(len(escaped) + 1)
	raw.Grow(len(escaped) + 1)
	for _, seg := range segs {
		path.WriteByte('/')
		path.WriteString(seg)
		raw.WriteByte('/')
		raw.WriteString(url.PathEscape(seg))
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

// isCanonical reports whether canonicalize would give escaped back as both
// the path and its escaped form: it starts with "/", and its segments are
// neither empty (but for a trailing "/"), "." nor "..", and each is what
// url.PathEscape makes of it (so holds no "%", "\" or control byte). Most
// paths are, and are then passed on without splitting and rebuilding
// them, which would allocate.
func isCanonical(escaped string) bool {
	if escaped == "" || escaped[0] != '/' {
		return false
	}
	rest := escaped[1:]
	for rest != "" {
		seg, after, found := strings.Cut(rest, "/")
		if seg == "" || seg == "." || seg == ".." || url.PathEscape(seg) != seg {
			return false
		}
		if !found || after == "" {
			return true
		}
		rest = after
	}
	return true // "/"
}

// setHeaders sets the headers the gateway adds to pr.Out: the X-Forwarded-*
// headers (as httputil.ProxyRequest.SetXForwarded sets them), then, after
// removing every spelling of the headers the gateway owns (hr.strip), the
// identity headers from c, if not nil, and for an account-restricted
// token the account header (hr.account) too, so that the upstream sees
// exactly the token's account. Empty identity values are left out, so an
// upstream can tell "no account" from "". A request without User-Agent
// gets an empty one, as httputil would set after Rewrite, so that Go's
// default is not sent.
//
// It is on every request's path, so the values share one allocation: each
// header gets its own one-element slice of it, capped so that appending to
// one copies it rather than overwriting the next.
func setHeaders(pr *httputil.ProxyRequest, hr headerRules, c *resource.Claims) {
	h := pr.Out.Header
	vals := new([9]string)
	add := func(name, value string, i int) {
		vals[i] = value
		h[name] = vals[i : i+1 : i+1]
	}
	if clientIP, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		if prior := h["X-Forwarded-For"]; len(prior) > 0 {
			clientIP = strings.Join(prior, ", ") + ", " + clientIP
		}
		add("X-Forwarded-For", clientIP, 0)
	} else {
		delete(h, "X-Forwarded-For")
	}
	add("X-Forwarded-Host", pr.In.Host, 1)
	if pr.In.TLS == nil {
		add("X-Forwarded-Proto", "http", 2)
	} else {
		add("X-Forwarded-Proto", "https", 2)
	}
	hr.strip(h)
	if c != nil {
		set := func(name, value string, i int) {
			if value != "" {
				add(name, value, i)
			}
		}
		set(HeaderClientID, c.ClientID, 3)
		set(HeaderSubject, c.Subject, 4)
		set(HeaderScope, strings.Join(c.Scopes, " "), 5)
		set(HeaderAccount, c.AccountID, 6)
		set(hr.account, c.AccountID, 7)
	}
	if _, ok := h["User-Agent"]; !ok {
		add("User-Agent", "", 8)
	}
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

// bufferSize is the size of the buffers that copy response bodies.
const bufferSize = 32 << 10

// bufferPool reuses the buffers that copy response bodies. It holds
// pointers to arrays, which a []byte converts to without allocating (a
// pointer to a slice would be allocated on every Put).
type bufferPool struct{ p sync.Pool }

// NewBufferPool returns the pool of the buffers that copy response bodies
// (also bench/plainproxy's, the baseline of the gateway load run).
func NewBufferPool() httputil.BufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([bufferSize]byte) }}}
}

func (bp *bufferPool) Get() []byte { return bp.p.Get().(*[bufferSize]byte)[:] }

func (bp *bufferPool) Put(b []byte) {
	if cap(b) >= bufferSize {
		bp.p.Put((*[bufferSize]byte)(b[:bufferSize]))
	}
}
