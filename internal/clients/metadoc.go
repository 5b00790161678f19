package clients

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Clients described by a client ID metadata document
// (draft-ietf-oauth-client-id-metadata-document): the client ID is the URL
// of the document, which the server fetches (internal/server/clientmeta.go).
// Such a client is stored like any other, because consents, authorization
// codes and refresh tokens refer to the clients table, but its fields come
// from the document: the server writes them through
// SyncMetadataDocumentClient whenever a fetched document differs from the
// stored client, and administrators may only disable, enable or delete it.

// ActorMetadataDocument is the audit actor of the changes made from client
// ID metadata documents.
const ActorMetadataDocument = "client-metadata-document"

// DescriptionMetadataDocument is the description of a client created from
// its metadata document.
const DescriptionMetadataDocument = "Described by its client ID metadata document, fetched from its client ID."

// IsMetadataDocumentID reports whether id is the URL of a client ID metadata
// document (it starts with https:// or http://). No other client has such
// an ID: CheckID allows no ':'.
func IsMetadataDocumentID(id string) bool {
	return strings.HasPrefix(id, "https://") || strings.HasPrefix(id, "http://")
}

// SyncMetadataDocumentClient makes the stored client c.ID match c, built
// from its metadata document: it creates the client if it is missing and
// updates the fields a document gives (name, website, redirect URIs, grant
// types, scopes, resources, token endpoint auth method, JWKS, JWKS URI) if they
// differ, keeping what an administrator decided (disabled) and when it was
// created. Each write has its audit event. It reports whether it wrote.
func SyncMetadataDocumentClient(ctx context.Context, st store.Store, c store.Client, now time.Time) (bool, error) {
	if !IsMetadataDocumentID(c.ID) {
		return false, fmt.Errorf("client ID %q is not a metadata document URL", printable(c.ID))
	}
	now = now.UTC()
	old, err := st.GetClient(ctx, c.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		c.CreatedAt, c.UpdatedAt = now, now
		if c.Description == "" {
			c.Description = DescriptionMetadataDocument
		}
		ev := store.AuditEvent{Time: now, Actor: ActorMetadataDocument, Action: "client.create", Target: c.ID,
			Detail: fmt.Sprintf("from its client ID metadata document: name %q, grant types %s, scopes %s, token endpoint auth method %s, redirect URIs %s",
				c.Name, list(c.GrantTypes), list(c.Scopes), c.AuthMethod(), list(c.RedirectURIs))}
		if len(c.Resources) > 0 {
			ev.Detail += ", resources " + list(c.Resources)
		}
		err = st.CreateClient(ctx, c, ev)
		if !errors.Is(err, store.ErrConflict) { // a conflict: another node created it meanwhile
			if err != nil {
				return false, fmt.Errorf("create client %q from its metadata document: %w", c.ID, err)
			}
			return true, nil
		}
	case err != nil:
		return false, fmt.Errorf("load client %q: %w", c.ID, err)
	default:
		if len(documentChanges(&old, c)) == 0 {
			return false, nil
		}
	}
	var changed []string
	ev := store.AuditEvent{Time: now, Actor: ActorMetadataDocument, Action: "client.update", Target: c.ID}
	_, err = st.UpdateClient(ctx, c.ID, func(cur *store.Client) error {
		changed = documentChanges(cur, c)
		if len(changed) == 0 {
			return errUnchanged
		}
		cur.Name, cur.Website, cur.RedirectURIs, cur.GrantTypes = c.Name, c.Website, c.RedirectURIs, c.GrantTypes
		cur.Scopes, cur.TokenEndpointAuthMethod, cur.JWKS, cur.JWKSURI = c.Scopes, c.TokenEndpointAuthMethod, c.JWKS, c.JWKSURI
		cur.Resources = c.Resources
		cur.Secrets = nil
		cur.UpdatedAt = now
		ev.Detail = "from its client ID metadata document: changed " + strings.Join(changed, ", ")
		return nil
	}, &ev)
	switch {
	case errors.Is(err, errUnchanged):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("update client %q from its metadata document: %w", c.ID, err)
	}
	return true, nil
}

var errUnchanged = errors.New("unchanged")

// documentChanges names the document's fields in which cur differs from c.
func documentChanges(cur *store.Client, c store.Client) []string {
	var changed []string
	add := func(name string, differ bool) {
		if differ {
			changed = append(changed, name)
		}
	}
	add("name", cur.Name != c.Name)
	add("website", cur.Website != c.Website)
	add("redirect URIs", !slices.Equal(cur.RedirectURIs, c.RedirectURIs))
	add("grant types", !slices.Equal(cur.GrantTypes, c.GrantTypes))
	add("scopes", !slices.Equal(cur.Scopes, c.Scopes))
	add("resources", !slices.Equal(cur.Resources, c.Resources))
	add("token endpoint auth method", cur.AuthMethod() != c.AuthMethod())
	add("JWKS", cur.JWKS != c.JWKS)
	add("JWKS URI", cur.JWKSURI != c.JWKSURI)
	add("secrets", len(cur.Secrets) > 0)
	return changed
}
