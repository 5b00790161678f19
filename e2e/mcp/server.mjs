// A small MCP server, built with the official MCP TypeScript SDK, for
// e2e/mcp_test.go: one tool, `add`, over the Streamable HTTP transport at
// /mcp, with sessions. It has no authorization of its own: it sits behind
// the Gatehouse gateway, which checks every request's token and passes the
// caller's identity on in X-Gatehouse-* headers.
//
//   node server.mjs [port]      (or MCP_SERVER_PORT; default 0: any free port)
//
// On stdout it prints one JSON object a line: {"event":"listening","url":…}
// once it listens, then {"event":"request",…} for each HTTP request with the
// identity the gateway passed on.
import { randomUUID } from 'node:crypto';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod/v4';

const emit = (event) => process.stdout.write(JSON.stringify(event) + '\n');

// newServer returns an MCP server with the `add` tool; one per session.
function newServer() {
  const server = new McpServer({ name: 'gatehouse-e2e-mcp-server', version: '1.0.0' });
  server.registerTool(
    'add',
    {
      title: 'Add',
      description: 'Adds two numbers',
      inputSchema: { a: z.number(), b: z.number() },
      outputSchema: { sum: z.number() },
    },
    async ({ a, b }) => ({
      content: [{ type: 'text', text: String(a + b) }],
      structuredContent: { sum: a + b },
    }),
  );
  return server;
}

// transports are the sessions' transports by Mcp-Session-Id.
const transports = new Map();

// The SDK's Express app: JSON bodies, and the Host header checked against
// loopback names (DNS rebinding protection), which the gateway's requests
// pass: it sends the upstream's own host.
const app = createMcpExpressApp();

app.use((req, res, next) => {
  emit({
    event: 'request',
    method: req.method,
    path: req.path,
    subject: req.get('X-Gatehouse-Subject') ?? null,
    client_id: req.get('X-Gatehouse-Client-Id') ?? null,
    scope: req.get('X-Gatehouse-Scope') ?? null,
    session: req.get('Mcp-Session-Id') ?? null,
  });
  next();
});

const jsonRPCError = (res, status, message) =>
  res.status(status).json({ jsonrpc: '2.0', error: { code: -32000, message }, id: null });

app.post('/mcp', async (req, res) => {
  const id = req.get('Mcp-Session-Id');
  let transport = id && transports.get(id);
  if (!transport) {
    if (id || !isInitializeRequest(req.body)) {
      jsonRPCError(res, id ? 404 : 400, id ? 'Session not found' : 'Bad Request: no session; send initialize first');
      return;
    }
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sid) => transports.set(sid, transport),
    });
    transport.onclose = () => {
      if (transport.sessionId) transports.delete(transport.sessionId);
    };
    await newServer().connect(transport);
  }
  await transport.handleRequest(req, res, req.body);
});

// GET opens the session's stream of server messages; DELETE ends the
// session.
const sessionRequest = async (req, res) => {
  const transport = transports.get(req.get('Mcp-Session-Id') ?? '');
  if (!transport) {
    jsonRPCError(res, 404, 'Session not found');
    return;
  }
  await transport.handleRequest(req, res);
};
app.get('/mcp', sessionRequest);
app.delete('/mcp', sessionRequest);

const port = Number(process.argv[2] ?? process.env.MCP_SERVER_PORT ?? 0);
const listener = app.listen(port, '127.0.0.1', (err) => {
  if (err) {
    console.error(`server.mjs: listen on 127.0.0.1:${port}: ${err.message}`);
    process.exit(1);
  }
  emit({ event: 'listening', url: `http://127.0.0.1:${listener.address().port}/mcp` });
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const t of transports.values()) t.close();
    listener.close();
    process.exit(0);
  });
}
