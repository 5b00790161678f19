package server

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unique"
	"unsafe"

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
	// The client as stored, but for what the server never reads from the
	// cache (its secrets, which are in secrets, its description and its
	// registration token digest).
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
	// mutex of the cache shard that holds the entry once it is cached.
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
	internClient(&c)
	cc := &cachedClient{client: c, secrets: make([]cachedSecret, len(c.Secrets))}
	for _, name := range c.Scopes {
		if cat.Has(name) {
			cc.catalogScopes = append(cc.catalogScopes, name)
		}
	}
	if len(cc.catalogScopes) == len(c.Scopes) && len(c.Scopes) > 0 { // the common case: share one slice
		cc.catalogScopes = c.Scopes
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
	cc.defaultScope = intern(scope.Join(cc.defaultScopes))
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
	cc.client.Secrets, cc.client.Description, cc.client.RegistrationTokenDigest = nil, "", nil
	return cc
}

// intern returns the one copy of s shared by every cached client: scope
// names, grant types and the like repeat across a million clients.
func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

// internClient interns the strings of c that many clients share, and clips
// its lists.
func internClient(c *store.Client) {
	for _, l := range []*[]string{&c.GrantTypes, &c.Scopes, &c.Accounts, &c.Resources} {
		for i, v := range *l {
			(*l)[i] = intern(v)
		}
		*l = slices.Clip(*l)
	}
	c.Audience = intern(c.Audience)
	c.TokenEndpointAuthMethod = intern(c.TokenEndpointAuthMethod)
	c.SelfRegistered = intern(c.SelfRegistered)
}

// size estimates the bytes that cc and its cache entry hold: the fixed
// structures, plus what grows with the client (its lists, its secrets, its
// JWKS and the keys parsed from it). Interned strings are not counted.
func (cc *cachedClient) size() int {
	c := &cc.client
	n := int(unsafe.Sizeof(cachedClient{})+unsafe.Sizeof(cacheEntry{})) + 64 + // the map entry
		2*len(c.ID) + len(c.Name) + len(c.Website) + len(c.JWKS) + len(c.JWKSURI) + len(cc.onlyAccount)
	for _, l := range [][]string{c.GrantTypes, c.Scopes, c.Accounts, c.RedirectURIs, c.Resources} {
		n += int(unsafe.Sizeof("")) * len(l)
	}
	for _, u := range c.RedirectURIs {
		n += len(u)
	}
	if len(cc.catalogScopes) > 0 && &cc.catalogScopes[0] != &c.Scopes[0] {
		n += int(unsafe.Sizeof("")) * len(cc.catalogScopes)
	}
	if len(cc.defaultScopes) > len(cc.catalogScopes) {
		n += int(unsafe.Sizeof("")) * len(cc.defaultScopes)
	}
	for i := range cc.secrets {
		n += int(unsafe.Sizeof(cc.secrets[i])) + len(cc.secrets[i].id) + len(cc.secrets[i].digest)
	}
	n += 2 * len(c.JWKS) // the parsed keys: about twice the document
	return n
}

// clientCache keeps clients in memory so the token endpoint never waits on
// the database. Entries are dropped when the change feed reports the client
// changed (by any process), so a cached client is at most one feed poll stale.
// Unknown client IDs are cached too (bounded), so guessing IDs does not turn
// into database load.
//
// The cache holds at most maxClients clients (cache.max_clients): a client
// whose entry is larger than entryUnit bytes (a large JWKS, many redirect
// URIs) counts once for each entryUnit started. Past the bound, entries are
// evicted by CLOCK, a cheap approximation of least recently used: a hit only
// sets its entry's used bit (an atomic load, and a store if the bit was
// clear), and the clock hand evicts the first entry whose bit is clear,
// clearing the bits it passes. A new entry takes the slot just behind the
// hand, unmarked: a client used once is dropped when the hand comes round,
// one used again meanwhile stays for another turn, so a client used at
// least once per turn stays however many others pass through. The cache is
// split into shards by a hash of the client ID, each with its own lock,
// clock and share of the bound, so that lookups on many cores do not
// contend on one lock.
type clientCache struct {
	st      clientGetter
	catalog *scope.Catalog
	docs    *clientDocs // client ID metadata documents; nil: off (clientmeta.go)

	seed              maphash.Seed
	shards            []cacheShard // a power of two of them
	perShard          int          // the weight each shard holds at most
	negativesPerShard int          // unknown IDs each shard holds at most
}

// entryUnit: a cached client counts once against cache.max_clients for each
// entryUnit bytes of its estimated size started.
const entryUnit = 2048

// DefaultMaxClients is cache.max_clients' default.
const DefaultMaxClients = 25_000

// maxNegativeClients bounds the unknown client IDs cached (within
// cache.max_clients).
const maxNegativeClients = 10_000

// maxCacheShards bounds the shards; minShardWeight is the least weight a
// shard holds (so a small cache has fewer shards).
const maxCacheShards, minShardWeight = 64, 256

type cacheShard struct {
	mu        sync.RWMutex
	entries   map[string]*cacheEntry
	clock     []*cacheEntry // every entry, and free slots (nil); hand sweeps it
	free      []int         // the free slots of clock
	hand      int
	weight    int // the entries' total weight
	negatives int // entries for unknown IDs
	inflight  map[string]*load

	misses, evictions atomic.Uint64
	_                 [64]byte // hits on a cache line apart from the lock's
	hits              atomic.Uint64
	_                 [64]byte // keep shards on separate cache lines
}

// cacheEntry is a cached client, or an unknown ID (cc nil). Only used
// changes once the entry is in the cache; slot is guarded by the shard's
// mutex.
type cacheEntry struct {
	id     string
	cc     *cachedClient
	weight int
	slot   int         // index in the shard's clock
	used   atomic.Bool // hit since the clock hand last passed
}

// touch marks e as used, writing only if it was not already marked (so a
// hot entry's cache line is not written on every hit).
func (e *cacheEntry) touch() {
	if !e.used.Load() {
		e.used.Store(true)
	}
}

type load struct {
	done  chan struct{}
	cc    *cachedClient
	err   error
	stale bool // invalidated while loading: do not keep the result
}

// newClientCache returns a cache of at most maxClients clients (at least
// one) and maxNegative unknown IDs, which count against maxClients too.
func newClientCache(st clientGetter, cat *scope.Catalog, maxClients, maxNegative int) *clientCache {
	maxClients = max(maxClients, 1)
	n := 1
	if maxClients >= 2*minShardWeight {
		n = min(maxCacheShards, 1<<(bits.Len(uint(maxClients/minShardWeight))-1))
	}
	c := &clientCache{
		st:                st,
		catalog:           cat,
		seed:              maphash.MakeSeed(),
		shards:            make([]cacheShard, n),
		perShard:          maxClients / n,
		negativesPerShard: min(maxNegative, maxClients) / n,
	}
	for i := range c.shards {
		c.shards[i].entries = make(map[string]*cacheEntry)
		c.shards[i].inflight = make(map[string]*load)
	}
	return c
}

func (c *clientCache) shard(id string) *cacheShard {
	if len(c.shards) == 1 {
		return &c.shards[0]
	}
	return &c.shards[maphash.String(c.seed, id)&uint64(len(c.shards)-1)]
}

// get returns the client, nil if it does not exist, or an error if the store
// could not be read.
func (c *clientCache) get(ctx context.Context, id string) (*cachedClient, error) {
	if clients.IsMetadataDocumentID(id) { // a client ID metadata document (clientmeta.go)
		if ok, err := c.documentClient(ctx, id); !ok || err != nil {
			return nil, err
		}
	}
	sh := c.shard(id)
	sh.mu.RLock()
	e := sh.entries[id]
	sh.mu.RUnlock()
	if e != nil {
		e.touch()
		sh.hits.Add(1)
		return e.cc, nil
	}
	sh.misses.Add(1)
	return c.fetch(ctx, sh, id, nil, 0)
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
	return c.fetch(ctx, c.shard(id), id, old, now.UnixNano())
}

// fetch returns id's cached entry unless it is missing or is old (non-nil),
// in which case it waits for a load already under way or loads the client
// from the store itself; one load per client runs at a time. Replacing old
// is rate-limited by old.reloaded, and the new entry is stamped with at.
// sh is id's shard.
func (c *clientCache) fetch(ctx context.Context, sh *cacheShard, id string, old *cachedClient, at int64) (*cachedClient, error) {
	sh.mu.Lock()
	e, ok := sh.entries[id]
	if ok && (old == nil || e.cc != old) {
		sh.mu.Unlock()
		e.touch()
		return e.cc, nil
	}
	l, loading := sh.inflight[id]
	if !loading {
		if ok { // e.cc == old
			if at-old.reloaded < int64(reloadInterval) {
				sh.mu.Unlock()
				return old, nil
			}
			old.reloaded = at
		}
		l = &load{done: make(chan struct{})}
		sh.inflight[id] = l
	}
	sh.mu.Unlock()

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

	sh.mu.Lock()
	delete(sh.inflight, id)
	if l.err == nil && !l.stale {
		c.put(sh, id, l.cc)
	}
	sh.mu.Unlock()
	close(l.done)
	return l.cc, l.err
}

// put makes cc (nil: known not to exist) id's entry, evicting others while
// the shard holds more than its share. An unknown ID is not cached while
// the shard holds its share of them. sh.mu must be held.
func (c *clientCache) put(sh *cacheShard, id string, cc *cachedClient) {
	if prev := sh.entries[id]; prev != nil {
		sh.remove(prev)
	}
	w := 1
	if cc == nil {
		if sh.negatives >= c.negativesPerShard {
			return
		}
		sh.negatives++
	} else {
		w = min(1+(cc.size()-1)/entryUnit, c.perShard)
	}
	if cc != nil && cc.client.ID == id {
		id = cc.client.ID
	} else {
		id = strings.Clone(id) // not a substring of the request's memory
	}
	for sh.weight+w > c.perShard && len(sh.entries) > 0 {
		sh.evict()
	}
	e := &cacheEntry{id: id, cc: cc, weight: w}
	sh.entries[id] = e
	sh.weight += w
	// The free slot taken is the one just evicted, if any: just behind the
	// hand, so the new entry is looked at last.
	if n := len(sh.free); n > 0 {
		e.slot, sh.free = sh.free[n-1], sh.free[:n-1]
		sh.clock[e.slot] = e
	} else {
		e.slot = len(sh.clock)
		sh.clock = append(sh.clock, e)
	}
}

// evict drops the first entry at or after the clock hand that has not been
// used since the hand last passed it, clearing the used bits it passes.
// After two turns (hits keep setting bits meanwhile) it takes the entry at
// the hand. sh.mu must be held and the shard must not be empty.
func (sh *cacheShard) evict() {
	for i := 0; ; i++ {
		if sh.hand >= len(sh.clock) {
			sh.hand = 0
		}
		e := sh.clock[sh.hand]
		switch {
		case e == nil: // a free slot
		case !e.used.Load() || i > 2*len(sh.clock):
			sh.remove(e)
			sh.evictions.Add(1)
			sh.hand++
			return
		default:
			e.used.Store(false)
		}
		sh.hand++
	}
}

// remove drops e from the shard, freeing its slot in the clock. sh.mu must
// be held.
func (sh *cacheShard) remove(e *cacheEntry) {
	sh.clock[e.slot] = nil
	sh.free = append(sh.free, e.slot)
	delete(sh.entries, e.id)
	sh.weight -= e.weight
	if e.cc == nil {
		sh.negatives--
	}
	if len(sh.free) > 64 && len(sh.free) > len(sh.clock)/2 {
		sh.compact()
	}
}

// compact drops the clock's free slots (many entries were removed other
// than by eviction, whose slots are taken again at once), keeping the order
// of the entries and the hand's place among them.
func (sh *cacheShard) compact() {
	n, hand := 0, -1
	for i, e := range sh.clock {
		if i == sh.hand {
			hand = n
		}
		if e != nil {
			e.slot = n
			sh.clock[n] = e
			n++
		}
	}
	if hand < 0 {
		hand = n
	}
	clear(sh.clock[n:])
	sh.clock, sh.free, sh.hand = sh.clock[:n], sh.free[:0], hand
}

// invalidate drops the entries for the given client IDs.
func (c *clientCache) invalidate(ids ...string) {
	for _, id := range ids {
		sh := c.shard(id)
		sh.mu.Lock()
		if e, ok := sh.entries[id]; ok {
			sh.remove(e)
		}
		if l, ok := sh.inflight[id]; ok {
			l.stale = true
		}
		sh.mu.Unlock()
	}
}

// flush drops every entry.
func (c *clientCache) flush() {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.entries = make(map[string]*cacheEntry)
		sh.clock, sh.free, sh.hand, sh.weight, sh.negatives = nil, nil, 0, 0, 0
		for _, l := range sh.inflight {
			l.stale = true
		}
		sh.mu.Unlock()
	}
}

// cacheStats are the cache's counts since it was made, and what it holds.
type cacheStats struct {
	hits, misses, evictions uint64
	entries, weight         int
}

func (c *clientCache) stats() cacheStats {
	var st cacheStats
	for i := range c.shards {
		sh := &c.shards[i]
		st.hits += sh.hits.Load()
		st.misses += sh.misses.Load()
		st.evictions += sh.evictions.Load()
		sh.mu.RLock()
		st.entries += len(sh.entries)
		st.weight += sh.weight
		sh.mu.RUnlock()
	}
	return st
}

// peek returns id's entry without counting a hit or marking it used.
func (c *clientCache) peek(id string) (cc *cachedClient, ok bool) {
	sh := c.shard(id)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	e, ok := sh.entries[id]
	if !ok {
		return nil, false
	}
	return e.cc, true
}

// usageRecorder collects secret last-use times, and self-registered
// clients' (to find unused registrations), in memory; the server writes
// them to the store in the background, so the request path never writes.
type usageRecorder struct {
	mu      sync.Mutex
	pending map[string]time.Time
	clients map[string]time.Time
	// full is signalled when pending holds maxPendingUsage secrets, so
	// that Run writes them then rather than on its minute: memory does not
	// grow with the clients used in a minute. Nil: never.
	full chan struct{}
	// heldBack counts the uses not taken while pending or clients held
	// maxHeldUsage entries (the write fell behind).
	heldBack int64
}

// maxPendingUsage is how many secrets' last-use times are held before
// they are written early; maxHeldUsage how many at most, while that write
// is late. A use that does not fit is not taken (held back): the next use
// of the secret or client tries again.
const maxPendingUsage, maxHeldUsage = 10_000, 4 * maxPendingUsage

// clientUsed notes that a token was issued to cc, or a user authorized
// it, at now, for a self-registered client (Client.UsedAt); others are not
// tracked.
func (u *usageRecorder) clientUsed(cc *cachedClient, now time.Time) {
	if cc.client.SelfRegistered != "" {
		u.note(&u.clients, &cc.touched, cc.client.ID, now)
	}
}

// touchInterval is how often a secret's last-use time is recorded at most.
const touchInterval = 60 // seconds

// used notes a successful authentication with s at now.
func (u *usageRecorder) used(s *cachedSecret, now time.Time) {
	if u.note(&u.pending, &s.touched, s.id, now) >= maxPendingUsage && u.full != nil {
		select {
		case u.full <- struct{}{}:
		default:
		}
	}
}

// note records id's use at now in *m if touched, the unix second of its
// last recorded use, is touchInterval old, and returns how many uses *m
// holds then; 0 if the use is not recorded: too recent, or held back
// because *m holds maxHeldUsage others (touched is set back, so that the
// next use tries again).
func (u *usageRecorder) note(m *map[string]time.Time, touched *atomic.Int64, id string, now time.Time) int {
	sec := now.Unix()
	prev := touched.Load()
	if sec-prev < touchInterval || !touched.CompareAndSwap(prev, sec) {
		return 0
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if *m == nil {
		*m = make(map[string]time.Time)
	}
	if _, ok := (*m)[id]; !ok && len(*m) >= maxHeldUsage {
		u.heldBack++
		touched.CompareAndSwap(sec, prev)
		return 0
	}
	(*m)[id] = now
	return len(*m)
}

// take returns and clears the pending last-use times of secrets and of
// clients, and how many uses were held back since the last take.
func (u *usageRecorder) take() (secrets, clients map[string]time.Time, heldBack int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	secrets, clients, heldBack = u.pending, u.clients, u.heldBack
	u.pending, u.clients, u.heldBack = nil, nil, 0
	return secrets, clients, heldBack
}
