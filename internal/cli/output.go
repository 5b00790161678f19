package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/duration"
	"github.com/gatehouse/gatehouse/internal/store"
)

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

type secretJSON struct {
	ID         string     `json:"id"`
	Hint       string     `json:"hint"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

type clientJSON struct {
	ClientID        string       `json:"client_id"`
	ClientSecret    string       `json:"client_secret,omitempty"`
	Name            string       `json:"name"`
	Description     string       `json:"description,omitempty"`
	GrantTypes      []string     `json:"grant_types"`
	Scopes          []string     `json:"scopes"`
	Accounts        []string     `json:"accounts"`
	RedirectURIs    []string     `json:"redirect_uris"`
	Audience        string       `json:"audience,omitempty"`
	Website         string       `json:"website,omitempty"`
	AuthMethod      string       `json:"token_endpoint_auth_method"`
	RefreshWithCC   bool         `json:"refresh_with_client_credentials,omitempty"`
	RequirePKCE     bool         `json:"require_pkce"`
	TokenTTLSeconds int64        `json:"token_ttl_seconds"`
	Disabled        bool         `json:"disabled"`
	CreatedAt       time.Time    `json:"created_at"`
	UpdatedAt       time.Time    `json:"updated_at"`
	Secrets         []secretJSON `json:"secrets"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func toClientJSON(c store.Client) clientJSON {
	j := clientJSON{
		ClientID: c.ID, Name: c.Name, Description: c.Description,
		GrantTypes: nonNil(c.GrantTypes), Scopes: nonNil(c.Scopes), Accounts: nonNil(c.Accounts),
		RedirectURIs: nonNil(c.RedirectURIs), Audience: c.Audience, Website: c.Website,
		AuthMethod: c.AuthMethod(), RefreshWithCC: c.RefreshWithClientCredentials,
		RequirePKCE: !c.PKCEOptional, TokenTTLSeconds: int64(c.TokenTTL / time.Second), Disabled: c.Disabled,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, Secrets: []secretJSON{},
	}
	for _, s := range c.Secrets {
		j.Secrets = append(j.Secrets, secretJSON{ID: s.ID, Hint: s.Hint, CreatedAt: s.CreatedAt,
			ExpiresAt: timePtr(s.ExpiresAt), LastUsedAt: timePtr(s.LastUsedAt)})
	}
	return j
}

const secretWarning = "Store the client secret now: it is not saved and cannot be shown again."

func (e *env) printCreated(output string, c store.Client, secret string) error {
	if output == "json" {
		j := toClientJSON(c)
		j.ClientSecret = secret
		return writeJSONOut(e.stdout, j)
	}
	w := e.stdout
	fmt.Fprintf(w, "Created client %q.\n\n", c.Name)
	fmt.Fprintf(w, "  client_id:      %s\n", c.ID)
	fmt.Fprintf(w, "  client_secret:  %s\n", secret)
	fmt.Fprintf(w, "  scopes:         %s\n", orDash(strings.Join(c.Scopes, " ")))
	fmt.Fprintf(w, "  token lifetime: %s\n\n", ttlText(c.TokenTTL))
	fmt.Fprintln(w, secretWarning)
	return nil
}

// printIssued reports an update that made a public client confidential and
// generated its first secret.
func (e *env) printIssued(output string, c store.Client, secret string) error {
	if output == "json" {
		j := toClientJSON(c)
		j.ClientSecret = secret
		return writeJSONOut(e.stdout, j)
	}
	w := e.stdout
	fmt.Fprintf(w, "Client %s now authenticates with %s; its new secret:\n\n", c.ID, c.AuthMethod())
	fmt.Fprintf(w, "  client_secret:  %s\n\n", secret)
	fmt.Fprintln(w, secretWarning)
	return nil
}

func (e *env) printRotated(output string, c store.Client, secret string, grace time.Duration) error {
	newest := c.Secrets[len(c.Secrets)-1]
	if output == "json" {
		return writeJSONOut(e.stdout, struct {
			ClientID     string       `json:"client_id"`
			ClientSecret string       `json:"client_secret"`
			SecretID     string       `json:"secret_id"`
			GraceSeconds int64        `json:"grace_seconds"`
			Secrets      []secretJSON `json:"secrets"`
		}{c.ID, secret, newest.ID, int64(grace / time.Second), toClientJSON(c).Secrets})
	}
	w := e.stdout
	fmt.Fprintf(w, "New secret %s for client %s.\n\n", newest.ID, c.ID)
	fmt.Fprintf(w, "  client_secret:  %s\n\n", secret)
	if grace == 0 {
		fmt.Fprintln(w, "Older secrets stopped working.")
	} else {
		fmt.Fprintf(w, "Older secrets keep working for %s (until %s).\n", duration.Format(grace), newest.CreatedAt.Add(grace).Local().Format(time.RFC3339))
	}
	fmt.Fprintln(w, secretWarning)
	return nil
}

// printRevokedTokens reports RevokeTokens: the client's tokens issued
// until at are revoked.
func (e *env) printRevokedTokens(output, id string, at time.Time) error {
	if output == "json" {
		return writeJSONOut(e.stdout, struct {
			ClientID     string    `json:"client_id"`
			IssuedBefore time.Time `json:"issued_before"`
			IATBefore    int64     `json:"iat_before"`
		}{id, at, clients.IATBefore(at)})
	}
	w := e.stdout
	fmt.Fprintf(w, "Revoked every token issued to client %s until %s.\n\n", id, at.Local().Format(time.RFC3339))
	fmt.Fprintln(w, "  access tokens:   issued in that second or before: inactive at introspection now, refused by")
	fmt.Fprintln(w, "                   gateways and resource servers at their next revocation-feed poll")
	fmt.Fprintln(w, "  refresh tokens:  revoked")
	fmt.Fprintf(w, "\nTokens issued from the next second on work: if the secret leaked, rotate it away too\n(gatehouse clients rotate-secret %s --grace 0).\n", id)
	return nil
}

func (e *env) printClient(output string, c store.Client) error {
	if output == "json" {
		return writeJSONOut(e.stdout, toClientJSON(c))
	}
	w := e.stdout
	kv := newTable(w, "FIELD", "VALUE")
	kv.row("client_id", c.ID)
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
	if c.Website != "" {
		kv.row("website", c.Website)
	}
	kv.row("token endpoint auth", c.AuthMethod())
	if c.RefreshWithClientCredentials {
		kv.row("refresh tokens", "also with client_credentials")
	}
	if slices.Contains(c.GrantTypes, store.GrantAuthorizationCode) || c.PKCEOptional {
		kv.row("PKCE", pkceText(c))
	}
	kv.row("token lifetime", ttlText(c.TokenTTL))
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

func status(c store.Client) string {
	if c.Disabled {
		return "disabled"
	}
	return "enabled"
}

func ttlText(d time.Duration) string {
	if d == 0 {
		return "default"
	}
	return duration.Format(d)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format(time.RFC3339)
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format(time.RFC3339)
}

// pkceText says whether the client must use PKCE at the authorization
// endpoint, as far as its own record decides.
func pkceText(c store.Client) string {
	switch {
	case c.TokenEndpointAuthMethod == store.AuthMethodNone:
		return "required (public client)"
	case c.PKCEOptional:
		return "not required for this client (--require-pkce=false)"
	}
	return "required (unless the server sets oauth.require_pkce: false)"
}
