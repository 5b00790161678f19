package resource

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/scope"
)

// The token is parsed here rather than with go-jose: a compact JWS is three
// base64url parts, and doing it directly keeps a cold verification within a
// few microseconds of the signature check itself (see bench_test.go).

var b64 = base64.RawURLEncoding.Strict()

// jwsHeader is the protected header of a token (RFC 7515 §4).
type jwsHeader struct {
	Alg  string          `json:"alg"`
	Typ  string          `json:"typ"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
}

// wireClaims is the claims set of an access token (RFC 9068 §2.2).
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
}

// audience is the aud claim: a string or an array of strings (RFC 7519 §4.1.3).
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

// maxNumericDate bounds dates to about ±285 million years, so that time.Unix
// and float seconds stay exact.
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
		*n = numericDate{t: time.Unix(v, 0), set: true}
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < -maxNumericDate || f > maxNumericDate {
		return errors.New("a date is not a valid number")
	}
	sec, frac := math.Modf(f)
	*n = numericDate{t: time.Unix(int64(sec), int64(frac*1e9)), set: true}
	return nil
}

// entry is a verified token: what the cache holds.
type entry struct {
	token  string
	exp    int64 // ExpiresAt in Unix nanoseconds: the entry is not used from then on
	claims *Claims
	set    scope.Set
}

// compactJWS is a token split into its parts (RFC 7515 §7.1).
type compactJWS struct {
	input   string // header.payload, the signing input
	payload string // base64url
	sig     []byte
	hdr     jwsHeader
}

// parseJWS splits and decodes a compact JWS and its header. It checks
// nothing but the form.
func parseJWS(tok string) (*compactJWS, error) {
	if len(tok) > maxTokenLen {
		return nil, errors.New("token too long")
	}
	d1 := strings.IndexByte(tok, '.')
	if d1 < 0 {
		return nil, errors.New("not a JWT")
	}
	d2 := strings.IndexByte(tok[d1+1:], '.')
	if d2 < 0 {
		return nil, errors.New("not a JWT")
	}
	d2 += d1 + 1
	if strings.IndexByte(tok[d2+1:], '.') >= 0 {
		return nil, errors.New("not a signed JWT (JWS compact serialization)")
	}
	var buf [512]byte
	hb, err := decode(buf[:0], tok[:d1])
	if err != nil {
		return nil, errors.New("malformed JOSE header")
	}
	j := &compactJWS{input: tok[:d2], payload: tok[d1+1 : d2]}
	if err := json.Unmarshal(hb, &j.hdr); err != nil {
		return nil, errors.New("malformed JOSE header")
	}
	if j.sig, err = decode(nil, tok[d2+1:]); err != nil || len(j.sig) == 0 {
		return nil, errors.New("malformed signature")
	}
	return j, nil
}

// decode appends the base64url decoding of s to dst.
func decode(dst []byte, s string) ([]byte, error) {
	n := b64.DecodedLen(len(s))
	if cap(dst)-len(dst) < n {
		dst = make([]byte, 0, len(dst)+n)
	}
	m, err := b64.Decode(dst[len(dst):len(dst)+n], []byte(s))
	return dst[:len(dst)+m], err
}

// verify checks a token that is not in the cache (RFC 9068 §4).
func (g *Guard) verify(ctx context.Context, tok string, now time.Time) (*entry, *failure) {
	j, err := parseJWS(tok)
	if err != nil {
		return nil, invalidToken(err.Error())
	}
	h := &j.hdr
	if !strings.EqualFold(h.Typ, "at+jwt") && !strings.EqualFold(h.Typ, "application/at+jwt") {
		return nil, invalidToken("not an access token (typ must be at+jwt, RFC 9068)")
	}
	if h.Crit != nil {
		return nil, invalidToken("unsupported critical header parameters")
	}
	if !g.algAllowed(h.Alg) {
		return nil, invalidToken("algorithm " + cut(h.Alg, 20) + " is not accepted")
	}
	key, f := g.keyFor(ctx, h.Kid, now)
	if f != nil {
		return nil, f
	}
	if !key.verify(h.Alg, j.input, j.sig) {
		return nil, invalidToken("bad signature")
	}

	pb, err := decode(nil, j.payload)
	if err != nil {
		return nil, invalidToken("malformed claims")
	}
	var w wireClaims
	if err := json.Unmarshal(pb, &w); err != nil {
		return nil, invalidToken("malformed claims")
	}
	switch {
	case w.Iss != g.cfg.Issuer:
		return nil, invalidToken("wrong issuer")
	case !containsString(w.Aud, g.cfg.Audience):
		return nil, invalidToken("wrong audience")
	case !w.Exp.set:
		return nil, invalidToken("no exp claim")
	case !now.Before(w.Exp.t.Add(g.cfg.Leeway)):
		return nil, &failure{status: http.StatusUnauthorized, code: codeInvalidToken, reason: ReasonExpired, desc: "token expired"}
	case w.Nbf.set && w.Nbf.t.After(now.Add(g.cfg.Leeway)):
		return nil, invalidToken("token not valid yet")
	case !w.Iat.set || w.Jti == "" || w.Sub == "" || w.ClientID == "":
		return nil, invalidToken("missing claims (RFC 9068 requires iat, jti, sub, client_id)")
	}
	scopes, err := scope.Split(w.Scope)
	if err != nil {
		return nil, invalidToken("malformed scope claim")
	}
	if w.AccountID != "" {
		if _, ok := scope.AccountID(scope.AccountPrefix + w.AccountID); !ok {
			return nil, invalidToken("malformed account_id claim")
		}
	}
	c := &Claims{
		Issuer:    w.Iss,
		Subject:   w.Sub,
		ClientID:  w.ClientID,
		AccountID: w.AccountID,
		JTI:       w.Jti,
		Audience:  []string(w.Aud),
		Scopes:    scopes,
		IssuedAt:  w.Iat.t,
		NotBefore: w.Nbf.t,
		ExpiresAt: w.Exp.t,
	}
	return &entry{token: tok, exp: c.ExpiresAt.UnixNano(), claims: c, set: g.catalog.SetOf(scopes)}, nil
}

func (g *Guard) algAllowed(alg string) bool {
	for _, a := range g.algs {
		if a == alg {
			return true
		}
	}
	return false
}

func containsString(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

// publicKey is one verification key from the JWKS.
type publicKey struct {
	kid string
	alg string // the JWK's alg; "" if it has none
	ec  *ecdsa.PublicKey
	rsa *rsa.PublicKey
	ed  ed25519.PublicKey
}

// verify checks sig over input with alg, which must suit the key: its alg
// if the JWK names one, and its type and size in any case.
func (k *publicKey) verify(alg, input string, sig []byte) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch alg {
	case ES256:
		if k.ec == nil || len(sig) != 64 {
			return false
		}
		d := sha256.Sum256([]byte(input))
		var der [72]byte
		return ecdsa.VerifyASN1(k.ec, d[:], rawToDER(der[:0], sig))
	case RS256:
		if k.rsa == nil {
			return false
		}
		d := sha256.Sum256([]byte(input))
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, d[:], sig) == nil
	case PS256:
		if k.rsa == nil {
			return false
		}
		d := sha256.Sum256([]byte(input))
		return rsa.VerifyPSS(k.rsa, crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	case EdDSA:
		return k.ed != nil && len(sig) == ed25519.SignatureSize && ed25519.Verify(k.ed, []byte(input), sig)
	}
	return false
}

// rawToDER converts the 64-byte R||S form of an ES256 signature (RFC 7518
// §3.4) into an ASN.1 ECDSA-Sig-Value, appended to dst.
func rawToDER(dst, sig []byte) []byte {
	r, s := trimZeros(sig[:32]), trimZeros(sig[32:])
	rn, sn := len(r)+int(r[0]>>7), len(s)+int(s[0]>>7) // a high bit needs a 0 in front
	dst = append(dst, 0x30, byte(rn+sn+4))
	dst = appendDERInt(dst, r, rn)
	return appendDERInt(dst, s, sn)
}

func appendDERInt(dst, v []byte, n int) []byte {
	dst = append(dst, 0x02, byte(n))
	if n > len(v) {
		dst = append(dst, 0)
	}
	return append(dst, v...)
}

// trimZeros drops leading zero bytes, keeping at least one byte.
func trimZeros(v []byte) []byte {
	for len(v) > 1 && v[0] == 0 {
		v = v[1:]
	}
	return v
}
