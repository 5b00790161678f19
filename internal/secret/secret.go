// Package secret generates and verifies client secrets.
//
// Generated secrets are "ghs_" followed by 32 random bytes in base64url
// (no padding). Secrets are high-entropy, so a SHA-256 digest is a safe
// verifier: it is stored instead of the secret and compared in constant
// time. Supplied secrets must be at least MinSuppliedLen characters.
package secret

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"unicode/utf8"
)

// Prefix marks Gatehouse client secrets so leak scanners can find them.
const Prefix = "ghs_"

// MinSuppliedLen is the shortest secret accepted from an operator.
const MinSuppliedLen = 32

// MaxLen is the longest secret accepted (generated ones are 47 characters).
const MaxLen = 512

// Generate returns a new secret read from rand (crypto/rand.Reader in production).
func Generate(rand io.Reader) (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	return Prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// CheckSupplied reports why an operator-supplied secret is unacceptable, or nil.
func CheckSupplied(s string) error {
	n := utf8.RuneCountInString(s)
	switch {
	case !utf8.ValidString(s):
		return fmt.Errorf("secret is not valid UTF-8")
	case n < MinSuppliedLen:
		return fmt.Errorf("secret is %d characters; at least %d are required", n, MinSuppliedLen)
	case len(s) > MaxLen:
		return fmt.Errorf("secret is %d bytes; at most %d are allowed", len(s), MaxLen)
	}
	for _, r := range s {
		if r < 0x21 || r == 0x7f {
			return fmt.Errorf("secret contains whitespace or control characters")
		}
	}
	return nil
}

// Digest returns the stored verifier of a secret.
func Digest(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

// Matches reports in constant time whether secret hashes to digest.
func Matches(secret string, digest []byte) bool {
	d := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(d[:], digest) == 1
}

// Hint is the non-secret prefix shown to operators to tell secrets apart:
// the prefix plus four characters (24 bits of a 256-bit secret).
func Hint(s string) string {
	n := len(Prefix) + 4
	if len(s) <= n {
		return ""
	}
	return s[:n]
}
