package jws

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
)

// MinRSABits is the smallest RSA key accepted (RFC 7518 §3.3).
const MinRSABits = 2048

// Key is a public key that verifies tokens. Immutable once made by NewKey.
type Key struct {
	ID  string
	Alg string // the only algorithm the key may be used with; "" means any that suits its type
	ec  *ecdsa.PublicKey
	rsa *rsa.PublicKey
	ed  ed25519.PublicKey
}

// NewKey returns a verification key: pub is an *ecdsa.PublicKey on P-256,
// an *rsa.PublicKey of at least MinRSABits, or an ed25519.PublicKey. alg,
// if not "", restricts it to that algorithm, which must suit the key.
func NewKey(kid, alg string, pub crypto.PublicKey) (*Key, error) {
	k := &Key{ID: kid, Alg: alg}
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return nil, errors.New("an EC key that is not on P-256")
		}
		k.ec = pub
	case *rsa.PublicKey:
		if pub.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("an RSA key of %d bits; at least %d are needed", pub.N.BitLen(), MinRSABits)
		}
		k.rsa = pub
	case ed25519.PublicKey:
		if len(pub) != ed25519.PublicKeySize {
			return nil, errors.New("an Ed25519 key of the wrong size")
		}
		k.ed = pub
	default:
		return nil, fmt.Errorf("unsupported key type %T", pub)
	}
	if alg != "" && !k.suitsType(alg) {
		return nil, fmt.Errorf("alg %q does not suit this %s key", alg, k.kind())
	}
	return k, nil
}

// Equal reports whether k and o are the same key with the same ID and alg.
func (k *Key) Equal(o *Key) bool {
	if k == nil || o == nil || k.ID != o.ID || k.Alg != o.Alg {
		return false
	}
	switch {
	case k.ec != nil:
		return o.ec != nil && k.ec.Equal(o.ec)
	case k.rsa != nil:
		return o.rsa != nil && k.rsa.Equal(o.rsa)
	case k.ed != nil:
		return o.ed != nil && k.ed.Equal(o.ed)
	}
	return false
}

func (k *Key) kind() string {
	switch {
	case k.ec != nil:
		return "EC P-256"
	case k.rsa != nil:
		return "RSA"
	}
	return "Ed25519"
}

// suits reports whether the key may verify a signature made with alg.
func (k *Key) suits(alg string) bool {
	return (k.Alg == "" || k.Alg == alg) && k.suitsType(alg)
}

func (k *Key) suitsType(alg string) bool {
	switch alg {
	case ES256:
		return k.ec != nil
	case RS256, PS256:
		return k.rsa != nil
	case EdDSA:
		return k.ed != nil
	}
	return false
}

// VerifySignature reports whether sig is a good signature by k over the
// JWS signing input (RFC 7515 §5.2) with alg, one of ES256, RS256, PS256
// and EdDSA that suits the key: for JWTs Verify does not parse, such as
// DPoP proofs (RFC 9449 §4.3), whose key is in their header.
func (k *Key) VerifySignature(alg, input string, sig []byte) bool {
	return k != nil && k.suits(alg) && k.verify(alg, input, sig)
}

// verify checks sig over input with alg (RFC 7518 §3, RFC 8037 §3.1); the
// key must suit alg.
func (k *Key) verify(alg, input string, sig []byte) bool {
	switch alg {
	case ES256:
		if len(sig) != 64 {
			return false
		}
		d := sha256.Sum256([]byte(input))
		var der [72]byte
		return ecdsa.VerifyASN1(k.ec, d[:], rawToDER(der[:0], sig))
	case RS256:
		d := sha256.Sum256([]byte(input))
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, d[:], sig) == nil
	case PS256:
		d := sha256.Sum256([]byte(input))
		return rsa.VerifyPSS(k.rsa, crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	case EdDSA:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k.ed, []byte(input), sig)
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
