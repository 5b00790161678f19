package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// Nonces issues and checks server nonces (RFC 9449 §8) without keeping
// state: a nonce is the number of the period it was issued in and a MAC of
// that number under a key, so that every server sharing the key accepts the
// nonces of every other. A nonce is good in the period it was issued in and
// the next one.
type Nonces struct {
	key    []byte
	period time.Duration
	now    func() time.Time
}

// NewNonces returns Nonces that MAC with key (at least 32 bytes, shared by
// every server) and change every period (positive); now nil means
// time.Now.
func NewNonces(key []byte, period time.Duration, now func() time.Time) *Nonces {
	if now == nil {
		now = time.Now
	}
	return &Nonces{key: key, period: period, now: now}
}

const nonceMACLen = 16

func (n *Nonces) make(p uint64) string {
	var b [8 + nonceMACLen]byte
	binary.BigEndian.PutUint64(b[:8], p)
	m := hmac.New(sha256.New, n.key)
	m.Write([]byte("gatehouse dpop nonce"))
	m.Write(b[:8])
	copy(b[8:], m.Sum(nil))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (n *Nonces) periodAt(t time.Time) uint64 {
	return uint64(t.UnixNano() / int64(n.period))
}

// Current returns the nonce to give clients now (DPoP-Nonce).
func (n *Nonces) Current() string { return n.make(n.periodAt(n.now())) }

// Valid reports whether s is a nonce of this period or the previous one.
func (n *Nonces) Valid(s string) bool {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != 8+nonceMACLen {
		return false
	}
	p, cur := binary.BigEndian.Uint64(b[:8]), n.periodAt(n.now())
	if p != cur && p+1 != cur {
		return false
	}
	return hmac.Equal([]byte(n.make(p)), []byte(s))
}
