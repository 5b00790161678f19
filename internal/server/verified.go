package server

import (
	"encoding/json"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/token"
)

// verifiedTokens caches the access tokens introspection verified, as the
// resource package's token cache does for resource servers: keyed by a
// keyed hash (maphash, with a random seed per server) of the token, so
// that a repeated token skips parsing and the signature check. A hit
// compares the whole token, so a hash collision is only a miss. An entry
// is never used from its token's exp on, and the cache never holds more
// than its size (rounded up to the shards); a full shard drops expired
// entries among a sample, or one at random.
//
// It caches only what the signature and the claims say, which cannot
// change; whether the token still stands (revoked, its client or user
// disabled) is decided on every call (Server.Live). The cache is emptied
// whenever the signing keys are reloaded, so a token whose key was
// withdrawn is verified again.
type verifiedTokens struct {
	seed   maphash.Seed
	shards []verifiedShard
	per    int // entries per shard
}

type verifiedShard struct {
	mu sync.RWMutex
	m  map[uint64]*verifiedToken
	_  [40]byte // keep shards on separate cache lines
}

// verifiedToken is a verified access token and the introspection
// response that says it is active.
type verifiedToken struct {
	token                  string
	exp                    int64 // Unix nanoseconds
	jti, clientID, subject string
	iat                    time.Time
	body                   []byte // the RFC 7662 response
}

// verifiedCacheSize bounds the introspection cache: at most this many
// tokens (each about 1.5 KB with its response) per node.
const verifiedCacheSize = 10_000

// verifiedEvictSample is how many entries an insert into a full shard
// looks at, dropping the expired ones among them, or the first if none is.
const verifiedEvictSample = 8

func newVerifiedTokens(size int) *verifiedTokens {
	n := 16
	for n > 1 && size/n < 64 {
		n /= 2
	}
	c := &verifiedTokens{seed: maphash.MakeSeed(), shards: make([]verifiedShard, n), per: (size + n - 1) / n}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*verifiedToken)
	}
	return c
}

// newVerifiedToken builds the cache entry of the verified token tok.
func newVerifiedToken(tok string, c token.Claims) (*verifiedToken, error) {
	var aud any = c.Audience
	if len(c.Audiences) > 0 {
		aud = c.Audiences
	}
	var nbf int64 // omitted for a token without nbf
	if !c.NotBefore.IsZero() {
		nbf = c.NotBefore.Unix()
	}
	var cnf *confirmation
	if c.JKT != "" {
		cnf = &confirmation{JKT: c.JKT}
	}
	body, err := json.Marshal(introspection{
		Cnf:       cnf,
		Active:    true,
		Scope:     c.Scope,
		ClientID:  c.ClientID,
		TokenType: tokenType(c.JKT),
		Exp:       c.ExpiresAt.Unix(),
		Iat:       c.IssuedAt.Unix(),
		Nbf:       nbf,
		Sub:       c.Subject,
		Aud:       aud,
		Iss:       c.Issuer,
		Jti:       c.JTI,
		AccountID: c.AccountID,
	})
	if err != nil {
		return nil, err
	}
	return &verifiedToken{
		token: tok, exp: c.ExpiresAt.UnixNano(),
		jti: c.JTI, clientID: c.ClientID, subject: c.Subject, iat: c.IssuedAt,
		body: body,
	}, nil
}

func (c *verifiedTokens) shard(h uint64) *verifiedShard {
	return &c.shards[h%uint64(len(c.shards))]
}

// get returns the entry for tok, if cached and not expired at now.
func (c *verifiedTokens) get(tok string, now time.Time) *verifiedToken {
	h := maphash.String(c.seed, tok)
	s := c.shard(h)
	s.mu.RLock()
	e := s.m[h]
	s.mu.RUnlock()
	if e == nil || e.token != tok || now.UnixNano() >= e.exp {
		return nil
	}
	return e
}

// put adds e, unless it has expired at now.
func (c *verifiedTokens) put(e *verifiedToken, now time.Time) {
	t := now.UnixNano()
	if t >= e.exp {
		return
	}
	e.token = strings.Clone(e.token) // don't pin the request's memory
	h := maphash.String(c.seed, e.token)
	s := c.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[h]; !ok && len(s.m) >= c.per {
		// Map iteration starts at a random place: a sampled eviction.
		var first uint64
		seen, dropped := 0, 0
		for k, v := range s.m {
			if seen == 0 {
				first = k
			}
			if t >= v.exp {
				delete(s.m, k)
				dropped++
			}
			if seen++; seen == verifiedEvictSample {
				break
			}
		}
		if dropped == 0 {
			delete(s.m, first)
		}
	}
	s.m[h] = e
}

// size is the number of entries held.
func (c *verifiedTokens) size() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// clear drops every entry.
func (c *verifiedTokens) clear() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.m)
		s.mu.Unlock()
	}
}
