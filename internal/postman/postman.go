// Package postman exports an API's OpenAPI document, as scope/openapi
// loads it, as a Postman Collection v2.1.0
// (https://schema.getpostman.com/json/collection/v2.1.0/collection.json):
// one request per operation, in folders by the operation's first tag (or
// the first segment of its path), with collection-level OAuth 2.0 client
// credentials auth against Gatehouse's token endpoint and a collection
// pre-request script that obtains, caches and renews the access token, so
// the collection runs unattended too (newman).
//
// The collection never holds a client secret: clientSecret is an empty
// variable the user fills in.
package postman

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/gatehouse/gatehouse/scope/openapi"
)

// SchemaURL is the JSON schema of the collections Export writes.
const SchemaURL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"

// Options are what Export needs besides the document.
type Options struct {
	// TokenURL is Gatehouse's token endpoint, e.g.
	// https://auth.example.com/oauth/token. Required.
	TokenURL string
	// BaseURL is where the API's paths start: the gateway's URL and the
	// API's base path, e.g. https://api.example.com/v1. "" takes the
	// document's first server URL, which must then be absolute.
	BaseURL string
	// ClientID prefills the clientId variable; "" leaves it empty.
	ClientID string
}

// Export returns the Postman collection of api (api.Document must be set),
// as indented JSON.
func Export(api *openapi.API, opts Options) ([]byte, error) {
	if api == nil || api.Document == nil {
		return nil, errors.New("postman: no OpenAPI document")
	}
	tu, err := url.Parse(opts.TokenURL)
	if err != nil || (tu.Scheme != "http" && tu.Scheme != "https") || tu.Host == "" {
		return nil, fmt.Errorf("token URL %q: want an absolute http(s) URL, e.g. https://auth.example.com/oauth/token", opts.TokenURL)
	}
	base, err := baseURL(api.Document, opts.BaseURL)
	if err != nil {
		return nil, err
	}
	doc := api.Document
	c := collection{
		Info: info{Name: "API", Schema: SchemaURL},
		Auth: &auth{Type: "oauth2", OAuth2: []kv{
			{Key: "grant_type", Value: "client_credentials", Type: "string"},
			{Key: "accessTokenUrl", Value: "{{tokenUrl}}", Type: "string"},
			{Key: "clientId", Value: "{{clientId}}", Type: "string"},
			{Key: "clientSecret", Value: "{{clientSecret}}", Type: "string"},
			{Key: "scope", Value: "{{scope}}", Type: "string"},
			{Key: "client_authentication", Value: "header", Type: "string"},
			{Key: "tokenName", Value: "Gatehouse", Type: "string"},
			{Key: "accessToken", Value: "{{accessToken}}", Type: "string"},
			{Key: "addTokenTo", Value: "header", Type: "string"},
			{Key: "headerPrefix", Value: "Bearer", Type: "string"},
		}},
		Event: []event{{Listen: "prerequest", Script: script{Type: "text/javascript", Exec: strings.Split(strings.TrimSuffix(tokenScript, "\n"), "\n")}}},
		Variable: []kv{
			{Key: "baseUrl", Value: base, Type: "string"},
			{Key: "tokenUrl", Value: opts.TokenURL, Type: "string"},
			{Key: "clientId", Value: opts.ClientID, Type: "string"},
			{Key: "clientSecret", Value: "", Type: "string"},
			{Key: "scope", Value: strings.Join(neededScopes(api), " "), Type: "string"},
			{Key: "accessToken", Value: "", Type: "string"},
			{Key: "accessTokenExpiry", Value: "", Type: "string"},
		},
	}
	if doc.Info != nil {
		if t := strings.TrimSpace(doc.Info.Title); t != "" {
			c.Info.Name = t
		}
		c.Info.Description = doc.Info.Description
	}
	folders := make(map[string]*item)
	var order []string
	for _, o := range api.Operations {
		op := doc.Paths.Find(o.Path).GetOperation(o.Method)
		pathItem := doc.Paths.Find(o.Path)
		if op == nil || pathItem == nil {
			continue
		}
		name := folderOf(op, o.Path)
		f := folders[name]
		if f == nil {
			f = &item{Name: name}
			if tag := doc.Tags.Get(name); tag != nil {
				f.Description = tag.Description
			}
			folders[name] = f
			order = append(order, name)
		}
		f.Item = append(f.Item, requestItem(o, pathItem, op))
	}
	for _, name := range order {
		c.Item = append(c.Item, *folders[name])
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("postman: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// baseURL returns the collection's base URL: set, or the document's first
// server URL with its variables' defaults; without a trailing "/".
func baseURL(doc *openapi3.T, set string) (string, error) {
	u, from := set, "base URL"
	if u == "" && len(doc.Servers) > 0 && doc.Servers[0] != nil {
		s := doc.Servers[0]
		u, from = s.URL, "the document's first server URL"
		for name, v := range s.Variables {
			if v != nil {
				u = strings.ReplaceAll(u, "{"+name+"}", v.Default)
			}
		}
	}
	if u == "" {
		return "", errors.New("the document has no servers: give the API's base URL (the gateway's URL and base path), e.g. https://api.example.com/v1")
	}
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.RawQuery != "" || pu.Fragment != "" {
		return "", fmt.Errorf("%s %q is not an absolute http(s) URL without query: give the API's base URL (the gateway's URL and base path), e.g. https://api.example.com/v1", from, u)
	}
	return strings.TrimRight(u, "/"), nil
}

// neededScopes returns the scopes the operations need, in catalog order,
// or all of the catalog's if they need none by name.
func neededScopes(api *openapi.API) []string {
	need := make(map[string]bool)
	for _, o := range api.Operations {
		for _, req := range o.Requirements {
			for _, s := range req {
				need[s] = true
			}
		}
	}
	var out []string
	if api.Catalog == nil {
		return out
	}
	for _, s := range api.Catalog.Names() {
		if need[s] || len(need) == 0 {
			out = append(out, s)
		}
	}
	return out
}

// folderOf names an operation's folder: its first tag, or the first
// literal segment of its path ("/" for none).
func folderOf(op *openapi3.Operation, path string) string {
	if len(op.Tags) > 0 && strings.TrimSpace(op.Tags[0]) != "" {
		return op.Tags[0]
	}
	for seg := range strings.SplitSeq(path, "/") {
		if seg != "" && !strings.ContainsAny(seg, "{}") {
			return seg
		}
	}
	return "/"
}

// requestItem returns the collection item of one operation.
func requestItem(o openapi.Operation, pi *openapi3.PathItem, op *openapi3.Operation) item {
	name := strings.TrimSpace(op.Summary)
	if name == "" {
		name = o.ID
	}
	if name == "" {
		name = o.Method + " " + o.Path
	}
	r := &request{Method: o.Method, Header: []header{}, Description: describe(o, op)}
	params := parameters(pi, op)
	var segs []string
	for raw := range strings.SplitSeq(strings.TrimPrefix(o.Path, "/"), "/") {
		if raw == "" {
			continue
		}
		if n, ok := strings.CutPrefix(raw, "{"); ok && strings.HasSuffix(n, "}") && !strings.ContainsAny(n[:len(n)-1], "{}") {
			n = n[:len(n)-1]
			p := params[paramKey{"path", n}]
			v := kv{Key: n, Value: paramValue(p)}
			if p != nil {
				v.Description = p.Description
			}
			r.URL.Variable = append(r.URL.Variable, v)
			segs = append(segs, ":"+n)
			continue
		}
		// A segment with a parameter among other text: its example.
		seg := raw
		for k, p := range params {
			if k.in == "path" {
				seg = strings.ReplaceAll(seg, "{"+k.name+"}", url.PathEscape(paramValue(p)))
			}
		}
		segs = append(segs, seg)
	}
	r.URL.Host = []string{"{{baseUrl}}"}
	r.URL.Path = segs
	if r.URL.Path == nil {
		r.URL.Path = []string{}
	}
	for _, p := range sortedParams(params) {
		switch p.In {
		case "query":
			r.URL.Query = append(r.URL.Query, query{Key: p.Name, Value: paramValue(p), Disabled: !p.Required, Description: p.Description})
		case "header":
			switch strings.ToLower(p.Name) {
			case "authorization", "accept", "content-type": // OpenAPI: ignored
				continue
			}
			r.Header = append(r.Header, header{Key: p.Name, Value: paramValue(p), Disabled: !p.Required, Description: p.Description})
		}
	}
	raw := "{{baseUrl}}"
	if len(segs) > 0 {
		raw += "/" + strings.Join(segs, "/")
	}
	var qs []string
	for _, q := range r.URL.Query {
		if !q.Disabled {
			qs = append(qs, url.QueryEscape(q.Key)+"="+url.QueryEscape(q.Value))
		}
	}
	if len(qs) > 0 {
		raw += "?" + strings.Join(qs, "&")
	}
	r.URL.Raw = raw
	if accept := acceptOf(op); accept != "" {
		r.Header = append(r.Header, header{Key: "Accept", Value: accept})
	}
	if op.RequestBody != nil && op.RequestBody.Value != nil {
		r.Body, r.Header = body(op.RequestBody.Value, r.Header)
	}
	if o.Public {
		r.Auth = &auth{Type: "noauth"}
	}
	return item{Name: name, Request: r, Response: []any{}}
}

// describe returns a request's description: the operation's, and what
// token it needs.
func describe(o openapi.Operation, op *openapi3.Operation) string {
	var b strings.Builder
	if d := strings.TrimSpace(op.Description); d != "" {
		b.WriteString(d + "\n\n")
	}
	switch {
	case o.Public:
		b.WriteString("Public: needs no access token.")
	case len(o.Requirements) == 0:
		b.WriteString("Gatehouse allows no token to call this operation (see gatehouse scopes check).")
	default:
		var alts []string
		for _, req := range o.Requirements {
			if len(req) == 0 {
				alts = append(alts, "any scopes")
				continue
			}
			alts = append(alts, "the scopes `"+strings.Join(req, " ")+"`")
		}
		b.WriteString("Needs an access token with " + strings.Join(alts, ", or with ") + ".")
	}
	return b.String()
}

type paramKey struct{ in, name string }

// parameters returns the parameters of an operation: the path item's,
// overridden by the operation's.
func parameters(pi *openapi3.PathItem, op *openapi3.Operation) map[paramKey]*openapi3.Parameter {
	out := make(map[paramKey]*openapi3.Parameter)
	for _, list := range []openapi3.Parameters{pi.Parameters, op.Parameters} {
		for _, ref := range list {
			if ref != nil && ref.Value != nil {
				out[paramKey{ref.Value.In, ref.Value.Name}] = ref.Value
			}
		}
	}
	return out
}

// sortedParams returns params ordered by the operation's order: path
// item's first, then by name within where they go.
func sortedParams(params map[paramKey]*openapi3.Parameter) []*openapi3.Parameter {
	out := make([]*openapi3.Parameter, 0, len(params))
	for _, p := range params {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *openapi3.Parameter) int {
		if c := strings.Compare(a.In, b.In); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// paramValue returns an example value of a parameter, as text.
func paramValue(p *openapi3.Parameter) string {
	if p == nil {
		return "1"
	}
	if p.Example != nil {
		return scalar(p.Example)
	}
	for _, name := range sortedKeys(p.Examples) {
		if ex := p.Examples[name]; ex != nil && ex.Value != nil && ex.Value.Value != nil {
			return scalar(ex.Value.Value)
		}
	}
	if p.Schema != nil && p.Schema.Value != nil {
		return scalar(example(p.Schema.Value, 0))
	}
	return "1"
}

// scalar renders a value for a URL or header: strings as they are, other
// values as JSON.
func scalar(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// acceptOf returns the media type of the operation's first 2xx response
// with content (application/json preferred), or "".
func acceptOf(op *openapi3.Operation) string {
	if op.Responses == nil {
		return ""
	}
	m := op.Responses.Map()
	for _, code := range sortedKeys(m) {
		if !strings.HasPrefix(code, "2") || m[code] == nil || m[code].Value == nil {
			continue
		}
		if mt := mediaType(m[code].Value.Content); mt != "" {
			return mt
		}
	}
	return ""
}

// mediaType returns the JSON media type of content if it has one, else its
// first (in name order), else "".
func mediaType(content openapi3.Content) string {
	names := sortedKeys(content)
	for _, n := range names {
		if isJSON(n) {
			return n
		}
	}
	if len(names) > 0 {
		return names[0]
	}
	return ""
}

func isJSON(mt string) bool {
	mt = strings.ToLower(strings.TrimSpace(strings.SplitN(mt, ";", 2)[0]))
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// body returns the request body of rb and the headers with its
// Content-Type.
func body(rb *openapi3.RequestBody, hs []header) (*requestBody, []header) {
	mt := mediaType(rb.Content)
	if mt == "" {
		return nil, hs
	}
	hs = append(hs, header{Key: "Content-Type", Value: mt})
	m := rb.Content[mt]
	var ex any
	switch {
	case m == nil:
	case m.Example != nil:
		ex = m.Example
	case len(m.Examples) > 0:
		for _, name := range sortedKeys(m.Examples) {
			if e := m.Examples[name]; e != nil && e.Value != nil && e.Value.Value != nil {
				ex = e.Value.Value
				break
			}
		}
	}
	if ex == nil && m != nil && m.Schema != nil && m.Schema.Value != nil {
		ex = example(m.Schema.Value, 0)
	}
	switch {
	case isJSON(mt):
		b, err := json.MarshalIndent(ex, "", "  ")
		if err != nil || ex == nil {
			b = []byte("{}")
		}
		return &requestBody{Mode: "raw", Raw: string(b), Options: &bodyOptions{Raw: rawOptions{Language: "json"}}}, hs
	case strings.HasPrefix(strings.ToLower(mt), "application/x-www-form-urlencoded"):
		rbody := &requestBody{Mode: "urlencoded", URLEncoded: []query{}}
		if obj, ok := ex.(map[string]any); ok {
			for _, k := range sortedKeys(obj) {
				rbody.URLEncoded = append(rbody.URLEncoded, query{Key: k, Value: scalar(obj[k])})
			}
		}
		return rbody, hs
	case ex != nil:
		return &requestBody{Mode: "raw", Raw: scalar(ex)}, hs
	}
	return &requestBody{Mode: "raw", Raw: ""}, hs
}

// maxDepth bounds the nesting of a schema-derived example (schemas may
// refer to themselves).
const maxDepth = 6

// example returns a minimal value of schema s: its example, default,
// const or first enum value, or else one built from its type (an object
// of its required properties).
func example(s *openapi3.Schema, depth int) any {
	switch {
	case s.Example != nil:
		return s.Example
	case len(s.Examples) > 0:
		return s.Examples[0]
	case s.Default != nil:
		return s.Default
	case s.Const != nil:
		return s.Const
	case len(s.Enum) > 0:
		return s.Enum[0]
	}
	for _, refs := range []openapi3.SchemaRefs{s.AllOf, s.OneOf, s.AnyOf} {
		if len(refs) == 0 {
			continue
		}
		if len(s.AllOf) > 0 && refs[0] == s.AllOf[0] {
			merged := map[string]any{}
			for _, r := range refs {
				if r == nil || r.Value == nil {
					continue
				}
				obj, ok := example(r.Value, depth+1).(map[string]any)
				if !ok {
					return example(r.Value, depth+1)
				}
				for k, v := range obj {
					merged[k] = v
				}
			}
			return merged
		}
		if refs[0] != nil && refs[0].Value != nil && depth < maxDepth {
			return example(refs[0].Value, depth+1)
		}
	}
	typ := ""
	if s.Type != nil {
		for _, t := range s.Type.Slice() {
			if t != "null" {
				typ = t
				break
			}
		}
	}
	if typ == "" && len(s.Properties) > 0 {
		typ = "object"
	}
	switch typ {
	case "object":
		obj := map[string]any{}
		if depth >= maxDepth {
			return obj
		}
		for _, name := range s.Required {
			if p := s.Properties[name]; p != nil && p.Value != nil {
				obj[name] = example(p.Value, depth+1)
			} else {
				obj[name] = "string"
			}
		}
		return obj
	case "array":
		if s.Items != nil && s.Items.Value != nil && depth < maxDepth && s.MinItems > 0 {
			return []any{example(s.Items.Value, depth+1)}
		}
		return []any{}
	case "integer":
		return max(int64(0), int64(valueOr(s.Min, 0)))
	case "number":
		return max(float64(0), valueOr(s.Min, 0))
	case "boolean":
		return true
	case "string":
		return stringExample(s)
	}
	return nil
}

func valueOr(p *float64, d float64) float64 {
	if p == nil {
		return d
	}
	return *p
}

// stringExample returns a string of s's format, at least MinLength long.
func stringExample(s *openapi3.Schema) string {
	var v string
	switch s.Format {
	case "date":
		v = "2024-01-01"
	case "date-time":
		v = "2024-01-01T00:00:00Z"
	case "uuid":
		v = "00000000-0000-0000-0000-000000000000"
	case "email":
		v = "user@example.com"
	case "uri", "url":
		v = "https://example.com"
	default:
		v = "string"
	}
	for uint64(len(v)) < s.MinLength {
		v += "x"
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
