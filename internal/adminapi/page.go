package adminapi

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gatehouse/gatehouse/admin"
)

// Lists return pages of ?limit= items (default defaultLimit, at most
// maxLimit) and, unless it is the last page, next_cursor: pass it as
// ?cursor= for the next page. Cursors are opaque: the base64url encoding
// of the position after which the next page starts.
const (
	defaultLimit = 50
	maxLimit     = 200
)

// pageParams reads ?limit= and ?cursor=.
func pageParams(r *http.Request) (limit int, after string, err error) {
	q, err := query(r)
	if err != nil {
		return 0, "", err
	}
	limit = defaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return 0, "", badRequest("limit", "limit must be a whole number from 1 to "+strconv.Itoa(maxLimit))
		}
		limit = n
	}
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || len(b) == 0 {
			return 0, "", badRequest("cursor", "malformed cursor: pass the next_cursor of the previous page unchanged")
		}
		after = string(b)
	}
	return limit, after, nil
}

// cursor encodes the position after which the next page starts.
func cursor(after string) string { return base64.RawURLEncoding.EncodeToString([]byte(after)) }

// pageOf returns the page of items (up to limit of them, read as limit+1
// to know whether more follow) with the cursor after the last one.
func pageOf[T any](items []T, limit int, key func(T) string) admin.Page[T] {
	p := admin.Page[T]{Items: items}
	if len(items) > limit {
		p.Items = items[:limit]
		p.NextCursor = cursor(key(items[limit-1]))
	}
	if p.Items == nil {
		p.Items = []T{}
	}
	return p
}

// query parses the query string; a malformed one is a 400.
func query(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("", "malformed query string: "+err.Error())
	}
	return q, nil
}
