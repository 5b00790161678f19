package cli

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/gatehouse/gatehouse/scope"
	"github.com/gatehouse/gatehouse/scope/openapi"
)

// defaultCatalogArg names the built-in catalog where a command takes a
// catalog file.
const defaultCatalogArg = "default"

const catalogArgHelp = `FILE is a scope catalog (YAML), an OpenAPI 3.0 or 3.1 document (YAML or JSON,
told apart by its "openapi" key) to derive the catalog from, or "default" for
the built-in catalog (profile, search, api:read-only, api); write ./default for
a file of that name.`

func (e *env) scopesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scopes",
		Short: "Check a scope catalog or OpenAPI document and explain which scopes allow a request",
	}
	var mergeFile string
	mergeFlag := func(c *cobra.Command) {
		c.Flags().StringVar(&mergeFile, "scopes", "", "with an OpenAPI FILE: a YAML scope catalog merged into the derived one (labels, default, self_service), as serve --scopes does")
	}
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a scope catalog or OpenAPI document and report every problem in it",
		Long: "Validate a scope catalog file and report every problem in it, one a line, each with its line\n" +
			"number. The file may list its scopes under a top-level \"scopes\" key or at the top level.\n" +
			"For an OpenAPI document, the catalog derived from it is checked, and what it leaves out is\n" +
			"reported as warnings on standard error.\n" +
			"The exit status is 0 if the catalog is valid and 1 if not.\n\n" + catalogArgHelp,
		Example: "  gatehouse scopes check scopes.yaml\n  gatehouse scopes check openapi.yaml --scopes scopes.yaml",
		Args:    exactArgs(1, "FILE"),
		RunE: func(_ *cobra.Command, args []string) error {
			ca, err := loadCatalogArg(args[0], mergeFile)
			if pe, ok := errors.AsType[*scope.ParseError](err); ok {
				// One problem a line, each naming the file and line, as
				// compilers report them.
				fmt.Fprintln(e.stderr, pe.Error())
				return fmt.Errorf("%s: %s", cmp.Or(pe.File, args[0]), countOf(len(pe.Problems), "problem"))
			}
			if err != nil {
				return err
			}
			c := ca.catalog
			if ca.api == nil {
				endpoints := 0
				for _, name := range c.Names() {
					s, _ := c.Get(name)
					endpoints += len(s.Endpoints)
				}
				fmt.Fprintf(e.stdout, "%s: %s, %s, ok\n", args[0], countOf(c.Len(), "scope"), countOf(endpoints, "endpoint"))
				return nil
			}
			e.printWarnings(args[0], ca.api)
			fmt.Fprintf(e.stdout, "%s: OpenAPI %s, base path %s, %s, %s, %s, ok\n", args[0], ca.api.Version, orRoot(ca.api.BasePath),
				countOf(c.Len(), "scope"), countOf(len(ca.api.Operations), "operation"), countOf(len(c.Rules()), "rule"))
			return nil
		},
	}
	mergeFlag(check)
	var allowEncodedSlashes bool
	var tokenScopes string
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
one segment, never a separator. A query ("?...") is ignored.

For a catalog derived from an OpenAPI document, or with --token-scopes, the
requirements that decide the call are listed too: a token needs every scope
of one of them. --token-scopes says which of them a token with those scopes
meets, and what the gateway would answer.`,
		Example: "  gatehouse scopes explain default GET /records/7/search\n" +
			"  gatehouse scopes explain scopes.yaml DELETE /orders/42\n" +
			"  gatehouse scopes explain openapi.yaml DELETE /orders/42 --token-scopes \"orders:write\"",
		Args: exactArgs(3, "FILE METHOD PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
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
			var token []string
			if cmd.Flags().Changed("token-scopes") {
				if token, err = scope.Split(tokenScopes); err != nil {
					return usagef("--token-scopes: %v", err)
				}
				token = nonNil(token)
			}
			ca, err := loadCatalogArg(args[0], mergeFile)
			if err != nil {
				return err
			}
			return e.printExplanation(ca, method, args[2], segs, token)
		},
	}
	explain.Flags().BoolVar(&allowEncodedSlashes, "allow-encoded-slashes", false, "accept %2F in PATH, as a gateway with --allow-encoded-slashes does")
	explain.Flags().StringVar(&tokenScopes, "token-scopes", "", `the scopes of a token, space-separated ("" for none): say which requirement it meets or misses`)
	mergeFlag(explain)
	var output string
	fromOpenAPI := &cobra.Command{
		Use:   "from-openapi FILE",
		Short: "Print the scope catalog derived from an OpenAPI document",
		Long: `Print the scope catalog that serve --openapi and gateway --openapi derive from
an OpenAPI 3.0 or 3.1 document (YAML or JSON): its scopes (those of the oauth2
security schemes, with their descriptions as labels) and, for each operation,
what a token needs: the scopes of one of its security requirements, all of
them ("and"); requirements are alternatives ("or"). What the catalog leaves
out (schemes that are not oauth2, operations no token may call) is reported
as warnings on standard error. --output json prints the same as JSON.`,
		Example: "  gatehouse scopes from-openapi openapi.yaml\n  gatehouse scopes from-openapi openapi.json --scopes scopes.yaml --output json",
		Args:    exactArgs(1, "FILE"),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			api, err := openapi.Load(args[0], openapi.Options{ScopesFile: mergeFile})
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSONOut(e.stdout, apiJSON(api))
			}
			e.printWarnings(args[0], api)
			return e.printAPI(args[0], api)
		},
	}
	fromOpenAPI.Flags().StringVar(&output, "output", "table", "table or json")
	mergeFlag(fromOpenAPI)
	cmd.AddCommand(check, explain, fromOpenAPI)
	return cmd
}

// A catalogArg is the catalog a FILE argument names: a YAML catalog, the
// built-in one, or one derived from an OpenAPI document (api is then set).
type catalogArg struct {
	catalog *scope.Catalog
	api     *openapi.API
}

// loadCatalogArg loads the catalog a FILE argument names; mergeFile is a
// YAML catalog to merge into one derived from an OpenAPI document.
func loadCatalogArg(arg, mergeFile string) (catalogArg, error) {
	if arg == defaultCatalogArg {
		if mergeFile != "" {
			return catalogArg{}, usagef("--scopes merges a YAML catalog into one derived from an OpenAPI document; FILE is the built-in catalog")
		}
		return catalogArg{catalog: scope.Default()}, nil
	}
	data, err := os.ReadFile(arg)
	if err != nil {
		return catalogArg{}, fmt.Errorf("read %s: %w", arg, errors.Unwrap(err))
	}
	if !isOpenAPI(data) {
		if mergeFile != "" {
			return catalogArg{}, usagef("--scopes merges a YAML catalog into one derived from an OpenAPI document; %s is a scope catalog", arg)
		}
		c, err := scope.Parse(data)
		if pe, ok := errors.AsType[*scope.ParseError](err); ok {
			pe.File = arg
		}
		return catalogArg{catalog: c}, err
	}
	api, err := openapi.Parse(data, openapi.Options{ScopesFile: mergeFile})
	if pe, ok := errors.AsType[*scope.ParseError](err); ok && pe.File == "" {
		pe.File = arg
	}
	if err != nil {
		return catalogArg{}, err
	}
	return catalogArg{catalog: api.Catalog, api: api}, nil
}

// isOpenAPI reports whether data (YAML or JSON) is an OpenAPI or Swagger
// document rather than a scope catalog: a mapping whose "openapi" or
// "swagger" key holds text (in a catalog, a scope of that name holds a
// mapping).
func isOpenAPI(data []byte) bool {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return false
	}
	m := doc.Content[0].Content
	for i := 0; i+1 < len(m); i += 2 {
		if k := m[i].Value; (k == "openapi" || k == "swagger") && m[i+1].Kind == yaml.ScalarNode {
			return true
		}
	}
	return false
}

// printWarnings prints what a derived catalog leaves out, on stderr.
func (e *env) printWarnings(file string, api *openapi.API) {
	for _, w := range api.Warnings {
		fmt.Fprintf(e.stderr, "%s: warning: %s\n", file, w)
	}
}

// printAPI prints a derived catalog: its scopes and each operation's needs.
func (e *env) printAPI(file string, api *openapi.API) error {
	w := e.stdout
	c := api.Catalog
	fmt.Fprintf(w, "%s: OpenAPI %s, base path %s\n\n", file, api.Version, orRoot(api.BasePath))
	t := newTable(w, "SCOPE", "LABEL", "DEFAULT", "SELF-SERVICE")
	for _, name := range c.Names() {
		s, _ := c.Get(name)
		t.row(s.Name, s.Label, yesNo(s.Default), yesNo(s.SelfService))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t = newTable(w, "OPERATION", "PATTERN", "NEEDS")
	for _, o := range api.Operations {
		op := o.Method + " " + o.Path
		if o.ID != "" {
			op += " (" + o.ID + ")"
		}
		t.row(op, cmp.Or(o.Pattern, "-"), needsText(o.Requirements, o.Public))
	}
	return t.flush()
}

// needsText describes requirement alternatives: "a and b or c".
func needsText(reqs [][]string, public bool) string {
	var alts []string
	if public {
		alts = append(alts, "no token (public)")
	}
	for _, r := range reqs {
		switch {
		case len(r) == 0:
			alts = append(alts, "any valid token")
		case len(r) > 1 && (len(reqs) > 1 || public):
			alts = append(alts, "("+strings.Join(r, " and ")+")")
		default:
			alts = append(alts, strings.Join(r, " and "))
		}
	}
	if len(alts) == 0 {
		return "nothing: no token may call it"
	}
	return strings.Join(alts, " or ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orRoot(p string) string { return cmp.Or(p, "/") }

// apiJSON is what from-openapi --output json prints.
func apiJSON(api *openapi.API) any {
	type scopeJSON struct {
		Name        string `json:"name"`
		Label       string `json:"label"`
		Default     bool   `json:"default"`
		SelfService bool   `json:"self_service"`
	}
	type opJSON struct {
		Method       string     `json:"method"`
		Path         string     `json:"path"`
		OperationID  string     `json:"operation_id,omitempty"`
		Pattern      string     `json:"pattern"`
		Requirements [][]string `json:"requirements"`
		Public       bool       `json:"public"`
	}
	type ruleJSON struct {
		Pattern string   `json:"pattern"`
		Methods []string `json:"methods"`
		Scopes  []string `json:"scopes"`
		Public  bool     `json:"public"`
	}
	out := struct {
		OpenAPI    string      `json:"openapi"`
		BasePath   string      `json:"base_path"`
		Scopes     []scopeJSON `json:"scopes"`
		Operations []opJSON    `json:"operations"`
		Rules      []ruleJSON  `json:"rules"`
		Warnings   []string    `json:"warnings"`
	}{OpenAPI: api.Version, BasePath: api.BasePath, Scopes: []scopeJSON{}, Operations: []opJSON{}, Rules: []ruleJSON{}, Warnings: nonNil(api.Warnings)}
	for _, name := range api.Catalog.Names() {
		s, _ := api.Catalog.Get(name)
		out.Scopes = append(out.Scopes, scopeJSON{s.Name, s.Label, s.Default, s.SelfService})
	}
	for _, o := range api.Operations {
		reqs := o.Requirements
		if reqs == nil {
			reqs = [][]string{}
		}
		out.Operations = append(out.Operations, opJSON{o.Method, o.Path, o.ID, o.Pattern, reqs, o.Public})
	}
	for _, r := range api.Catalog.Rules() {
		out.Rules = append(out.Rules, ruleJSON{r.Pattern, nonNil(r.Methods), r.Scopes, r.Public})
	}
	return out
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

func (e *env) printExplanation(ca catalogArg, method, rawPath string, segs []string, token []string) error {
	w := e.stdout
	c := ca.catalog
	clean := cleanPathText(segs)
	fmt.Fprintf(w, "%s %s", method, clean)
	switch {
	case len(segs) == 0:
		fmt.Fprint(w, " (the API root, which no endpoint pattern matches)")
	case clean != "/"+strings.TrimPrefix(rawPath, "/"):
		fmt.Fprintf(w, " (cleaned from %q)", rawPath)
	}
	fmt.Fprint(w, "\n")
	rules := c.RulesFor(method, segs)
	if ca.api != nil {
		if ca.api.BasePath != "" {
			fmt.Fprintf(w, "relative to the base path %s\n", ca.api.BasePath)
		}
		for _, o := range operationsOf(ca.api, method, rules) {
			fmt.Fprintf(w, "operation: %s %s", o.Method, o.Path)
			if o.ID != "" {
				fmt.Fprintf(w, " (%s)", o.ID)
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprint(w, "\n")

	// In a derived catalog, a pattern with a HEAD operation of its own
	// takes HEAD by that alone: its GET endpoints do not allow HEAD.
	ownHead := make(map[string]bool)
	for _, r := range c.Rules() {
		if c.MostSpecific() && slices.Contains(r.Methods, "HEAD") {
			ownHead[r.Pattern] = true
		}
	}
	methodsText := func(pattern string, methods []string) string {
		if ownHead[pattern] {
			return methodsTextExact(methods)
		}
		return methodsText(methods)
	}
	var allowed []string
	t := newTable(w, "SCOPE", "ALLOWED", "WHY")
	for _, x := range c.Explain(method, segs) {
		var yes, why string
		switch {
		case x.Allowed:
			allowed = append(allowed, x.Scope)
			yes, why = "yes", fmt.Sprintf("%s allows %s", x.Pattern, methodsText(x.Pattern, x.Methods))
		case x.With != nil:
			yes, why = "no", fmt.Sprintf("%s allows %s only together with %s", x.Pattern, methodsText(x.Pattern, x.Methods), strings.Join(x.With, " and "))
		case x.Pattern != "":
			yes, why = "no", fmt.Sprintf("%s matches, but allows only %s", x.Pattern, methodsText(x.Pattern, x.Methods))
		default:
			yes, why = "no", "no endpoint matches the path"
		}
		t.row(x.Scope, yes, why)
	}
	if err := t.flush(); err != nil {
		return err
	}
	derived := c.MostSpecific() || slices.ContainsFunc(c.Rules(), func(r scope.Rule) bool { return len(r.Scopes) != 1 })
	if derived || token != nil {
		fmt.Fprintln(w)
		headers := []string{"REQUIREMENT", "PATTERN", "METHODS"}
		if token != nil {
			headers = append(headers, "TOKEN")
		}
		t = newTable(w, headers...)
		for _, r := range rules {
			row := []string{requirementText(r), r.Pattern, methodsText(r.Pattern, r.Methods)}
			if token != nil {
				row = append(row, tokenMeets(r, token))
			}
			t.row(row...)
		}
		if len(rules) == 0 {
			t.row("(none: no rule allows this call)")
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	if token != nil {
		set := c.SetOf(token)
		switch {
		case c.Allows(set, method, segs):
			fmt.Fprintln(w, "a token with these scopes may make this call")
		case len(rules) == 0:
			fmt.Fprintln(w, `refused: 403 insufficient_scope; no scope allows this call`)
		default:
			fmt.Fprintf(w, "refused: 403 insufficient_scope, scope=%q\n", strings.Join(c.Required(set, method, segs), " "))
		}
		return nil
	}
	switch {
	case len(allowed) > 0:
		fmt.Fprintf(w, "allowed by: %s\n", strings.Join(allowed, " "))
	case len(rules) > 0:
		fmt.Fprintln(w, "allowed by no scope alone; a token needs every scope of one requirement above")
	default:
		fmt.Fprintln(w, "allowed by no scope")
	}
	return nil
}

// operationsOf returns the operations of a derived catalog whose rules
// decide a call: those of the rules' patterns and of the call's method (or
// GET, for a HEAD call to a path without a HEAD operation).
func operationsOf(api *openapi.API, method string, rules []scope.Rule) []openapi.Operation {
	var out []openapi.Operation
	patterns := make(map[string]bool)
	for _, r := range rules {
		patterns[r.Pattern] = true
	}
	for _, want := range []string{method, "GET"} {
		for _, o := range api.Operations {
			if o.Method == want && patterns[o.Pattern] {
				out = append(out, o)
			}
		}
		if len(out) > 0 || method != "HEAD" {
			break
		}
	}
	return out
}

// requirementText describes what a rule needs.
func requirementText(r scope.Rule) string {
	switch {
	case r.Public:
		return "no token (public)"
	case len(r.Scopes) == 0:
		return "any valid token"
	}
	return strings.Join(r.Scopes, " and ")
}

// tokenMeets says whether a token with the given scopes meets a rule.
func tokenMeets(r scope.Rule, token []string) string {
	var missing []string
	for _, s := range r.Scopes {
		if !slices.Contains(token, s) {
			missing = append(missing, s)
		}
	}
	if len(missing) == 0 {
		return "meets it"
	}
	return "lacks " + strings.Join(missing, " and ")
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

// methodsTextExact describes an endpoint's methods as listed.
func methodsTextExact(methods []string) string {
	if methods == nil {
		return "every method"
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
