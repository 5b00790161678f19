package cli

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/scope"
)

// defaultCatalogArg names the built-in catalog where a command takes a
// catalog file.
const defaultCatalogArg = "default"

const catalogArgHelp = `FILE is a scope catalog (YAML), or "default" for the built-in catalog
(profile, search, api:read-only, api); write ./default for a file of that name.`

func (e *env) scopesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scopes",
		Short: "Check a scope catalog and explain which scopes allow a request",
	}
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a scope catalog file and report every problem in it",
		Long: "Validate a scope catalog file and report every problem in it, one a line, each with its line\n" +
			"number. The file may list its scopes under a top-level \"scopes\" key or at the top level.\n" +
			"The exit status is 0 if the catalog is valid and 1 if not.\n\n" + catalogArgHelp,
		Example: "  gatehouse scopes check scopes.yaml",
		Args:    exactArgs(1, "FILE"),
		RunE: func(_ *cobra.Command, args []string) error {
			c, err := loadCatalogArg(args[0])
			if pe, ok := errors.AsType[*scope.ParseError](err); ok {
				// One problem a line, each naming the file and line, as
				// compilers report them.
				fmt.Fprintln(e.stderr, pe.Error())
				return fmt.Errorf("%s: %s", args[0], countOf(len(pe.Problems), "problem"))
			}
			if err != nil {
				return err
			}
			endpoints := 0
			for _, name := range c.Names() {
				s, _ := c.Get(name)
				endpoints += len(s.Endpoints)
			}
			fmt.Fprintf(e.stdout, "%s: %s, %s, ok\n", args[0], countOf(c.Len(), "scope"), countOf(endpoints, "endpoint"))
			return nil
		},
	}
	var allowEncodedSlashes bool
	explain := &cobra.Command{
		Use:   "explain FILE METHOD PATH",
		Short: "Show which scopes of a catalog allow a request, and through which endpoint",
		Long: `Show which scopes of a catalog allow a request, and why: for each scope, the
endpoint pattern that allows the call, or one that matches the path but not
the method. The exit status is 0 whether or not any scope allows the call.

` + catalogArgHelp + `
METHOD is an HTTP method; here it is case-insensitive (get means GET).
PATH is the request path relative to the API's base path, percent-encoded as
on the wire. It is cleaned as the resource server cleans it: "//", "." and a
trailing "/" are dropped, ".." removes the segment before it, and each segment
is decoded once on its own. Spellings that servers read differently (an
encoded "/", a "\", encoded dot segments, double encoding) are refused, as the
gateway refuses them; with --allow-encoded-slashes, %2F is accepted as part of
one segment, never a separator. A query ("?...") is ignored.`,
		Example: "  gatehouse scopes explain default GET /records/7/search\n" +
			"  gatehouse scopes explain scopes.yaml DELETE /orders/42",
		Args: exactArgs(3, "FILE METHOD PATH"),
		RunE: func(_ *cobra.Command, args []string) error {
			method, err := explainMethod(args[1])
			if err != nil {
				return err
			}
			rawPath := args[2]
			if strings.Contains(rawPath, "://") {
				return usagef("PATH %q: give the path relative to the API's base path, e.g. /records/7/search, not a URL", rawPath)
			}
			if i := strings.IndexAny(rawPath, "?#"); i >= 0 {
				rawPath = rawPath[:i]
			}
			segs, err := scope.PathRules{AllowEncodedSlash: allowEncodedSlashes}.Split(rawPath)
			if err != nil {
				return usagef("PATH: %v", err)
			}
			c, err := loadCatalogArg(args[0])
			if err != nil {
				return err
			}
			return e.printExplanation(c, method, args[2], segs)
		},
	}
	explain.Flags().BoolVar(&allowEncodedSlashes, "allow-encoded-slashes", false, "accept %2F in PATH, as a gateway with --allow-encoded-slashes does")
	cmd.AddCommand(check, explain)
	return cmd
}

// loadCatalogArg loads the catalog a FILE argument names.
func loadCatalogArg(arg string) (*scope.Catalog, error) {
	if arg == defaultCatalogArg {
		return scope.Default(), nil
	}
	return scope.Load(arg)
}

// explainMethod checks and upper-cases a METHOD argument: an HTTP method is
// a token (RFC 9110 §9.1, §5.6.2).
func explainMethod(m string) (string, error) {
	if m == "" || strings.IndexFunc(m, func(r rune) bool {
		return r > '~' || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
	}) >= 0 {
		return "", usagef("METHOD %q is not an HTTP method; use e.g. GET or POST", m)
	}
	return strings.ToUpper(m), nil
}

func (e *env) printExplanation(c *scope.Catalog, method, rawPath string, segs []string) error {
	w := e.stdout
	clean := cleanPathText(segs)
	fmt.Fprintf(w, "%s %s", method, clean)
	switch {
	case len(segs) == 0:
		fmt.Fprint(w, " (the API root, which no endpoint pattern matches)")
	case clean != "/"+strings.TrimPrefix(rawPath, "/"):
		fmt.Fprintf(w, " (cleaned from %q)", rawPath)
	}
	fmt.Fprint(w, "\n\n")

	var allowed []string
	t := newTable(w, "SCOPE", "ALLOWED", "WHY")
	for _, x := range c.Explain(method, segs) {
		var yes, why string
		switch {
		case x.Allowed:
			allowed = append(allowed, x.Scope)
			yes, why = "yes", fmt.Sprintf("%s allows %s", x.Pattern, methodsText(x.Methods))
		case x.Pattern != "":
			yes, why = "no", fmt.Sprintf("%s matches, but allows only %s", x.Pattern, methodsText(x.Methods))
		default:
			yes, why = "no", "no endpoint matches the path"
		}
		t.row(x.Scope, yes, why)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(allowed) == 0 {
		fmt.Fprintln(w, "\nallowed by no scope")
	} else {
		fmt.Fprintf(w, "\nallowed by: %s\n", strings.Join(allowed, " "))
	}
	return nil
}

// cleanPathText renders clean path segments as an escaped path.
func cleanPathText(segs []string) string {
	esc := make([]string, len(segs))
	for i, s := range segs {
		esc[i] = url.PathEscape(s)
	}
	return "/" + strings.Join(esc, "/")
}

// methodsText describes an endpoint's methods as matching applies them.
func methodsText(methods []string) string {
	if methods == nil {
		return "every method"
	}
	if slices.Contains(methods, "GET") && !slices.Contains(methods, "HEAD") {
		i := slices.Index(methods, "GET")
		methods = slices.Insert(slices.Clone(methods), i+1, "HEAD")
	}
	return strings.Join(methods, ", ")
}

// countOf renders n things: "1 scope", "4 scopes".
func countOf(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
