package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/jws"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/scope"
)

// clientGetter is the part of the store the client cache reads.
type clientGetter interface {
	GetClient(ctx context.Context, id string) (store.Client, error)
}

// cachedClient is an immutable snapshot of a client, prepared for the token
// endpoint's hot path.
type cachedClient struct {
	client  store.Client
	secrets []cachedSecret
	// The client's allowed scopes that exist in the catalog: what a
	// request that names no scope, or only account:<id>, gets.
	catalogScopes []string
	// What a request that names no scope gets (see resolveScope):
	// catalogScopes, plus account:<id> for a client limited to one account.
	defaultScopes  []string
	defaultScope   string
	defaultAccount string // the account of defaultScopes; "" if none
	// The client may act for a finite list of accounts, so its tokens are
	// always account-restricted. onlyAccount is "account:<id>" when the
	// list has one entry.
	accountsLimited bool
	onlyAccount     string
	// Unix nanoseconds of the last reload of this client because a secret
	// did not match (see clientCache.reload); 0 if none. Guarded by the
	// cache's mutex once the entry is in the cache.
	reloaded int64
	// The keys of the client's registered JWKS (private_key_jwt), or why
	// they could not be read.
	jwks    []*jws.Key
	jwksErr error
	// Unix seconds of the last recorded issue of a token to the client
	// (see usageRecorder.clientUsed).
	touched atomic.Int64
}

type cachedSecret struct {
	id        string
	digest    []byte
	expiresAt time.Time    // zero = never
	touched   atomic.Int64 // Unix seconds of the last recorded use
}

func newCachedClient(c store.Client, cat *scope.Catalog) *cachedClient {
	cc := &cachedClient{client: c, secrets: make([]cachedSecret, len(c.Secrets))}
	for _, name := range c.Scopes {
		if cat.Has(name) {
			cc.catalogScopes = append(cc.catalogScopes, name)
		}
	}
	cc.catalogScopes = slices.Clip(cc.catalogScopes)
	cc.defaultScopes = cc.catalogScopes
	if len(c.Accounts) > 0 && !slices.Contains(c.Accounts, store.AnyAccount) {
		cc.accountsLimited = true
		if len(c.Accounts) == 1 {
			cc.defaultAccount = c.Accounts[0]
			cc.onlyAccount = scope.AccountPrefix + c.Accounts[0]
			if len(cc.catalogScopes) > 0 {
				cc.defaultScopes = append(slices.Clone(cc.catalogScopes), cc.onlyAccount)
			}
		}
	}
	cc.defaultScope = scope.Join(cc.defaultScopes)
	if !c.UsedAt.IsZero() {
		cc.touched.Store(c.UsedAt.Unix())
	}
	if c.JWKS != "" {
		cc.jwks, cc.jwksErr = clients.ParseJWKS([]byte(c.JWKS))
	}
	for i, s := range c.Secrets {
		cc.secrets[i].id = s.ID
		cc.secrets[i].digest = s.Digest
		cc.secrets[i].expiresAt = s.ExpiresAt
		if !s.LastUsedAt.IsZero() {
			cc.secrets[i].touched.Store(s.LastUsedAt.Unix())
		}
	}
	return cc
}

// clientCache keeps clients in memory so the token endpoint never waits on
// the database. Entries are dropped when the change feed reports the client
// changed (by any process), so a cached client is at most one feed poll stale.
// Unknown client IDs are cached too (bounded), so guessing IDs does not turn
// into database load.
type clientCache struct {
	st          clientGetter
	catalog     *scope.Catalog
	maxNegative int
	docs        *clientDocs // client ID metadata documents; nil: off (clientmeta.go)

	mu        sync.RWMutex
	entries   map[string]*cachedClient // nil value: known not to exist
	negatives int
	inflight  map[string]*load
}

type load struct {
	done  chan struct{}
	cc    *cachedClient
	err   error
	stale bool // invalidated while loading: do not keep the result
}

func newClientCache(st clientGetter, cat *scope.Catalog, maxNegative int) *clientCache {
	return &clientCache{
		st:          st,
		catalog:     cat,
		maxNegative: maxNegative,
		entries:     make(map[string]*cachedClient),
		inflight:    make(map[string]*load),
	}
}

// get returns the client, nil if it does not exist, or an error if the store
// could not be read.
func (c *clientCache) get(ctx context.Context, id string) (*cachedClient, error) {
	if clients.IsMetadataDocumentID(id) { // a client ID metadata document (clientmeta.go)
		if ok, err := c.documentClient(ctx, id); !ok || err != nil {
			return nil, err
		}
	}
	c.mu.RLock()
	cc, ok := c.entries[id]
	c.mu.RUnlock()
	if ok {
		return cc, nil
	}
	return c.fetch(ctx, id, nil, 0)
}

// reloadInterval is how often at most a client is reloaded because a secret
// did not match its cached entry.
const reloadInterval = time.Second

// reload is get for a client whose cached entry old did not accept a
// secret: the secret may be newer than the entry (added or rotated by
// another process moments ago). It loads the client from the store again
// and replaces old, unless the client was already reloaded for this reason
// within reloadInterval, so that guessing secrets does not turn into
// database load. Callers that arrive while a reload is under way wait for
// it. old must not be nil.
func (c *clientCache) reload(ctx context.Context, id string, old *cachedClient, now time.Time) (*cachedClient, error) {
	return c.fetch(ctx, id, old, now.UnixNano())
}

// fetch returns id's cached entry unless it is missing or is old (non-nil),
// in which case it waits for a load already under way or loads the client
// from the store itself; one load per client runs at a time. Replacing old
// is rate-limited by old.reloaded, and the new entry is stamped with at.
func (c *clientCache) fetch(ctx context.Context, id string, old *cachedClient, at int64) (*cachedClient, error) {
	c.mu.Lock()
	cc, ok := c.entries[id]
	if ok && (old == nil || cc != old) {
		c.mu.Unlock()
		return cc, nil
	}
	l, loading := c.inflight[id]
	if !loading {
		if ok { // cc == old
			if at-old.reloaded < int64(reloadInterval) {
				c.mu.Unlock()
				return old, nil
			}
			old.reloaded = at
		}
		l = &load{done: make(chan struct{})}
		c.inflight[id] = l
	}
	c.mu.Unlock()

	if loading {
		select {
		case <-l.done:
			return l.cc, l.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}

	// Load without the caller's cancellation so that waiters are not failed
	// by the first caller going away; bounded by its own timeout.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	client, err := c.st.GetClient(lctx, id)
	cancel()
	switch {
	case err == nil:
		l.cc = newCachedClient(client, c.catalog)
		if ok {
			l.cc.reloaded = at
		}
	case errors.Is(err, store.ErrNotFound):
	default:
		l.err = fmt.Errorf("load client: %w", err)
	}

	c.mu.Lock()
	delete(c.inflight, id)
	if l.err == nil && !l.stale {
		c.set(id, l.cc)
	}
	c.mu.Unlock()
	close(l.done)
	return l.cc, l.err
}

// set makes cc (nil: known not to exist) id's entry. c.mu must be held.
func (c *clientCache) set(id string, cc *cachedClient) {
	if prev, ok := c.entries[id]; ok && prev == nil {
		c.negatives--
	}
	switch {
	case cc != nil:
		c.entries[id] = cc
	case c.negatives < c.maxNegative:
		c.entries[id] = nil
		c.negatives++
	default:
		delete(c.entries, id)
	}
}

// invalidate drops the entries for the given client IDs.
func (c *clientCache) invalidate(ids ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		if cc, ok := c.entries[id]; ok {
			if cc == nil {
				c.negatives--
			}
			delete(c.entries, id)
		}
		if l, ok := c.inflight[id]; ok {
			l.stale = true
		}
	}
}

// flush drops every entry.
func (c *clientCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = make(map[string]*cachedClient)
	c.negatives = 0
	for _, l := range c.inflight {
		l.stale = true
	}
}

// usageRecorder collects secret last-use times, and self-registered
// clients' (to find unused registrations), in memory; the server writes
// them to the store in the background, so the request path never writes.
type usageRecorder struct {
	mu      sync.Mutex
	pending map[string]time.Time
	clients map[string]time.Time
}

// clientUsed notes that a token was issued to cc, or a user authorized
// it, at now, for a self-registered client (Client.UsedAt); others are not
// tracked.
func (u *usageRecorder) clientUsed(cc *cachedClient, now time.Time) {
	if cc.client.SelfRegistered == "" {
		return
	}
	sec := now.Unix()
	prev := cc.touched.Load()
	if sec-prev < touchInterval || !cc.touched.CompareAndSwap(prev, sec) {
		return
	}
	u.mu.Lock()
	if u.clients == nil {
		u.clients = make(map[string]time.Time)
	}
	u.clients[cc.client.ID] = now
	u.mu.Unlock()
}

// touchInterval is how often a secret's last-use time is recorded at most.
const touchInterval = 60 // seconds

// used notes a successful authentication with s at now.
func (u *usageRecorder) used(s *cachedSecret, now time.Time) {
	sec := now.Unix()
	prev := s.touched.Load()
	if sec-prev < touchInterval || !s.touched.CompareAndSwap(prev, sec) {
		return
	}
	u.mu.Lock()
	if u.pending == nil {
		u.pending = make(map[string]time.Time)
	}
	u.pending[s.id] = now
	u.mu.Unlock()
}

// take returns and clears the pending last-use times of secrets and of
// clients.
func (u *usageRecorder) take() (secrets, clients map[string]time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	secrets, clients = u.pending, u.clients
	u.pending, u.clients = nil, nil
	return secrets, clients
}
