package token

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unicode/utf8"
)

// MasterKeyFile is the name of the dev-mode master key file in the data
// directory.
const MasterKeyFile = "master.key"

// minSecretLen is the shortest GATEHOUSE_SECRET accepted, in characters.
const minSecretLen = 32

// masterKeyInfo is the HKDF info string: it binds the derived key to its one
// use, so the same secret could safely feed other derivations later.
const masterKeyInfo = "gatehouse signing-key encryption v1"

// ErrMasterKeyMismatch is wrapped by errors from loading signing keys that
// were encrypted under a different master key. Compare with errors.Is.
var ErrMasterKeyMismatch = errors.New("the master key (GATEHOUSE_SECRET) does not match the one the signing keys were encrypted with")

// MasterKey returns the 32-byte AES-256 key that encrypts signing keys at
// rest.
//
// If secret (GATEHOUSE_SECRET) is set it must be at least 32 characters; the
// key is derived from it with HKDF-SHA256 (RFC 5869). If it is empty, Gatehouse
// is in dev mode: the secret is read from dataDir/master.key, which is created
// (mode 0600, dataDir 0700) with 32 random bytes in base64 if it does not
// exist; generatedPath is then its path, so the caller can warn. A file
// readable by anyone but its owner is refused.
//
// The file holds a secret in the same form as GATEHOUSE_SECRET, and the key
// is derived the same way, so moving a dev installation to production is
// GATEHOUSE_SECRET="$(cat master.key)".
func MasterKey(secret string, dataDir string) (key []byte, generatedPath string, err error) {
	if secret != "" {
		key, err := deriveMasterKey(secret)
		if err != nil {
			return nil, "", fmt.Errorf("GATEHOUSE_SECRET: %w", err)
		}
		return key, "", nil
	}
	if dataDir == "" {
		return nil, "", errors.New("GATEHOUSE_SECRET is not set and there is no data directory to keep a generated master key in")
	}
	path := filepath.Join(dataDir, MasterKeyFile)
	secret, err = readMasterKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		var created bool
		secret, created, err = createMasterKeyFile(dataDir, path)
		if created {
			generatedPath = path
		}
	}
	if err != nil {
		return nil, "", err
	}
	key, err = deriveMasterKey(secret)
	if err != nil {
		return nil, "", fmt.Errorf("master key file %s: %w", path, err)
	}
	return key, generatedPath, nil
}

func deriveMasterKey(secret string) ([]byte, error) {
	if n := utf8.RuneCountInString(secret); n < minSecretLen {
		return nil, fmt.Errorf("the secret is %d characters long; it must be at least %d (make one with: openssl rand -base64 32)", n, minSecretLen)
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, masterKeyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("derive master key: %w", err)
	}
	return key, nil
}

// readMasterKeyFile returns the secret in path. The error wraps
// fs.ErrNotExist if there is no such file.
func readMasterKeyFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("master key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("master key file %s is not a regular file", path)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("master key file %s has mode %04o, which lets others read it; run: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read master key file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("master key file %s is empty; delete it only if no signing keys were encrypted with it, or set GATEHOUSE_SECRET", path)
	}
	return s, nil
}

// createMasterKeyFile writes a new random secret to path and reports
// whether it did. Two processes starting together end up with the same
// secret: the file appears complete or not at all (written aside, then
// hard-linked into place, which fails if the other process got there first,
// whose secret is then returned).
func createMasterKeyFile(dataDir, path string) (secret string, created bool, err error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", false, fmt.Errorf("create data directory: %w", err)
	}
	var raw [32]byte
	rand.Read(raw[:]) // never fails (crypto/rand documents a crash instead)
	secret = base64.StdEncoding.EncodeToString(raw[:])

	tmp, err := os.CreateTemp(dataDir, ".master.key-*")
	if err != nil {
		return "", false, fmt.Errorf("create master key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := writeAndClose(tmp, secret); err != nil {
		return "", false, fmt.Errorf("write master key file: %w", err)
	}
	err = os.Link(tmp.Name(), path)
	if err == nil {
		return secret, true, nil
	}
	if errors.Is(err, fs.ErrExist) {
		secret, err = readMasterKeyFile(path)
		return secret, false, err
	}
	// No hard links on this file system: fall back to an exclusive create.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		secret, err = readMasterKeyFile(path)
		return secret, false, err
	}
	if err != nil {
		return "", false, fmt.Errorf("create master key file: %w", err)
	}
	if err := writeAndClose(f, secret); err != nil {
		os.Remove(path)
		return "", false, fmt.Errorf("write master key file: %w", err)
	}
	return secret, true, nil
}

func writeAndClose(f *os.File, secret string) error {
	// CreateTemp uses 0600 already; Chmod also covers an odd umask.
	err := f.Chmod(0o600)
	if err == nil {
		_, err = io.WriteString(f, secret+"\n")
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// newAEAD returns AES-256-GCM under the master key.
func newAEAD(masterKey []byte) (cipher.AEAD, error) {
	if len(masterKey) != 32 {
		return nil, fmt.Errorf("master key is %d bytes; want 32 (use token.MasterKey)", len(masterKey))
	}
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	return cipher.NewGCM(block)
}

// seal encrypts a PKCS#8 private key: a random nonce followed by the GCM
// ciphertext, with the key ID as additional data so a sealed key cannot be
// passed off under another ID.
func seal(aead cipher.AEAD, r io.Reader, kid string, pkcs8 []byte) ([]byte, error) {
	ns := aead.NonceSize()
	out := make([]byte, ns, ns+len(pkcs8)+aead.Overhead())
	if _, err := io.ReadFull(r, out); err != nil {
		return nil, fmt.Errorf("read random nonce: %w", err)
	}
	return aead.Seal(out, out, pkcs8, []byte(kid)), nil
}

// open reverses seal.
func open(aead cipher.AEAD, kid string, sealed []byte) ([]byte, error) {
	ns := aead.NonceSize()
	if len(sealed) < ns+aead.Overhead() {
		return nil, fmt.Errorf("signing key %q: stored ciphertext is truncated (%d bytes)", kid, len(sealed))
	}
	pt, err := aead.Open(nil, sealed[:ns], sealed[ns:], []byte(kid))
	if err != nil {
		return nil, fmt.Errorf("decrypt signing key %q: %w", kid, ErrMasterKeyMismatch)
	}
	return pt, nil
}
