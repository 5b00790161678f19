package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/duration"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Every command prints values of the admin package, as the admin API sends
// them, whether it ran locally or remotely: --output json is those types'
// JSON, and the tables are made from the same values.

func checkOutput(o string) error {
	if o != "table" && o != "json" {
		return usagef("--output %q: use table or json", o)
	}
	return nil
}

type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(headers...)
	return t
}

func (t *table) row(cols ...string) { fmt.Fprintln(t.tw, strings.Join(cols, "\t")) }
func (t *table) flush() error       { return t.tw.Flush() }

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const secretWarning = "Store the client secret now: it is not saved and cannot be shown again."

// printCreated reports a new client with its secret (c.ClientSecret), or a
// new public client, which has none.
func (e *env) printCreated(output string, c admin.Client) error {
	if output == "json" {
		return writeJSONOut(e.stdout, c)
	}
	w := e.stdout
	if c.TokenEndpointAuthMethod == store.AuthMethodNone {
		fmt.Fprintf(w, "Created public client %q (no secret; PKCE required).\n\n", c.Name)
		fmt.Fprintf(w, "  client_id:      %s\n", c.ClientID)
		fmt.Fprintf(w, "  scopes:         %s\n", orDash(strings.Join(c.Scopes, " ")))
		fmt.Fprintf(w, "  redirect URIs:  %s\n", orDash(strings.Join(c.RedirectURIs, " ")))
		fmt.Fprintf(w, "  token lifetime: %s\n", ttlText(c.TokenTTLSeconds))
		return nil
	}
	if c.TokenEndpointAuthMethod == store.AuthMethodPrivateKeyJWT {
		fmt.Fprintf(w, "Created client %q (private_key_jwt: no secret; it signs its assertions with its keys).\n\n", c.Name)
		fmt.Fprintf(w, "  client_id:      %s\n", c.ClientID)
		fmt.Fprintf(w, "  keys:           %s\n", keysText(c))
		fmt.Fprintf(w, "  scopes:         %s\n", orDash(strings.Join(c.Scopes, " ")))
		fmt.Fprintf(w, "  token lifetime: %s\n", ttlText(c.TokenTTLSeconds))
		return nil
	}
	fmt.Fprintf(w, "Created client %q.\n\n", c.Name)
	fmt.Fprintf(w, "  client_id:      %s\n", c.ClientID)
	fmt.Fprintf(w, "  client_secret:  %s\n", c.ClientSecret)
	fmt.Fprintf(w, "  scopes:         %s\n", orDash(strings.Join(c.Scopes, " ")))
	fmt.Fprintf(w, "  token lifetime: %s\n\n", ttlText(c.TokenTTLSeconds))
	fmt.Fprintln(w, secretWarning)
	return nil
}

// printIssued reports an update that made a public client confidential and
// generated its first secret (c.ClientSecret).
func (e *env) printIssued(output string, c admin.Client) error {
	if output == "json" {
		return writeJSONOut(e.stdout, c)
	}
	w := e.stdout
	fmt.Fprintf(w, "Client %s now authenticates with %s; its new secret:\n\n", c.ClientID, c.TokenEndpointAuthMethod)
	fmt.Fprintf(w, "  client_secret:  %s\n\n", c.ClientSecret)
	fmt.Fprintln(w, secretWarning)
	return nil
}

func (e *env) printRotated(output string, r admin.Rotation) error {
	if output == "json" {
		return writeJSONOut(e.stdout, r)
	}
	w := e.stdout
	fmt.Fprintf(w, "New secret %s for client %s.\n\n", r.SecretID, r.ClientID)
	fmt.Fprintf(w, "  client_secret:  %s\n\n", r.ClientSecret)
	grace := time.Duration(r.GraceSeconds) * time.Second
	if grace == 0 {
		fmt.Fprintln(w, "Older secrets stopped working.")
	} else {
		created := time.Now()
		for _, s := range r.Secrets {
			if s.ID == r.SecretID {
				created = s.CreatedAt
			}
		}
		fmt.Fprintf(w, "Older secrets keep working for %s (until %s).\n", duration.Format(grace), created.Add(grace).Local().Format(time.RFC3339))
	}
	fmt.Fprintln(w, secretWarning)
	return nil
}

// printRevokedTokens reports RevokeTokens: the client's tokens issued
// until at are revoked.
func (e *env) printRevokedTokens(output string, r admin.TokenRevocation) error {
	if output == "json" {
		return writeJSONOut(e.stdout, r)
	}
	w, id := e.stdout, r.ClientID
	fmt.Fprintf(w, "Revoked every token issued to client %s until %s.\n\n", id, r.IssuedBefore.Format(time.RFC3339))
	fmt.Fprintln(w, "  access tokens:   issued in that second or before: inactive at introspection within a second,")
	fmt.Fprintln(w, "                   refused by gateways and resource servers at their next revocation-feed poll")
	fmt.Fprintln(w, "  refresh tokens:  revoked")
	fmt.Fprintf(w, "\nTokens issued from the next second on work: if the secret leaked, rotate it away too\n(gatehouse clients rotate-secret %s --grace 0).\n", id)
	return nil
}

func (e *env) printClient(output string, c admin.Client) error {
	if output == "json" {
		return writeJSONOut(e.stdout, c)
	}
	w := e.stdout
	kv := newTable(w, "FIELD", "VALUE")
	kv.row("client_id", c.ClientID)
	kv.row("name", c.Name)
	if c.Description != "" {
		kv.row("description", c.Description)
	}
	kv.row("status", status(c))
	kv.row("grant types", strings.Join(c.GrantTypes, ", "))
	kv.row("scopes", orDash(strings.Join(c.Scopes, " ")))
	kv.row("accounts", orDash(strings.Join(c.Accounts, ", ")))
	if len(c.RedirectURIs) > 0 {
		kv.row("redirect URIs", strings.Join(c.RedirectURIs, ", "))
	}
	kv.row("audience", orDash(c.Audience))
	if len(c.Resources) > 0 {
		kv.row("resources", strings.Join(c.Resources, ", "))
	}
	if c.Website != "" {
		kv.row("website", c.Website)
	}
	kv.row("token endpoint auth", c.TokenEndpointAuthMethod)
	if c.TokenEndpointAuthMethod == store.AuthMethodPrivateKeyJWT {
		kv.row("keys", keysText(c))
	}
	if c.RefreshWithClientCredentials {
		kv.row("refresh tokens", "also with client_credentials")
	}
	if slices.Contains(c.GrantTypes, store.GrantAuthorizationCode) || !c.RequirePKCE {
		kv.row("PKCE", pkceText(c))
	}
	if c.DPoPBoundAccessTokens {
		kv.row("DPoP", "required: access tokens bound to the client's key")
	}
	if c.TokenQuotaPerMinute != 0 || c.TokenQuotaPerHour != 0 {
		kv.row("Token quota", fmt.Sprintf("%s a minute, %s an hour", quotaText(c.TokenQuotaPerMinute), quotaText(c.TokenQuotaPerHour)))
	}
	switch r := c.TokenReuseMinRemaining; {
	case r > 0:
		kv.row("Token reuse", fmt.Sprintf("while more than %d%% of the lifetime is left", r))
	case r < 0:
		kv.row("Token reuse", "off")
	}
	kv.row("token lifetime", ttlText(c.TokenTTLSeconds))
	if c.SelfRegistered != "" {
		kv.row("self-registered", c.SelfRegistered+" (RFC 7591, at /oauth/register)")
	}
	kv.row("created", c.CreatedAt.Local().Format(time.RFC3339))
	kv.row("updated", c.UpdatedAt.Local().Format(time.RFC3339))
	if err := kv.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t := newTable(w, "SECRET ID", "HINT", "CREATED", "EXPIRES", "LAST USED")
	for _, s := range c.Secrets {
		t.row(s.ID, s.Hint+"…", s.CreatedAt.Local().Format(time.RFC3339), orDash(fmtTime(s.ExpiresAt)), when(s.LastUsedAt))
	}
	return t.flush()
}

func (e *env) printClients(output string, cs []admin.Client) error {
	if output == "json" {
		return writeJSONOut(e.stdout, cs)
	}
	t := newTable(e.stdout, "CLIENT ID", "NAME", "GRANT TYPES", "SCOPES", "TOKEN TTL", "STATUS", "LAST USED")
	for _, c := range cs {
		t.row(c.ClientID, c.Name, strings.Join(c.GrantTypes, ","), orDash(strings.Join(c.Scopes, " ")),
			ttlText(c.TokenTTLSeconds), status(c), when(lastUsed(c)))
	}
	return t.flush()
}

// lastUsed is when any of the client's secrets was last used; nil if never.
func lastUsed(c admin.Client) *time.Time {
	var t *time.Time
	for _, s := range c.Secrets {
		if s.LastUsedAt != nil && (t == nil || s.LastUsedAt.After(*t)) {
			t = s.LastUsedAt
		}
	}
	return t
}

func status(c admin.Client) string {
	if c.Disabled {
		return "disabled"
	}
	return "enabled"
}

func ttlText(seconds int64) string {
	if seconds == 0 {
		return "default"
	}
	return duration.Format(time.Duration(seconds) * time.Second)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.Local().Format(time.RFC3339)
}

func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	return t.Local().Format(time.RFC3339)
}

// keysText says where a private_key_jwt client's keys are.
func keysText(c admin.Client) string {
	if c.JWKSURI != "" {
		return "JWKS at " + c.JWKSURI
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if len(c.JWKS) == 0 || json.Unmarshal(c.JWKS, &set) != nil {
		return "-"
	}
	kids := make([]string, len(set.Keys))
	for i, k := range set.Keys {
		kids[i] = k.Kid
	}
	return fmt.Sprintf("registered JWKS (kid %s)", strings.Join(kids, ", "))
}

// pkceText says whether the client must use PKCE at the authorization
// endpoint, as far as its own record decides.
func pkceText(c admin.Client) string {
	switch {
	case c.TokenEndpointAuthMethod == store.AuthMethodNone:
		return "required (public client)"
	case !c.RequirePKCE:
		return "not required for this client (--require-pkce=false)"
	}
	return "required (unless the server sets oauth.require_pkce: false)"
}

func (e *env) printKeys(output string, keys []admin.Key) error {
	if output == "json" {
		return writeJSONOut(e.stdout, keys)
	}
	t := newTable(e.stdout, "KEY ID", "ALG", "STATE", "CREATED", "SIGNS FROM", "PUBLISHED UNTIL")
	for _, k := range keys {
		t.row(k.ID, k.Algorithm, k.State, k.CreatedAt.Local().Format(time.RFC3339), k.ActiveAt.Local().Format(time.RFC3339), orDash(fmtTime(k.PublishedUntil)))
	}
	return t.flush()
}

func (e *env) printAudit(output string, events []admin.AuditEvent) error {
	if output == "json" {
		return writeJSONOut(e.stdout, events)
	}
	t := newTable(e.stdout, "TIME", "ACTOR", "ACTION", "TARGET", "DETAIL")
	for _, ev := range events {
		t.row(ev.Time.Local().Format(time.RFC3339), ev.Actor, ev.Action, ev.Target, ev.Detail)
	}
	return t.flush()
}

// quotaText shows a client's own quota: a number, or what 0 and -1 mean.
func quotaText(n int) string {
	switch {
	case n == 0:
		return "the server's default"
	case n < 0:
		return "no limit"
	}
	return strconv.Itoa(n)
}
