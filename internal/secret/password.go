package secret

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password length limits, in characters.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 1024
)

// Argon2Params are the argon2id cost parameters used for new hashes.
// Verification always uses the parameters recorded in the hash.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // iterations
	Threads uint8
}

// DefaultArgon2 returns the parameters for new password hashes unless the
// caller chooses others: 64 MiB, 2 passes, 1 lane (OWASP's argon2id
// baseline). Tests pass cheaper ones (the users service's Options.Password).
func DefaultArgon2() Argon2Params {
	return Argon2Params{Memory: 64 * 1024, Time: 2, Threads: 1}
}

const (
	saltLen = 16
	keyLen  = 32
	// Bounds on parameters accepted from a stored hash, so that a corrupt
	// or hostile hash cannot make verification exhaust memory or CPU.
	maxMemory = 1 << 21 // 2 GiB in KiB
	maxTime   = 64
)

// ErrMalformedHash is returned by VerifyPassword for a hash it cannot read.
var ErrMalformedHash = errors.New("malformed password hash")

// HashPassword returns an argon2id hash of password in PHC string format:
// $argon2id$v=19$m=65536,t=2,p=1$<salt>$<hash> (unpadded standard base64).
// The cost is p's (zero: DefaultArgon2); the salt is read from rand.
func HashPassword(password string, p Argon2Params, rand io.Reader) (string, error) {
	if p == (Argon2Params{}) {
		p = DefaultArgon2()
	}
	salt := make([]byte, saltLen)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches the PHC string phc,
// comparing in constant time. It returns an error only if phc is malformed.
func VerifyPassword(password, phc string) (bool, error) {
	p, salt, want, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

func parsePHC(phc string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	parts := strings.Split(phc, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformedHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: unsupported version %q", ErrMalformedHash, parts[2])
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return p, nil, nil, ErrMalformedHash
	}
	var seen [3]bool
	for _, kv := range params {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return p, nil, nil, ErrMalformedHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, nil, nil, ErrMalformedHash
		}
		switch {
		case k == "m" && !seen[0]:
			seen[0], p.Memory = true, uint32(n)
		case k == "t" && !seen[1]:
			seen[1], p.Time = true, uint32(n)
		case k == "p" && !seen[2] && n <= 255:
			seen[2], p.Threads = true, uint8(n)
		default:
			return p, nil, nil, ErrMalformedHash
		}
	}
	if p.Time < 1 || p.Time > maxTime || p.Threads < 1 || p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory {
		return p, nil, nil, fmt.Errorf("%w: parameters out of range", ErrMalformedHash)
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, fmt.Errorf("%w: bad salt", ErrMalformedHash)
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, fmt.Errorf("%w: bad hash", ErrMalformedHash)
	}
	return p, salt, key, nil
}

// CheckPassword reports why a password chosen by a person is unacceptable,
// or nil: it must be valid UTF-8 and 12 to 1024 characters long.
func CheckPassword(password string) error {
	if !utf8.ValidString(password) {
		return errors.New("password is not valid UTF-8")
	}
	n := utf8.RuneCountInString(password)
	switch {
	case n < MinPasswordLen:
		return fmt.Errorf("password is %d characters; at least %d are required", n, MinPasswordLen)
	case n > MaxPasswordLen:
		return fmt.Errorf("password is %d characters; at most %d are allowed", n, MaxPasswordLen)
	}
	return nil
}
