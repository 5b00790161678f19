package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/duration"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/resource"
)

func (e *env) keysCmd(df *dataFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "List and rotate token signing keys"}
	var output string
	list := &cobra.Command{
		Use:   "list",
		Short: "List signing keys and their state (next, active, retired)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			return e.withKeys(cmd, df, func(ctx context.Context, d *app.Deps) error {
				keys := d.Keys.Keys()
				if output == "json" {
					return writeJSONOut(e.stdout, keys)
				}
				t := newTable(e.stdout, "KEY ID", "ALG", "STATE", "CREATED", "SIGNS FROM", "PUBLISHED UNTIL")
				for _, k := range keys {
					until := "-"
					if !k.PublishedUntil.IsZero() {
						until = k.PublishedUntil.Local().Format(time.RFC3339)
					}
					t.row(k.ID, k.Algorithm, k.State, k.CreatedAt.Local().Format(time.RFC3339), k.ActiveAt.Local().Format(time.RFC3339), until)
				}
				return t.flush()
			})
		},
	}
	list.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")

	var now bool
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Create a new signing key; it is published at once and signs after the lead time",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withKeys(cmd, df, func(ctx context.Context, d *app.Deps) error {
				k, err := d.Keys.Rotate(ctx, e.actor(), now)
				if err != nil {
					return err
				}
				maxAge := time.Duration(d.Keys.JWKSCacheSeconds()) * time.Second
				fmt.Fprint(e.stdout, rotateMessage(k, now, maxAge))
				return nil
			})
		},
	}
	rotate.Flags().BoolVar(&now, "now", false, "sign with the new key at once (emergency rotation: verifiers with a cached JWKS reject its tokens until they refetch it)")
	cmd.AddCommand(list, rotate)
	return cmd
}

func (e *env) withKeys(cmd *cobra.Command, df *dataFlags, fn func(context.Context, *app.Deps) error) error {
	cfg, err := e.loadConfig(cmd, df, nil)
	if err != nil {
		return err
	}
	d, err := app.Open(cmd.Context(), cfg, app.Logger(cfg, e.stderr))
	if err != nil {
		return err
	}
	defer d.Store.Close()
	return fn(cmd.Context(), d)
}

// rotateMessage tells the operator when the new key k signs and how long
// verifiers that cached the JWKS (served with maxAge) may lag behind.
//
// A key rotated with --now signs as soon as each server loads it from the
// store (the change feed, about a second). A resource server that cached
// the JWKS without it refuses its tokens until it refetches: Gatehouse's
// gateway and resource middleware do so on the first token with an unknown
// kid, at most once per resource.DefaultJWKSMinRefresh; any verifier that
// honours the JWKS max-age, once that has passed.
func rotateMessage(k store.SigningKey, immediate bool, maxAge time.Duration) string {
	signs := k.ActiveAt.Local().Format(time.RFC3339)
	if !immediate {
		return fmt.Sprintf("created key %s (%s); it is published now and signs from %s, after the lead time (%s)\n"+
			"resource servers that cache the JWKS (max-age %s) learn it before it signs\n",
			k.ID, k.Algorithm, signs, duration.Format(k.ActiveAt.Sub(k.CreatedAt)), duration.Format(maxAge))
	}
	return fmt.Sprintf("created key %s (%s); it signs from %s, as soon as each running server loads it (about a second)\n"+
		"resource servers that cached the JWKS refuse its tokens until they refetch it: they pick up the new key on the first token it signs\n"+
		"(unknown kid refetch in the gatehouse gateway and resource middleware, within %s) or within the JWKS max-age (%s) at the latest;\n"+
		"tokens signed by earlier keys stay valid until they expire\n",
		k.ID, k.Algorithm, signs, duration.Format(resource.DefaultJWKSMinRefresh), duration.Format(maxAge))
}
