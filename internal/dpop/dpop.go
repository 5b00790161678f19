// Package dpop verifies DPoP proofs (RFC 9449): the one verifier behind the
// authorization server's token endpoint and the resource-server middleware
// (package resource, and so the gateway).
//
// A proof is a JWT the client signs with a key of its own and sends in the
// DPoP header of each request: typ dpop+jwt, an asymmetric alg, the public
// key in the jwk header, and claims naming the request (htm, htu), when it
// was made (iat), a unique ID (jti) and, at a resource, the hash of the
// access token it goes with (ath). The key's JWK SHA-256 thumbprint (RFC
// 7638) is what tokens are bound to (cnf.jkt).
//
// The proof's JWK is parsed with go-jose; the signature is checked by
// internal/jws, the same code that verifies access tokens. The package
// imports nothing else of Gatehouse's, so the public resource package may
// use it.
package dpop

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/jws"
)

// Header is the request header that carries a proof (RFC 9449 §4.1).
const Header = "DPoP"

// NonceHeader is the response header that gives a server nonce (RFC 9449
// §8.1).
const NonceHeader = "DPoP-Nonce"

// Scheme is the authorization scheme of a DPoP-bound access token (RFC
// 9449 §7.1), and the token_type of a token response that issues one.
const Scheme = "DPoP"

// Error codes (RFC 9449 §12.2).
const (
	CodeInvalidProof = "invalid_dpop_proof"
	CodeUseNonce     = "use_dpop_nonce"
)

// typ is the JOSE typ of a proof (RFC 9449 §4.2).
const typ = "dpop+jwt"

// Algorithms are the proof algorithms accepted by default: asymmetric only
// (RFC 9449 §4.2), the ones internal/jws verifies.
var Algorithms = []string{jws.ES256, jws.RS256, jws.PS256, jws.EdDSA}

// Defaults for zero Options fields.
const (
	// DefaultWindow is how far a proof's iat may be from the verifier's
	// clock, either way (RFC 9449 §11.1: "a few seconds to minutes").
	DefaultWindow = 60 * time.Second
	// DefaultCacheSize bounds the jtis remembered per period of twice the
	// window: past it, new proofs are refused until the period ends (fail
	// closed, rather than forget a jti that may be replayed).
	DefaultCacheSize = 200_000
)

// MaxProofLen bounds the proofs read; a proof with an RSA 4096 key is
// under 2 KiB.
const MaxProofLen = 8 << 10

// maxJTILen bounds the jti of a proof, which is remembered.
const maxJTILen = 256

// Reason is why a proof was refused.
type Reason uint8

// Reasons for refusing a proof.
const (
	Malformed    Reason = iota + 1 // not a compact JWS, bad base64url or JSON, a claim missing or of the wrong type
	BadHeader                      // typ is not dpop+jwt, critical extensions
	BadAlgorithm                   // alg not accepted (symmetric, none, not in the list)
	BadKey                         // the jwk is missing, private, symmetric or unusable with alg
	BadSignature                   // the signature does not verify
	WrongMethod                    // htm is not the request's method
	WrongURL                       // htu is not the request's URL
	Stale                          // iat is outside the window
	Replayed                       // the jti was seen within the window
	WrongToken                     // ath is missing or is not the access token's hash
	BadNonce                       // the nonce is missing or not (or no longer) good
	Busy                           // the replay cache is full: the proof cannot be remembered
	WrongKey                       // signed by another key than Request.JKT
)

var reasonNames = [...]string{"", "malformed", "bad header", "bad algorithm", "bad key", "bad signature",
	"wrong method", "wrong URL", "stale", "replayed", "wrong token", "bad nonce", "busy", "wrong key"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) && r != 0 {
		return reasonNames[r]
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// Error is the error Verify returns: a Reason and a description fit to show
// to the client.
type Error struct {
	Reason Reason
	Desc   string
}

func (e *Error) Error() string { return e.Desc }

func fail(r Reason, desc string) *Error { return &Error{Reason: r, Desc: desc} }

// Options configure a Verifier; the zero value is useful.
type Options struct {
	// Algorithms are the algorithms accepted, each one of Algorithms; nil
	// means all of them.
	Algorithms []string
	// Window is how far iat may be from now, either way; zero means
	// DefaultWindow. The jtis of accepted proofs are remembered for at
	// least twice as long.
	Window time.Duration
	// CacheSize bounds the jtis remembered (see DefaultCacheSize); zero
	// means DefaultCacheSize.
	CacheSize int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verifier checks proofs and remembers the jtis of those it accepted, in
// memory: a proof is accepted once per Verifier (per process). Safe for
// concurrent use.
type Verifier struct {
	algs   []string
	window time.Duration
	now    func() time.Time
	seen   *replayCache
}

// NewVerifier returns a Verifier, or an error for an unsupported algorithm
// or a negative setting.
func NewVerifier(o Options) (*Verifier, error) {
	v := &Verifier{algs: Algorithms, window: o.Window, now: o.Now}
	if o.Algorithms != nil {
		if len(o.Algorithms) == 0 {
			return nil, errors.New("dpop: no algorithms; leave the list nil for the default")
		}
		for _, a := range o.Algorithms {
			if !slices.Contains(Algorithms, a) {
				return nil, errors.New("dpop: algorithm " + strconv.Quote(a) + " is not supported; use ES256, RS256, PS256 or EdDSA")
			}
		}
		v.algs = slices.Clone(o.Algorithms)
	}
	switch {
	case o.Window < 0:
		return nil, errors.New("dpop: the window is negative")
	case o.Window == 0:
		v.window = DefaultWindow
	}
	size := o.CacheSize
	switch {
	case size < 0:
		return nil, errors.New("dpop: the cache size is negative")
	case size == 0:
		size = DefaultCacheSize
	}
	if v.now == nil {
		v.now = time.Now
	}
	v.seen = newReplayCache(size, 2*v.window)
	return v, nil
}

// Algorithms returns the algorithms the verifier accepts, for metadata
// (dpop_signing_alg_values_supported) and challenges (algs).
func (v *Verifier) Algorithms() []string { return slices.Clone(v.algs) }

// Request is what a proof must match.
type Request struct {
	// Method is the request's method; htm must be it exactly.
	Method string
	// URL is the request's target URI as the client addressed it: an
	// absolute http(s) URL. Its query and fragment are ignored; htu must be
	// the rest, both compared after RFC 3986 §6.2.2 normalization (RFC 9449
	// §4.3 item 9).
	URL string
	// AccessToken, at a resource, is the access token presented with the
	// proof: ath must be the base64url SHA-256 of it. "" at the token
	// endpoint, where a proof with ath is refused.
	AccessToken string
	// Nonce, if not nil, says whether a nonce is good; a proof without one
	// is then refused (BadNonce). Nil: the nonce claim is ignored.
	Nonce func(nonce string) bool
	// JKT, if not "", is the thumbprint of the key the access token is
	// bound to (its cnf.jkt): a proof by another key is refused (WrongKey)
	// before its jti is remembered, so that proofs that could never be
	// accepted do not fill the replay cache.
	JKT string
}

// Proof is what a verified proof says.
type Proof struct {
	// JKT is the JWK SHA-256 thumbprint (RFC 7638) of the proof's key,
	// base64url: what cnf.jkt of a bound token must be.
	JKT      string
	JTI      string
	IssuedAt time.Time
}

var b64 = base64.RawURLEncoding.Strict()

type header struct {
	Typ  string          `json:"typ"`
	Alg  string          `json:"alg"`
	JWK  json.RawMessage `json:"jwk"`
	Crit json.RawMessage `json:"crit"`
}

type claims struct {
	JTI   *string  `json:"jti"`
	HTM   *string  `json:"htm"`
	HTU   *string  `json:"htu"`
	IAT   *float64 `json:"iat"`
	ATH   *string  `json:"ath"`
	Nonce *string  `json:"nonce"`
}

// Verify checks a proof (RFC 9449 §4.3) against req and returns its key's
// thumbprint, or an *Error. A proof accepted once is refused afterwards
// (Replayed) for as long as its iat is within the window. Only the value
// of exactly one DPoP header may be passed: a caller that finds several
// refuses the request itself.
func (v *Verifier) Verify(proof string, req Request) (Proof, error) {
	p, err := v.Check(proof, req)
	if err != nil {
		return Proof{}, err
	}
	// Last, so that a refused proof is not remembered: its client sends
	// another with a new jti.
	return p, v.Remember(p)
}

// Check is Verify without the replay check: a caller that wants to
// remember the proof only once the request has passed other checks (the
// token endpoint: client authentication) calls Remember then.
func (v *Verifier) Check(proof string, req Request) (Proof, error) {
	return v.check(proof, req, v.now())
}

// Remember records the jti of a checked proof, or returns an *Error:
// Replayed if it was seen within the window, Busy if the replay cache is
// full.
func (v *Verifier) Remember(p Proof) error {
	switch v.seen.add(p.JKT, p.JTI, v.now()) {
	case replayed:
		return fail(Replayed, "the DPoP proof was used before (jti seen)")
	case full:
		return fail(Busy, "too many DPoP proofs to remember; retry later")
	}
	return nil
}

// check is Verify but the replay check.
func (v *Verifier) check(proof string, req Request, now time.Time) (Proof, error) {
	if len(proof) > MaxProofLen {
		return Proof{}, fail(Malformed, "DPoP proof too long")
	}
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		return Proof{}, fail(Malformed, "the DPoP proof is not a signed JWT (JWS compact serialization)")
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return Proof{}, fail(Malformed, "malformed DPoP proof header")
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil {
		return Proof{}, fail(Malformed, "malformed DPoP proof header")
	}
	switch {
	case h.Typ != typ:
		return Proof{}, fail(BadHeader, "the DPoP proof's typ must be dpop+jwt")
	case h.Crit != nil:
		return Proof{}, fail(BadHeader, "unsupported critical header parameters in the DPoP proof")
	case !slices.Contains(v.algs, h.Alg):
		return Proof{}, fail(BadAlgorithm, "DPoP proof algorithm "+strconv.Quote(cut(h.Alg, 20))+" is not accepted; use one of "+strings.Join(v.algs, " "))
	case len(h.JWK) == 0:
		return Proof{}, fail(BadKey, "the DPoP proof has no jwk header")
	}
	key, jkt, err := publicKey(h.JWK, h.Alg)
	if err != nil {
		return Proof{}, err
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || len(sig) == 0 {
		return Proof{}, fail(Malformed, "malformed DPoP proof signature")
	}
	if !key.VerifySignature(h.Alg, proof[:len(parts[0])+1+len(parts[1])], sig) {
		return Proof{}, fail(BadSignature, "bad DPoP proof signature")
	}
	cb, err := b64.DecodeString(parts[1])
	if err != nil {
		return Proof{}, fail(Malformed, "malformed DPoP proof claims")
	}
	var c claims
	if err := json.Unmarshal(cb, &c); err != nil {
		return Proof{}, fail(Malformed, "malformed DPoP proof claims")
	}
	switch {
	case c.JTI == nil || *c.JTI == "" || c.HTM == nil || c.HTU == nil || c.IAT == nil:
		return Proof{}, fail(Malformed, "the DPoP proof lacks one of jti, htm, htu, iat")
	case len(*c.JTI) > maxJTILen:
		return Proof{}, fail(Malformed, "the DPoP proof's jti is too long")
	case *c.HTM != req.Method:
		return Proof{}, fail(WrongMethod, "the DPoP proof is for another HTTP method (htm)")
	}
	want, err := NormalizeURL(req.URL)
	if err != nil {
		return Proof{}, fail(WrongURL, "the request URL cannot be compared with htu")
	}
	if got, err := NormalizeURL(*c.HTU); err != nil || got != want {
		return Proof{}, fail(WrongURL, "the DPoP proof is for another URL (htu)")
	}
	iat := *c.IAT
	if math.IsNaN(iat) || math.IsInf(iat, 0) || math.Abs(iat) > 1<<53 {
		return Proof{}, fail(Malformed, "the DPoP proof's iat is not a date")
	}
	issued := time.Unix(0, 0).Add(time.Duration(iat * float64(time.Second)))
	if d := now.Sub(issued); d > v.window || d < -v.window {
		return Proof{}, fail(Stale, "the DPoP proof's iat is too far from the server's time")
	}
	switch {
	case req.AccessToken == "" && c.ATH != nil:
		return Proof{}, fail(WrongToken, "a DPoP proof for the token endpoint must not have ath")
	case req.AccessToken != "" && c.ATH == nil:
		return Proof{}, fail(WrongToken, "the DPoP proof lacks ath, the hash of the access token")
	case req.AccessToken != "" && subtle.ConstantTimeCompare([]byte(*c.ATH), []byte(TokenHash(req.AccessToken))) != 1:
		return Proof{}, fail(WrongToken, "the DPoP proof is for another access token (ath)")
	}
	if req.JKT != "" && subtle.ConstantTimeCompare([]byte(jkt), []byte(req.JKT)) != 1 {
		return Proof{}, fail(WrongKey, "the DPoP proof is signed by another key than the token is bound to")
	}
	if req.Nonce != nil && (c.Nonce == nil || !req.Nonce(*c.Nonce)) {
		return Proof{}, fail(BadNonce, "the DPoP proof needs the server's current nonce (DPoP-Nonce)")
	}
	return Proof{JKT: jkt, JTI: *c.JTI, IssuedAt: issued}, nil
}

// publicKey parses the proof's jwk header with go-jose: a public key only
// (RFC 9449 §4.2: never a private key, never a symmetric one) that suits
// alg. It returns the key and its thumbprint.
func publicKey(raw json.RawMessage, alg string) (*jws.Key, string, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, "", fail(BadKey, "the DPoP proof's jwk is not a JSON object")
	}
	for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
		if _, ok := probe[m]; ok {
			return nil, "", fail(BadKey, "the DPoP proof's jwk has private or symmetric key material ("+m+")")
		}
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil || !jwk.Valid() || !jwk.IsPublic() {
		return nil, "", fail(BadKey, "the DPoP proof's jwk is not a usable public key")
	}
	key, err := jws.NewKey("", alg, jwk.Key)
	if err != nil {
		return nil, "", fail(BadKey, "the DPoP proof's jwk does not suit its alg: "+err.Error())
	}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, "", fail(BadKey, "the DPoP proof's jwk has no thumbprint")
	}
	return key, base64.RawURLEncoding.EncodeToString(tp), nil
}

// Thumbprint returns the JWK SHA-256 thumbprint (RFC 7638) of a public
// key, base64url, as cnf.jkt and the dpop_jkt parameter carry it.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// TokenHash is the ath of an access token: base64url(SHA-256(token)) (RFC
// 9449 §4.2).
func TokenHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

type addResult uint8

const (
	added addResult = iota
	replayed
	full
)

// replayCache remembers (jkt, jti) pairs, as 64-bit keyed hashes (maphash,
// a random seed per process, so that no one can make two pairs collide on
// purpose), in two generations: a pair is looked up in both and added to
// the current one, and the current one becomes the previous one every
// period. So a pair is remembered for at least one period and at most two;
// with a period of twice the window, as long as a proof can be accepted.
// Each generation holds at most max pairs; when the current one is full,
// add refuses (fail closed).
type replayCache struct {
	shards [16]replayShard
	seed   maphash.Seed
	period time.Duration
}

type replayShard struct {
	mu        sync.Mutex
	cur, prev map[uint64]struct{}
	start     time.Time // of cur
	max       int
	_         [32]byte
}

func newReplayCache(size int, period time.Duration) *replayCache {
	c := &replayCache{seed: maphash.MakeSeed(), period: period}
	per := max(1, (size+len(c.shards)-1)/len(c.shards))
	for i := range c.shards {
		c.shards[i] = replayShard{cur: make(map[uint64]struct{}), prev: map[uint64]struct{}{}, max: per}
	}
	return c
}

func (c *replayCache) add(jkt, jti string, now time.Time) addResult {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteString(jkt)
	h.WriteByte(0)
	h.WriteString(jti)
	k := h.Sum64()
	s := &c.shards[k%uint64(len(c.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	switch age := now.Sub(s.start); {
	case s.start.IsZero():
		s.start = now
	case age >= 2*c.period:
		clear(s.prev)
		clear(s.cur)
		s.start = now
	case age >= c.period:
		s.prev, s.cur = s.cur, s.prev
		clear(s.cur)
		s.start = s.start.Add(c.period)
	}
	if _, ok := s.cur[k]; ok {
		return replayed
	}
	if _, ok := s.prev[k]; ok {
		return replayed
	}
	if len(s.cur) >= s.max {
		return full
	}
	s.cur[k] = struct{}{}
	return added
}

// ProofClaims are the claims of a proof to sign (RFC 9449 §4.2).
type ProofClaims struct {
	Method      string    // htm
	URL         string    // htu: the target URI; its query and fragment are dropped
	AccessToken string    // at a resource: the token, whose hash becomes ath
	Nonce       string    // the server's nonce, if it gave one
	JTI         string    // "" means 16 random bytes, base64url
	IssuedAt    time.Time // zero means now
}

// Sign returns a proof signed by key (an *ecdsa.PrivateKey on P-256, an
// *rsa.PrivateKey or an ed25519.PrivateKey) with alg, its public key in the
// jwk header: what a client sends in the DPoP header. Gatehouse's tests and
// Go clients use it.
func Sign(key crypto.Signer, alg string, c ProofClaims) (string, error) {
	if c.JTI == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		c.JTI = base64.RawURLEncoding.EncodeToString(b[:])
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = time.Now()
	}
	htu := c.URL
	if i := strings.IndexAny(htu, "?#"); i >= 0 {
		htu = htu[:i]
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: key},
		(&jose.SignerOptions{EmbedJWK: true}).WithType(typ))
	if err != nil {
		return "", err
	}
	payload := map[string]any{"jti": c.JTI, "htm": c.Method, "htu": htu, "iat": c.IssuedAt.Unix()}
	if c.AccessToken != "" {
		payload["ath"] = TokenHash(c.AccessToken)
	}
	if c.Nonce != "" {
		payload["nonce"] = c.Nonce
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return "", err
	}
	obj, err := s.Sign(b)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}
