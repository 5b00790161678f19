package admin_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/gatehouse/gatehouse/admin"
)

// A platform's settings page creates OAuth credentials for an integrator
// through the admin API, with a client allowed gatehouse:admin.
func Example() {
	ctx := context.Background()
	const server = "https://auth.example.com" // the Gatehouse server (its issuer)
	ts := admin.ClientCredentials(ctx, server, os.Getenv("GATEHOUSE_CLIENT_ID"), os.Getenv("GATEHOUSE_CLIENT_SECRET"))
	api := admin.New(server, ts)

	// Retrying with the same idempotency key returns the same client and
	// secret instead of creating a second one.
	c, err := api.CreateClient(ctx, admin.NewClient{
		Name:            "Billing sync",
		Scopes:          []string{"api:read-only", "search"},
		TokenTTLSeconds: int64((12 * time.Hour).Seconds()),
	}, admin.IdempotencyKey("settings-page-request-8d1e"))
	var p *admin.Problem
	switch {
	case errors.As(err, &p) && p.Type == admin.ProblemInvalid:
		log.Fatalf("refused: %s", p.Detail)
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println("client_id:", c.ClientID)
	fmt.Println("client_secret:", c.ClientSecret) // shown once: hand it over now

	// Every client, page after page.
	for c, err := range api.AllClients(ctx, admin.ClientFilter{Q: "billing"}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(c.ClientID, c.Name, c.Scopes)
	}

	// Change a client only if nobody else changed it since it was read.
	_, etag, err := api.GetClient(ctx, c.ClientID)
	if err != nil {
		log.Fatal(err)
	}
	disabled := true
	if _, _, err := api.UpdateClient(ctx, c.ClientID, admin.ClientPatch{Disabled: &disabled}, admin.IfMatch(etag)); errors.As(err, &p) && p.Status == 412 {
		log.Fatal("changed meanwhile; read it again")
	}
}
