package resource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/jws"
)

const (
	// maxDocument bounds the metadata and JWKS documents read.
	maxDocument = 1 << 20
	// defaultKeysMaxAge is how long a JWKS is used before a background
	// refetch when its response has no Cache-Control max-age.
	defaultKeysMaxAge = 5 * time.Minute
	// maxKeysMaxAge caps a JWKS's max-age, so a key the issuer withdraws
	// stops working within this time.
	maxKeysMaxAge = time.Hour
	// fetchTimeout bounds each fetch even with an HTTPClient without one.
	fetchTimeout = 30 * time.Second
)

// discovery is what the Guard uses from the issuer's metadata (RFC 8414).
type discovery struct {
	jwksURI string
	feedURI string // revocation_feed_endpoint; "" if not advertised
}

// keySet is an immutable snapshot of the issuer's JWKS.
type keySet struct {
	keys      map[string]*jws.Key // by kid
	etag      string
	refreshAt time.Time // after this, refetch in the background
}

// discover returns the issuer's metadata, fetching it if not known yet.
func (g *Guard) discover(ctx context.Context) (*discovery, error) {
	if d := g.disc.Load(); d != nil {
		return d, nil
	}
	g.discMu.Lock()
	defer g.discMu.Unlock()
	if d := g.disc.Load(); d != nil {
		return d, nil
	}
	var md struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
		FeedURI string `json:"revocation_feed_endpoint"`
	}
	if _, err := g.getJSON(ctx, g.metaURL, "", &md); err != nil {
		return nil, fmt.Errorf("authorization server metadata: %w", err)
	}
	// RFC 8414 §3.3: the metadata must be for the issuer we trust.
	if md.Issuer != g.cfg.Issuer {
		return nil, fmt.Errorf("authorization server metadata at %s is for issuer %q, not %q", g.metaURL, md.Issuer, g.cfg.Issuer)
	}
	if !isHTTPURL(md.JWKSURI) {
		return nil, fmt.Errorf("authorization server metadata at %s has no valid jwks_uri", g.metaURL)
	}
	if md.FeedURI != "" && !isHTTPURL(md.FeedURI) {
		return nil, fmt.Errorf("authorization server metadata at %s has an invalid revocation_feed_endpoint %q", g.metaURL, md.FeedURI)
	}
	d := &discovery{jwksURI: md.JWKSURI, feedURI: md.FeedURI}
	g.disc.Store(d)
	return d, nil
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// keyFor returns the key with ID kid. A known key is returned at once (and
// past the JWKS's max-age a background refetch is started). An unknown one
// is looked up in a fresh JWKS: the fetch in flight, if any, or a new one
// unless the last began less than JWKSMinRefresh ago (see refreshKeys).
func (g *Guard) keyFor(ctx context.Context, kid string, now time.Time) (*jws.Key, *failure) {
	ks := g.keys.Load()
	if ks != nil {
		if k := ks.keys[kid]; k != nil {
			if now.After(ks.refreshAt) && now.UnixNano() >= g.nextTry.Load() {
				g.refreshInBackground()
			}
			return k, nil
		}
	}
	ks = g.refreshKeys(ctx, ks)
	if ks == nil {
		return nil, unavailable
	}
	if k := ks.keys[kid]; k != nil {
		return k, nil
	}
	return nil, invalidToken("signed by an unknown key")
}

// refreshInBackground refetches the JWKS without holding up the request:
// the current keys stay in use meanwhile.
func (g *Guard) refreshInBackground() {
	if !g.bgFetch.CompareAndSwap(false, true) {
		return
	}
	g.closeMu.Lock()
	defer g.closeMu.Unlock()
	if g.closed {
		g.bgFetch.Store(false)
		return
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer g.bgFetch.Store(false)
		g.refreshKeys(g.ctx, g.keys.Load())
	}()
}

// refreshKeys fetches the JWKS unless seen is no longer the current key set
// (another request fetched it meanwhile) or the last attempt was too recent:
// JWKSMinRefresh, or a second while no keys are known. It returns the
// current key set, nil if there is none. A failed fetch keeps the cached
// keys.
//
// It is single-flight: fetches hold fetchMu, so callers that arrive during
// a fetch wait for it and then, finding the key set they saw replaced (or
// the last attempt too recent, if it failed), return its result instead of
// fetching again. However many requests carry unknown key IDs, the issuer
// sees at most one JWKS fetch per JWKSMinRefresh. Requests with a known key
// ID never call it; background refreshes do, off the request path.
func (g *Guard) refreshKeys(ctx context.Context, seen *keySet) *keySet {
	g.fetchMu.Lock()
	defer g.fetchMu.Unlock()
	cur := g.keys.Load()
	if cur != seen {
		return cur
	}
	now := g.now()
	wait := g.cfg.JWKSMinRefresh
	if cur == nil {
		wait = min(wait, time.Second)
	}
	if !g.tried.IsZero() && now.Sub(g.tried) < wait && now.Sub(g.tried) >= 0 {
		return cur
	}
	g.tried = now
	g.nextTry.Store(now.Add(wait).UnixNano())
	// The fetch outlives a canceled request: others are waiting for it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	defer cancel()
	next, err := g.fetchKeys(ctx, cur, now)
	if err != nil {
		g.disc.Store(nil) // rediscover next time, in case jwks_uri moved
		if cur == nil {
			g.log.Error("resource: cannot fetch the issuer's signing keys; refusing tokens until it works", "issuer", g.cfg.Issuer, "err", err)
		} else {
			g.log.Warn("resource: cannot refresh the issuer's signing keys; keeping the cached ones", "issuer", g.cfg.Issuer, "keys", len(cur.keys), "err", err)
		}
		return cur
	}
	if cur == nil || !maps.EqualFunc(cur.keys, next.keys, func(a, b *jws.Key) bool { return a == b }) {
		g.log.Info("resource: loaded the issuer's signing keys", "issuer", g.cfg.Issuer, "kids", slices.Sorted(maps.Keys(next.keys)))
	}
	if cur != nil && g.cache != nil {
		for kid := range cur.keys {
			if next.keys[kid] == nil {
				// A withdrawn key: tokens it signed must not live on in the cache.
				g.cache.Clear()
				break
			}
		}
	}
	g.keys.Store(next)
	return next
}

// fetchKeys fetches and parses the JWKS (RFC 7517 §5). Keys whose kid is
// unchanged keep their *jws.Key, so unchanged sets compare equal.
func (g *Guard) fetchKeys(ctx context.Context, cur *keySet, now time.Time) (*keySet, error) {
	d, err := g.discover(ctx)
	if err != nil {
		return nil, err
	}
	etag := ""
	if cur != nil {
		etag = cur.etag
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	resp, err := g.getJSON(ctx, d.jwksURI, etag, &doc)
	if err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	maxAge := keysMaxAge(resp.Header.Get("Cache-Control"), g.cfg.JWKSMinRefresh)
	if resp.StatusCode == http.StatusNotModified {
		return &keySet{keys: cur.keys, etag: cur.etag, refreshAt: now.Add(maxAge)}, nil
	}
	ks := &keySet{keys: make(map[string]*jws.Key, len(doc.Keys)), etag: resp.Header.Get("ETag"), refreshAt: now.Add(maxAge)}
	var skipped []string
	for i, raw := range doc.Keys {
		k, err := parseJWK(raw)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d: %v", i, err))
			continue
		}
		if ks.keys[k.ID] != nil {
			skipped = append(skipped, fmt.Sprintf("key %d: kid %q repeated", i, k.ID))
			continue
		}
		if cur != nil && cur.keys[k.ID].Equal(k) {
			k = cur.keys[k.ID]
		}
		ks.keys[k.ID] = k
	}
	if len(skipped) > 0 {
		g.log.Warn("resource: ignored unusable keys in the JWKS", "jwks_uri", d.jwksURI, "problems", skipped)
	}
	if len(ks.keys) == 0 {
		return nil, fmt.Errorf("JWKS at %s has no usable signing key", d.jwksURI)
	}
	return ks, nil
}

// parseJWK parses one JWK (RFC 7517 §4) into a verification key. It
// refuses symmetric keys, keys not for signatures, keys without a kid, and
// key types, sizes or algs no accepted algorithm uses.
func parseJWK(raw []byte) (*jws.Key, error) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	if jwk.KeyID == "" {
		return nil, errors.New("no kid")
	}
	if jwk.Use != "" && jwk.Use != "sig" {
		return nil, fmt.Errorf("use is %q, not sig", jwk.Use)
	}
	if !jwk.IsPublic() {
		jwk = jwk.Public() // a private key published by mistake: use its public half
	}
	return jws.NewKey(jwk.KeyID, jwk.Algorithm, jwk.Key)
}

// keysMaxAge is how long to use a JWKS: its Cache-Control max-age, between
// floor and an hour, or five minutes.
func keysMaxAge(cc string, floor time.Duration) time.Duration {
	age := defaultKeysMaxAge
	for dir := range strings.SplitSeq(cc, ",") {
		v, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(dir)), "max-age=")
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(strings.Trim(v, `"`)); err == nil && n >= 0 {
			age = time.Duration(min(n, int(maxKeysMaxAge/time.Second))) * time.Second
		}
	}
	return min(max(age, floor), max(maxKeysMaxAge, floor))
}

// getJSON GETs a JSON document into v. With etag, a 304 answer is returned
// with v untouched.
func (g *Guard) getJSON(ctx context.Context, u, etag string, v any) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && etag != "" {
		return resp, nil
	}
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if len(body) > maxDocument {
		return nil, fmt.Errorf("GET %s: the document is larger than %d bytes", u, maxDocument)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	return resp, nil
}
