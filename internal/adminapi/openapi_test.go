package adminapi

// The OpenAPI document (openapi.json) is kept true here: every route the
// API mounts is in it and every operation in it is mounted (or still being
// built); each operation names the scopes the system catalog gives it; its
// schemas have the members of the admin package's types; and real
// responses of a real server, success and error, validate against it with
// libopenapi-validator.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/consents"
	"github.com/gatehouse/gatehouse/internal/server"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/internal/testutil"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/internal/usage"
	"github.com/gatehouse/gatehouse/internal/users"
	"github.com/gatehouse/gatehouse/scope"
)

// building lists the operations of the document whose routes are being
// built on other branches of issue 10, so are not mounted here yet. Each
// must be in the document and not mounted: when its route lands, the test
// fails until it is removed from this list, and TestOpenAPIResponses then
// requires calls that cover it.
var building = map[string]string{}

// documentOp is the operation that Handler serves itself, before the
// guard and the mux: the document.
const documentOp = "GET /openapi.json"

// templateParam matches a path parameter of a path template.
var templateParam = regexp.MustCompile(`\{[^}/]*\}`)

// opKey is an operation's method and path with its parameters unnamed
// ("GET /clients/{}"): the document names them for readers, the mux for
// handlers.
func opKey(method, path string) string {
	return strings.ToUpper(method) + " " + templateParam.ReplaceAllString(path, "{}")
}

// openAPIDoc is the document as plain JSON values.
type openAPIDoc struct {
	raw map[string]any
	// ops are the operations by opKey.
	ops map[string]map[string]any
	// templates are the paths of the document.
	templates []string
}

func loadDoc(t *testing.T) *openAPIDoc {
	t.Helper()
	d := &openAPIDoc{ops: map[string]map[string]any{}}
	if err := json.Unmarshal(openAPI, &d.raw); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	for path, item := range d.raw["paths"].(map[string]any) {
		d.templates = append(d.templates, path)
		for method, op := range item.(map[string]any) {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				d.ops[opKey(method, path)] = op.(map[string]any)
			}
		}
	}
	return d
}

// schema returns a component schema.
func (d *openAPIDoc) schema(name string) map[string]any {
	s, _ := d.raw["components"].(map[string]any)["schemas"].(map[string]any)[name].(map[string]any)
	return s
}

// match returns the path template that path (under Prefix, without the
// query) matches, a literal segment beating a parameter, or "".
func (d *openAPIDoc) match(path string) string {
	segs := strings.Split(path, "/")
	best, bestLiterals := "", -1
	for _, tpl := range d.templates {
		ts := strings.Split(tpl, "/")
		if len(ts) != len(segs) {
			continue
		}
		literals := 0
		for i := range ts {
			switch {
			case templateParam.MatchString(ts[i]):
			case ts[i] == segs[i]:
				literals++
			default:
				literals = -1
			}
			if literals < 0 {
				break
			}
		}
		if literals > bestLiterals {
			best, bestLiterals = tpl, literals
		}
	}
	return best
}

// mountedOps are the operations the API's mux serves, from the methods it
// records for 405's Allow. HEAD is GET without a body (RFC 9110 §9.3.2),
// which the mux adds to every GET; the document does not repeat it.
func mountedOps(a *API) map[string]bool {
	out := map[string]bool{}
	for path, methods := range a.methods {
		for _, m := range methods {
			if m != http.MethodHead {
				out[opKey(m, path)] = true
			}
		}
	}
	return out
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc, err := libopenapi.NewDocument(openAPI)
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetVersion(); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi: got %q, want 3.1.x", v)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("build validator: %v", errs)
	}
	if ok, errs := v.ValidateDocument(); !ok {
		for _, e := range errs {
			t.Errorf("openapi.json does not validate against the OpenAPI 3.1 schema: %v", e)
		}
	}
}

// TestOpenAPIRoutes: every mounted route is an operation of the document,
// and every operation is mounted or listed in building.
func TestOpenAPIRoutes(t *testing.T) {
	d := loadDoc(t)
	mounted := mountedOps(newEnv(t).api)
	if len(mounted) == 0 {
		t.Fatal("the API mounts no routes")
	}
	for op := range mounted {
		if d.ops[op] == nil {
			t.Errorf("%s is mounted but not in openapi.json: describe it", op)
		}
		if _, ok := building[op]; ok {
			t.Errorf("%s is mounted now: remove it from building and cover it in TestOpenAPIResponses", op)
		}
	}
	for op := range d.ops {
		_, isBuilding := building[op]
		if !mounted[op] && !isBuilding && op != documentOp {
			t.Errorf("%s is in openapi.json but not mounted (nor listed in building)", op)
		}
	}
	for op := range building {
		if d.ops[op] == nil {
			t.Errorf("%s is listed in building but is not in openapi.json", op)
		}
	}
}

// TestOpenAPISecurity: each operation offers exactly the system scopes
// that allow its method and path in the guard's catalog (system.go), each
// on its own; the document alone needs no token.
func TestOpenAPISecurity(t *testing.T) {
	d := loadDoc(t)
	catalog := SystemCatalog()
	for key, op := range d.ops {
		sec, ok := op["security"].([]any)
		if !ok {
			t.Errorf("%s: no security of its own", key)
			continue
		}
		if key == documentOp {
			if len(sec) != 0 {
				t.Errorf("%s: security %v, want [] (public)", key, sec)
			}
			continue
		}
		var got []string
		for _, req := range sec {
			req := req.(map[string]any)
			scopes, _ := req["oauth2"].([]any)
			if len(req) != 1 || len(scopes) != 1 {
				t.Errorf("%s: security requirement %v: want {\"oauth2\": [one scope]}", key, req)
				continue
			}
			got = append(got, scopes[0].(string))
		}
		method, path, _ := strings.Cut(key, " ")
		segs, err := scope.SplitPath(strings.ReplaceAll(Prefix+path, "{}", "x"))
		if err != nil {
			t.Fatal(err)
		}
		want := catalog.Allowing(method, segs)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: scopes %v, want %v (the system catalog's)", key, got, want)
		}
		if _, ok := op["x-gatehouse-account-tokens"].(bool); !ok {
			t.Errorf("%s: x-gatehouse-account-tokens is not a boolean", key)
		}
	}
}

// schemaTypes are the component schemas of the admin package's types.
var schemaTypes = map[string]reflect.Type{

	"Problem":         reflect.TypeFor[admin.Problem](),
	"FieldError":      reflect.TypeFor[admin.FieldError](),
	"Client":          reflect.TypeFor[admin.Client](),
	"Secret":          reflect.TypeFor[admin.Secret](),
	"NewClient":       reflect.TypeFor[admin.NewClient](),
	"Rotation":        reflect.TypeFor[admin.Rotation](),
	"TokenRevocation": reflect.TypeFor[admin.TokenRevocation](),
	"ClientQuota":     reflect.TypeFor[admin.ClientQuota](),
	"Key":             reflect.TypeFor[admin.Key](),
	"User":            reflect.TypeFor[admin.User](),
	"NewUser":         reflect.TypeFor[admin.NewUser](),
	"Consent":         reflect.TypeFor[admin.Consent](),
	"AuditEvent":      reflect.TypeFor[admin.AuditEvent](),
	"Scope":           reflect.TypeFor[admin.Scope](),
	"Endpoint":        reflect.TypeFor[admin.Endpoint](),
	"ClientPage":      reflect.TypeFor[admin.Page[admin.Client]](),
	"SecretPage":      reflect.TypeFor[admin.Page[admin.Secret]](),
	"KeyPage":         reflect.TypeFor[admin.Page[admin.Key]](),
	"UserPage":        reflect.TypeFor[admin.Page[admin.User]](),
	"ConsentPage":     reflect.TypeFor[admin.Page[admin.Consent]](),
	"AuditEventPage":  reflect.TypeFor[admin.Page[admin.AuditEvent]](),
	"ScopePage":       reflect.TypeFor[admin.Page[admin.Scope]](),

	"InitialAccessToken":     reflect.TypeFor[admin.InitialAccessToken](),
	"NewInitialAccessToken":  reflect.TypeFor[admin.NewInitialAccessToken](),
	"InitialAccessTokenPage": reflect.TypeFor[admin.Page[admin.InitialAccessToken]](),
}

// otherSchemas are the component schemas with no type of package admin:
// bodies a handler decodes into a type of its own, and named values.
var otherSchemas = map[string]string{
	// admin's usage types hold maps and nested types checkStruct has no
	// rule for; the responses are validated against them instead.
	"UsageReport":             "admin.UsageReport",
	"UsageCalls":              "admin.UsageCalls",
	"ClientUsage":             "admin.ClientUsage",
	"DenialCounts":            "admin.UsageCalls.Denied and the like: counts by reason",
	"ClientPatch":             "the merge patch clientPatch reads (clients.go)",
	"SecretRotationRequest":   "the body rotateSecret reads (clients.go)",
	"KeyRotationRequest":      "the body rotateKey reads (other.go)",
	"UserPatch":               "the merge patch of a user (being built)",
	"GrantType":               "a string of Client.GrantTypes",
	"TokenEndpointAuthMethod": "a string of Client.TokenEndpointAuthMethod",
	"Role":                    "a string of User.Role",
	"NextCursor":              "Page.NextCursor",
	"JWKS":                    "the JSON Web Key Set of Client.JWKS (json.RawMessage)",
}

var rawJSONType = reflect.TypeFor[json.RawMessage]()

// TestOpenAPISchemas: the schema of each admin type has exactly the
// members the type sends, required exactly when they are always sent (no
// omitempty), of the JSON types they have; and the problem types are
// those of admin/problem.go.
func TestOpenAPISchemas(t *testing.T) {
	d := loadDoc(t)
	for name := range d.raw["components"].(map[string]any)["schemas"].(map[string]any) {
		if schemaTypes[name] == nil && otherSchemas[name] == "" {
			t.Errorf("schema %s: list it in schemaTypes (with its admin type) or otherSchemas", name)
		}
	}
	for name, typ := range schemaTypes {
		s := d.schema(name)
		if s == nil {
			t.Errorf("schema %s of %v is missing", name, typ)
			continue
		}
		checkStruct(t, d, name, typ, s)
	}

	got := []string{}
	for _, v := range d.schema("Problem")["properties"].(map[string]any)["type"].(map[string]any)["enum"].([]any) {
		got = append(got, v.(string))
	}
	want := problemTypes(t)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Problem.type enum: got %v, want the types of admin/problem.go %v", got, want)
	}
}

// problemTypes reads the problem type constants (ProblemBase + "...") of
// admin/problem.go.
func problemTypes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(gotoken.NewFileSet(), filepath.Join("..", "..", "admin", "problem.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		b, ok := n.(*ast.BinaryExpr)
		if !ok {
			return true
		}
		if x, ok := b.X.(*ast.Ident); ok && x.Name == "ProblemBase" {
			if lit, ok := b.Y.(*ast.BasicLit); ok {
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, admin.ProblemBase+s)
			}
		}
		return true
	})
	if len(out) < 10 {
		t.Fatalf("found %d problem types in admin/problem.go: %v", len(out), out)
	}
	return out
}

func checkStruct(t *testing.T, d *openAPIDoc, name string, typ reflect.Type, s map[string]any) {
	t.Helper()
	if s["type"] != "object" {
		t.Errorf("schema %s: type %v, want object", name, s["type"])
	}
	props, _ := s["properties"].(map[string]any)
	required := map[string]bool{}
	for _, r := range asSlice(s["required"]) {
		required[r.(string)] = true
	}
	sent := map[string]bool{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue
		}
		member, opts, _ := strings.Cut(tag, ",")
		if member == "" {
			member = f.Name
		}
		sent[member] = true
		omitempty := slices.Contains(strings.Split(opts, ","), "omitempty")
		p, ok := props[member].(map[string]any)
		if !ok {
			t.Errorf("schema %s: no member %s (%v.%s)", name, member, typ, f.Name)
			continue
		}
		if required[member] == omitempty {
			t.Errorf("schema %s: %s required is %t, want %t (%v.%s is always sent unless omitempty)", name, member, required[member], !omitempty, typ, f.Name)
		}
		if err := sameType(d, f.Type, p); err != nil {
			t.Errorf("schema %s: %s: %v (%v.%s is %v)", name, member, err, typ, f.Name, f.Type)
		}
	}
	for member := range props {
		if !sent[member] {
			t.Errorf("schema %s: member %s is not in %v", name, member, typ)
		}
	}
	for member := range required {
		if !sent[member] {
			t.Errorf("schema %s: required member %s is not in %v", name, member, typ)
		}
	}
}

var timeType = reflect.TypeFor[time.Time]()

// sameType reports whether the schema p describes the JSON of a Go value
// of type typ, as encoding/json writes it.
func sameType(d *openAPIDoc, typ reflect.Type, p map[string]any) error {
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem() // only ever with omitempty: absent, not null
	}
	if ref, ok := p["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		if typ.Kind() == reflect.Struct && typ != timeType {
			if schemaTypes[name] != typ {
				return fmt.Errorf("$ref %s, want the schema of %v", name, typ)
			}
			return nil
		}
		if p = d.schema(name); p == nil {
			return fmt.Errorf("$ref %s: no such schema", ref)
		}
	}
	types := asSlice(p["type"])
	if len(types) == 0 && p["type"] != nil {
		types = []any{p["type"]}
	}
	var want string
	switch {
	case typ == timeType:
		want = "string"
		if p["format"] != "date-time" {
			return fmt.Errorf("format %v, want date-time", p["format"])
		}
	case typ.Kind() == reflect.String:
		want = "string"
	case typ.Kind() == reflect.Bool:
		want = "boolean"
	case typ.Kind() == reflect.Int || typ.Kind() == reflect.Int64:
		want = "integer"
	case typ == rawJSONType: // a JSON document sent as it is: a JWKS
		want = "object"
	case typ.Kind() == reflect.Slice:
		want = "array"
		items, _ := p["items"].(map[string]any)
		if items == nil {
			return fmt.Errorf("an array without items")
		}
		if err := sameType(d, typ.Elem(), items); err != nil {
			return fmt.Errorf("items: %w", err)
		}
	default:
		return fmt.Errorf("no rule for Go type %v: extend sameType", typ)
	}
	if len(types) != 1 || types[0] != want {
		return fmt.Errorf("type %v, want %q (the API sends no null)", p["type"], want)
	}
	return nil
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// env is a real server on a SQLite store with the admin API mounted, as
// app.Run assembles them, and access tokens of its own clients.
type env struct {
	t   *testing.T
	api *API
	st  *sqlite.Store
	url string // the server's, without Prefix
	doc *openAPIDoc
	v   validator.Validator
	// loose validates the document's own response: a strict validator
	// would want every member of an OpenAPI document declared in its
	// schema. TestOpenAPIDocumentIsValid checks that body against the
	// OpenAPI 3.1 schema instead.
	loose validator.Validator
	sv    schema_validation.SchemaValidator
	prob  *base.Schema // components.schemas.Problem
	// Access tokens: admin (gatehouse:admin), read (gatehouse:admin:read),
	// clients (gatehouse:clients), tenant (gatehouse:admin restricted to
	// account acme) and plain (a catalog scope only).
	admin, read, clients, tenant, plain string
	usage                               string // gatehouse:usage, a gateway's
	adminID, adminSecret                string
	// seen records the statuses validated per operation.
	seen map[string][]int
}

const testIssuer = "http://gatehouse.test"

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	master := make([]byte, 32)
	rand.Read(master)
	keys, err := token.NewKeyring(st, token.Config{MasterKey: master, Now: time.Now, Rand: rand.Reader,
		MaxTokenTTL: 24 * time.Hour, LeadTime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Init(ctx); err != nil {
		t.Fatal(err)
	}
	catalog := scope.Default()
	clientSvc := clients.NewService(st, catalog, 24*time.Hour, time.Now, rand.Reader, SystemScopes()...)
	cs := consents.New(st, catalog, time.Now)
	idem := make([]byte, 32)
	rand.Read(idem)
	var srv *server.Server
	us := usage.New(usage.Options{Store: st})
	api, err := New(Options{
		Store: st, Clients: clientSvc, Consents: cs, Keys: keys, Catalog: catalog, Usage: us,
		Users:  users.New(users.Options{Store: st, Now: time.Now, Rand: rand.Reader, Password: testutil.CheapPassword()}),
		Issuer: testIssuer, Audience: testIssuer,
		Server:         func() *server.Server { return srv },
		IdempotencyKey: idem,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.Close)
	srv, err = server.New(server.Options{
		Store: st, Keys: keys, Catalog: catalog, Consents: cs, Issuer: testIssuer,
		DefaultTTL: time.Hour, MaxTTL: 24 * time.Hour, RefreshIdleTTL: time.Hour, RefreshAbsoluteTTL: 24 * time.Hour,
		SystemScopes: SystemScopes(), AdminAPI: api.Handler(), Usage: us.Tally(),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)

	doc, err := libopenapi.NewDocument(openAPI)
	if err != nil {
		t.Fatal(err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, api: api, st: st, url: hs.URL, doc: loadDoc(t), seen: map[string][]int{},
		v: validator.NewValidatorFromV3Model(&model.Model,
			// date-time and the other formats are checked, not just read.
			config.WithFormatAssertions(),
			// A member or header the document does not declare fails,
			// even where the schema allows more.
			config.WithStrictMode(),
			// Sent with every problem (problem.go) and the document,
			// where it is declared; saying so for every error response
			// would add nothing.
			config.WithStrictIgnoredHeadersExtra("X-Content-Type-Options"),
		),
		loose: validator.NewValidatorFromV3Model(&model.Model, config.WithFormatAssertions()),
		sv:    schema_validation.NewSchemaValidator(config.WithFormatAssertions()),
		prob:  model.Model.Components.Schemas.GetOrZero("Problem").Schema(),
	}
	newToken := func(sp clients.Spec, scope string) (tok, id, secret string) {
		c, secret, err := clientSvc.Create(ctx, "test", sp)
		if err != nil {
			t.Fatal(err)
		}
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
		req, _ := http.NewRequest(http.MethodPost, hs.URL+"/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c.ID, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
			t.Fatalf("token for %q: %d %v", scope, resp.StatusCode, err)
		}
		return out.AccessToken, c.ID, secret
	}
	e.admin, e.adminID, e.adminSecret = newToken(clients.Spec{Name: "admin", Scopes: []string{ScopeAdmin}}, ScopeAdmin)
	e.read, _, _ = newToken(clients.Spec{Name: "reader", Scopes: []string{ScopeAdminRead}}, ScopeAdminRead)
	e.clients, _, _ = newToken(clients.Spec{Name: "clients", Scopes: []string{ScopeClients}}, ScopeClients)
	e.tenant, _, _ = newToken(clients.Spec{Name: "tenant", Scopes: []string{ScopeAdmin}, Accounts: []string{"acme"}}, ScopeAdmin+" account:acme")
	e.plain, _, _ = newToken(clients.Spec{Name: "plain", Scopes: []string{"api"}}, "api")
	e.usage, _, _ = newToken(clients.Spec{Name: "gateway", Scopes: []string{ScopeUsage}}, ScopeUsage)
	return e
}

// call is one request to the API.
type call struct {
	method, path string // path under Prefix, with any query
	token        string // bearer token; "" sends none
	body         string
	ctype        string // Content-Type of the body; default application/json
	header       map[string]string
	want         int // the status the call must get; 0: any
}

// reply is a validated response.
type reply struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

// do makes the call, checks its status and validates the response against
// the document: the operation's response for that status (body, declared
// headers), and, for a success, the request too. A response to a path or
// method the document has no operation for (404, 405) must be a problem.
func (e *env) do(c call) reply {
	t := e.t
	t.Helper()
	newReq := func() *http.Request {
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		req, err := http.NewRequest(c.method, e.url+Prefix+c.path, body)
		if err != nil {
			t.Fatal(err)
		}
		if c.body != "" {
			ct := c.ctype
			if ct == "" {
				ct = "application/json"
			}
			req.Header.Set("Content-Type", ct)
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		return req
	}
	resp, err := http.DefaultClient.Do(newReq())
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, body: body}
	_ = json.Unmarshal(body, &r.json)
	what := c.method + " " + Prefix + c.path
	if c.want != 0 && r.status != c.want {
		t.Fatalf("%s: got %d %s, want %d", what, r.status, body, c.want)
	}

	path, _, _ := strings.Cut(c.path, "?")
	tpl := e.doc.match(path)
	key := opKey(c.method, tpl)
	if tpl == "" || e.doc.ops[key] == nil {
		e.checkProblem(what, r)
		return r
	}
	e.seen[key] = append(e.seen[key], r.status)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	v := e.v
	if key == documentOp {
		v = e.loose
	}
	if ok, errs := v.ValidateHttpResponse(newReq(), resp); !ok {
		for _, err := range errs {
			t.Errorf("%s: the %d response does not validate against openapi.json: %v", what, r.status, err)
		}
		t.Logf("response: %v %s", r.header, body)
	}
	if r.status < 300 {
		if ok, errs := v.ValidateHttpRequest(newReq()); !ok {
			for _, err := range errs {
				t.Errorf("%s: the request does not validate against openapi.json: %v", what, err)
			}
		}
	}
	return r
}

// checkProblem checks a response to a path or method that has no
// operation: a problem, with Allow when it is 405.
func (e *env) checkProblem(what string, r reply) {
	t := e.t
	t.Helper()
	if r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed {
		t.Errorf("%s: %d to a path or method with no operation in openapi.json; want 404 or 405", what, r.status)
	}
	if ct := r.header.Get("Content-Type"); ct != problemType {
		t.Errorf("%s: Content-Type %q, want %s", what, ct, problemType)
	}
	if ok, errs := e.sv.ValidateSchemaBytes(e.prob, r.body); !ok {
		for _, err := range errs {
			t.Errorf("%s: the body is not a Problem of openapi.json: %v", what, err)
		}
	}
	if r.json["status"] != float64(r.status) {
		t.Errorf("%s: problem status %v, want %d", what, r.json["status"], r.status)
	}
	if r.status == http.StatusMethodNotAllowed && (r.header.Get("Allow") == "" || r.json["type"] != admin.ProblemMethod) {
		t.Errorf("%s: 405 with Allow %q and type %v, want an Allow header and %s", what, r.header.Get("Allow"), r.json["type"], admin.ProblemMethod)
	}
	if r.status == http.StatusNotFound && r.json["type"] != admin.ProblemNotFound {
		t.Errorf("%s: 404 of type %v, want %s", what, r.json["type"], admin.ProblemNotFound)
	}
}

// checkCoverage fails the test unless every mounted operation got a
// validated success and a validated client error.
func (e *env) checkCoverage() {
	e.t.Helper()
	for op := range mountedOps(e.api) {
		var ok2, ok4 bool
		for _, s := range e.seen[op] {
			ok2 = ok2 || s >= 200 && s < 300
			ok4 = ok4 || s >= 400 && s < 500
		}
		if !ok2 || !ok4 {
			e.t.Errorf("%s: validated statuses %v; cover a success and a client error", op, e.seen[op])
		}
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// TestOpenAPIResponses drives every mounted route of a real server through
// successes and errors and validates each response against the document.
func TestOpenAPIResponses(t *testing.T) {
	e := newEnv(t)
	get := func(path, token string, want int) reply {
		t.Helper()
		return e.do(call{method: http.MethodGet, path: path, token: token, want: want})
	}

	// The document: public, revalidated with its ETag.
	r := get("/openapi.json", "", http.StatusOK)
	if !bytes.Equal(r.body, openAPI) {
		t.Errorf("GET /openapi.json: the body is not openapi.json")
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET /openapi.json: Content-Type %q, want application/json", ct)
	}
	e.do(call{method: http.MethodGet, path: "/openapi.json", header: map[string]string{"If-None-Match": r.header.Get("ETag")}, want: http.StatusNotModified})
	e.do(call{method: http.MethodGet, path: "/openapi.json", header: map[string]string{"If-None-Match": `"older"`}, want: http.StatusOK})
	e.do(call{method: http.MethodPost, path: "/openapi.json", body: "{}", want: http.StatusMethodNotAllowed})

	// Refused before any handler runs.
	get("/clients", "", http.StatusUnauthorized)
	get("/clients", "not-a-token", http.StatusUnauthorized)
	get("/clients", e.plain, http.StatusForbidden)
	get("/scopes", e.plain, http.StatusForbidden)
	get("/keys", e.clients, http.StatusForbidden)
	get("/clients/a%5Cb", e.admin, http.StatusBadRequest) // an ambiguous path
	get("/no-such-thing", e.admin, http.StatusNotFound)
	e.do(call{method: http.MethodPut, path: "/clients", token: e.admin, body: "{}", want: http.StatusMethodNotAllowed})

	// Clients.
	newClient := `{"client_id":"acme-reporting","name":"Acme reporting","scopes":["search"],"accounts":["acme"],"token_ttl_seconds":3600}`
	idem := map[string]string{"Idempotency-Key": "create-acme-reporting"}
	r = e.do(call{method: http.MethodPost, path: "/clients", token: e.admin, body: newClient, header: idem, want: http.StatusCreated})
	if !strings.HasPrefix(str(r.json["client_secret"]), "ghs_") {
		t.Errorf("POST /clients: client_secret %v, want a ghs_ secret", r.json["client_secret"])
	}
	r = e.do(call{method: http.MethodPost, path: "/clients", token: e.admin, body: newClient, header: idem, want: http.StatusCreated})
	if r.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("POST /clients again with the Idempotency-Key: Idempotent-Replayed %q, want true", r.header.Get("Idempotent-Replayed"))
	}
	e.do(call{method: http.MethodPost, path: "/clients", token: e.admin, body: `{"name":"other"}`, header: idem, want: http.StatusUnprocessableEntity})
	e.do(call{method: http.MethodPost, path: "/clients", token: e.admin, body: newClient, want: http.StatusConflict})
	e.do(call{method: http.MethodPost, path: "/clients", token: e.admin, body: `{"scopes":["nope"]}`, want: http.StatusUnprocessableEntity})
	e.do(call{method: http.MethodPost, path: "/clients", token: e.admin, body: `{"name":`, want: http.StatusBadRequest})
	e.do(call{method: http.MethodPost, path: "/clients", token: e.admin, body: `{"name":"x","colour":"red"}`, want: http.StatusBadRequest})
	e.do(call{method: http.MethodPost, path: "/clients", token: e.admin, body: `name=x`, ctype: "application/x-www-form-urlencoded", want: http.StatusUnsupportedMediaType})
	e.do(call{method: http.MethodPost, path: "/clients", token: e.admin, body: `{"name":"` + strings.Repeat("x", maxBody) + `"}`, want: http.StatusRequestEntityTooLarge})
	e.do(call{method: http.MethodPost, path: "/clients", token: e.read, body: `{"name":"x"}`, want: http.StatusForbidden})
	e.do(call{method: http.MethodPost, path: "/clients", token: e.clients, body: `{"name":"x","scopes":["gatehouse:admin"]}`, want: http.StatusForbidden})
	e.do(call{method: http.MethodPost, path: "/clients", token: e.clients, body: `{"name":"Public app","grant_types":["authorization_code","refresh_token"],"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none","website":"https://app.example"}`, want: http.StatusCreated})

	r = get("/clients?limit=2", e.read, http.StatusOK)
	next := str(r.json["next_cursor"])
	if next == "" {
		t.Fatalf("GET /clients?limit=2: no next_cursor in %s", r.body)
	}
	get("/clients?cursor="+next+"&q=ACME&account=acme", e.clients, http.StatusOK)
	get("/clients?limit=0", e.admin, http.StatusBadRequest)
	get("/clients?cursor=%21", e.admin, http.StatusBadRequest)

	// Usage: a gateway reports, operators read.
	e.do(call{method: http.MethodPost, path: "/usage", token: e.usage, want: http.StatusNoContent,
		body: `{"calls":[{"client_id":"acme-reporting","pattern":"records/*","allowed":3,"denied":{"insufficient_scope":1},"last_seen":"2026-01-02T15:04:05Z"}]}`})
	e.do(call{method: http.MethodPost, path: "/usage", token: e.usage, want: http.StatusBadRequest,
		body: `{"calls":[{"client_id":"acme-reporting","pattern":"","allowed":-1,"last_seen":"2026-01-02T15:04:05Z"}]}`})
	e.do(call{method: http.MethodPost, path: "/usage", token: e.clients, body: `{"calls":[]}`, want: http.StatusForbidden})
	get("/clients/acme-reporting/usage?days=90", e.read, http.StatusOK)
	get("/clients/acme-reporting/usage?days=0", e.read, http.StatusBadRequest)
	get("/clients/acme-reporting/usage", e.usage, http.StatusForbidden)
	get("/clients/no-such-client/usage", e.read, http.StatusNotFound)

	r = get("/clients/acme-reporting", e.clients, http.StatusOK)
	etag := r.header.Get("ETag")
	get("/clients/no-such-client", e.admin, http.StatusNotFound)

	patch := func(path, token, body, ifMatch string, want int) reply {
		t.Helper()
		c := call{method: http.MethodPatch, path: path, token: token, body: body, ctype: "application/merge-patch+json", want: want}
		if ifMatch != "" {
			c.header = map[string]string{"If-Match": ifMatch}
		}
		return e.do(c)
	}
	r = patch("/clients/acme-reporting", e.admin, `{"description":"Nightly reports","website":null,"token_ttl_seconds":null}`, etag, http.StatusOK)
	if r.json["description"] != "Nightly reports" {
		t.Errorf("PATCH: description %v, want the new one", r.json["description"])
	}
	patch("/clients/acme-reporting", e.admin, `{"name":"Stale"}`, etag, http.StatusPreconditionFailed)
	patch("/clients/acme-reporting", e.admin, `{"colour":"red"}`, "", http.StatusBadRequest)
	patch("/clients/acme-reporting", e.admin, `{"client_id":"other"}`, "", http.StatusUnprocessableEntity)
	patch("/clients/no-such-client", e.admin, `{"name":"x"}`, "", http.StatusNotFound)
	e.do(call{method: http.MethodPatch, path: "/clients/acme-reporting", token: e.admin, body: `{"name":"x"}`, ctype: "text/plain", want: http.StatusUnsupportedMediaType})
	patch("/clients/acme-reporting", e.read, `{"name":"x"}`, "", http.StatusForbidden)

	// Secrets.
	get("/clients/acme-reporting/secrets", e.read, http.StatusOK)
	get("/clients/no-such-client/secrets", e.admin, http.StatusNotFound)
	rot := map[string]string{"Idempotency-Key": "rotate-1"}
	r = e.do(call{method: http.MethodPost, path: "/clients/acme-reporting/secrets", token: e.clients, body: `{"grace":"1h"}`, header: rot, want: http.StatusCreated})
	secretID := str(r.json["secret_id"])
	e.do(call{method: http.MethodPost, path: "/clients/acme-reporting/secrets", token: e.clients, body: `{"grace":"1h"}`, header: rot, want: http.StatusCreated})
	e.do(call{method: http.MethodPost, path: "/clients/acme-reporting/secrets", token: e.admin, want: http.StatusCreated})
	e.do(call{method: http.MethodPost, path: "/clients/acme-reporting/secrets", token: e.admin, body: `{"grace":"soon"}`, want: http.StatusUnprocessableEntity})
	e.do(call{method: http.MethodPost, path: "/clients/acme-reporting/secrets", token: e.admin, body: `{"grace":24}`, want: http.StatusBadRequest})
	e.do(call{method: http.MethodPost, path: "/clients/no-such-client/secrets", token: e.admin, body: `{}`, want: http.StatusNotFound})
	e.do(call{method: http.MethodDelete, path: "/clients/acme-reporting/secrets/" + secretID, token: e.clients, want: http.StatusNoContent})
	e.do(call{method: http.MethodDelete, path: "/clients/acme-reporting/secrets/" + secretID, token: e.clients, want: http.StatusNotFound})

	e.do(call{method: http.MethodDelete, path: "/clients/acme-reporting", token: e.admin, header: map[string]string{"If-Match": etag}, want: http.StatusPreconditionFailed})
	e.do(call{method: http.MethodDelete, path: "/clients/acme-reporting", token: e.read, want: http.StatusForbidden})
	e.do(call{method: http.MethodDelete, path: "/clients/acme-reporting", token: e.clients, want: http.StatusNoContent})
	e.do(call{method: http.MethodDelete, path: "/clients/acme-reporting", token: e.clients, want: http.StatusNotFound})

	// Revoking every token of a client.
	e.do(call{method: http.MethodPost, path: "/clients", token: e.admin, body: `{"client_id":"leaky","name":"Leaky"}`, want: http.StatusCreated})
	e.do(call{method: http.MethodPost, path: "/clients/leaky/revoke-tokens", token: e.clients, want: http.StatusOK})
	e.do(call{method: http.MethodPost, path: "/clients/no-such-client/revoke-tokens", token: e.admin, want: http.StatusNotFound})
	e.do(call{method: http.MethodGet, path: "/clients/leaky/quota", token: e.read, want: http.StatusOK})
	e.do(call{method: http.MethodGet, path: "/clients/no-such-client/quota", token: e.admin, want: http.StatusNotFound})
	e.do(call{method: http.MethodPost, path: "/clients/leaky/revoke-tokens", token: e.read, want: http.StatusForbidden})

	// Users.
	r = e.do(call{method: http.MethodPost, path: "/users", token: e.admin, body: `{"username":"ann","display_name":"Ann","role":"admin","password":"correct horse battery staple"}`,
		header: map[string]string{"Idempotency-Key": "user-ann"}, want: http.StatusCreated})
	ann := str(r.json["id"])
	r = e.do(call{method: http.MethodPost, path: "/users", token: e.admin, body: `{"username":"ben"}`, want: http.StatusCreated})
	ben := str(r.json["id"])
	if str(r.json["set_password_url"]) == "" {
		t.Errorf("POST /users without a password: no set_password_url in %s", r.body)
	}
	e.do(call{method: http.MethodPost, path: "/users", token: e.admin, body: `{"username":"ann"}`, want: http.StatusConflict})
	e.do(call{method: http.MethodPost, path: "/users", token: e.admin, body: `{"username":""}`, want: http.StatusUnprocessableEntity})
	e.do(call{method: http.MethodPost, path: "/users", token: e.admin, body: `{"user":"x"}`, want: http.StatusBadRequest})
	e.do(call{method: http.MethodPost, path: "/users", token: e.read, body: `{"username":"x"}`, want: http.StatusForbidden})
	get("/users?limit=1", e.read, http.StatusOK)
	get("/users?q=AN", e.admin, http.StatusOK)
	get("/users?limit=-1", e.admin, http.StatusBadRequest)
	r = get("/users/"+ann, e.read, http.StatusOK)
	userTag := r.header.Get("ETag")
	get("/users/usr_nobody", e.admin, http.StatusNotFound)
	patch("/users/"+ben, e.admin, `{"display_name":"Ben","disabled":true}`, "", http.StatusOK)
	patch("/users/"+ann, e.admin, `{"role":"member"}`, userTag, http.StatusConflict) // the last enabled administrator
	patch("/users/"+ann, e.admin, `{"display_name":"Ann A."}`, userTag, http.StatusOK)
	patch("/users/"+ann, e.admin, `{"display_name":"Stale"}`, userTag, http.StatusPreconditionFailed)
	patch("/users/"+ann, e.admin, `{"disabled":"yes"}`, "", http.StatusBadRequest)
	patch("/users/usr_nobody", e.admin, `{"display_name":"x"}`, "", http.StatusNotFound)

	// Consents.
	if _, err := e.st.UpdateConsent(t.Context(), ben, "leaky", func(c *store.Consent) error {
		c.Scopes, c.GrantedAt = []string{"search"}, time.Now()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	get("/consents?user="+ben, e.read, http.StatusOK)
	get("/consents?client=leaky&limit=1", e.admin, http.StatusOK)
	get("/consents", e.admin, http.StatusBadRequest)
	e.do(call{method: http.MethodDelete, path: "/consents/" + ben + ":leaky", token: e.admin, want: http.StatusNoContent})
	e.do(call{method: http.MethodDelete, path: "/consents/" + ben + ":leaky", token: e.admin, want: http.StatusNotFound})
	e.do(call{method: http.MethodDelete, path: "/consents/" + ben + ":leaky", token: e.read, want: http.StatusForbidden})

	e.do(call{method: http.MethodDelete, path: "/users/" + ann, token: e.admin, want: http.StatusConflict})
	e.do(call{method: http.MethodDelete, path: "/users/" + ben, token: e.admin, want: http.StatusNoContent})
	e.do(call{method: http.MethodDelete, path: "/users/" + ben, token: e.admin, want: http.StatusNotFound})

	// Keys.
	get("/keys", e.read, http.StatusOK)
	e.do(call{method: http.MethodPost, path: "/keys/rotate", token: e.admin, body: `{"now":false}`, want: http.StatusCreated})
	e.do(call{method: http.MethodPost, path: "/keys/rotate", token: e.admin, want: http.StatusCreated})
	e.do(call{method: http.MethodPost, path: "/keys/rotate", token: e.admin, body: `{"now":"yes"}`, want: http.StatusBadRequest})
	e.do(call{method: http.MethodPost, path: "/keys/rotate", token: e.admin, body: `now`, ctype: "text/plain", want: http.StatusUnsupportedMediaType})
	e.do(call{method: http.MethodPost, path: "/keys/rotate", token: e.read, body: `{}`, want: http.StatusForbidden})
	get("/keys", e.admin, http.StatusOK)

	// Initial access tokens for dynamic client registration.
	r = e.do(call{method: http.MethodPost, path: "/registration/tokens", token: e.admin, body: `{"max_uses":3,"expires_in_seconds":3600,"description":"CI"}`, want: http.StatusCreated})
	iatID := str(r.json["id"])
	if !strings.HasPrefix(str(r.json["token"]), "ghi_") || r.json["max_uses"] != float64(3) || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("POST /registration/tokens: got %s (Cache-Control %q), want a ghi_ token for 3 uses, not stored by caches", r.body, r.header.Get("Cache-Control"))
	}
	e.do(call{method: http.MethodPost, path: "/registration/tokens", token: e.admin, body: `{"expires_in_seconds":60}`, want: http.StatusCreated})
	e.do(call{method: http.MethodPost, path: "/registration/tokens", token: e.admin, body: `{"max_uses":3}`, want: http.StatusBadRequest})
	e.do(call{method: http.MethodPost, path: "/registration/tokens", token: e.admin, body: `{"max_uses":-1,"expires_in_seconds":60}`, want: http.StatusUnprocessableEntity})
	e.do(call{method: http.MethodPost, path: "/registration/tokens", token: e.admin, body: `{"expires_in_seconds":"1h"}`, want: http.StatusBadRequest})
	e.do(call{method: http.MethodPost, path: "/registration/tokens", token: e.read, body: `{"expires_in_seconds":60}`, want: http.StatusForbidden})
	e.do(call{method: http.MethodPost, path: "/registration/tokens", token: e.clients, body: `{"expires_in_seconds":60}`, want: http.StatusForbidden})
	r = get("/registration/tokens", e.read, http.StatusOK)
	if items, _ := r.json["items"].([]any); len(items) != 2 || strings.Contains(string(r.body), "ghi_") {
		t.Errorf("GET /registration/tokens: got %s, want two tokens without the tokens themselves", r.body)
	}
	get("/registration/tokens", e.tenant, http.StatusForbidden)
	e.do(call{method: http.MethodDelete, path: "/registration/tokens/" + iatID, token: e.read, want: http.StatusForbidden})
	e.do(call{method: http.MethodDelete, path: "/registration/tokens/" + iatID, token: e.admin, want: http.StatusNoContent})
	e.do(call{method: http.MethodDelete, path: "/registration/tokens/" + iatID, token: e.admin, want: http.StatusNotFound})

	// The audit trail.
	r = get("/audit?limit=2", e.read, http.StatusOK)
	if next = str(r.json["next_cursor"]); next == "" {
		t.Fatalf("GET /audit?limit=2: no next_cursor in %s", r.body)
	}
	get("/audit?cursor="+next+"&target=acme-reporting&action=client.create&actor=api%3A"+e.adminID+"&since=2020-01-01T00:00:00Z", e.admin, http.StatusOK)
	get("/audit?since=yesterday", e.admin, http.StatusBadRequest)
	get("/audit?cursor=eA", e.admin, http.StatusBadRequest)
	get("/audit", e.tenant, http.StatusForbidden)

	// The scope catalog.
	get("/scopes", e.clients, http.StatusOK)
	get("/scopes", "", http.StatusUnauthorized)

	// A revoked token is refused at once.
	form := url.Values{"token": {e.admin}}
	req, _ := http.NewRequest(http.MethodPost, e.url+"/oauth/revoke", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(e.adminID, e.adminSecret)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke the admin token: %v %v", resp, err)
	}
	r = get("/keys", e.admin, http.StatusUnauthorized)
	if !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("a revoked token: WWW-Authenticate %q, want invalid_token", r.header.Get("WWW-Authenticate"))
	}

	// The store gone: a server error, still a problem of the document.
	e.st.Close()
	r = get("/scopes", e.read, 0)
	if r.status != http.StatusInternalServerError && r.status != http.StatusServiceUnavailable {
		t.Errorf("GET /scopes with the store closed: got %d %s, want 500 or 503", r.status, r.body)
	}

	e.checkCoverage()
}

// TestOpenAPIAccountTokens: an operation marked x-gatehouse-account-tokens
// false refuses a token restricted to an account with 403 (even one with
// gatehouse:admin), and one marked true does not.
func TestOpenAPIAccountTokens(t *testing.T) {
	e := newEnv(t)
	for op := range mountedOps(e.api) {
		allowed, _ := e.doc.ops[op]["x-gatehouse-account-tokens"].(bool)
		method, path, _ := strings.Cut(op, " ")
		c := call{method: method, path: strings.ReplaceAll(path, "{}", "no-such-thing"), token: e.tenant}
		switch method {
		case http.MethodPost:
			c.body = "{}"
		case http.MethodPatch:
			c.body, c.ctype = "{}", "application/merge-patch+json"
		}
		r := e.do(c)
		if refused := r.status == http.StatusForbidden; refused == allowed {
			t.Errorf("%s with a token restricted to an account: got %d %s; x-gatehouse-account-tokens is %t", op, r.status, r.body, allowed)
		}
	}
}
