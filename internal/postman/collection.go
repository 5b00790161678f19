package postman

import _ "embed"

// The Postman Collection v2.1.0 format, as much of it as Export writes.

type collection struct {
	Info     info    `json:"info"`
	Item     []item  `json:"item"`
	Auth     *auth   `json:"auth,omitempty"`
	Event    []event `json:"event,omitempty"`
	Variable []kv    `json:"variable"`
}

type info struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Schema      string `json:"schema"`
}

// An item is a folder (Item) or a request (Request).
type item struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Item        []item   `json:"item,omitempty"`
	Request     *request `json:"request,omitempty"`
	Response    []any    `json:"response,omitempty"`
}

type request struct {
	Method      string       `json:"method"`
	Header      []header     `json:"header"`
	Body        *requestBody `json:"body,omitempty"`
	URL         reqURL       `json:"url"`
	Auth        *auth        `json:"auth,omitempty"`
	Description string       `json:"description,omitempty"`
}

type reqURL struct {
	Raw      string   `json:"raw"`
	Host     []string `json:"host"`
	Path     []string `json:"path"`
	Query    []query  `json:"query,omitempty"`
	Variable []kv     `json:"variable,omitempty"`
}

type header struct {
	Key         string `json:"key"`
	Value       string `json:"value"`
	Disabled    bool   `json:"disabled,omitempty"`
	Description string `json:"description,omitempty"`
}

type query struct {
	Key         string `json:"key"`
	Value       string `json:"value"`
	Disabled    bool   `json:"disabled,omitempty"`
	Description string `json:"description,omitempty"`
}

type requestBody struct {
	Mode       string       `json:"mode"`
	Raw        string       `json:"raw,omitempty"`
	URLEncoded []query      `json:"urlencoded,omitempty"`
	Options    *bodyOptions `json:"options,omitempty"`
}

type bodyOptions struct {
	Raw rawOptions `json:"raw"`
}

type rawOptions struct {
	Language string `json:"language"`
}

type auth struct {
	Type   string `json:"type"`
	OAuth2 []kv   `json:"oauth2,omitempty"`
}

// A kv is a variable (collection, path) or an auth attribute.
type kv struct {
	Key         string `json:"key"`
	Value       string `json:"value"`
	Type        string `json:"type,omitempty"`
	Description string `json:"description,omitempty"`
}

type event struct {
	Listen string `json:"listen"`
	Script script `json:"script"`
}

type script struct {
	Type string   `json:"type"`
	Exec []string `json:"exec"`
}

// tokenScript is the collection's pre-request script.
//
//go:embed token.js
var tokenScript string
