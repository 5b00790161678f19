package adminapi

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/store"
)

// A POST that creates (a client, a secret, a user) may carry an
// Idempotency-Key header. The first request with a key runs and, if it
// succeeds, its response is kept for idempotencyWindow, sealed under the
// master key since it may hold a new secret; a retry with the same key (by
// the same client and account) gets that response again, marked
// Idempotent-Replayed: true, instead of creating a second time. A failed
// request keeps nothing, so its retry runs again. A retry while the first
// request runs gets 409; the same key for a different request (method,
// path or body) gets 422.
const (
	idempotencyWindow = time.Hour
	// idempotencyRunning bounds how long a reservation holds a key while
	// its request runs (should the process die meanwhile).
	idempotencyRunning = time.Minute
	maxIdempotencyKey  = 255
)

type idempotency struct {
	st   store.Store
	aead cipher.AEAD
	now  func() time.Time
}

func newIdempotency(st store.Store, key []byte, now func() time.Time) (*idempotency, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("adminapi: IdempotencyKey is %d bytes; want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &idempotency{st: st, aead: aead, now: now}, nil
}

// keptResponse is a response as it is sealed and replayed.
type keptResponse struct {
	Status int               `json:"status"`
	Header map[string]string `json:"header"`
	Body   []byte            `json:"body"`
}

// keptHeaders are the response headers a replay repeats.
var keptHeaders = []string{"Content-Type", "Location", "ETag"}

// run serves r with create, under its Idempotency-Key if it has one.
// create reads the request body from r as usual.
func (i *idempotency) run(w http.ResponseWriter, r *http.Request, c *caller, create func(w http.ResponseWriter, r *http.Request) error) error {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return create(w, r)
	}
	if len(r.Header.Values("Idempotency-Key")) > 1 {
		return badRequest("Idempotency-Key", "send one Idempotency-Key header")
	}
	if len(key) > maxIdempotencyKey || !visibleASCII(key) {
		return badRequest("Idempotency-Key", "an Idempotency-Key is 1 to 255 visible ASCII characters, e.g. a UUID")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))

	id := sha256.Sum256([]byte(c.clientID + "\x00" + c.account + "\x00" + key))
	recKey := hex.EncodeToString(id[:])
	req := sha256.Sum256([]byte(r.Method + " " + r.URL.Path + "\n" + string(body)))
	now := i.now()
	held, err := i.st.ReserveIdempotencyKey(r.Context(), store.IdempotencyRecord{
		Key: recKey, Request: req[:], CreatedAt: now, ExpiresAt: now.Add(idempotencyRunning),
	}, now)
	switch {
	case errors.Is(err, store.ErrConflict):
		return i.replay(w, held, req[:])
	case err != nil:
		return err
	}

	rec := &recorder{header: make(http.Header), status: http.StatusOK}
	if err := create(rec, r); err != nil {
		i.release(r, recKey)
		return err
	}
	if rec.status < 200 || rec.status > 299 {
		i.release(r, recKey)
	} else {
		kept := keptResponse{Status: rec.status, Header: map[string]string{}, Body: []byte(rec.body.String())}
		for _, h := range keptHeaders {
			if v := rec.header.Get(h); v != "" {
				kept.Header[h] = v
			}
		}
		plain, err := json.Marshal(kept)
		if err != nil {
			return err
		}
		sealed, err := i.seal(recKey, plain)
		if err != nil {
			return err
		}
		if err := i.st.FinishIdempotencyKey(r.Context(), recKey, rec.status, sealed, now.Add(idempotencyWindow)); err != nil {
			// The create happened: answer it. A retry will find the key
			// running until the reservation expires, then create again.
			return fmt.Errorf("keep the response for Idempotency-Key retries: %w", err)
		}
	}
	copyResponse(w, rec.header, rec.status, []byte(rec.body.String()))
	return nil
}

// replay answers a retry with the kept response.
func (i *idempotency) replay(w http.ResponseWriter, held store.IdempotencyRecord, req []byte) error {
	if !bytes.Equal(held.Request, req) {
		return &admin.Problem{Type: admin.ProblemIdempotency, Status: http.StatusUnprocessableEntity, Field: "Idempotency-Key",
			Detail: "this Idempotency-Key was used for a different request; use a new key for each new request"}
	}
	if held.Status == 0 {
		w.Header().Set("Retry-After", "1")
		return &admin.Problem{Type: admin.ProblemIdempotency, Status: http.StatusConflict, Field: "Idempotency-Key",
			Detail: "a request with this Idempotency-Key is still running; retry in a moment"}
	}
	plain, err := i.open(held.Key, held.Response)
	if err != nil {
		return err
	}
	var kept keptResponse
	if err := json.Unmarshal(plain, &kept); err != nil {
		return fmt.Errorf("kept response: %w", err)
	}
	h := make(http.Header)
	for k, v := range kept.Header {
		h.Set(k, v)
	}
	h.Set("Idempotent-Replayed", "true")
	copyResponse(w, h, kept.Status, kept.Body)
	return nil
}

func (i *idempotency) release(r *http.Request, recKey string) {
	// Without a deadline of the request's: release even if it was canceled.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	i.st.ReleaseIdempotencyKey(ctx, recKey) // expires anyway if this fails
}

func (i *idempotency) seal(recKey string, plain []byte) ([]byte, error) {
	nonce := make([]byte, i.aead.NonceSize(), i.aead.NonceSize()+len(plain)+i.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return i.aead.Seal(nonce, nonce, plain, []byte(recKey)), nil
}

func (i *idempotency) open(recKey string, sealed []byte) ([]byte, error) {
	ns := i.aead.NonceSize()
	if len(sealed) < ns {
		return nil, errors.New("kept response: truncated")
	}
	plain, err := i.aead.Open(nil, sealed[:ns], sealed[ns:], []byte(recKey))
	if err != nil {
		return nil, fmt.Errorf("kept response: %w (was the master key changed?)", err)
	}
	return plain, nil
}

func copyResponse(w http.ResponseWriter, h http.Header, status int, body []byte) {
	for k, v := range h {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return s != ""
}
