// Package testutil holds the test helpers more than one package needs: a
// settable clock, a log buffer safe for concurrent writers, cheap
// password-hash parameters, a token issuer, and a DPoP key that signs
// proofs. It is imported only by _test.go files (and by
// e2e/harness, itself test support).
package testutil

import (
	"bytes"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/secret"
)

// Clock is a settable clock, safe for concurrent use. Pass its Now method
// where a package takes a now func() time.Time.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock that reads t until it is moved.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers and readers,
// e.g. a logger's output read while the server still writes to it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// CheapPassword returns argon2id parameters that make a password hash
// take microseconds, for the users service in tests (users.Options.Password).
// Never use them outside tests.
func CheapPassword() secret.Argon2Params {
	return secret.Argon2Params{Memory: 64, Time: 1, Threads: 1}
}
