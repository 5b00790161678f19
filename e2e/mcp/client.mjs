// An MCP client, built with the official MCP TypeScript SDK, for
// e2e/mcp_test.go. It connects to an MCP server behind the Gatehouse
// gateway and lets the SDK run the MCP authorization flow: the first call
// gets 401 with resource_metadata; the SDK reads the Protected Resource
// Metadata (RFC 9728) and the authorization server's metadata (RFC 8414),
// registers a client (RFC 7591) when the metadata has a
// registration_endpoint, and sends the user to the authorization endpoint
// with PKCE and the resource indicator (RFC 8707). The user's browser part
// is left to whoever runs this: the authorization URL is printed, and the
// answer is expected at this client's loopback redirect URI (RFC 8252 §7.3),
// http://127.0.0.1:<port>/callback. Then the code is exchanged, the client
// reconnects and calls a tool.
//
//   node client.mjs SERVER_URL TOOL [ARGUMENTS_JSON]
//
// MCP_CLIENT_ID names a pre-registered public client (registered with the
// redirect URI http://127.0.0.1/callback, any port), used when the
// authorization server offers no registration. MCP_CLIENT_METADATA_URL is
// the https URL of the client's client ID metadata document
// (draft-ietf-oauth-client-id-metadata-document): the SDK uses it as the
// client ID, without registering, when the authorization server's metadata
// says client_id_metadata_document_supported. Whoever runs this client
// publishes the document there, with this client's redirect URI (printed
// in the authorization URL).
//
// On stdout it prints one JSON object a line, in order:
//   {"event":"http",…}        each HTTP exchange of the SDK (secrets left out;
//                             a JSON request body, a registration's, in "json")
//   {"event":"authorize","url":…}   open this URL in the browser
//   {"event":"client",…}      the client ID and how it was obtained
//   {"event":"token",…}       the access token's type, scope and claims
//   {"event":"result",…}      the tool's result
// and on failure {"event":"error","message":…} and exit status 1.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const emit = (event) => process.stdout.write(JSON.stringify(event) + '\n');

// secretParams are form parameters never printed.
const secretParams = new Set(['code', 'code_verifier', 'refresh_token', 'client_secret', 'client_assertion']);

// loggingFetch is fetch that prints each exchange: method, URL, status,
// WWW-Authenticate, and the parameters of a form body with the secret
// ones' values left out.
async function loggingFetch(input, init) {
  const res = await fetch(input, init);
  const event = {
    event: 'http',
    method: init?.method ?? 'GET',
    url: String(input instanceof Request ? input.url : input),
    status: res.status,
  };
  const challenge = res.headers.get('WWW-Authenticate');
  if (challenge) event.www_authenticate = challenge;
  if (init?.body instanceof URLSearchParams) {
    event.form = Object.fromEntries([...init.body].map(([k, v]) => [k, secretParams.has(k) ? '(secret)' : v]));
  } else if (typeof init?.body === 'string' && init.body.startsWith('{')) {
    // Client metadata (RFC 7591 §2): nothing secret in a registration request.
    event.json = JSON.parse(init.body);
  }
  emit(event);
  return res;
}

// callbackServer listens on a loopback port for the authorization
// response. code() resolves with the code of the first response whose state
// matches and whose iss is the authorization server's issuer, compared as
// strings; an iss may be missing only if the server's metadata does not say
// it sends one (RFC 9207 §2.4, as the MCP authorization specification
// requires before the code goes to any token endpoint).
async function callbackServer() {
  let settle;
  const result = new Promise((resolve, reject) => (settle = { resolve, reject }));
  let expect = null; // {state, issuer, issRequired}
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (u.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    const q = u.searchParams;
    const fail = (msg) => {
      res.writeHead(400, { 'Content-Type': 'text/plain' }).end(`Authorization failed: ${msg}\n`);
      settle.reject(new Error(msg));
    };
    if (!expect || q.get('state') !== expect.state) return fail('the response does not answer our request (state)');
    if (q.has('iss') ? q.get('iss') !== expect.issuer : expect.issRequired) {
      return fail(`the response comes from ${q.get('iss') ?? 'an unnamed issuer'}, not ${expect.issuer} (iss)`);
    }
    if (q.has('error')) return fail(`${q.get('error')}: ${q.get('error_description') ?? ''}`);
    if (!q.get('code')) return fail('no code');
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('Authorized. You can close this window.\n');
    settle.resolve(q.get('code'));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/callback`,
    expect: (state, metadata) =>
      (expect = { state, issuer: metadata?.issuer, issRequired: metadata?.authorization_response_iss_parameter_supported === true }),
    code: () => result,
    close: () => server.close(),
  };
}

// Provider is the SDK's OAuthClientProvider, keeping everything in memory.
class Provider {
  constructor(redirectUrl, preRegisteredID, metadataURL) {
    this.redirect = redirectUrl;
    this.preRegisteredID = preRegisteredID;
    this.metadataURL = metadataURL;
    this.client = undefined; // what saveClientInformation received
    this.discovery = undefined;
    this.saved = undefined;
    this.verifier = undefined;
    this.pendingState = undefined;
    this.how = undefined; // how the client was obtained
    this.onAuthorize = undefined;
  }

  get redirectUrl() {
    return this.redirect;
  }

  // clientMetadataUrl is the URL of the client's metadata document, which
  // the SDK sends as the client ID where the server supports it.
  get clientMetadataUrl() {
    return this.metadataURL;
  }

  get clientMetadata() {
    return {
      client_name: 'Gatehouse e2e MCP client',
      redirect_uris: [this.redirect],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  state() {
    this.pendingState = randomBytes(16).toString('base64url');
    return this.pendingState;
  }

  // clientInformation is what the SDK registers when it returns nothing: a
  // client registered before, else the pre-registered one when the
  // authorization server has no registration endpoint.
  clientInformation() {
    if (this.client) return this.client;
    const asMetadata = this.discovery?.authorizationServerMetadata;
    if (asMetadata && !asMetadata.registration_endpoint && this.preRegisteredID) {
      this.how = 'pre-registered';
      return { client_id: this.preRegisteredID };
    }
    return undefined;
  }

  saveClientInformation(info) {
    this.how ??= this.metadataURL && info.client_id === this.metadataURL ? 'client ID metadata document' : 'dynamic registration';
    this.client = info;
  }

  tokens() {
    return this.saved;
  }

  saveTokens(tokens) {
    this.saved = tokens;
  }

  redirectToAuthorization(url) {
    this.onAuthorize(url, this.pendingState, this.discovery?.authorizationServerMetadata);
    emit({ event: 'authorize', url: url.href });
  }

  saveCodeVerifier(v) {
    this.verifier = v;
  }

  codeVerifier() {
    if (!this.verifier) throw new Error('no code verifier saved');
    return this.verifier;
  }

  saveDiscoveryState(state) {
    this.discovery = state;
  }

  discoveryState() {
    return this.discovery;
  }

  invalidateCredentials(scope) {
    if (scope === 'all' || scope === 'client') this.client = undefined;
    if (scope === 'all' || scope === 'tokens') this.saved = undefined;
    if (scope === 'all' || scope === 'verifier') this.verifier = undefined;
    if (scope === 'all' || scope === 'discovery') this.discovery = undefined;
  }
}

// claimsOf returns the payload of a JWT, or null.
function claimsOf(jwt) {
  try {
    return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
  } catch {
    return null;
  }
}

async function main() {
  const [serverArg, tool, argsJSON = '{}'] = process.argv.slice(2);
  if (!serverArg || !tool) {
    throw new Error('usage: node client.mjs SERVER_URL TOOL [ARGUMENTS_JSON]');
  }
  const serverUrl = new URL(serverArg);
  const callback = await callbackServer();
  try {
    const provider = new Provider(
      callback.url,
      process.env.MCP_CLIENT_ID || undefined,
      process.env.MCP_CLIENT_METADATA_URL || undefined,
    );
    provider.onAuthorize = (_url, state, metadata) => callback.expect(state, metadata);
    const client = new Client({ name: 'gatehouse-e2e-mcp-client', version: '1.0.0' });
    const transport = () => new StreamableHTTPClientTransport(serverUrl, { authProvider: provider, fetch: loggingFetch });

    let t = transport();
    try {
      await client.connect(t);
    } catch (err) {
      if (!(err instanceof UnauthorizedError)) throw err;
      await t.finishAuth(await callback.code());
      t = transport();
      await client.connect(t);
    }
    emit({ event: 'client', client_id: provider.client?.client_id, how: provider.how });
    const tok = provider.tokens();
    emit({
      event: 'token',
      token_type: tok?.token_type,
      scope: tok?.scope,
      refresh_token: Boolean(tok?.refresh_token),
      claims: tok ? claimsOf(tok.access_token) : null,
    });

    const result = await client.callTool({ name: tool, arguments: JSON.parse(argsJSON) });
    emit({ event: 'result', tool, result });
    await t.terminateSession();
    await client.close();
  } finally {
    callback.close();
  }
}

// exit ends the process once stdout has taken everything written to it
// (writes to a pipe may be asynchronous), whatever sockets are still open.
const exit = (code) => process.stdout.write('', () => process.exit(code));

main().then(
  () => exit(0),
  (err) => {
    emit({ event: 'error', message: String(err?.stack ?? err) });
    exit(1);
  },
);
