package clients

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

func TestSyncMetadataDocumentClient(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := "https://agent.example/client.json"
	doc := store.Client{ID: id, Name: "Agent", GrantTypes: []string{store.GrantAuthorizationCode},
		RedirectURIs: []string{"https://agent.example/cb"}, Scopes: []string{"profile"}, TokenEndpointAuthMethod: store.AuthMethodNone}

	if _, err := SyncMetadataDocumentClient(ctx, f.st, store.Client{ID: "agent", Name: "x"}, f.now); err == nil {
		t.Error("a client ID that is not a URL: synced, want an error")
	}
	for i, want := range []bool{true, false} { // created, then unchanged
		if wrote, err := SyncMetadataDocumentClient(ctx, f.st, doc, f.now); err != nil || wrote != want {
			t.Fatalf("sync %d: wrote %v, %v; want %v", i, wrote, err, want)
		}
	}
	// An administrator disables it; a changed document keeps it disabled.
	yes := true
	if _, err := f.svc.Update(ctx, "admin", id, Patch{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	name := "Renamed"
	var ve *ValidationError
	if _, err := f.svc.Update(ctx, "admin", id, Patch{Name: &name}); !errors.As(err, &ve) {
		t.Errorf("rename by an administrator: got %v, want a validation error", err)
	}
	doc.Name = "Agent 2"
	if wrote, err := SyncMetadataDocumentClient(ctx, f.st, doc, f.now); err != nil || !wrote {
		t.Fatalf("changed document: wrote %v, %v", wrote, err)
	}
	c, err := f.st.GetClient(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "Agent 2" || !c.Disabled || c.Description != DescriptionMetadataDocument {
		t.Errorf("stored: name %q, disabled %v, description %q; want the new name, still disabled", c.Name, c.Disabled, c.Description)
	}
	// A resource configured since (an MCP server with self-service
	// scopes) changes what the document's client is allowed.
	doc.Scopes, doc.Resources = []string{"profile", "mcp:tools"}, []string{"https://mcp.example/mcp"}
	if wrote, err := SyncMetadataDocumentClient(ctx, f.st, doc, f.now); err != nil || !wrote {
		t.Fatalf("document with a resource: wrote %v, %v", wrote, err)
	}
	if c, err := f.st.GetClient(ctx, id); err != nil || !slices.Equal(c.Resources, doc.Resources) || !slices.Equal(c.Scopes, doc.Scopes) {
		t.Errorf("stored: resources %q, scopes %q (%v); want %q, %q", c.Resources, c.Scopes, err, doc.Resources, doc.Scopes)
	}
	evs, _ := f.st.ListAudit(ctx, store.AuditFilter{Target: id, Actor: ActorMetadataDocument})
	if len(evs) != 3 || evs[0].Action != "client.update" || !strings.Contains(evs[0].Detail, "resources") || evs[1].Action != "client.update" || evs[2].Action != "client.create" {
		t.Errorf("audit by %s: got %+v, want a create and two updates, the last of the resources", ActorMetadataDocument, evs)
	}
}
