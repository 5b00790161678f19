package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/store"
)

func idem(key string, created time.Time) store.IdempotencyRecord {
	return store.IdempotencyRecord{Key: key, Request: []byte("req-" + key), CreatedAt: created, ExpiresAt: created.Add(time.Minute)}
}

// testIdempotencyKeys: a key is reserved once; the holder finishes or
// releases it; an expired record is replaced; Prune removes expired ones.
func testIdempotencyKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := t0
	r := idem("k1", now)
	got, err := s.ReserveIdempotencyKey(ctx, r, now)
	if err != nil {
		t.Fatalf("ReserveIdempotencyKey: %v", err)
	}
	if got.Key != "k1" {
		t.Errorf("ReserveIdempotencyKey returned %+v, want the record reserved", got)
	}
	other := idem("k1", now.Add(time.Second))
	other.Request = []byte("another request")
	got, err = s.ReserveIdempotencyKey(ctx, other, now.Add(time.Second))
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second ReserveIdempotencyKey: got error %v, want ErrConflict", err)
	}
	want := store.IdempotencyRecord{Key: "k1", Request: []byte("req-k1"), CreatedAt: normTime(now), ExpiresAt: normTime(now.Add(time.Minute))}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the record holding the key (-want +got):\n%s", diff)
	}

	if err := s.FinishIdempotencyKey(ctx, "k1", 201, []byte("sealed"), now.Add(time.Hour)); err != nil {
		t.Fatalf("FinishIdempotencyKey: %v", err)
	}
	got, err = s.ReserveIdempotencyKey(ctx, other, now.Add(30*time.Minute))
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("ReserveIdempotencyKey of a finished key: got error %v, want ErrConflict", err)
	}
	want.Status, want.Response, want.ExpiresAt = 201, []byte("sealed"), normTime(now.Add(time.Hour))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the finished record (-want +got):\n%s", diff)
	}
	if err := s.FinishIdempotencyKey(ctx, "missing", 201, nil, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FinishIdempotencyKey(missing): got error %v, want ErrNotFound", err)
	}

	// Expired at or before now: replaced.
	late := idem("k1", now.Add(time.Hour))
	if _, err := s.ReserveIdempotencyKey(ctx, late, now.Add(time.Hour)); err != nil {
		t.Fatalf("ReserveIdempotencyKey of an expired key: %v", err)
	}
	if err := s.ReleaseIdempotencyKey(ctx, "k1"); err != nil {
		t.Fatalf("ReleaseIdempotencyKey: %v", err)
	}
	if err := s.ReleaseIdempotencyKey(ctx, "k1"); err != nil {
		t.Fatalf("ReleaseIdempotencyKey of a missing key: %v", err)
	}
	if _, err := s.ReserveIdempotencyKey(ctx, idem("k1", now), now); err != nil {
		t.Fatalf("ReserveIdempotencyKey after release: %v", err)
	}

	// Prune removes the records that expired at or before now.
	if _, err := s.ReserveIdempotencyKey(ctx, idem("k2", now.Add(time.Minute)), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Prune(ctx, now.Add(time.Minute)); err != nil {
		t.Fatalf("Prune: %v", err)
	}
	for key, live := range map[string]bool{"k1": false, "k2": true} {
		_, err := s.ReserveIdempotencyKey(ctx, idem(key, now), now)
		if gotLive := errors.Is(err, store.ErrConflict); gotLive != live {
			t.Errorf("after Prune, %s held: %v (error %v), want %v", key, gotLive, err, live)
		}
	}
}

// testIdempotencyKeysConcurrent: of many requests reserving one key at
// once, exactly one gets it.
func testIdempotencyKeysConcurrent(t *testing.T, s store.Store) {
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  int
		errs []error
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.ReserveIdempotencyKey(t.Context(), idem("race", t0), t0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case !errors.Is(err, store.ErrConflict):
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	if won != 1 || len(errs) > 0 {
		t.Errorf("%d concurrent reservations of one key: %d won, errors %v; want exactly one", n, won, errs)
	}
}
