package resource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

const (
	// maxFeedPages bounds the pages read in one poll; the rest comes with
	// the next poll.
	maxFeedPages = 100
	// maxFeedPage bounds one page of the feed (1000 entries are ~100 KB).
	maxFeedPage = 4 << 20
	// pruneEvery is how often expired revocations are dropped when nothing
	// new arrives.
	pruneEvery = time.Minute
)

// revocations is an immutable snapshot of what the feed revoked.
type revocations struct {
	exp map[string]int64 // jti → the token's exp, Unix seconds
	// clients holds the revocations of every token of a client issued
	// before a time; nil while there is none, so that the check of a
	// token costs one map lookup (its jti) unless there is.
	clients map[string]clientRevocation
	pruned  time.Time
}

// clientRevocation revokes the tokens of a client whose iat is less than
// iatBefore (Unix seconds), until exp (Unix seconds), when the last of
// them expires.
type clientRevocation struct {
	iatBefore, exp int64
}

// revokedEntry is one entry of the revocation feed: a revoked token (JTI),
// or the tokens of a client issued before IATBefore (ClientID, no JTI).
type revokedEntry struct {
	JTI       string `json:"jti"`
	ClientID  string `json:"client_id"`
	IATBefore int64  `json:"iat_before"`
	Exp       int64  `json:"exp"`
}

// feedPage is one response of the revocation feed.
type feedPage struct {
	Revoked []revokedEntry `json:"revoked"`
	Cursor  string         `json:"cursor"`
	More    bool           `json:"more"`
}

// errBadCursor is the feed's 400 for a cursor it does not accept.
var errBadCursor = errors.New("the revocation feed refused the cursor")

// isRevoked reports whether the feed revoked the verified token e: its
// jti, or its client's tokens issued before a time that its iat is before.
func (g *Guard) isRevoked(e *entry) bool {
	r := g.revoked.Load()
	if r == nil {
		return false
	}
	if _, ok := r.exp[e.claims.JTI]; ok {
		return true
	}
	if len(r.clients) == 0 {
		return false
	}
	cr, ok := r.clients[e.claims.ClientID]
	return ok && e.iat < cr.iatBefore
}

// pollRevocations polls the revocation feed every RevocationPoll until
// Close. Failures are logged when they start and when they end; the
// revocations already known stay in force.
func (g *Guard) pollRevocations() {
	defer g.wg.Done()
	var cursor, lastErr string
	for {
		d, err := g.discover(g.ctx)
		if err == nil && d.feedURI == "" {
			g.log.Info("resource: the issuer advertises no revocation_feed_endpoint; revocation polling disabled", "issuer", g.cfg.Issuer)
			return
		}
		if err == nil {
			cursor, err = g.pollOnce(g.ctx, d.feedURI, cursor)
		}
		if g.ctx.Err() != nil {
			return
		}
		switch {
		case err != nil && err.Error() != lastErr:
			g.log.Warn("resource: cannot poll the revocation feed; revoked tokens known so far stay refused", "issuer", g.cfg.Issuer, "err", err)
			lastErr = err.Error()
		case err == nil && lastErr != "":
			g.log.Info("resource: polling the revocation feed works again", "issuer", g.cfg.Issuer)
			lastErr = ""
		}
		t := time.NewTimer(g.cfg.RevocationPoll)
		select {
		case <-g.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// pollOnce reads the feed from cursor on, following "more", and records
// what it finds. It returns the cursor to continue from.
func (g *Guard) pollOnce(ctx context.Context, feed, cursor string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	var (
		got []revokedEntry
		err error
	)
	for range maxFeedPages {
		var p *feedPage
		p, err = g.fetchFeed(ctx, feed, cursor)
		if errors.Is(err, errBadCursor) && cursor != "" {
			// The issuer no longer knows our cursor: read the whole feed.
			g.log.Warn("resource: the revocation feed refused our cursor; reading it from the start", "issuer", g.cfg.Issuer)
			cursor, err = "", nil
			continue
		}
		if err != nil {
			break
		}
		got = append(got, p.Revoked...)
		if p.Cursor != "" {
			cursor = p.Cursor
		}
		if !p.More {
			break
		}
	}
	g.addRevocations(got)
	return cursor, err
}

func (g *Guard) fetchFeed(ctx context.Context, feed, cursor string) (*feedPage, error) {
	u, err := url.Parse(feed)
	if err != nil {
		return nil, err
	}
	if cursor != "" {
		q := u.Query()
		q.Set("cursor", cursor)
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if g.cfg.ClientID != "" {
		// RFC 6749 §2.3.1: form-encode the credentials inside Basic.
		req.SetBasicAuth(url.QueryEscape(g.cfg.ClientID), url.QueryEscape(g.cfg.ClientSecret))
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusBadRequest:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, errBadCursor
	default:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("GET %s: %s", feed, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxFeedPage+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", feed, err)
	}
	if len(body) > maxFeedPage {
		return nil, fmt.Errorf("GET %s: a page larger than %d bytes", feed, maxFeedPage)
	}
	var p feedPage
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("GET %s: %w", feed, err)
	}
	return &p, nil
}

// addRevocations records revoked token IDs and clients' revocations and
// drops those whose tokens have expired (exp plus leeway passed), copying
// the snapshot only when it changes. An entry without a jti is a client's
// (client_id and a positive iat_before); one that is neither is ignored.
func (g *Guard) addRevocations(add []revokedEntry) {
	now := g.now()
	cutoff := now.Add(-g.cfg.Leeway - time.Second).Unix()
	old := g.revoked.Load()
	fresh := add[:0]
	for _, e := range add {
		if e.Exp < cutoff {
			continue
		}
		switch {
		case e.JTI != "":
			if old != nil {
				if exp, ok := old.exp[e.JTI]; ok && exp >= e.Exp {
					continue // the feed re-sends recent entries
				}
			}
		case e.ClientID != "" && e.IATBefore > 0:
			if old != nil {
				if cr, ok := old.clients[e.ClientID]; ok && cr.iatBefore >= e.IATBefore && cr.exp >= e.Exp {
					continue
				}
			}
		default:
			continue
		}
		fresh = append(fresh, e)
	}
	if len(fresh) == 0 && old != nil && now.Sub(old.pruned) < pruneEvery {
		return
	}
	n := len(fresh)
	if old != nil {
		n += len(old.exp)
	}
	next := &revocations{exp: make(map[string]int64, n), pruned: now}
	if old != nil {
		for jti, exp := range old.exp {
			if exp >= cutoff {
				next.exp[jti] = exp
			}
		}
		for id, cr := range old.clients {
			if cr.exp >= cutoff {
				next.addClient(id, cr)
			}
		}
	}
	for _, e := range fresh {
		if e.JTI != "" {
			next.exp[e.JTI] = max(next.exp[e.JTI], e.Exp)
		} else {
			next.addClient(e.ClientID, clientRevocation{iatBefore: e.IATBefore, exp: e.Exp})
		}
	}
	if len(fresh) > 0 {
		g.log.Debug("resource: revocations added", "count", len(fresh), "tokens", len(next.exp), "clients", len(next.clients))
	}
	g.revoked.Store(next)
}

// addClient records a client's revocation, keeping the greater iatBefore
// and exp of what is there.
func (r *revocations) addClient(id string, cr clientRevocation) {
	if r.clients == nil {
		r.clients = make(map[string]clientRevocation)
	}
	have := r.clients[id]
	r.clients[id] = clientRevocation{iatBefore: max(have.iatBefore, cr.iatBefore), exp: max(have.exp, cr.exp)}
}
