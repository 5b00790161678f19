package docs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"strings"

	"go.yaml.in/yaml/v3"
)

// An object is a JSON object that keeps the order of its members, so that
// the reference shows the paths and schemas in the document's order.
type object struct {
	keys []string
	vals []any // *object, []any, string, json.Number, bool or nil
}

func (o *object) get(key string) any {
	for i, k := range o.keys {
		if k == key {
			return o.vals[i]
		}
	}
	return nil
}

// set replaces the member key, or appends it.
func (o *object) set(key string, v any) {
	for i, k := range o.keys {
		if k == key {
			o.vals[i] = v
			return
		}
	}
	o.keys, o.vals = append(o.keys, key), append(o.vals, v)
}

func (o *object) del(key string) {
	for i, k := range o.keys {
		if k == key {
			o.keys = append(o.keys[:i], o.keys[i+1:]...)
			o.vals = append(o.vals[:i], o.vals[i+1:]...)
			return
		}
	}
}

func (o *object) obj(key string) *object {
	v, _ := o.get(key).(*object)
	return v
}

// MarshalJSON writes the members in order.
func (o *object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(o.vals[i])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// decode reads an OpenAPI document, JSON or YAML, into a tree of JSON
// values. It parses the syntax only; the document's meaning is checked by
// scope/openapi (kin-openapi) when the catalog is derived from it.
func decode(data []byte) (*object, error) {
	var v any
	var err error
	if json.Valid(data) {
		d := json.NewDecoder(bytes.NewReader(data))
		d.UseNumber()
		v, err = fromJSON(d)
	} else {
		var n yaml.Node
		if err = yaml.Unmarshal(data, &n); err == nil {
			v, err = fromYAML(&n, 0)
		}
	}
	if err != nil {
		return nil, err
	}
	root, ok := v.(*object)
	if !ok {
		return nil, errors.New("the document is not an object")
	}
	return root, nil
}

// fromJSON reads the next JSON value of d.
func fromJSON(d *json.Decoder) (any, error) {
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t := t.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				v, err := fromJSON(d)
				if err != nil {
					return nil, err
				}
				o.set(kt.(string), v) // a later duplicate wins, as in encoding/json
			}
			_, err := d.Token() // '}'
			return o, err
		case '[':
			a := []any{}
			for d.More() {
				v, err := fromJSON(d)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := d.Token() // ']'
			return a, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return t, nil // string, json.Number, bool, nil
	}
}

// maxDepth bounds the nesting of a YAML document (aliases included).
const maxDepth = 200

// fromYAML converts a YAML node to JSON values, as a YAML-to-JSON
// conversion does: aliases are expanded, scalars take their resolved type.
func fromYAML(n *yaml.Node, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("the document is nested too deeply")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, io.ErrUnexpectedEOF
		}
		return fromYAML(n.Content[0], depth+1)
	case yaml.AliasNode:
		return fromYAML(n.Alias, depth+1)
	case yaml.MappingNode:
		o := &object{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a key that is not a string", k.Line)
			}
			if k.ShortTag() == "!!merge" {
				return nil, fmt.Errorf("line %d: YAML merge keys (<<) are not supported; write the members out", k.Line)
			}
			val, err := fromYAML(v, depth+1)
			if err != nil {
				return nil, err
			}
			o.set(k.Value, val)
		}
		return o, nil
	case yaml.SequenceNode:
		a := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := fromYAML(c, depth+1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		return a, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			err := n.Decode(&b)
			return b, err
		case "!!int", "!!float":
			var f any
			if err := n.Decode(&f); err != nil {
				return nil, err
			}
			if x, ok := f.(float64); ok && (math.IsInf(x, 0) || math.IsNaN(x)) {
				return n.Value, nil // JSON has no infinities
			}
			b, err := json.Marshal(f)
			return json.Number(b), err
		default: // !!str, !!timestamp, !!binary: their text
			return n.Value, nil
		}
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

// Gatehouse's OAuth 2.0 flows, as an OpenAPI oauth2 security scheme
// names them.
const (
	flowClientCredentials = "clientCredentials"
	flowAuthorizationCode = "authorizationCode"
)

// rewrite points the document at Gatehouse: every oauth2 security scheme's
// flows at the issuer's endpoints, and (serverURL set) every servers list
// at serverURL. It returns the origins "Try it" calls go to, for the page's
// connect-src: "" for the page's own.
func rewrite(doc *object, issuer, serverURL string) []string {
	token, authorize := issuer+"/oauth/token", issuer+"/oauth/authorize"
	for _, s := range members(doc.obj("components").obj("securitySchemes")) {
		if s == nil || s.get("type") != "oauth2" {
			continue
		}
		flows := s.obj("flows")
		if flows == nil {
			flows = &object{}
			s.set("flows", flows)
		}
		// Every scope the scheme declares, for a flow that is added.
		scopes := &object{}
		for _, f := range members(flows) {
			if f == nil {
				continue
			}
			if fs := f.obj("scopes"); fs != nil {
				for i, k := range fs.keys {
					scopes.set(k, fs.vals[i])
				}
			}
		}
		// Gatehouse has neither the implicit nor the password grant: a
		// flow at another server's URLs would send credentials there.
		flows.del("implicit")
		flows.del("password")
		cc, ac := flows.obj(flowClientCredentials), flows.obj(flowAuthorizationCode)
		if cc == nil && ac == nil {
			cc = &object{}
			cc.set("tokenUrl", token)
			cc.set("scopes", scopes)
			flows.set(flowClientCredentials, cc)
		}
		if cc != nil {
			cc.set("tokenUrl", token)
			cc.set("refreshUrl", token)
		}
		if ac != nil {
			ac.set("authorizationUrl", authorize)
			ac.set("tokenUrl", token)
			ac.set("refreshUrl", token)
		}
	}
	if serverURL == "" {
		return serverOrigins(doc)
	}
	servers := func() []any {
		s := &object{}
		s.set("url", serverURL)
		s.set("description", "through the Gatehouse gateway")
		return []any{s}
	}
	doc.set("servers", servers())
	// A path's or an operation's own servers have the document's base
	// path (scope/openapi insists), so the gateway serves them too.
	for _, p := range members(doc.obj("paths")) {
		if p == nil {
			continue
		}
		if p.get("servers") != nil {
			p.set("servers", servers())
		}
		for _, op := range members(p) {
			if op != nil && op.get("servers") != nil {
				op.set("servers", servers())
			}
		}
	}
	return []string{origin(serverURL)}
}

// members returns the members of o whose values are objects (a nil
// *object for the others), in order; none for a nil o.
func members(o *object) []*object {
	if o == nil {
		return nil
	}
	out := make([]*object, len(o.vals))
	for i, v := range o.vals {
		out[i], _ = v.(*object)
	}
	return out
}

// serverOrigins returns the origins of the document's top-level server
// URLs ("" for a relative one: the page's own). A URL with variables
// cannot be allowed ahead of time and is left out.
func serverOrigins(doc *object) []string {
	var out []string
	list, _ := doc.get("servers").([]any)
	if len(list) == 0 {
		return []string{""}
	}
	for _, v := range list {
		s, _ := v.(*object)
		if s == nil {
			continue
		}
		u, _ := s.get("url").(string)
		if strings.Contains(u, "{") {
			continue
		}
		out = append(out, origin(u))
	}
	return out
}

// origin returns the origin of an absolute http(s) URL, or "" (the page's
// own) for anything else.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
