package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/gatehouse/gatehouse/internal/jws"
)

// Claims are the claims of an access token (RFC 9068 §2.2).
type Claims struct {
	Issuer   string // iss
	Subject  string // sub: the client ID (client credentials) or the user ID
	Audience string // aud; from Verify, the first of an array
	// Audiences is set by Verify only, to every element of an aud array
	// of more than one; Sign ignores it and writes Audience.
	Audiences []string
	ClientID  string // client_id
	Scope     string // scope, space-separated; omitted if empty
	AccountID string // account_id, for account-restricted tokens; omitted if empty
	JTI       string // jti, from NewJTI
	// JKT, for a DPoP-bound token, is the JWK SHA-256 thumbprint of the
	// client's key (RFC 9449 §6.1), written as cnf.jkt; omitted if empty.
	JKT       string
	IssuedAt  time.Time
	NotBefore time.Time // nbf; omitted if zero
	ExpiresAt time.Time
}

// ErrInvalidToken is wrapped by every error Verify returns for a token that
// is malformed, badly signed, signed by an unknown key, expired, not yet
// valid or lacks a required claim. Compare with errors.Is; errors.As finds
// the *jws.Error with the reason.
var ErrInvalidToken = errors.New("invalid access token")

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
	if c.JKT != "" {
		b = append(b, `,"cnf":{"jkt":`...)
		b = appendJSONString(b, c.JKT)
		b = append(b, '}')
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

// Verify checks an access token signed by this keyring with jws.Verify: a
// compact JWS with typ at+jwt, signed by a key published at now with that
// key's algorithm, carrying the claims RFC 9068 §2.2 requires, valid by now
// within jws.DefaultLeeway (another node's clock may be a little ahead) and
// not expired at now, with no leeway: the authorization server's clock
// decides, and a revocation is kept only until the token's exp, so a token
// past it must never look active. aud may be a string or an array. It checks neither issuer nor audience nor
// revocation; the caller does. Errors wrap ErrInvalidToken and a
// *jws.Error.
func (k *Keyring) Verify(token string, now time.Time) (Claims, error) {
	st := k.state.Load()
	keys := func(kid string) *jws.Key {
		if st == nil {
			return nil
		}
		i, ok := st.byID[kid]
		if !ok || i < firstPublished(st.meta, now, k.cfg.MaxTokenTTL) {
			return nil
		}
		return st.keys[i].vkey
	}
	c, err := jws.Verify(token, keys, jws.Policy{Leeway: jws.DefaultLeeway, Now: now})
	if err == nil && !now.Before(c.ExpiresAt) {
		err = &jws.Error{Reason: jws.Expired, Desc: "the token has expired"}
	}
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	out := Claims{
		Issuer:    c.Issuer,
		Subject:   c.Subject,
		Audience:  c.Audience[0],
		ClientID:  c.ClientID,
		Scope:     c.Scope,
		AccountID: c.AccountID,
		JTI:       c.JTI,
		JKT:       c.JKT,
		IssuedAt:  c.IssuedAt,
		NotBefore: c.NotBefore,
		ExpiresAt: c.ExpiresAt,
	}
	if len(c.Audience) > 1 {
		out.Audiences = c.Audience
	}
	return out, nil
}
