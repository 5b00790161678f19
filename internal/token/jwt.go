package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Claims are the claims of an access token (RFC 9068 §2.2).
type Claims struct {
	Issuer    string // iss
	Subject   string // sub: the client ID (client credentials) or the user ID
	Audience  string // aud
	ClientID  string // client_id
	Scope     string // scope, space-separated; omitted if empty
	AccountID string // account_id, for account-restricted tokens; omitted if empty
	JTI       string // jti, from NewJTI
	IssuedAt  time.Time
	NotBefore time.Time // nbf; omitted if zero
	ExpiresAt time.Time
}

// ErrInvalidToken is wrapped by every error Verify returns for a token that
// is malformed, badly signed, signed by an unknown key, expired or not yet
// valid. Compare with errors.Is.
var ErrInvalidToken = errors.New("invalid access token")

// typAccessToken is the JOSE "typ" of RFC 9068 access tokens (§2.1).
const typAccessToken = "at+jwt"

// maxTokenLen bounds the input to Verify; Gatehouse's tokens are well under
// 2 KiB.
const maxTokenLen = 16 << 10

// nbfLeeway tolerates clock skew between the signing and verifying process.
const nbfLeeway = 30 * time.Second

var b64 = base64.RawURLEncoding.Strict()

// signBuf holds reusable buffers for Sign.
type signBuf struct {
	payload []byte // JSON claims
	out     []byte // the token being built
}

// Sign returns c as a compact JWS (RFC 7515 §7.1) signed by the active key.
// It does no I/O and takes no lock.
func (k *Keyring) Sign(c *Claims) (string, error) {
	st := k.state.Load()
	if st == nil || len(st.keys) == 0 {
		return "", errors.New("sign access token: no signing key is loaded")
	}
	i := activeIndex(st.meta, k.cfg.Now())
	if i < 0 {
		// Our clock is behind the one that created every key: the oldest
		// one is already published, so sign with it rather than fail.
		i = 0
	}
	key := st.keys[i]
	sb, _ := k.bufs.Get().(*signBuf)
	if sb == nil {
		sb = &signBuf{payload: make([]byte, 0, 512), out: make([]byte, 0, 1024)}
	}
	sb.payload = appendClaims(sb.payload[:0], c)
	out := append(sb.out[:0], key.header...)
	out = base64.RawURLEncoding.AppendEncode(out, sb.payload)
	out, err := key.appendSignature(out, k.cfg.Rand)
	var tok string
	if err == nil {
		tok = string(out)
	}
	if cap(out) <= 64<<10 { // don't pin a buffer grown by a freak claim
		sb.out = out
		k.bufs.Put(sb)
	}
	if err != nil {
		return "", fmt.Errorf("sign access token with key %s: %w", key.id, err)
	}
	return tok, nil
}

// appendSignature signs the JWS signing input b and appends '.' and the
// base64url signature (RFC 7518 §3).
func (key *signingKey) appendSignature(b []byte, r io.Reader) ([]byte, error) {
	var (
		raw [64]byte
		sig []byte
		err error
	)
	switch key.alg {
	case ES256:
		d := sha256.Sum256(b)
		var der []byte
		der, err = ecdsa.SignASN1(r, key.ec, d[:])
		if err == nil && !derToRaw(der, &raw) {
			err = errors.New("ECDSA produced a malformed signature")
		}
		sig = raw[:]
	case RS256:
		d := sha256.Sum256(b)
		sig, err = rsa.SignPKCS1v15(r, key.rsa, crypto.SHA256, d[:])
	case PS256:
		d := sha256.Sum256(b)
		sig, err = rsa.SignPSS(r, key.rsa, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case EdDSA:
		sig = ed25519.Sign(key.ed, b)
	default:
		err = fmt.Errorf("algorithm %q is not supported", key.alg)
	}
	if err != nil {
		return b, err
	}
	b = append(b, '.')
	return base64.RawURLEncoding.AppendEncode(b, sig), nil
}

// derToRaw converts an ASN.1 ECDSA-Sig-Value into the fixed 64-byte R||S
// form JWS uses for ES256 (RFC 7518 §3.4).
func derToRaw(der []byte, out *[64]byte) bool {
	var seq, r, s cryptobyte.String
	in := cryptobyte.String(der)
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1(&r, asn1.INTEGER) || !seq.ReadASN1(&s, asn1.INTEGER) || !seq.Empty() {
		return false
	}
	return putScalar(out[:32], r) && putScalar(out[32:], s)
}

// putScalar writes a positive ASN.1 INTEGER right-aligned into dst.
func putScalar(dst []byte, v []byte) bool {
	for len(v) > 0 && v[0] == 0 {
		v = v[1:]
	}
	if len(v) > len(dst) {
		return false
	}
	clear(dst[:len(dst)-len(v)])
	copy(dst[len(dst)-len(v):], v)
	return true
}

// verify checks a JWS signature over the signing input.
func (key *signingKey) verify(input, sig []byte) bool {
	switch key.alg {
	case ES256:
		if len(sig) != 64 {
			return false
		}
		d := sha256.Sum256(input)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(&key.ec.PublicKey, d[:], r, s)
	case RS256:
		d := sha256.Sum256(input)
		return rsa.VerifyPKCS1v15(&key.rsa.PublicKey, crypto.SHA256, d[:], sig) == nil
	case PS256:
		d := sha256.Sum256(input)
		return rsa.VerifyPSS(&key.rsa.PublicKey, crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	case EdDSA:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(key.pub.(ed25519.PublicKey), input, sig)
	}
	return false
}

// appendClaims appends the JSON claims set without reflection.
func appendClaims(b []byte, c *Claims) []byte {
	b = append(b, `{"iss":`...)
	b = appendJSONString(b, c.Issuer)
	b = append(b, `,"sub":`...)
	b = appendJSONString(b, c.Subject)
	b = append(b, `,"aud":`...)
	b = appendJSONString(b, c.Audience)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, c.ExpiresAt.Unix(), 10)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, c.IssuedAt.Unix(), 10)
	if !c.NotBefore.IsZero() {
		b = append(b, `,"nbf":`...)
		b = strconv.AppendInt(b, c.NotBefore.Unix(), 10)
	}
	b = append(b, `,"jti":`...)
	b = appendJSONString(b, c.JTI)
	b = append(b, `,"client_id":`...)
	b = appendJSONString(b, c.ClientID)
	if c.Scope != "" {
		b = append(b, `,"scope":`...)
		b = appendJSONString(b, c.Scope)
	}
	if c.AccountID != "" {
		b = append(b, `,"account_id":`...)
		b = appendJSONString(b, c.AccountID)
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string (RFC 8259 §7): quotes,
// backslashes and control characters escaped, invalid UTF-8 replaced by
// U+FFFD byte by byte (as encoding/json does), and U+2028/U+2029 escaped so
// the JSON is also valid JavaScript.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// NewJTI returns a token ID: 16 random bytes from r, base64url (22
// characters). With crypto/rand.Reader it allocates only the string.
func NewJTI(r io.Reader) (string, error) {
	var raw [16]byte
	if r == rand.Reader {
		rand.Read(raw[:]) // never fails; keeps raw on the stack
	} else if err := readRandom(r, &raw); err != nil {
		return "", fmt.Errorf("generate token ID: %w", err)
	}
	var enc [22]byte
	base64.RawURLEncoding.Encode(enc[:], raw[:])
	return string(enc[:]), nil
}

// readRandom reads via a heap buffer so that dst does not escape in NewJTI.
func readRandom(r io.Reader, dst *[16]byte) error {
	buf := make([]byte, len(dst))
	if _, err := io.ReadFull(r, buf); err != nil {
		return err
	}
	copy(dst[:], buf)
	return nil
}

// jwsHeader is the protected header of a token being verified.
type jwsHeader struct {
	Alg  string          `json:"alg"`
	Typ  string          `json:"typ"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
}

// wireClaims is the claims set of a token being verified.
type wireClaims struct {
	Iss       string     `json:"iss"`
	Sub       string     `json:"sub"`
	Aud       string     `json:"aud"`
	Exp       jsonNumber `json:"exp"`
	Iat       jsonNumber `json:"iat"`
	Nbf       jsonNumber `json:"nbf"`
	Jti       string     `json:"jti"`
	ClientID  string     `json:"client_id"`
	Scope     string     `json:"scope"`
	AccountID string     `json:"account_id"`
}

// Verify checks an access token signed by this keyring (RFC 9068 §4): a
// compact JWS with typ at+jwt, signed by a key published at now with that
// key's algorithm, not expired at now and valid by now (allowing 30 s of
// clock skew for nbf). It checks neither issuer nor audience nor
// revocation; the caller does. Errors wrap ErrInvalidToken.
func (k *Keyring) Verify(token string, now time.Time) (Claims, error) {
	c, err := k.verify(token, now)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %s", ErrInvalidToken, err)
	}
	return c, nil
}

func (k *Keyring) verify(token string, now time.Time) (Claims, error) {
	if len(token) > maxTokenLen {
		return Claims{}, errors.New("too long")
	}
	d1 := strings.IndexByte(token, '.')
	if d1 < 0 {
		return Claims{}, errors.New("not a compact JWS")
	}
	d2 := strings.IndexByte(token[d1+1:], '.')
	if d2 < 0 {
		return Claims{}, errors.New("not a compact JWS")
	}
	d2 += d1 + 1
	if strings.IndexByte(token[d2+1:], '.') >= 0 {
		return Claims{}, errors.New("not a compact JWS (a JWE?)")
	}

	hb, err := b64.DecodeString(token[:d1])
	if err != nil {
		return Claims{}, errors.New("header is not base64url")
	}
	var h jwsHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return Claims{}, errors.New("header is not a JSON object")
	}
	if !strings.EqualFold(h.Typ, typAccessToken) && !strings.EqualFold(h.Typ, "application/"+typAccessToken) {
		return Claims{}, fmt.Errorf("typ %q is not %s", h.Typ, typAccessToken)
	}
	if h.Crit != nil {
		return Claims{}, errors.New("header has critical extensions")
	}
	st := k.state.Load()
	if st == nil {
		return Claims{}, errors.New("no keys loaded")
	}
	i, ok := st.byID[h.Kid]
	if !ok || i < firstPublished(st.meta, now, k.cfg.MaxTokenTTL) {
		return Claims{}, fmt.Errorf("key %q is not published", h.Kid)
	}
	key := st.keys[i]
	if h.Alg != key.alg {
		return Claims{}, fmt.Errorf("alg %q does not match key %s (%s)", h.Alg, key.id, key.alg)
	}
	sig, err := b64.DecodeString(token[d2+1:])
	if err != nil {
		return Claims{}, errors.New("signature is not base64url")
	}
	if !key.verify([]byte(token[:d2]), sig) {
		return Claims{}, errors.New("bad signature")
	}

	pb, err := b64.DecodeString(token[d1+1 : d2])
	if err != nil {
		return Claims{}, errors.New("payload is not base64url")
	}
	var w wireClaims
	if err := json.Unmarshal(pb, &w); err != nil {
		return Claims{}, fmt.Errorf("claims: %v", err)
	}
	c := Claims{
		Issuer:    w.Iss,
		Subject:   w.Sub,
		Audience:  w.Aud,
		ClientID:  w.ClientID,
		Scope:     w.Scope,
		AccountID: w.AccountID,
		JTI:       w.Jti,
	}
	if c.ExpiresAt, err = numericDate("exp", w.Exp, true); err != nil {
		return Claims{}, err
	}
	if c.IssuedAt, err = numericDate("iat", w.Iat, true); err != nil {
		return Claims{}, err
	}
	if c.NotBefore, err = numericDate("nbf", w.Nbf, false); err != nil {
		return Claims{}, err
	}
	if c.JTI == "" {
		return Claims{}, errors.New("no jti")
	}
	if !c.ExpiresAt.After(now) {
		return Claims{}, fmt.Errorf("expired at %s", c.ExpiresAt.Format(time.RFC3339))
	}
	if !c.NotBefore.IsZero() && c.NotBefore.After(now.Add(nbfLeeway)) {
		return Claims{}, fmt.Errorf("not valid before %s", c.NotBefore.Format(time.RFC3339))
	}
	return c, nil
}

// jsonNumber holds the text of a JSON number. Unlike json.Number it refuses
// a number in a string ("exp":"1700000000") and null.
type jsonNumber string

func (n *jsonNumber) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return errors.New("not a number")
	}
	*n = jsonNumber(b)
	return nil
}

// numericDate parses a NumericDate (RFC 7519 §2): seconds since the epoch,
// possibly fractional.
func numericDate(name string, n jsonNumber, required bool) (time.Time, error) {
	if n == "" {
		if required {
			return time.Time{}, fmt.Errorf("no %s", name)
		}
		return time.Time{}, nil
	}
	if v, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		if v < -maxNumericDate || v > maxNumericDate {
			return time.Time{}, fmt.Errorf("%s out of range", name)
		}
		return time.Unix(v, 0).UTC(), nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || f < -maxNumericDate || f > maxNumericDate {
		return time.Time{}, fmt.Errorf("%s is not a valid date", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

// maxNumericDate bounds NumericDates to about ±285 million years: far
// beyond any real token, and small enough that time.Unix and float seconds
// stay exact.
const maxNumericDate = 1 << 53
