package adminapi

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/admin"
)

// clientETag is the entity tag (RFC 9110 §8.8.3) of a client: a hash of
// everything the API shows of it but the secrets' last-use times. It is
// the client's version: it changes with every change made to the client,
// and not when the client merely uses a secret, which would fail an update
// that two admins are not racing on.
func clientETag(c admin.Client) string {
	c.ClientSecret = ""
	c.Secrets = slices.Clone(c.Secrets)
	for i := range c.Secrets {
		c.Secrets[i].LastUsedAt = nil
	}
	return etag(c)
}

// etag is the strong entity tag of a value: a hash of its JSON.
func etag(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("adminapi: etag of an unencodable value: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
}

// checkIfMatch compares the request's If-Match (RFC 9110 §13.1.1) with
// the current entity tag: nil when it is absent, "*", or lists the tag;
// otherwise 412. Weak tags never match (strong comparison).
func checkIfMatch(r *http.Request, current string) error {
	vals := r.Header.Values("If-Match")
	if len(vals) == 0 {
		return nil
	}
	for _, v := range vals {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || t == current {
				return nil
			}
		}
	}
	return &admin.Problem{Type: admin.ProblemPrecondition, Status: http.StatusPreconditionFailed, Field: "If-Match",
		Detail: "the resource changed since the ETag in If-Match was read; GET it again, reapply the change and retry with its ETag"}
}
