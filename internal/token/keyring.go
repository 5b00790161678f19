// Package token mints and verifies RFC 9068 JWT access tokens and manages the
// keys that sign them: generation, encryption at rest under the master key,
// rotation with a lead time, and the JWKS (RFC 7517) of published keys.
//
// Every process derives the state of each key from the stored ActiveAt times
// alone, so any number of processes sharing a store agree on which key signs
// without talking to each other:
//
//   - active: the key with the greatest ActiveAt <= now (ties: greatest ID);
//   - next: ActiveAt > now; published in the JWKS, not yet signing;
//   - retired: an older key, published until its successor's ActiveAt plus
//     the maximum token lifetime, when the last token it signed expires;
//   - expired: past that; no longer published, deleted by Maintain.
package token

import (
	"cmp"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// KeyStore is the part of store.Store the keyring uses.
type KeyStore interface {
	// ListSigningKeys returns all signing keys.
	ListSigningKeys(ctx context.Context) ([]store.SigningKey, error)
	// UpdateSigningKeys runs fn on the current keys, serialised against every
	// other call on the same database, adds and removes what fn returns and
	// records ev unless ev.Action is empty. An error from fn aborts.
	UpdateSigningKeys(ctx context.Context, fn func([]store.SigningKey) ([]store.SigningKey, []string, error), ev store.AuditEvent) error
}

var _ KeyStore = store.Store(nil)

// Signing algorithms (RFC 7518 §3.1, RFC 8037 §3.1).
const (
	ES256 = "ES256" // ECDSA P-256 with SHA-256; the default
	RS256 = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys
	PS256 = "PS256" // RSASSA-PSS with SHA-256, 2048-bit keys
	EdDSA = "EdDSA" // Ed25519
)

// Key states reported by Keys.
const (
	StateNext    = "next"
	StateActive  = "active"
	StateRetired = "retired"
	StateExpired = "expired" // no longer published; Maintain deletes it
)

// Defaults for zero Config fields.
const (
	DefaultLeadTime = time.Hour
)

// Publishing ahead. A key scheduled by Rotate or Maintain is in the JWKS
// LeadTime before it signs, and the JWKS is served with a max-age derived
// from LeadTime (JWKSMaxAge): a quarter of it, at most MaxJWKSMaxAge. So
// the invariant "a new key is published at least one JWKS cache lifetime
// before it signs" holds for every lead time, with room for one shared HTTP
// cache in front of the JWKS (which can double a verifier's staleness), for
// other server nodes loading the key from the store and for clock skew.
//
// MinLeadTime keeps that max-age meaningful: at 1m it is 15s, longer than
// resource servers' shortest refetch interval (resource.DefaultJWKSMinRefresh,
// 5s), so they refetch as the max-age says rather than on their own floor.
const (
	MinLeadTime   = time.Minute
	MaxJWKSMaxAge = 5 * time.Minute
)

// JWKSMaxAge is the Cache-Control max-age of the JWKS for keys published
// leadTime before they sign: leadTime/4, at most MaxJWKSMaxAge, in whole
// seconds. See MinLeadTime.
func JWKSMaxAge(leadTime time.Duration) time.Duration {
	return min(MaxJWKSMaxAge, leadTime/4).Truncate(time.Second)
}

// Config configures a Keyring. The zero value of every field but MasterKey
// is useful.
type Config struct {
	// Algorithm for new keys: ES256 (default), RS256, PS256 or EdDSA.
	// Existing keys keep their own algorithm.
	Algorithm string
	// MasterKey is the 32-byte key from MasterKey that encrypts private keys
	// at rest. Required.
	MasterKey []byte
	// LeadTime is how long a new key is published before it signs, so that
	// verifiers caching the JWKS learn it first; at least MinLeadTime.
	// Default 1h. The JWKS max-age follows from it (JWKSMaxAge).
	LeadTime time.Duration
	// RotationPeriod is how long each key signs before Maintain replaces it;
	// 0 disables automatic rotation. It must exceed LeadTime.
	RotationPeriod time.Duration
	// MaxTokenTTL is the longest access-token lifetime the server issues: a
	// retired key stays published this long after its successor became
	// active. Zero: not at all. It has no default of its own: pass the
	// server's token.max_ttl (package config), which bounds every token.
	MaxTokenTTL time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Rand is the source of key IDs and nonces; default crypto/rand.Reader.
	Rand io.Reader
	// Logger receives key lifecycle events; default discards.
	Logger *slog.Logger
}

// KeyInfo describes one signing key for operators (`gatehouse keys list`).
type KeyInfo struct {
	ID        string `json:"id"`
	Algorithm string `json:"algorithm"`
	// State is next, active, retired or (until Maintain deletes the key)
	// expired.
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	ActiveAt  time.Time `json:"active_at"`
	// RetiredAt is when the successor took over; zero while there is none.
	RetiredAt time.Time `json:"retired_at,omitzero"`
	// PublishedUntil is when the key leaves the JWKS; zero while there is no
	// successor.
	PublishedUntil time.Time `json:"published_until,omitzero"`
}

// Keyring holds the signing keys of one process. Load it with Init; after
// that all methods are safe for concurrent use, and Sign, Verify and JWKS
// never wait for I/O.
type Keyring struct {
	ks     KeyStore
	cfg    Config
	aead   cipher.AEAD
	log    *slog.Logger
	state  atomic.Pointer[keyState]
	loadMu sync.Mutex // serialises Reload so an older listing never replaces a newer one
	bufs   sync.Pool  // *signBuf
}

// NewKeyring checks cfg and returns a keyring with no keys loaded; call Init.
func NewKeyring(ks KeyStore, cfg Config) (*Keyring, error) {
	if ks == nil {
		return nil, errors.New("token: NewKeyring needs a key store")
	}
	if cfg.Algorithm == "" {
		cfg.Algorithm = ES256
	}
	if !supported(cfg.Algorithm) {
		return nil, fmt.Errorf("signing algorithm %q is not supported; use ES256, RS256, PS256 or EdDSA", cfg.Algorithm)
	}
	aead, err := newAEAD(cfg.MasterKey)
	if err != nil {
		return nil, err
	}
	if cfg.LeadTime < 0 || cfg.RotationPeriod < 0 || cfg.MaxTokenTTL < 0 {
		return nil, errors.New("key lead time, rotation period and maximum token lifetime must not be negative")
	}
	if cfg.LeadTime == 0 {
		cfg.LeadTime = DefaultLeadTime
	}
	if cfg.LeadTime < MinLeadTime {
		return nil, fmt.Errorf("key lead time %s is shorter than %s: a new key must be published at least one JWKS cache lifetime (a quarter of the lead time) before it signs", cfg.LeadTime, MinLeadTime)
	}
	if cfg.RotationPeriod > 0 && cfg.RotationPeriod <= cfg.LeadTime {
		return nil, fmt.Errorf("key rotation period %s must be longer than the lead time %s", cfg.RotationPeriod, cfg.LeadTime)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.MasterKey = nil // the AEAD holds it; don't keep a second copy
	return &Keyring{ks: ks, cfg: cfg, aead: aead, log: cfg.Logger}, nil
}

func supported(alg string) bool {
	switch alg {
	case ES256, RS256, PS256, EdDSA:
		return true
	}
	return false
}

// keyState is an immutable snapshot of the stored keys.
type keyState struct {
	meta []store.SigningKey // sorted by ActiveAt, then ID; Encrypted kept to detect reuse
	keys []*signingKey      // parallel to meta
	byID map[string]int
	// jwks[i] is the JWKS of keys[i:], built on first use. The published keys
	// are always such a suffix (see firstPublished).
	jwks []atomic.Pointer[[]byte]
}

// errNoChange aborts an UpdateSigningKeys whose re-check found nothing to
// do (another process did it), so no audit event is recorded.
var errNoChange = errors.New("no change")

// Init loads the keys and, if there are none, creates the first one, active
// at once. Processes starting together on an empty store create exactly one.
func (k *Keyring) Init(ctx context.Context) error {
	if err := k.Reload(ctx); err != nil {
		return err
	}
	if len(k.state.Load().keys) > 0 {
		return nil
	}
	return k.createFirst(ctx)
}

func (k *Keyring) createFirst(ctx context.Context) error {
	now := k.now()
	nk, err := k.newKey(now, now)
	if err != nil {
		return err
	}
	err = k.ks.UpdateSigningKeys(ctx, func(keys []store.SigningKey) ([]store.SigningKey, []string, error) {
		if len(keys) > 0 {
			return nil, nil, errNoChange
		}
		return []store.SigningKey{nk}, nil, nil
	}, k.event(now, "system", "key.create", nk, "first signing key"))
	switch {
	case err == nil:
		k.log.Info("created the first token signing key", "kid", nk.ID, "alg", nk.Algorithm)
	case !errors.Is(err, errNoChange):
		return fmt.Errorf("create first signing key: %w", err)
	}
	return k.Reload(ctx)
}

// Reload replaces the in-memory keys with the stored ones. Keys already
// loaded are not decrypted again. On error the previous keys stay in use.
func (k *Keyring) Reload(ctx context.Context) error {
	k.loadMu.Lock()
	defer k.loadMu.Unlock()
	stored, err := k.ks.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	stored = sortedKeys(stored)
	old := k.state.Load()
	st := &keyState{
		meta: stored,
		keys: make([]*signingKey, len(stored)),
		byID: make(map[string]int, len(stored)),
		jwks: make([]atomic.Pointer[[]byte], len(stored)),
	}
	for i, sk := range stored {
		if _, dup := st.byID[sk.ID]; dup {
			return fmt.Errorf("load signing keys: duplicate key ID %q", sk.ID)
		}
		st.byID[sk.ID] = i
		if old != nil {
			if j, ok := old.byID[sk.ID]; ok && old.meta[j].Algorithm == sk.Algorithm && string(old.meta[j].Encrypted) == string(sk.Encrypted) {
				st.keys[i] = old.keys[j]
				continue
			}
		}
		key, err := k.parseKey(sk)
		if err != nil {
			return err
		}
		st.keys[i] = key
	}
	k.state.Store(st)
	return nil
}

// errSameSecond: another key already starts signing in that second.
var errSameSecond = errors.New("another key is active from the same second")

// Rotate adds a new key that signs after the lead time, or at once if
// immediate (verifiers holding a cached JWKS then reject its tokens until
// they refetch). It returns the new key.
func (k *Keyring) Rotate(ctx context.Context, actor string, immediate bool) (store.SigningKey, error) {
	now := k.now()
	activeAt := now.Add(k.cfg.LeadTime)
	detail := "signs after the lead time"
	if immediate {
		activeAt = now
		detail = "immediate rotation"
	}
	nk, err := k.newKey(now, activeAt)
	if err != nil {
		return store.SigningKey{}, err
	}
	// Stored times have whole seconds, and of two keys with the same
	// ActiveAt the greater ID signs: a key must not share its second with
	// another, or it might never sign. Such a key moves a second later.
	for {
		err = k.ks.UpdateSigningKeys(ctx, func(keys []store.SigningKey) ([]store.SigningKey, []string, error) {
			for _, e := range keys {
				if e.ActiveAt.Equal(nk.ActiveAt) {
					return nil, nil, errSameSecond
				}
			}
			return []store.SigningKey{nk}, nil, nil
		}, k.event(now, actor, "key.rotate", nk, detail))
		if !errors.Is(err, errSameSecond) {
			break
		}
		nk.ActiveAt = nk.ActiveAt.Add(time.Second)
	}
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("add signing key: %w", err)
	}
	k.log.Info("added a token signing key", "kid", nk.ID, "alg", nk.Algorithm, "active_at", nk.ActiveAt, "actor", actor)
	if err := k.Reload(ctx); err != nil {
		return nk, fmt.Errorf("key %s was added, but: %w", nk.ID, err)
	}
	return nk, nil
}

// Maintain does the periodic key work; the server calls it every minute.
// It adds the next key when automatic rotation is due (once across all
// processes), deletes keys whose tokens have all expired, and reloads.
func (k *Keyring) Maintain(ctx context.Context) error {
	now := k.now()
	stored, err := k.ks.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	stored = sortedKeys(stored)
	if len(stored) == 0 {
		return k.createFirst(ctx)
	}
	if k.rotationDue(stored, now) {
		if err := k.autoRotate(ctx, now); err != nil {
			return err
		}
	}
	for _, sk := range stored[:firstPublished(stored, now, k.cfg.MaxTokenTTL)] {
		if err := k.deleteExpired(ctx, now, sk); err != nil {
			return err
		}
	}
	return k.Reload(ctx)
}

// rotationDue reports whether the newest key is due to be followed:
// its successor must be published LeadTime before the newest key has
// signed for RotationPeriod.
func (k *Keyring) rotationDue(sorted []store.SigningKey, now time.Time) bool {
	if k.cfg.RotationPeriod <= 0 || len(sorted) == 0 {
		return false
	}
	newest := sorted[len(sorted)-1].ActiveAt
	return !newest.Add(k.cfg.RotationPeriod - k.cfg.LeadTime).After(now)
}

func (k *Keyring) autoRotate(ctx context.Context, now time.Time) error {
	nk, err := k.newKey(now, now.Add(k.cfg.LeadTime))
	if err != nil {
		return err
	}
	err = k.ks.UpdateSigningKeys(ctx, func(keys []store.SigningKey) ([]store.SigningKey, []string, error) {
		if !k.rotationDue(sortedKeys(keys), now) {
			return nil, nil, errNoChange // another process rotated first
		}
		return []store.SigningKey{nk}, nil, nil
	}, k.event(now, "system", "key.rotate", nk, "automatic rotation"))
	switch {
	case err == nil:
		k.log.Info("rotated the token signing key", "kid", nk.ID, "alg", nk.Algorithm, "active_at", nk.ActiveAt)
	case !errors.Is(err, errNoChange):
		return fmt.Errorf("rotate signing key: %w", err)
	}
	return nil
}

func (k *Keyring) deleteExpired(ctx context.Context, now time.Time, sk store.SigningKey) error {
	err := k.ks.UpdateSigningKeys(ctx, func(keys []store.SigningKey) ([]store.SigningKey, []string, error) {
		keys = sortedKeys(keys)
		for _, cur := range keys[:firstPublished(keys, now, k.cfg.MaxTokenTTL)] {
			if cur.ID == sk.ID {
				return nil, []string{sk.ID}, nil
			}
		}
		return nil, nil, errNoChange
	}, store.AuditEvent{
		Time:   now,
		Actor:  "system",
		Action: "key.delete",
		Target: sk.ID,
		Detail: "every token it signed has expired",
	})
	switch {
	case err == nil:
		k.log.Info("deleted an expired token signing key", "kid", sk.ID)
	case !errors.Is(err, errNoChange):
		return fmt.Errorf("delete expired signing key %s: %w", sk.ID, err)
	}
	return nil
}

func (k *Keyring) event(now time.Time, actor, action string, nk store.SigningKey, detail string) store.AuditEvent {
	return store.AuditEvent{
		Time:   now,
		Actor:  actor,
		Action: action,
		Target: nk.ID,
		Detail: fmt.Sprintf("%s key, signs from %s (%s)", nk.Algorithm, nk.ActiveAt.Format(time.RFC3339), detail),
	}
}

// now is the clock in UTC to whole seconds, so stored times survive every
// backend's precision unchanged.
func (k *Keyring) now() time.Time {
	return k.cfg.Now().UTC().Truncate(time.Second)
}

// newKey generates and seals a key of the configured algorithm.
func (k *Keyring) newKey(createdAt, activeAt time.Time) (store.SigningKey, error) {
	var raw [12]byte
	if _, err := io.ReadFull(k.cfg.Rand, raw[:]); err != nil {
		return store.SigningKey{}, fmt.Errorf("generate key ID: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(raw[:])
	pkcs8, err := generatePKCS8(k.cfg.Algorithm, k.cfg.Rand)
	if err != nil {
		return store.SigningKey{}, err
	}
	sealed, err := seal(k.aead, k.cfg.Rand, kid, pkcs8)
	clear(pkcs8)
	if err != nil {
		return store.SigningKey{}, err
	}
	return store.SigningKey{
		ID:        kid,
		Algorithm: k.cfg.Algorithm,
		Encrypted: sealed,
		CreatedAt: createdAt,
		ActiveAt:  activeAt,
	}, nil
}

func (k *Keyring) parseKey(sk store.SigningKey) (*signingKey, error) {
	pkcs8, err := open(k.aead, sk.ID, sk.Encrypted)
	if err != nil {
		return nil, err
	}
	defer clear(pkcs8)
	key, err := loadKey(sk.ID, sk.Algorithm, pkcs8)
	if err != nil {
		return nil, fmt.Errorf("signing key %q: %w", sk.ID, err)
	}
	return key, nil
}

// sortedKeys returns a sorted copy: by ActiveAt, then ID.
func sortedKeys(keys []store.SigningKey) []store.SigningKey {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b store.SigningKey) int {
		if c := a.ActiveAt.Compare(b.ActiveAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return keys
}

// activeIndex is the index of the key that signs at now: the last one with
// ActiveAt <= now, or -1 if every key is still to come.
func activeIndex(sorted []store.SigningKey, now time.Time) int {
	for i := len(sorted) - 1; i >= 0; i-- {
		if !sorted[i].ActiveAt.After(now) {
			return i
		}
	}
	return -1
}

// firstPublished is the index of the oldest key still published at now.
// Key i is published until its successor's ActiveAt + maxTTL, a time that
// grows with i, so the published keys are sorted[firstPublished:].
func firstPublished(sorted []store.SigningKey, now time.Time, maxTTL time.Duration) int {
	for i := 0; i < len(sorted)-1; i++ {
		if now.Before(sorted[i+1].ActiveAt.Add(maxTTL)) {
			return i
		}
	}
	return max(len(sorted)-1, 0)
}

// Keys describes every loaded key, oldest first.
func (k *Keyring) Keys() []KeyInfo {
	st := k.state.Load()
	if st == nil {
		return nil
	}
	now := k.cfg.Now()
	active := activeIndex(st.meta, now)
	first := firstPublished(st.meta, now, k.cfg.MaxTokenTTL)
	out := make([]KeyInfo, len(st.meta))
	for i, m := range st.meta {
		ki := KeyInfo{ID: m.ID, Algorithm: m.Algorithm, CreatedAt: m.CreatedAt, ActiveAt: m.ActiveAt}
		switch {
		case i < first:
			ki.State = StateExpired
		case i == active:
			ki.State = StateActive
		case i > active:
			ki.State = StateNext
		default:
			ki.State = StateRetired
		}
		if i+1 < len(st.meta) {
			ki.RetiredAt = st.meta[i+1].ActiveAt
			ki.PublishedUntil = ki.RetiredAt.Add(k.cfg.MaxTokenTTL)
		}
		out[i] = ki
	}
	return out
}

// Algorithms lists the algorithms access tokens may be signed with: the one
// configured for new keys, then those of other published keys.
func (k *Keyring) Algorithms() []string {
	algs := []string{k.cfg.Algorithm}
	st := k.state.Load()
	if st == nil {
		return algs
	}
	for _, m := range st.meta[firstPublished(st.meta, k.cfg.Now(), k.cfg.MaxTokenTTL):] {
		if !slices.Contains(algs, m.Algorithm) {
			algs = append(algs, m.Algorithm)
		}
	}
	return algs
}

// JWKS returns the JSON Web Key Set (RFC 7517 §5) of the published keys:
// next, active and retired ones. The bytes are cached and shared; do not
// modify them.
func (k *Keyring) JWKS() []byte {
	st := k.state.Load()
	if st == nil || len(st.keys) == 0 {
		return []byte(`{"keys":[]}`)
	}
	first := firstPublished(st.meta, k.cfg.Now(), k.cfg.MaxTokenTTL)
	if p := st.jwks[first].Load(); p != nil {
		return *p
	}
	b := buildJWKS(st.keys[first:])
	st.jwks[first].Store(&b)
	return b
}

// JWKSCacheSeconds is the JWKS max-age in seconds, JWKSMaxAge(LeadTime):
// short enough that a verifier refetches well within the lead time, so it
// knows a new key before the key signs.
func (k *Keyring) JWKSCacheSeconds() int {
	return int(JWKSMaxAge(k.cfg.LeadTime) / time.Second)
}
