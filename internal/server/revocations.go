package server

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/store"
)

// The revocation feed lets resource servers (the gateway, the resource
// middleware) learn which unexpired access tokens were revoked, without
// introspecting every token:
//
//	GET /oauth/revocations[?cursor=C]
//	{"revoked":[{"jti":"...","exp":1795555145},
//	            {"client_id":"billing-sync","iat_before":1795551546,"exp":1798143546}],
//	 "cursor":"...","more":false}
//
// An entry is one of two kinds:
//
//   - {"jti", "exp"}: the token with that jti is revoked; exp is the
//     token's.
//   - {"client_id", "iat_before", "exp"} (no jti): every token of that
//     client issued until a time T was revoked (gatehouse clients
//     revoke-tokens). A token is revoked if its client_id claim is
//     client_id and its iat is less than iat_before. iat_before is the
//     first whole second after T's second (T's Unix time, rounded down,
//     plus one): iat is whole seconds, so a token issued in T's second,
//     even just after T, is revoked too (fail closed), and one issued in
//     the next second or later is not. exp is when the last token it
//     covers expires (iat_before plus the longest token lifetime); the
//     entry drops out of the feed then. Consumers that know only the
//     first kind must skip entries without a jti.
//
// The two kinds come in one order, by when the store recorded them.
// Without a cursor the feed lists every revocation that has not expired;
// with the cursor of the previous response, the revocations recorded since,
// re-sending those recorded in the revocationOverlap before the newest one
// it sent, so that a revocation whose transaction committed late is not
// missed. Clients de-duplicate by jti, and by client_id keeping the
// greatest iat_before and exp (revoking a client's tokens again moves
// iat_before forward and sends the entry again). A page holds at most
// revocationPageSize entries; "more": true means call again at once.
//
// The cursor is the base64url encoding of a store time in microseconds
// since the Unix epoch (8 bytes, big-endian): the response lists the
// revocations recorded at or after it. Clients treat it as opaque.
const (
	revocationPageSize = 1000
	revocationOverlap  = 5 * time.Second
)

// revocationFeed is the response of the revocation feed.
type revocationFeed struct {
	Revoked []revokedToken `json:"revoked"`
	Cursor  string         `json:"cursor"`
	More    bool           `json:"more"`
}

// revokedToken is an entry of the feed: a revoked token (JTI), or the
// tokens of a client issued before IATBefore (ClientID).
type revokedToken struct {
	JTI       string `json:"jti,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	IATBefore int64  `json:"iat_before,omitempty"` // Unix seconds: iat < IATBefore is revoked
	Exp       int64  `json:"exp"`                  // Unix seconds
}

// feedEntry is rv as the feed sends it.
func feedEntry(rv store.Revocation) revokedToken {
	if rv.JTI == "" && rv.ClientID != "" {
		return revokedToken{ClientID: rv.ClientID, IATBefore: clients.IATBefore(rv.IssuedBefore), Exp: rv.ExpiresAt.Unix()}
	}
	return revokedToken{JTI: rv.JTI, Exp: rv.ExpiresAt.Unix()}
}

// revocations serves the revocation feed. It is open unless the server
// requires a scope for it, in which case the caller authenticates as a
// client (as at the token endpoint) whose allowed scopes include it.
func (s *Server) revocations(w http.ResponseWriter, r *http.Request) error {
	var q form
	if err := parseForm([]byte(r.URL.RawQuery), &q); err != nil {
		return err
	}
	if q.Has("client_secret") {
		return oauth.InvalidRequest("client credentials must not be sent in the URL (RFC 6749 §2.3.1)")
	}
	if s.feedScope != "" {
		if err := s.authorizeFeed(r); err != nil {
			return err
		}
	}
	since := time.UnixMicro(0)
	if c := q.Get("cursor"); c != "" {
		var ok bool
		if since, ok = decodeCursor(c); !ok {
			return oauth.InvalidRequest("malformed cursor: pass the cursor of a previous response unchanged, or none to start over")
		}
	}
	feed, err := s.readRevocations(r.Context(), since, s.now())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, feed)
}

// authorizeFeed authenticates the calling client and checks that it may
// read the feed. Credentials come from HTTP Basic or, as at the token
// endpoint, from a form body.
func (s *Server) authorizeFeed(r *http.Request) error {
	var f form
	if isFormContentType(r.Header.Get("Content-Type")) {
		if err := readForm(r, &f); err != nil {
			return err
		}
	}
	cc, err := s.authenticate(r, &f)
	if err != nil {
		return err
	}
	if !slices.Contains(cc.client.Scopes, s.feedScope) {
		return &oauth.Error{Code: oauth.CodeAccessDenied, Status: http.StatusForbidden,
			Description: fmt.Sprintf("reading the revocation feed requires a client allowed the %s scope", s.feedScope)}
	}
	return nil
}

// readRevocations reads one page of the feed: the revocations (of tokens
// and of clients' tokens) recorded at or after since that expire after now.
func (s *Server) readRevocations(ctx context.Context, since, now time.Time) (revocationFeed, error) {
	list, next, more, err := s.revocationPage(ctx, since, now)
	if err != nil {
		return revocationFeed{}, err
	}
	feed := revocationFeed{Revoked: make([]revokedToken, len(list)), Cursor: encodeCursor(next), More: more}
	for i, rv := range list {
		feed.Revoked[i] = feedEntry(rv)
	}
	return feed, nil
}

// revocationPage reads one page of revocations recorded at or after since
// that expire after now, and returns where the next page starts and
// whether there is more. The feed and the server's own revocation set
// (revoked.go) read the store through it.
//
// A full page ends just before the store time of the first entry that did
// not fit, and the next cursor is that time, without overlap, so that
// paging always moves forward. The last page (more: false) ends the
// cursor revocationOverlap before its newest entry, but never before since.
// An empty page keeps the cursor: the server's clock is never mixed with
// the store's.
func (s *Server) revocationPage(ctx context.Context, since, now time.Time) (list []store.Revocation, next time.Time, more bool, err error) {
	page := s.revPageSize
	list, err = s.st.ListRevocations(ctx, since, now, page+1)
	if err != nil {
		return nil, since, false, fmt.Errorf("list revocations: %w", err)
	}
	next = since
	switch {
	case len(list) > page:
		more = true
		boundary := list[page].RevokedAt
		cut := page
		for cut > 0 && list[cut-1].RevokedAt.Equal(boundary) {
			cut--
		}
		if cut > 0 {
			list, next = list[:cut], boundary
			break
		}
		// More than a page of revocations share one microsecond. Only then
		// is a page longer than revocationPageSize: it has all of them, so
		// that the cursor can move past that instant.
		if list, err = s.revocationsAt(ctx, boundary, now, 2*(page+1)); err != nil {
			return nil, since, false, err
		}
		next = boundary.Add(time.Microsecond)
	case len(list) > 0:
		if n := list[len(list)-1].RevokedAt.Add(-revocationOverlap); n.After(since) {
			next = n
		}
	}
	return list, next, more, nil
}

// revocationsAt returns every revocation recorded at exactly the store
// time at whose token expires after now, reading limit entries at first
// and twice as many each time that is not enough.
func (s *Server) revocationsAt(ctx context.Context, at, now time.Time, limit int) ([]store.Revocation, error) {
	for {
		list, err := s.st.ListRevocations(ctx, at, now, limit)
		if err != nil {
			return nil, fmt.Errorf("list revocations: %w", err)
		}
		if len(list) < limit || !list[len(list)-1].RevokedAt.Equal(at) {
			end := 0
			for end < len(list) && list[end].RevokedAt.Equal(at) {
				end++
			}
			return list[:end], nil
		}
		limit *= 2
	}
}

// cursorEncoding spells every cursor one way only.
var cursorEncoding = base64.RawURLEncoding.Strict()

// encodeCursor encodes a store time (microseconds since the Unix epoch,
// never negative) as a cursor.
func encodeCursor(t time.Time) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(max(t.UnixMicro(), 0)))
	return cursorEncoding.EncodeToString(b[:])
}

// decodeCursor is the inverse of encodeCursor.
func decodeCursor(c string) (time.Time, bool) {
	if len(c) != cursorEncoding.EncodedLen(8) {
		return time.Time{}, false
	}
	b, err := cursorEncoding.DecodeString(c)
	if err != nil || len(b) != 8 {
		return time.Time{}, false
	}
	us := int64(binary.BigEndian.Uint64(b))
	if us < 0 {
		return time.Time{}, false
	}
	return time.UnixMicro(us), true
}
