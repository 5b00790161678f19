package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/duration"
	"github.com/gatehouse/gatehouse/resource"
)

// keysBackend runs the keys commands: on the store's key ring (local), or
// through the admin API (--server).
type keysBackend interface {
	list(ctx context.Context) ([]admin.Key, error)
	// rotate adds a key and says how long verifiers may cache the JWKS
	// (0: unknown).
	rotate(ctx context.Context, now bool) (admin.Key, time.Duration, error)
}

func (e *env) keysCmd(df *dataFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "List and rotate token signing keys"}
	sf := &serverFlag{}
	sf.register(cmd, true)
	with := func(run func(ctx context.Context, b keysBackend) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			return onBackend(e, cmd, df, sf, nil,
				func(rc *remoteConn) (keysBackend, error) { return remoteKeys{rc}, nil },
				onApp(e, func(d *app.Deps, _ config.Config) (keysBackend, error) {
					return localKeys{d: d, actor: e.actor()}, nil
				}), run)
		}
	}
	var output string
	list := &cobra.Command{
		Use:   "list",
		Short: "List signing keys and their state (next, active, retired)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			return with(func(ctx context.Context, b keysBackend) error {
				keys, err := b.list(ctx)
				if err != nil {
					return err
				}
				return e.printKeys(output, keys)
			})(cmd, args)
		},
	}
	list.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")

	var now bool
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Create a new signing key; it is published at once and signs after the lead time",
		Args:  cobra.NoArgs,
		RunE: with(func(ctx context.Context, b keysBackend) error {
			k, maxAge, err := b.rotate(ctx, now)
			if err != nil {
				return err
			}
			fmt.Fprint(e.stdout, rotateMessage(k, now, maxAge))
			return nil
		}),
	}
	rotate.Flags().BoolVar(&now, "now", false, "sign with the new key at once (emergency rotation: verifiers with a cached JWKS reject its tokens until they refetch it)")
	cmd.AddCommand(list, rotate)
	return cmd
}

type localKeys struct {
	d     *app.Deps
	actor string
}

func (l localKeys) list(context.Context) ([]admin.Key, error) {
	out := []admin.Key{}
	for _, k := range l.d.Keys.Keys() {
		out = append(out, adminapi.Key(k))
	}
	return out, nil
}

func (l localKeys) rotate(ctx context.Context, now bool) (admin.Key, time.Duration, error) {
	k, err := l.d.Keys.Rotate(ctx, l.actor, now)
	if err != nil {
		return admin.Key{}, 0, err
	}
	maxAge := time.Duration(l.d.Keys.JWKSCacheSeconds()) * time.Second
	return admin.Key{ID: k.ID, Algorithm: k.Algorithm, CreatedAt: k.CreatedAt, ActiveAt: k.ActiveAt}, maxAge, nil
}

type remoteKeys struct{ *remoteConn }

func (r remoteKeys) list(ctx context.Context) ([]admin.Key, error) { return r.api.ListKeys(ctx) }

func (r remoteKeys) rotate(ctx context.Context, now bool) (admin.Key, time.Duration, error) {
	k, err := r.api.RotateKey(ctx, now)
	if err != nil {
		return k, 0, err
	}
	return k, r.jwksMaxAge(ctx), nil
}

// jwksMaxAge is the max-age the server's JWKS is served with (RFC 9111
// §5.2.2.1); 0 if it cannot be read.
func (r remoteKeys) jwksMaxAge(ctx context.Context) time.Duration {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(r.server, "/")+"/.well-known/jwks.json", nil)
	if err != nil {
		return 0
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0
	}
	for _, d := range strings.Split(resp.Header.Get("Cache-Control"), ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(d), "max-age="); ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	return 0
}

// rotateMessage tells the operator when the new key k signs and how long
// verifiers that cached the JWKS (served with maxAge; 0 if unknown) may lag
// behind.
//
// A key rotated with --now signs as soon as each server loads it from the
// store (the change feed, about a second). A resource server that cached
// the JWKS without it refuses its tokens until it refetches: Gatehouse's
// gateway and resource middleware do so on the first token with an unknown
// kid, at most once per resource.DefaultJWKSMinRefresh; any verifier that
// honours the JWKS max-age, once that has passed.
func rotateMessage(k admin.Key, immediate bool, maxAge time.Duration) string {
	signs := k.ActiveAt.Local().Format(time.RFC3339)
	if !immediate {
		cached := "(max-age " + duration.Format(maxAge) + ")"
		if maxAge == 0 {
			cached = "as long as its max-age says"
		}
		return fmt.Sprintf("created key %s (%s); it is published now and signs from %s, after the lead time (%s)\n"+
			"resource servers that cache the JWKS %s learn it before it signs\n",
			k.ID, k.Algorithm, signs, duration.Format(k.ActiveAt.Sub(k.CreatedAt)), cached)
	}
	maxAgeText := "max-age (" + duration.Format(maxAge) + ")"
	if maxAge == 0 {
		maxAgeText = "max-age"
	}
	return fmt.Sprintf("created key %s (%s); it signs from %s, as soon as each running server loads it (about a second)\n"+
		"resource servers that cached the JWKS refuse its tokens until they refetch it: they pick up the new key on the first token it signs\n"+
		"(unknown kid refetch in the gatehouse gateway and resource middleware, within %s) or within the JWKS %s at the latest;\n"+
		"tokens signed by earlier keys stay valid until they expire\n",
		k.ID, k.Algorithm, signs, duration.Format(resource.DefaultJWKSMinRefresh), maxAgeText)
}
