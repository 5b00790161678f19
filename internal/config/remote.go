package config

import (
	"net"
	"net/url"
	"strings"
)

// Remote is how the data commands (clients, keys, users, audit) reach a
// running server instead of opening the store: its admin API, as a client
// allowed the system scope gatehouse:admin. The CLI's --server flag beats
// GATEHOUSE_SERVER; the client secret is read only from the environment,
// never from a flag or file.
type Remote struct {
	// Server is the server's URL, its issuer: the admin API is under
	// Server/admin/v1/ and the token endpoint at Server/oauth/token.
	Server       string
	ClientID     string
	ClientSecret string
}

// remoteEnv are the environment variables LoadRemote reads.
var remoteEnv = []struct {
	name  string
	field func(*Remote) *string
}{
	{"GATEHOUSE_SERVER", func(r *Remote) *string { return &r.Server }},
	{"GATEHOUSE_CLIENT_ID", func(r *Remote) *string { return &r.ClientID }},
	{"GATEHOUSE_CLIENT_SECRET", func(r *Remote) *string { return &r.ClientSecret }},
}

// LoadRemote returns the remote-mode settings of the environment, as read
// by getenv: GATEHOUSE_SERVER, GATEHOUSE_CLIENT_ID, GATEHOUSE_CLIENT_SECRET.
// Apply the --server flag, then call [Remote.Validate].
func LoadRemote(getenv func(string) string) Remote {
	var r Remote
	for _, v := range remoteEnv {
		*v.field(&r) = getenv(v.name)
	}
	return r
}

// Validate lists every problem with the settings, each with its fix. The
// server must be an https URL (http only on a loopback address: the client
// secret and the tokens must not cross a network in clear text) with
// nothing but a path after the host.
func (r Remote) Validate() error {
	p := &problems{}
	u, err := url.Parse(r.Server)
	switch {
	case r.Server == "":
		p.add("remote mode needs the server's URL: set --server or GATEHOUSE_SERVER, e.g. https://auth.example.com")
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		p.add("--server %q is not an http(s) URL such as https://auth.example.com", r.Server)
	case u.User != nil:
		p.add("--server %q holds credentials: set GATEHOUSE_CLIENT_ID and GATEHOUSE_CLIENT_SECRET instead", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		p.add("--server %q: give the server's URL (its issuer) without a query or fragment", r.Server)
	case u.Scheme == "http" && !loopback(u.Hostname()):
		p.add("--server %q: use https; http is allowed only for a server on this host (localhost, 127.0.0.1, ::1), since the client secret and tokens would cross the network in clear text", r.Server)
	}
	const fix = "to the ID and secret of a client allowed the scope gatehouse:admin (create one where the server's store is: gatehouse clients create --name admin-cli --scopes gatehouse:admin)"
	switch {
	case r.ClientID == "" && r.ClientSecret == "":
		p.add("remote mode authenticates to the admin API: set GATEHOUSE_CLIENT_ID and GATEHOUSE_CLIENT_SECRET " + fix)
	case r.ClientID == "":
		p.add("GATEHOUSE_CLIENT_ID is not set: set it " + fix)
	case r.ClientSecret == "":
		p.add("GATEHOUSE_CLIENT_SECRET is not set: set it " + fix)
	}
	return p.err()
}

// loopback reports whether host names this machine.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
