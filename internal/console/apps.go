package console

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/duration"
	"github.com/gatehouse/gatehouse/internal/store"
)

// grantChoices are the grant types the app form offers.
var grantChoices = []string{store.GrantClientCredentials, store.GrantAuthorizationCode, store.GrantRefreshToken}

type graceChoice struct {
	Value, Label string
	D            time.Duration
}

// graceChoices are the grace periods offered when a secret is regenerated.
var graceChoices = []graceChoice{
	{"0", "none: old secrets stop working now", 0},
	{"1h", "1 hour", time.Hour},
	{"24h", "24 hours", 24 * time.Hour},
	{"7d", "7 days", 7 * 24 * time.Hour},
}

// appRow is one line of the apps list.
type appRow struct {
	ID, Name           string
	GrantTypes, Scopes []string
	Disabled           bool
	LastUsed           time.Time
	SelfRegistered     string // the policy it registered itself under; "" if an operator created it
}

type appsData struct {
	Notice, Q string
	Apps      []appRow
	Total     int
}

func (c *Console) appsPage(w http.ResponseWriter, r *http.Request, _ store.User) error {
	list, err := c.clients.List(r.Context())
	if err != nil {
		return fmt.Errorf("list clients: %w", err)
	}
	d := appsData{Notice: notice(r), Q: strings.TrimSpace(r.URL.Query().Get("q")), Total: len(list)}
	q := strings.ToLower(d.Q)
	for _, cl := range list {
		if q != "" && !strings.Contains(strings.ToLower(cl.Name), q) && !strings.Contains(strings.ToLower(cl.ID), q) {
			continue
		}
		d.Apps = append(d.Apps, appRow{ID: cl.ID, Name: cl.Name, GrantTypes: cl.GrantTypes, Scopes: cl.Scopes,
			Disabled: cl.Disabled, LastUsed: cl.LastUsed(), SelfRegistered: cl.SelfRegistered})
	}
	slices.SortStableFunc(d.Apps, func(a, b appRow) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), cmp.Compare(a.ID, b.ID))
	})
	c.Render(w, r, http.StatusOK, "apps", d)
	return nil
}

// appForm is the input of the new-app and edit forms, as typed.
// The supplied secret is not part of it: it is never written back into a
// page.
type appForm struct {
	Name, ClientID, Website, RedirectURIs, Accounts, TokenTTL, AuthMethod string
	Resources                                                             string // one per line
	GrantTypes, Scopes                                                    []string
	RefreshWithCC, PKCEOptional                                           bool
	// JWKS (public keys as pasted: a JWKS or PEM) and JWKSURI, for a
	// private_key_jwt app (keys.go).
	JWKS, JWKSURI string
	DPoPRequired  bool
	// The issuance quotas and reuse window as typed; "": the server's
	// default.
	QuotaPerMinute, QuotaPerHour, ReuseMinRemaining string
}

// limits are the form's quotas and reuse window as numbers.
type limits struct{ perMinute, perHour, reuse int }

// scopeChoice is one scope checkbox.
type scopeChoice struct {
	Name, Label string
	Checked     bool
}

type appFormData struct {
	New  bool
	Form appForm
	// Resources: resources besides the default are configured, so the
	// form has a field for the app's.
	Resources bool
	Problems  []string
	Grants    []string
	Scopes    []scopeChoice
}

// formData builds the form page data, offering every catalog scope and
// any other scope already in the form (so saving never drops one).
func (c *Console) formData(isNew bool, f appForm, problems []string) appFormData {
	d := appFormData{New: isNew, Form: f, Problems: problems, Grants: grantChoices, Resources: len(c.resources) > 0}
	for _, n := range c.catalog.Names() {
		s, _ := c.catalog.Get(n)
		d.Scopes = append(d.Scopes, scopeChoice{Name: n, Label: s.Label, Checked: slices.Contains(f.Scopes, n)})
	}
	for _, r := range c.resources {
		for _, n := range r.Catalog.Names() {
			if c.catalog.Has(n) || slices.ContainsFunc(d.Scopes, func(sc scopeChoice) bool { return sc.Name == n }) {
				continue
			}
			d.Scopes = append(d.Scopes, scopeChoice{Name: n, Label: c.scopeLabel(n), Checked: slices.Contains(f.Scopes, n)})
		}
	}
	if c.system != nil {
		for _, n := range c.system.Names() {
			d.Scopes = append(d.Scopes, scopeChoice{Name: n, Label: c.scopeLabel(n), Checked: slices.Contains(f.Scopes, n)})
		}
	}
	for _, n := range f.Scopes {
		if !c.catalog.Has(n) && (c.system == nil || !c.system.Has(n)) && !slices.ContainsFunc(d.Scopes, func(sc scopeChoice) bool { return sc.Name == n }) {
			d.Scopes = append(d.Scopes, scopeChoice{Name: n, Label: c.scopeLabel(n), Checked: true})
		}
	}
	return d
}

// scopeLabel is what the pages show for a scope: its catalog label, or
// the admin API's label for a system scope.
func (c *Console) scopeLabel(name string) string {
	if s, ok := c.catalog.Get(name); ok {
		return s.Label
	}
	if c.system != nil {
		if s, ok := c.system.Get(name); ok {
			return s.Label + " (Gatehouse admin API)"
		}
	}
	for _, r := range c.resources {
		if s, ok := r.Catalog.Get(name); ok {
			return s.Label + " (" + cmp.Or(r.Name, r.ID) + ")"
		}
	}
	return "(not in the scope catalog)"
}

// readAppForm reads the app form from a parsed POST; problems are the
// input errors the service cannot see (an unreadable lifetime).
func readAppForm(r *http.Request) (f appForm, ttl time.Duration, lim limits, problems []string) {
	p := r.PostForm
	f = appForm{
		Name: strings.TrimSpace(p.Get("name")), ClientID: strings.TrimSpace(p.Get("client_id")),
		Website: strings.TrimSpace(p.Get("website")), RedirectURIs: p.Get("redirect_uris"), Resources: p.Get("resources"),
		Accounts: p.Get("accounts"), TokenTTL: strings.TrimSpace(p.Get("token_ttl")),
		AuthMethod: p.Get("token_endpoint_auth_method"),
		GrantTypes: p["grant_types"], Scopes: p["scopes"],
		RefreshWithCC: p.Get("refresh_with_client_credentials") == "on", PKCEOptional: p.Get("pkce_optional") == "on",
		DPoPRequired:   p.Get("dpop_required") == "on",
		QuotaPerMinute: strings.TrimSpace(p.Get("quota_per_minute")), QuotaPerHour: strings.TrimSpace(p.Get("quota_per_hour")),
		ReuseMinRemaining: strings.TrimSpace(p.Get("reuse_min_remaining")),
	}
	// The refresh_token grant alone does nothing for a client_credentials
	// app: say so rather than save a setting that has no effect.
	if slices.Contains(f.GrantTypes, store.GrantClientCredentials) && slices.Contains(f.GrantTypes, store.GrantRefreshToken) &&
		!slices.Contains(f.GrantTypes, store.GrantAuthorizationCode) && !f.RefreshWithCC {
		problems = append(problems, `refresh_token on a client_credentials app issues refresh tokens only with "Refresh tokens with client credentials too" ticked: tick it, or untick refresh_token`)
	}
	for _, n := range []struct {
		name, text string
		dst        *int
	}{
		{"token quota per minute", f.QuotaPerMinute, &lim.perMinute},
		{"token quota per hour", f.QuotaPerHour, &lim.perHour},
		{"token reuse", f.ReuseMinRemaining, &lim.reuse},
	} {
		if n.text == "" {
			continue
		}
		v, err := strconv.Atoi(n.text)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %q is not a whole number; leave it empty for the server's default", n.name, n.text))
		}
		*n.dst = v
	}
	if f.TokenTTL != "" {
		d, err := duration.Parse(f.TokenTTL)
		if err != nil {
			problems = append(problems, "token lifetime: "+err.Error())
		}
		ttl = d
	}
	return f, ttl, lim, problems
}

// formResources is the edit form's resources, or nil (unchanged) when
// none are configured: the form then has no such field.
func (c *Console) formResources(f appForm) *[]string {
	if len(c.resources) == 0 {
		return nil
	}
	rs := nonNil(strings.Fields(f.Resources))
	return &rs
}

func splitAccounts(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

// nonNil makes an empty selection explicit (nil means "default" to the
// clients service).
func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func (c *Console) appNewPage(w http.ResponseWriter, r *http.Request, _ store.User) error {
	f := appForm{GrantTypes: []string{store.GrantClientCredentials}, AuthMethod: store.AuthMethodSecretBasic,
		Scopes: c.clients.DefaultScopes()}
	c.Render(w, r, http.StatusOK, "app_new", c.formData(true, f, nil))
	return nil
}

func (c *Console) appCreate(w http.ResponseWriter, r *http.Request, u store.User) error {
	f, ttl, lim, problems := readAppForm(r)
	supplied := r.PostForm.Get("client_secret")
	method := store.AuthMethodSecretBasic
	var jwks, jwksURI string
	switch f.AuthMethod {
	case store.AuthMethodNone:
		method = store.AuthMethodNone
	case store.AuthMethodPrivateKeyJWT: // keys instead of a secret (keys.go)
		method = store.AuthMethodPrivateKeyJWT
		var kp []string
		f.JWKS, jwks, jwksURI, kp = readKeys(r.PostForm)
		f.JWKSURI = jwksURI
		problems = append(problems, kp...)
	default:
		f.AuthMethod = method
	}
	if len(problems) > 0 {
		c.Render(w, r, http.StatusUnprocessableEntity, "app_new", c.formData(true, f, secretAgain(problems, supplied)))
		return nil
	}
	cl, plain, err := c.clients.Create(r.Context(), actor(u), clients.Spec{
		ID: f.ClientID, Name: f.Name, Website: f.Website, GrantTypes: nonNil(f.GrantTypes), Scopes: nonNil(f.Scopes),
		Accounts: splitAccounts(f.Accounts), RedirectURIs: strings.Fields(f.RedirectURIs), TokenTTL: ttl,
		TokenEndpointAuthMethod: method, Secret: supplied, JWKS: jwks, JWKSURI: jwksURI,
		RefreshWithClientCredentials: f.RefreshWithCC, PKCEOptional: f.PKCEOptional, DPoPRequired: f.DPoPRequired,
		Resources:      strings.Fields(f.Resources),
		QuotaPerMinute: lim.perMinute, QuotaPerHour: lim.perHour, ReuseMinRemaining: lim.reuse,
	})
	var ve *clients.ValidationError
	switch {
	case errors.As(err, &ve):
		c.Render(w, r, http.StatusUnprocessableEntity, "app_new", c.formData(true, f, secretAgain(ve.Problems, supplied)))
		return nil
	case errors.Is(err, clients.ErrConflict):
		c.Render(w, r, http.StatusUnprocessableEntity, "app_new", c.formData(true, f, secretAgain([]string{"client ID " + f.ClientID + " is already taken"}, supplied)))
		return nil
	case err != nil:
		return fmt.Errorf("create client: %w", err)
	}
	c.log.Info("console created client", "client_id", cl.ID, "actor", actor(u))
	if method == store.AuthMethodPrivateKeyJWT { // no secret to show: its page lists its keys
		return redirect(w, r, appPath(cl.ID)+"?done=created-keys")
	}
	tok, err := c.issueTicket(r, ticket{clientID: cl.ID, clientName: cl.Name, secret: plain})
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	return redirect(w, r, appPath(cl.ID, "created")+"?ticket="+tok)
}

// secretAgain adds a note to a form's problems when the form is shown
// again without the secret the user typed (it is never written back).
func secretAgain(problems []string, supplied string) []string {
	if supplied != "" {
		problems = append(problems, "The client secret you entered is not filled in again: enter it again, or leave it empty to generate one.")
	}
	return problems
}

type createdData struct {
	ClientID, Name, Secret string
	Public, Rotated, Gone  bool
	Secrets                []secretRow // after a rotation: the older secrets with their expiry
	TokenURL               string      // the token endpoint
	// Curl gets a token with client credentials, with the secret filled
	// in while it is shown ("" if the app cannot use client_credentials).
	Curl   string
	Scopes []scopeChoice // the app's scopes with their labels
	// Docs links to the API reference with the client ID filled in; ""
	// when the server serves none.
	Docs string
}

// appCreated shows a new secret once: the ticket is spent by this view.
func (c *Console) appCreated(w http.ResponseWriter, r *http.Request, _ store.User) error {
	id := r.PathValue("id")
	cl, err := c.clients.Get(r.Context(), id)
	if err != nil {
		return clientErr(err)
	}
	d := createdData{ClientID: cl.ID, Name: cl.Name, Public: cl.TokenEndpointAuthMethod == store.AuthMethodNone}
	keyed := cl.TokenEndpointAuthMethod == store.AuthMethodPrivateKeyJWT // no secret either
	t, ok := c.takeTicket(r, r.URL.Query().Get("ticket"), id)
	if !ok {
		d.Gone = !d.Public && !keyed
	} else {
		d.Secret, d.Rotated = t.secret, t.rotated
	}
	if d.Rotated {
		d.Secrets = c.secretRows(cl)
	}
	d.TokenURL = c.issuer + "/oauth/token"
	if slices.Contains(cl.GrantTypes, store.GrantClientCredentials) && !d.Public && !keyed {
		sec := d.Secret
		if sec == "" {
			sec = "CLIENT_SECRET"
		}
		d.Curl = "curl -u " + shellQuote(cl.ID+":"+sec) + " -d grant_type=client_credentials " + d.TokenURL
	}
	d.Scopes = c.scopeLabels(cl.Scopes)
	if c.apiReference {
		d.Docs = "/docs?" + url.Values{"client_id": {cl.ID}}.Encode()
	}
	c.Render(w, r, http.StatusOK, "app_created", d)
	return nil
}

// scopeLabels pairs scope names with their catalog labels.
func (c *Console) scopeLabels(names []string) []scopeChoice {
	var out []scopeChoice
	for _, n := range names {
		out = append(out, scopeChoice{Name: n, Label: c.scopeLabel(n)})
	}
	return out
}

// shellQuote quotes s for a POSIX shell: in double quotes, as platforms
// document the command, when nothing in it is special there; otherwise in
// single quotes.
func shellQuote(s string) string {
	if !strings.ContainsAny(s, "\"$`\\!'") {
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

type secretRow struct {
	ID, Hint             string
	CreatedAt, ExpiresAt time.Time
	LastUsedAt           time.Time
	Expired              bool
}

func (c *Console) secretRows(cl store.Client) []secretRow {
	now := c.now()
	var out []secretRow
	for _, s := range cl.Secrets {
		out = append(out, secretRow{ID: s.ID, Hint: s.Hint, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt,
			LastUsedAt: s.LastUsedAt, Expired: !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt)})
	}
	return out
}

type appDetailData struct {
	Edit       appFormData
	Notice     string
	Client     store.Client
	AuthMethod string
	Secrets    []secretRow
	Graces     []graceChoice
	Events     []store.AuditEvent
	// The keys form (keys.go): what was typed, its problems, and the kids
	// of the registered JWKS.
	Keys         appForm
	KeysProblems []string
	KeyIDs       []string
	// Quota is the app's issuance quotas in force and their use; nil
	// without Options.Quota or when the store could not say.
	Quota *QuotaUsage
	// Usage is the app's usage (usage.go); nil when usage is off.
	Usage *admin.ClientUsage
}

// formOf is the edit form filled from a stored client.
func formOf(cl store.Client) appForm {
	f := appForm{
		Name: cl.Name, ClientID: cl.ID, Website: cl.Website, RedirectURIs: strings.Join(cl.RedirectURIs, "\n"),
		Resources: strings.Join(cl.Resources, "\n"),
		Accounts:  strings.Join(cl.Accounts, ", "), AuthMethod: cl.TokenEndpointAuthMethod,
		GrantTypes: cl.GrantTypes, Scopes: cl.Scopes,
		RefreshWithCC: cl.RefreshWithClientCredentials, PKCEOptional: cl.PKCEOptional, DPoPRequired: cl.DPoPRequired,
	}
	if cl.TokenTTL > 0 {
		f.TokenTTL = duration.Format(cl.TokenTTL)
	}
	for _, n := range []struct {
		v   int
		dst *string
	}{{cl.QuotaPerMinute, &f.QuotaPerMinute}, {cl.QuotaPerHour, &f.QuotaPerHour}, {cl.ReuseMinRemaining, &f.ReuseMinRemaining}} {
		if n.v != 0 {
			*n.dst = strconv.Itoa(n.v)
		}
	}
	return f
}

func (c *Console) appPage(w http.ResponseWriter, r *http.Request, _ store.User) error {
	cl, err := c.clients.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return clientErr(err)
	}
	return c.renderApp(w, r, http.StatusOK, cl, formOf(cl), nil)
}

func (c *Console) renderApp(w http.ResponseWriter, r *http.Request, status int, cl store.Client, f appForm, problems []string) error {
	d, err := c.appDetail(r, cl, f, problems)
	if err != nil {
		return err
	}
	c.Render(w, r, status, "app", d)
	return nil
}

// renderAppKeys shows the app page again with the keys form's input and
// problems.
func (c *Console) renderAppKeys(w http.ResponseWriter, r *http.Request, cl store.Client, kf appForm, problems []string) error {
	d, err := c.appDetail(r, cl, formOf(cl), nil)
	if err != nil {
		return err
	}
	d.Keys, d.KeysProblems = kf, problems
	c.Render(w, r, http.StatusUnprocessableEntity, "app", d)
	return nil
}

func (c *Console) appDetail(r *http.Request, cl store.Client, f appForm, problems []string) (appDetailData, error) {
	evs, err := c.st.ListAudit(r.Context(), store.AuditFilter{Target: cl.ID, Limit: 20})
	if err != nil {
		return appDetailData{}, fmt.Errorf("list audit events: %w", err)
	}
	u, err := c.appUsage(r, cl)
	if err != nil {
		return appDetailData{}, err
	}
	d := appDetailData{
		Edit: c.formData(false, f, problems), Notice: notice(r), Client: cl,
		AuthMethod: cl.AuthMethod(),
		Secrets:    c.secretRows(cl), Graces: graceChoices, Events: evs,
		KeyIDs: keyIDs(cl), Usage: u,
	}
	if c.quota != nil {
		if q, err := c.quota(r.Context(), cl); err == nil {
			d.Quota = &q
		} else {
			c.log.Warn("reading the app's quota use failed", "client_id", cl.ID, "err", err)
		}
	}
	return d, nil
}

// clientErr is the error for a failed client lookup or change.
func clientErr(err error) error {
	switch {
	case errors.Is(err, clients.ErrNotFound):
		return notFound("There is no such app.")
	case errors.Is(err, clients.ErrNoSuchSecret):
		return notFound("The app has no such secret.")
	}
	return fmt.Errorf("client: %w", err)
}

func (c *Console) appUpdate(w http.ResponseWriter, r *http.Request, u store.User) error {
	id := r.PathValue("id")
	cl, err := c.clients.Get(r.Context(), id)
	if err != nil {
		return clientErr(err)
	}
	f, ttl, lim, problems := readAppForm(r)
	f.ClientID, f.AuthMethod = cl.ID, cl.TokenEndpointAuthMethod
	if len(problems) > 0 {
		return c.renderApp(w, r, http.StatusUnprocessableEntity, cl, f, problems)
	}
	redirects, accounts, grants, scopes := strings.Fields(f.RedirectURIs), splitAccounts(f.Accounts), nonNil(f.GrantTypes), nonNil(f.Scopes)
	_, err = c.clients.Update(r.Context(), actor(u), id, clients.Patch{
		Name: &f.Name, Website: &f.Website, RedirectURIs: &redirects, Accounts: &accounts,
		GrantTypes: &grants, Scopes: &scopes, TokenTTL: &ttl,
		RefreshWithClientCredentials: &f.RefreshWithCC, PKCEOptional: &f.PKCEOptional, DPoPRequired: &f.DPoPRequired,
		Resources:      c.formResources(f),
		QuotaPerMinute: &lim.perMinute, QuotaPerHour: &lim.perHour, ReuseMinRemaining: &lim.reuse,
	})
	var ve *clients.ValidationError
	if errors.As(err, &ve) {
		return c.renderApp(w, r, http.StatusUnprocessableEntity, cl, f, ve.Problems)
	}
	if err != nil {
		return clientErr(err)
	}
	return redirect(w, r, appPath(id)+"?done=updated")
}

func (c *Console) appRegenerate(w http.ResponseWriter, r *http.Request, u store.User) error {
	id := r.PathValue("id")
	grace := r.PostForm.Get("grace")
	i := slices.IndexFunc(graceChoices, func(g graceChoice) bool { return g.Value == grace })
	if i < 0 {
		return badRequest("Choose one of the offered grace periods.")
	}
	supplied := r.PostForm.Get("client_secret")
	cl, plain, err := c.clients.RotateSecret(r.Context(), actor(u), id, graceChoices[i].D, supplied)
	var ve *clients.ValidationError
	if errors.As(err, &ve) {
		cur, gerr := c.clients.Get(r.Context(), id)
		if gerr != nil {
			return clientErr(gerr)
		}
		return c.renderApp(w, r, http.StatusUnprocessableEntity, cur, formOf(cur), secretAgain(ve.Problems, supplied))
	}
	if err != nil {
		return clientErr(err)
	}
	tok, err := c.issueTicket(r, ticket{clientID: cl.ID, clientName: cl.Name, secret: plain, rotated: true})
	if err != nil {
		return fmt.Errorf("rotate secret: %w", err)
	}
	return redirect(w, r, appPath(cl.ID, "created")+"?ticket="+tok)
}

func (c *Console) appRevokeSecret(w http.ResponseWriter, r *http.Request, u store.User) error {
	id := r.PathValue("id")
	if _, err := c.clients.RevokeSecret(r.Context(), actor(u), id, r.PathValue("secret")); err != nil {
		return clientErr(err)
	}
	return redirect(w, r, appPath(id)+"?done=secret-revoked")
}

func (c *Console) appSetDisabled(disable bool) userHandler {
	return func(w http.ResponseWriter, r *http.Request, u store.User) error {
		id := r.PathValue("id")
		_, err := c.clients.Update(r.Context(), actor(u), id, clients.Patch{Disabled: &disable})
		var ve *clients.ValidationError
		if errors.As(err, &ve) {
			return &pageError{status: http.StatusUnprocessableEntity, title: "Cannot change the app", msg: ve.Error()}
		}
		if err != nil {
			return clientErr(err)
		}
		done := "enabled"
		if disable {
			done = "disabled"
		}
		return redirect(w, r, appPath(id)+"?done="+done)
	}
}

func (c *Console) appDeletePage(w http.ResponseWriter, r *http.Request, _ store.User) error {
	cl, err := c.clients.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return clientErr(err)
	}
	c.Render(w, r, http.StatusOK, "app_delete", cl)
	return nil
}

func (c *Console) appDelete(w http.ResponseWriter, r *http.Request, u store.User) error {
	if err := c.clients.Delete(r.Context(), actor(u), r.PathValue("id")); err != nil {
		return clientErr(err)
	}
	return redirect(w, r, "/console/apps?done=deleted")
}
