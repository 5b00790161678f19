package sqlstore

import (
	"database/sql"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Column lists, the arguments in their order, and the scanning of a row of
// them, entity by entity.

// ClientColumns are the columns of clients, in the order of ClientArgs and
// ScanClient.
const ClientColumns = `id, name, description, grant_types, scopes, accounts, redirect_uris,
	audience, token_ttl_ns, disabled, created_at, updated_at, website, token_endpoint_auth_method,
	refresh_with_client_credentials, pkce_optional, jwks, jwks_uri, resources, dpop_required,
	self_registered, registration_token_digest, used_at, quota_per_minute, quota_per_hour,
	reuse_min_remaining`

// ClientArgs are the values of ClientColumns for cl.
func ClientArgs(c Codec, cl store.Client) []any {
	return []any{cl.ID, cl.Name, cl.Description, c.List(cl.GrantTypes), c.List(cl.Scopes),
		c.List(cl.Accounts), c.List(cl.RedirectURIs), cl.Audience, int64(cl.TokenTTL), cl.Disabled,
		c.Time(cl.CreatedAt), c.Time(cl.UpdatedAt), cl.Website, cl.TokenEndpointAuthMethod,
		cl.RefreshWithClientCredentials, cl.PKCEOptional, cl.JWKS, cl.JWKSURI, c.List(cl.Resources), cl.DPoPRequired,
		cl.SelfRegistered, NonNilBytes(cl.RegistrationTokenDigest), c.Time(cl.UsedAt),
		cl.QuotaPerMinute, cl.QuotaPerHour, cl.ReuseMinRemaining}
}

// ScanClient scans ClientColumns, without the secrets.
func ScanClient(c Codec, row Scanner) (store.Client, error) { return scanClient(c, row) }

// scanClient scans ClientColumns, followed by the extra destinations.
func scanClient(c Codec, row Scanner, extra ...any) (store.Client, error) {
	var (
		cl  store.Client
		ttl int64
	)
	dest := []any{&cl.ID, &cl.Name, &cl.Description, c.ListDest(&cl.GrantTypes), c.ListDest(&cl.Scopes),
		c.ListDest(&cl.Accounts), c.ListDest(&cl.RedirectURIs), &cl.Audience, &ttl, c.BoolDest(&cl.Disabled),
		c.TimeDest(&cl.CreatedAt), c.TimeDest(&cl.UpdatedAt), &cl.Website, &cl.TokenEndpointAuthMethod,
		c.BoolDest(&cl.RefreshWithClientCredentials), c.BoolDest(&cl.PKCEOptional), &cl.JWKS, &cl.JWKSURI,
		c.ListDest(&cl.Resources), c.BoolDest(&cl.DPoPRequired),
		&cl.SelfRegistered, &cl.RegistrationTokenDigest, c.TimeDest(&cl.UsedAt),
		&cl.QuotaPerMinute, &cl.QuotaPerHour, &cl.ReuseMinRemaining}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return store.Client{}, err
	}
	cl.GrantTypes = nilIfEmpty(cl.GrantTypes)
	cl.Scopes = nilIfEmpty(cl.Scopes)
	cl.Accounts = nilIfEmpty(cl.Accounts)
	cl.RedirectURIs = nilIfEmpty(cl.RedirectURIs)
	cl.Resources = nilIfEmpty(cl.Resources)
	cl.RegistrationTokenDigest = nilIfEmpty(cl.RegistrationTokenDigest)
	cl.TokenTTL = time.Duration(ttl)
	return cl, nil
}

// SecretColumns are the columns of client_secrets but client_id and seq,
// in the order of ScanSecret.
const SecretColumns = "id, digest, hint, created_at, expires_at, last_used_at"

// SecretArgs are the values of client_id, seq and SecretColumns.
func SecretArgs(c Codec, clientID string, seq int, sec store.Secret) []any {
	return []any{clientID, seq, sec.ID, NonNilBytes(sec.Digest), sec.Hint,
		c.Time(sec.CreatedAt), c.Time(sec.ExpiresAt), c.Time(sec.LastUsedAt)}
}

// ScanSecret scans SecretColumns, preceded by the extra destinations.
func ScanSecret(c Codec, row Scanner, extra ...any) (store.Secret, error) {
	var sec store.Secret
	if err := row.Scan(append(extra, secretDest(c, &sec)...)...); err != nil {
		return store.Secret{}, err
	}
	sec.Digest = nilIfEmpty(sec.Digest)
	return sec, nil
}

func secretDest(c Codec, sec *store.Secret) []any {
	return []any{&sec.ID, &sec.Digest, &sec.Hint,
		c.TimeDest(&sec.CreatedAt), c.TimeDest(&sec.ExpiresAt), c.TimeDest(&sec.LastUsedAt)}
}

// clientWithSecretsQuery reads a client and its secrets in one statement,
// so in one snapshot without a transaction: a row per secret, in their
// order, each with the client's columns (ClientColumns) and then the
// secret's (SecretColumns); a client with no secret is one row whose
// secret ID is empty.
var clientWithSecretsQuery = "SELECT " + qualify("clients", ClientColumns) +
	", COALESCE(s.id, ''), s.digest, COALESCE(s.hint, ''), s.created_at, s.expires_at, s.last_used_at" +
	" FROM clients LEFT JOIN client_secrets s ON s.client_id = clients.id WHERE clients.id = $1" +
	" ORDER BY s.created_at NULLS FIRST, s.seq"

// scanClientWithSecrets scans the rows of clientWithSecretsQuery; no row
// is store.ErrNotFound.
func scanClientWithSecrets(c Codec, rows Rows) (store.Client, error) {
	var (
		cl    store.Client
		found bool
	)
	for rows.Next() {
		var sec store.Secret
		row, err := scanClient(c, rows, secretDest(c, &sec)...)
		if err != nil {
			return store.Client{}, err
		}
		if !found {
			cl, found = row, true
		}
		if sec.ID != "" {
			sec.Digest = nilIfEmpty(sec.Digest)
			cl.Secrets = append(cl.Secrets, sec)
		}
	}
	if err := rows.Err(); err != nil {
		return store.Client{}, err
	}
	if !found {
		return store.Client{}, store.ErrNotFound
	}
	return cl, nil
}

// qualify prefixes each column of the list cols with table.
func qualify(table, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = table + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// AddSecrets scans rows of client_id followed by SecretColumns and appends
// each secret to its client in clients.
func AddSecrets(c Codec, rows Rows, clients []store.Client) error {
	index := make(map[string]int, len(clients))
	for i, cl := range clients {
		index[cl.ID] = i
	}
	for rows.Next() {
		var clientID string
		sec, err := ScanSecret(c, rows, &clientID)
		if err != nil {
			return err
		}
		if i, ok := index[clientID]; ok {
			clients[i].Secrets = append(clients[i].Secrets, sec)
		}
	}
	return rows.Err()
}

// InitialAccessTokenColumns are the columns of initial_access_tokens, in
// the order of InitialAccessTokenArgs and ScanInitialAccessToken.
const InitialAccessTokenColumns = "id, digest, description, created_at, expires_at, max_uses, uses"

// InitialAccessTokenArgs are the values of InitialAccessTokenColumns for t.
func InitialAccessTokenArgs(c Codec, t store.InitialAccessToken) []any {
	return []any{t.ID, NonNilBytes(t.Digest), t.Description, c.Time(t.CreatedAt), c.At(t.ExpiresAt), t.MaxUses, t.Uses}
}

// ScanInitialAccessToken scans InitialAccessTokenColumns.
func ScanInitialAccessToken(c Codec, row Scanner) (store.InitialAccessToken, error) {
	var t store.InitialAccessToken
	if err := row.Scan(&t.ID, &t.Digest, &t.Description, c.TimeDest(&t.CreatedAt), c.TimeDest(&t.ExpiresAt), &t.MaxUses, &t.Uses); err != nil {
		return store.InitialAccessToken{}, err
	}
	t.Digest = nilIfEmpty(t.Digest)
	return t, nil
}

// KeyColumns are the columns of signing_keys, in the order of KeyArgs and
// ScanKey.
const KeyColumns = "id, algorithm, encrypted, created_at, active_at"

// KeyArgs are the values of KeyColumns for k.
func KeyArgs(c Codec, k store.SigningKey) []any {
	return []any{k.ID, k.Algorithm, NonNilBytes(k.Encrypted), c.Time(k.CreatedAt), c.Time(k.ActiveAt)}
}

// ScanKey scans KeyColumns.
func ScanKey(c Codec, row Scanner) (store.SigningKey, error) {
	var k store.SigningKey
	if err := row.Scan(&k.ID, &k.Algorithm, &k.Encrypted, c.TimeDest(&k.CreatedAt), c.TimeDest(&k.ActiveAt)); err != nil {
		return store.SigningKey{}, err
	}
	k.Encrypted = nilIfEmpty(k.Encrypted)
	return k, nil
}

// AuditColumns are the columns of audit_events, in the order of
// ScanAuditEvent; AuditArgs leaves out the id.
const AuditColumns = "id, time, actor, action, target, detail"

// AuditArgs are the values of time, actor, action, target and detail.
func AuditArgs(c Codec, ev store.AuditEvent) []any {
	return []any{c.Time(ev.Time), ev.Actor, ev.Action, ev.Target, ev.Detail}
}

// ScanAuditEvent scans AuditColumns.
func ScanAuditEvent(c Codec, row Scanner) (store.AuditEvent, error) {
	var ev store.AuditEvent
	if err := row.Scan(&ev.ID, c.TimeDest(&ev.Time), &ev.Actor, &ev.Action, &ev.Target, &ev.Detail); err != nil {
		return store.AuditEvent{}, err
	}
	return ev, nil
}

// UserColumns are the columns of users but username_key, in the order of
// ScanUser.
const UserColumns = `id, username, display_name, password_hash, role, disabled, created_at, updated_at`

// UserArgs are the values of UserColumns for u, then its username_key.
func UserArgs(c Codec, u store.User) []any {
	return []any{u.ID, u.Username, u.DisplayName, u.PasswordHash, u.Role, u.Disabled,
		c.Time(u.CreatedAt), c.Time(u.UpdatedAt), UsernameKey(u.Username)}
}

// ScanUser scans UserColumns.
func ScanUser(c Codec, row Scanner) (store.User, error) {
	var u store.User
	if err := row.Scan(&u.ID, &u.Username, &u.DisplayName, &u.PasswordHash, &u.Role, c.BoolDest(&u.Disabled),
		c.TimeDest(&u.CreatedAt), c.TimeDest(&u.UpdatedAt)); err != nil {
		return store.User{}, err
	}
	return u, nil
}

// SessionColumns are the columns of sessions, in the order of SessionArgs
// and ScanSession.
const SessionColumns = "id, user_id, created_at, last_seen_at, expires_at"

// SessionArgs are the values of SessionColumns for s.
func SessionArgs(c Codec, s store.Session) []any {
	return []any{s.ID, s.UserID, c.Time(s.CreatedAt), c.Time(s.LastSeenAt), c.Time(s.ExpiresAt)}
}

// ScanSession scans SessionColumns.
func ScanSession(c Codec, row Scanner) (store.Session, error) {
	var s store.Session
	if err := row.Scan(&s.ID, &s.UserID, c.TimeDest(&s.CreatedAt), c.TimeDest(&s.LastSeenAt), c.TimeDest(&s.ExpiresAt)); err != nil {
		return store.Session{}, err
	}
	return s, nil
}

// ConsentColumns are the columns of consents, in the order of ConsentArgs
// and ScanConsent.
const ConsentColumns = "user_id, client_id, scopes, granted_at"

// ConsentArgs are the values of ConsentColumns for cs.
func ConsentArgs(c Codec, cs store.Consent) []any {
	return []any{cs.UserID, cs.ClientID, c.List(cs.Scopes), c.Time(cs.GrantedAt)}
}

// ScanConsent scans ConsentColumns.
func ScanConsent(c Codec, row Scanner) (store.Consent, error) {
	var cs store.Consent
	if err := row.Scan(&cs.UserID, &cs.ClientID, c.ListDest(&cs.Scopes), c.TimeDest(&cs.GrantedAt)); err != nil {
		return store.Consent{}, err
	}
	cs.Scopes = nilIfEmpty(cs.Scopes)
	return cs, nil
}

// AuthCodeColumns are the columns of auth_codes, in the order of
// AuthCodeArgs and ScanAuthCode.
const AuthCodeColumns = `id, client_id, user_id, redirect_uri, scopes, code_challenge, nonce,
	created_at, expires_at, used_at, access_token_jti, access_token_expires, refresh_family_id, resources`

// AuthCodeArgs are the values of AuthCodeColumns for a.
func AuthCodeArgs(c Codec, a store.AuthCode) []any {
	return []any{a.ID, a.ClientID, a.UserID, a.RedirectURI, c.List(a.Scopes), a.CodeChallenge, a.Nonce,
		c.Time(a.CreatedAt), c.Time(a.ExpiresAt), c.Time(a.UsedAt), a.AccessTokenJTI, c.Time(a.AccessTokenExpires),
		a.RefreshFamilyID, c.List(a.Resources)}
}

// ScanAuthCode scans AuthCodeColumns.
func ScanAuthCode(c Codec, row Scanner) (store.AuthCode, error) {
	var a store.AuthCode
	if err := row.Scan(&a.ID, &a.ClientID, &a.UserID, &a.RedirectURI, c.ListDest(&a.Scopes), &a.CodeChallenge, &a.Nonce,
		c.TimeDest(&a.CreatedAt), c.TimeDest(&a.ExpiresAt), c.TimeDest(&a.UsedAt), &a.AccessTokenJTI,
		c.TimeDest(&a.AccessTokenExpires), &a.RefreshFamilyID, c.ListDest(&a.Resources)); err != nil {
		return store.AuthCode{}, err
	}
	a.Scopes = nilIfEmpty(a.Scopes)
	a.Resources = nilIfEmpty(a.Resources)
	return a, nil
}

// FamilyColumns are the columns of refresh_families, in the order of
// FamilyArgs.
const FamilyColumns = "id, client_id, user_id, expires_at, revoked_at, resources, dpop_jkt"

// FamilyArgs are the values of FamilyColumns for the family of t; an empty
// UserID is NULL.
func FamilyArgs(c Codec, t store.RefreshToken) []any {
	return []any{t.FamilyID, t.ClientID, sql.NullString{String: t.UserID, Valid: t.UserID != ""},
		c.Time(t.FamilyExpiresAt), c.Time(t.RevokedAt), c.List(t.Resources), t.JKT}
}

// RefreshTokenColumns are the columns of refresh_tokens, in the order of
// RefreshTokenArgs.
const RefreshTokenColumns = "id, family_id, scopes, account_id, created_at, expires_at, used_at"

// RefreshTokenArgs are the values of RefreshTokenColumns for t.
func RefreshTokenArgs(c Codec, t store.RefreshToken) []any {
	return []any{t.ID, t.FamilyID, c.List(t.Scopes), t.AccountID, c.Time(t.CreatedAt), c.Time(t.ExpiresAt), c.Time(t.UsedAt)}
}

// RefreshTokenSelect selects a token (t) joined with its family (f), in
// the order of ScanRefreshToken; the caller adds the WHERE clause.
const RefreshTokenSelect = `SELECT t.id, t.family_id, f.client_id, f.user_id, t.scopes, t.account_id,
			t.created_at, t.expires_at, f.expires_at, t.used_at, f.revoked_at, f.resources, f.dpop_jkt
		FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id`

// ScanRefreshToken scans a row of RefreshTokenSelect.
func ScanRefreshToken(c Codec, row Scanner) (store.RefreshToken, error) {
	var (
		t      store.RefreshToken
		userID sql.NullString
	)
	if err := row.Scan(&t.ID, &t.FamilyID, &t.ClientID, &userID, c.ListDest(&t.Scopes), &t.AccountID,
		c.TimeDest(&t.CreatedAt), c.TimeDest(&t.ExpiresAt), c.TimeDest(&t.FamilyExpiresAt), c.TimeDest(&t.UsedAt),
		c.TimeDest(&t.RevokedAt), c.ListDest(&t.Resources), &t.JKT); err != nil {
		return store.RefreshToken{}, err
	}
	t.UserID = userID.String
	t.Scopes = nilIfEmpty(t.Scopes)
	t.Resources = nilIfEmpty(t.Resources)
	return t, nil
}

// SetupTokenColumns are the columns of setup_tokens, in the order of
// SetupTokenArgs and ScanSetupToken.
const SetupTokenColumns = "id, created_at, expires_at"

// SetupTokenArgs are the values of SetupTokenColumns for t.
func SetupTokenArgs(c Codec, t store.SetupToken) []any {
	return []any{t.ID, c.Time(t.CreatedAt), c.Time(t.ExpiresAt)}
}

// ScanSetupToken scans SetupTokenColumns.
func ScanSetupToken(c Codec, row Scanner) (store.SetupToken, error) {
	var t store.SetupToken
	if err := row.Scan(&t.ID, c.TimeDest(&t.CreatedAt), c.TimeDest(&t.ExpiresAt)); err != nil {
		return store.SetupToken{}, err
	}
	return t, nil
}

// PasswordTokenColumns are the columns of password_tokens, in the order of
// PasswordTokenArgs and ScanPasswordToken.
const PasswordTokenColumns = "id, user_id, created_at, expires_at"

// PasswordTokenArgs are the values of PasswordTokenColumns for t.
func PasswordTokenArgs(c Codec, t store.PasswordToken) []any {
	return []any{t.ID, t.UserID, c.Time(t.CreatedAt), c.Time(t.ExpiresAt)}
}

// ScanPasswordToken scans PasswordTokenColumns.
func ScanPasswordToken(c Codec, row Scanner) (store.PasswordToken, error) {
	var t store.PasswordToken
	if err := row.Scan(&t.ID, &t.UserID, c.TimeDest(&t.CreatedAt), c.TimeDest(&t.ExpiresAt)); err != nil {
		return store.PasswordToken{}, err
	}
	return t, nil
}

// RevocationColumns are the columns of revoked_tokens, in the order of
// ScanRevocation.
const RevocationColumns = "jti, expires_at, revoked_at"

// ScanRevocation scans RevocationColumns.
func ScanRevocation(c Codec, row Scanner) (store.Revocation, error) {
	var r store.Revocation
	if err := row.Scan(&r.JTI, c.TimeDest(&r.ExpiresAt), c.TimeDest(&r.RevokedAt)); err != nil {
		return store.Revocation{}, err
	}
	return r, nil
}

// ClientRevocationColumns are the columns of client_revocations, in the
// order of ScanClientRevocation.
const ClientRevocationColumns = "client_id, issued_before, expires_at, revoked_at"

// ScanClientRevocation scans ClientRevocationColumns.
func ScanClientRevocation(c Codec, row Scanner) (store.Revocation, error) {
	var r store.Revocation
	if err := row.Scan(&r.ClientID, c.TimeDest(&r.IssuedBefore), c.TimeDest(&r.ExpiresAt), c.TimeDest(&r.RevokedAt)); err != nil {
		return store.Revocation{}, err
	}
	return r, nil
}

// ChangeColumns are the columns of changes, in the order of ScanChange.
const ChangeColumns = "kind, target_id, at, id"

// ScanChange scans ChangeColumns.
func ScanChange(c Codec, row Scanner) (store.Change, error) {
	var ch store.Change
	if err := row.Scan(&ch.Kind, &ch.ID, c.TimeDest(&ch.At), &ch.Seq); err != nil {
		return store.Change{}, err
	}
	return ch, nil
}

// Values is "VALUES ($1, $2, …)" with a parameter for each of the
// comma-separated columns, so an INSERT of a column list cannot fall out
// of step with it.
func Values(columns string) string {
	var b strings.Builder
	b.WriteString("VALUES (")
	for i := range strings.Count(columns, ",") + 1 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(i+1))
	}
	b.WriteString(")")
	return b.String()
}
