package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
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
			return e.withKeys(cmd, df, func(ctx context.Context, d *deps) error {
				keys := d.keys.Keys()
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
			return e.withKeys(cmd, df, func(ctx context.Context, d *deps) error {
				k, err := d.keys.Rotate(ctx, e.actor(), now)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "created key %s (%s); it signs from %s\n", k.ID, k.Algorithm, k.ActiveAt.Local().Format(time.RFC3339))
				return nil
			})
		},
	}
	rotate.Flags().BoolVar(&now, "now", false, "sign with the new key at once (emergency rotation: verifiers with a cached JWKS may reject its tokens until they refetch)")
	cmd.AddCommand(list, rotate)
	return cmd
}

func (e *env) withKeys(cmd *cobra.Command, df *dataFlags, fn func(context.Context, *deps) error) error {
	cfg, err := e.loadConfig(cmd, df, nil)
	if err != nil {
		return err
	}
	d, err := e.open(cmd.Context(), cfg, e.logger(cfg))
	if err != nil {
		return err
	}
	defer d.st.Close()
	return fn(cmd.Context(), d)
}
