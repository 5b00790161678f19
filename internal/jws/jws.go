// Package jws verifies JWT access tokens (RFC 9068): the one verifier behind
// the key ring's Verify (introspection, revocation) and the resource-server
// middleware (package resource, and so the gateway).
//
// Tokens are parsed here rather than with go-jose: a compact JWS is three
// base64url parts, and doing it directly keeps a cold verification within a
// few microseconds of the signature check itself.
package jws

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Signing algorithms (RFC 7518 §3.1, RFC 8037 §3.1). Symmetric (HS*)
// algorithms and "none" are never accepted: a verifier holds only public
// keys.
const (
	ES256 = "ES256" // ECDSA P-256 with SHA-256
	RS256 = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256
	PS256 = "PS256" // RSASSA-PSS with SHA-256
	EdDSA = "EdDSA" // Ed25519
)

// algorithms are the algorithms Verify accepts when Policy.Algorithms is nil.
var algorithms = []string{ES256, RS256, PS256, EdDSA}

// DefaultLeeway is the clock skew tolerated in exp and nbf checks, between
// the process that signed a token and the one that verifies it. Every
// verifier in Gatehouse uses it unless configured otherwise.
const DefaultLeeway = 30 * time.Second

// MaxTokenLen bounds the tokens Verify reads; Gatehouse's are well under
// 2 KiB.
const MaxTokenLen = 16 << 10

// typAccessToken is the JOSE "typ" of access tokens (RFC 9068 §2.1).
const typAccessToken = "at+jwt"

// Claim is a set of registered claims, for Policy.Required.
type Claim uint16

// Claims Policy.Required may name.
const (
	Iss Claim = 1 << iota
	Sub
	Aud
	Exp
	Iat
	Nbf
	JTI
	ClientID
)

// RFC9068 is the set of claims RFC 9068 §2.2 requires of an access token.
const RFC9068 = Iss | Exp | Aud | Sub | ClientID | Iat | JTI

var claimNames = [...]struct {
	c    Claim
	name string
}{{Iss, "iss"}, {Sub, "sub"}, {Aud, "aud"}, {Exp, "exp"}, {Iat, "iat"}, {Nbf, "nbf"}, {JTI, "jti"}, {ClientID, "client_id"}}

// Policy says what a valid token is, beyond a good signature.
type Policy struct {
	// Issuer, if set, must be the token's iss exactly.
	Issuer string
	// Audience, if set, must be the token's aud or one of its elements.
	Audience string
	// Leeway tolerates clock skew: a token is accepted until exp+Leeway and
	// from nbf-Leeway. Callers normally pass DefaultLeeway.
	Leeway time.Duration
	// Required are the claims a token must have (non-empty strings, dates);
	// zero means RFC9068. exp is always required.
	Required Claim
	// Algorithms, if set, are the only algorithms accepted; each must be
	// one of ES256, RS256, PS256, EdDSA. Nil means all four.
	Algorithms []string
	// Now is the time to check against; zero means time.Now().
	Now time.Time
	// Type is the JOSE typ a token must have: "" means an access token
	// (at+jwt, RFC 9068 §2.1); TypeJWT means a JWT that is not one (typ
	// absent or JWT, RFC 7519 §5.1), such as a client assertion (RFC 7523).
	Type string
}

// TypeJWT is Policy.Type for JWTs other than access tokens: typ absent or
// "JWT". An access token (typ at+jwt) is refused, so that one cannot pass
// for the other.
const TypeJWT = "JWT"

// Keys returns the key with the given key ID (the header's kid, "" if it
// has none), or nil if there is none.
type Keys func(kid string) *Key

// Claims are the claims of a verified access token (RFC 9068 §2.2).
type Claims struct {
	Issuer    string   // iss
	Subject   string   // sub
	Audience  []string // aud, a string or an array in the token
	ClientID  string   // client_id
	Scope     string   // scope, space-separated, as in the token
	AccountID string   // account_id; "" if none
	JTI       string   // jti
	// JKT is cnf.jkt, the JWK SHA-256 thumbprint of the key a DPoP-bound
	// token is bound to (RFC 9449 §6.1); "" if the token is not bound.
	JKT       string
	IssuedAt  time.Time
	NotBefore time.Time // zero if the token has no nbf
	ExpiresAt time.Time
}

// Reason is why a token was refused.
type Reason uint8

// Reasons for refusing a token.
const (
	Malformed     Reason = iota + 1 // not a compact JWS, bad base64url or JSON, a claim of the wrong type
	BadHeader                       // typ is not at+jwt, or critical extensions
	BadAlgorithm                    // alg not accepted
	UnknownKey                      // no key for the kid
	BadSignature                    // the signature does not verify, or alg does not suit the key
	WrongIssuer                     // iss is not Policy.Issuer
	WrongAudience                   // aud does not contain Policy.Audience
	Expired                         // exp+leeway has passed
	NotYetValid                     // nbf-leeway is still to come
	MissingClaim                    // a required claim is absent or empty
)

var reasonNames = [...]string{"", "malformed", "bad header", "bad algorithm", "unknown key", "bad signature",
	"wrong issuer", "wrong audience", "expired", "not yet valid", "missing claim"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) && r != 0 {
		return reasonNames[r]
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// Error is the error Verify returns: a Reason and a description fit to
// show to the token's bearer (RFC 6750 error_description).
type Error struct {
	Reason Reason
	Desc   string
}

func (e *Error) Error() string { return e.Desc }

func fail(r Reason, desc string) *Error { return &Error{Reason: r, Desc: desc} }

var b64 = base64.RawURLEncoding.Strict()

// header is the protected header of a token (RFC 7515 §4).
type header struct {
	Alg  string          `json:"alg"`
	Typ  string          `json:"typ"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
}

// wireClaims is the claims set as it is decoded.
type wireClaims struct {
	Iss       string      `json:"iss"`
	Sub       string      `json:"sub"`
	Aud       audience    `json:"aud"`
	Exp       numericDate `json:"exp"`
	Iat       numericDate `json:"iat"`
	Nbf       numericDate `json:"nbf"`
	Jti       string      `json:"jti"`
	ClientID  string      `json:"client_id"`
	Scope     string      `json:"scope"`
	AccountID string      `json:"account_id"`
	Cnf       *struct {
		JKT string `json:"jkt"`
	} `json:"cnf"`
}

// Verify checks an access token (RFC 9068 §4): a compact JWS (RFC 7515
// §7.1) with typ at+jwt, no critical extensions, an accepted alg that suits
// the key keys returns for its kid, a good signature, and claims that meet
// p. It returns the claims, or an *Error.
func Verify(token string, keys Keys, p Policy) (Claims, error) {
	if len(token) > MaxTokenLen {
		return Claims{}, fail(Malformed, "token too long")
	}
	d1 := strings.IndexByte(token, '.')
	if d1 < 0 {
		return Claims{}, fail(Malformed, "not a JWT")
	}
	d2 := strings.IndexByte(token[d1+1:], '.')
	if d2 < 0 {
		return Claims{}, fail(Malformed, "not a JWT")
	}
	d2 += d1 + 1
	if strings.IndexByte(token[d2+1:], '.') >= 0 {
		return Claims{}, fail(Malformed, "not a signed JWT (JWS compact serialization)")
	}
	var buf [512]byte
	hb, err := decode(buf[:0], token[:d1])
	if err != nil {
		return Claims{}, fail(Malformed, "malformed JOSE header")
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil {
		return Claims{}, fail(Malformed, "malformed JOSE header")
	}
	sig, err := decode(buf[len(hb):len(hb)], token[d2+1:])
	if err != nil || len(sig) == 0 {
		return Claims{}, fail(Malformed, "malformed signature")
	}
	switch p.Type {
	case "":
		if !strings.EqualFold(h.Typ, typAccessToken) && !strings.EqualFold(h.Typ, "application/"+typAccessToken) {
			return Claims{}, fail(BadHeader, "not an access token (typ must be at+jwt, RFC 9068)")
		}
	case TypeJWT:
		if h.Typ != "" && !strings.EqualFold(h.Typ, TypeJWT) && !strings.EqualFold(h.Typ, "application/jwt") {
			return Claims{}, fail(BadHeader, "typ must be JWT or absent")
		}
	default:
		return Claims{}, fail(BadHeader, "unsupported policy type")
	}
	if h.Crit != nil {
		return Claims{}, fail(BadHeader, "unsupported critical header parameters")
	}
	if !algAllowed(h.Alg, p.Algorithms) {
		return Claims{}, fail(BadAlgorithm, "algorithm "+cut(h.Alg, 20)+" is not accepted")
	}
	key := keys(h.Kid)
	if key == nil {
		return Claims{}, fail(UnknownKey, "signed by an unknown key")
	}
	if !key.suits(h.Alg) {
		return Claims{}, fail(BadSignature, "bad signature: algorithm "+h.Alg+" does not suit the key")
	}
	if !key.verify(h.Alg, token[:d2], sig) {
		return Claims{}, fail(BadSignature, "bad signature")
	}

	pb, err := decode(buf[:0], token[d1+1:d2])
	if err != nil {
		return Claims{}, fail(Malformed, "malformed claims")
	}
	var w wireClaims
	if err := json.Unmarshal(pb, &w); err != nil {
		return Claims{}, fail(Malformed, "malformed claims")
	}
	now := p.Now
	if now.IsZero() {
		now = time.Now()
	}
	switch {
	case p.Issuer != "" && w.Iss != p.Issuer:
		return Claims{}, fail(WrongIssuer, "wrong issuer")
	case p.Audience != "" && !slices.Contains(w.Aud, p.Audience):
		return Claims{}, fail(WrongAudience, "wrong audience")
	case !w.Exp.set:
		return Claims{}, fail(MissingClaim, "no exp claim")
	case !now.Before(w.Exp.t.Add(p.Leeway)):
		return Claims{}, fail(Expired, "token expired")
	case w.Nbf.set && w.Nbf.t.After(now.Add(p.Leeway)):
		return Claims{}, fail(NotYetValid, "token not valid yet")
	}
	req := p.Required
	if req == 0 {
		req = RFC9068
	}
	if missing := w.missing(req); missing != 0 {
		return Claims{}, fail(MissingClaim, missingDesc(missing))
	}
	var jkt string
	if w.Cnf != nil {
		if w.Cnf.JKT == "" {
			// A confirmation this verifier cannot check (e.g. x5t#S256,
			// RFC 8705) must not pass for an unbound token.
			return Claims{}, fail(MissingClaim, "cnf claim without jkt")
		}
		jkt = w.Cnf.JKT
	}
	return Claims{
		JKT:       jkt,
		Issuer:    w.Iss,
		Subject:   w.Sub,
		Audience:  w.Aud,
		ClientID:  w.ClientID,
		Scope:     w.Scope,
		AccountID: w.AccountID,
		JTI:       w.Jti,
		IssuedAt:  w.Iat.t,
		NotBefore: w.Nbf.t,
		ExpiresAt: w.Exp.t,
	}, nil
}

// Subject returns the sub claim of a compact JWS without verifying it: what
// a client assertion names its client with (RFC 7523 §3), to find the keys
// that Verify then checks it with. Nothing else may be trusted of it.
func Subject(token string) (string, error) {
	if len(token) > MaxTokenLen {
		return "", fail(Malformed, "token too long")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", fail(Malformed, "not a signed JWT (JWS compact serialization)")
	}
	pb, err := decode(nil, parts[1])
	if err != nil {
		return "", fail(Malformed, "malformed claims")
	}
	var w struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(pb, &w); err != nil {
		return "", fail(Malformed, "malformed claims")
	}
	return w.Sub, nil
}

// missing returns the claims of req that w lacks.
func (w *wireClaims) missing(req Claim) Claim {
	var m Claim
	add := func(c Claim, ok bool) {
		if req&c != 0 && !ok {
			m |= c
		}
	}
	add(Iss, w.Iss != "")
	add(Sub, w.Sub != "")
	add(Aud, len(w.Aud) > 0 && slices.IndexFunc(w.Aud, func(s string) bool { return s == "" }) < 0)
	add(Iat, w.Iat.set)
	add(Nbf, w.Nbf.set)
	add(JTI, w.Jti != "")
	add(ClientID, w.ClientID != "")
	return m
}

func missingDesc(m Claim) string {
	b := []byte("missing claims (RFC 9068 §2.2):")
	for _, n := range claimNames {
		if m&n.c != 0 {
			b = append(b, ' ')
			b = append(b, n.name...)
		}
	}
	return string(b)
}

func algAllowed(alg string, allowed []string) bool {
	if allowed == nil {
		allowed = algorithms
	}
	for _, a := range allowed {
		if a == alg {
			switch a {
			case ES256, RS256, PS256, EdDSA:
				return true
			}
		}
	}
	return false
}

// cut shortens s, from the token, for an error description.
func cut(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// decode appends the base64url decoding of s to dst.
func decode(dst []byte, s string) ([]byte, error) {
	n := b64.DecodedLen(len(s))
	if cap(dst)-len(dst) < n {
		dst = make([]byte, len(dst), len(dst)+n)
	}
	m, err := b64.Decode(dst[len(dst):len(dst)+n], []byte(s))
	return dst[:len(dst)+m], err
}

// audience is the aud claim: a string or an array of strings (RFC 7519
// §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	if len(b) > 0 && b[0] == '[' {
		var l []string
		if err := json.Unmarshal(b, &l); err != nil {
			return err
		}
		*a = l
		return nil
	}
	return errors.New("aud is neither a string nor an array of strings")
}

// numericDate is a NumericDate (RFC 7519 §2): seconds since the epoch,
// possibly fractional. Strings and null are refused.
type numericDate struct {
	t   time.Time
	set bool
}

// maxNumericDate bounds dates to about ±285 million years, so that
// time.Unix and float seconds stay exact.
const maxNumericDate = 1 << 53

func (n *numericDate) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return errors.New("a date is not a number")
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		if v < -maxNumericDate || v > maxNumericDate {
			return errors.New("a date is out of range")
		}
		*n = numericDate{t: time.Unix(v, 0).UTC(), set: true}
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < -maxNumericDate || f > maxNumericDate {
		return errors.New("a date is not a valid number")
	}
	sec, frac := math.Modf(f)
	*n = numericDate{t: time.Unix(int64(sec), int64(frac*1e9)).UTC(), set: true}
	return nil
}
