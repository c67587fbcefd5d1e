// Development only, never used by the tests: the smallest server that does what CONTRACT.md says,
// in memory, for one context. It exists to check the harness and the contract against the real
// library before xkit-dash has the features: if run-node.mjs / run-chromium.mjs pass against it,
// the contract is enough for xkit.js; the real implementation belongs in src/server/.
//
//   XKITJS_TOKEN=<any string: the one valid context token> node dev-contract-server.mjs \
//     --cert cert.pem --key key.pem --allow-origin http://127.0.0.1:18500 [--listen 127.0.0.1:0]
//
// Prints {"url": "https://HOST:PORT"} once it listens. Its "provider" mimics the sandbox's
// consent page markup (field `subject`, buttons `decision=approve|deny`).

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { parseArgs } from 'node:util';

import { WebSocketServer } from 'ws';

const { values: options } = parseArgs({
  options: {
    cert: { type: 'string' },
    key: { type: 'string' },
    listen: { type: 'string', default: '127.0.0.1:0' },
    'allow-origin': { type: 'string', multiple: true, default: [] },
  },
});
const contextToken = process.env.XKITJS_TOKEN;
if (!options.cert || !options.key || !contextToken) {
  console.error('usage: XKITJS_TOKEN=... dev-contract-server.mjs --cert FILE --key FILE [--allow-origin ORIGIN]... [--listen HOST:PORT]');
  process.exit(2);
}
const allowedOrigins = new Set(options['allow-origin']);
const [listenHost, listenPort] = options.listen.split(/:(?=\d+$)/);
let publicOrigin = '';

const platform = {
  name: 'Contract Check',
  slug: 'contract',
  website: 'https://example.invalid',
  login_redirect_url: 'https://example.invalid/login',
  remove_branding: false,
};
const connectors = ['slack', 'github', 'notion'].map((slug) => ({
  name: slug,
  slug,
  short_description: `${slug} connector`,
  mark_url: `https://example.invalid/${slug}.svg`,
  supports_multiple_connections: false,
}));
const connections = new Map(); // id -> connection
const sessions = new Set(); // cookie values
const oneTimeTokens = new Set();
const channels = new Map(); // authorization id -> Set of {socket, joinRef, topic}
let nextAuthorizationId = 1;

for (const slug of ['slack', 'github']) {
  const id = randomUUID();
  connections.set(id, {
    id,
    enabled: true,
    connector: connectors.find((each) => each.slug === slug),
    authorization: {
      id: String(nextAuthorizationId++),
      status: 'active',
      authorizer: { prototype: { slug, name: slug } },
      access_token: `${slug}-access-token`,
    },
  });
}

function cookies(request) {
  return Object.fromEntries(
    (request.headers.cookie ?? '').split(/;\s*/).filter(Boolean).map((pair) => pair.split(/=(.*)/s).slice(0, 2)),
  );
}
const hasSession = (request) => sessions.has(cookies(request).xkit_session);
const bearerOk = (request) => request.headers.authorization === `Bearer ${contextToken}`;

function send(response, status, body, headers = {}) {
  if (body == null) {
    response.writeHead(status, headers).end();
    return;
  }
  response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}
function page(response, html, headers = {}) {
  response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...headers }).end(`<!doctype html>${html}`);
}
const readyScript = (openerOrigin) =>
  `<script>window.opener && window.opener.postMessage('authWindow:ready', ${JSON.stringify(openerOrigin)});
window.addEventListener('message', function (e) { if (e.data && e.data.location) location.replace(e.data.location); });</script>`;

function pushStatus(authorization) {
  for (const member of channels.get(authorization.id) ?? []) {
    member.socket.send(JSON.stringify([member.joinRef, null, member.topic, 'status_update', { status: authorization.status }]));
  }
}

function findBySlug(slug) {
  return [...connections.values()].find((each) => each.connector.slug === slug);
}
function findAuthorization(id) {
  return [...connections.values()].map((each) => each.authorization).find((each) => each?.id === id);
}

async function body(request) {
  let text = '';
  for await (const chunk of request) text += chunk;
  return text === '' ? {} : JSON.parse(text);
}

async function api(request, response, path, query) {
  const method = request.method;
  if (path === '/platform' && method === 'GET') return send(response, 200, { platform });
  if (path === '/platform/connectors' && method === 'GET') return send(response, 200, { connectors });
  let match = path.match(/^\/platform\/connectors\/([^/]+)$/);
  if (match && method === 'GET') {
    const connector = connectors.find((each) => each.slug === match[1]);
    return connector ? send(response, 200, { connector }) : send(response, 404, { error: 'no such connector' });
  }
  if (path === '/sessions/token' && method === 'POST') {
    return hasSession(request) ? send(response, 200, { access_token: contextToken }) : send(response, 401, { error: 'no session' });
  }
  if (path === '/sessions' && method === 'DELETE') {
    sessions.delete(cookies(request).xkit_session);
    return send(response, 204, null, { 'set-cookie': 'xkit_session=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=None' });
  }
  if (!bearerOk(request)) return send(response, 401, { error: 'unauthorized' });
  if (path === '/sessions' && method === 'POST') {
    const session = randomUUID();
    sessions.add(session);
    return send(response, 200, {}, { 'set-cookie': `xkit_session=${session}; Path=/; Secure; HttpOnly; SameSite=None` });
  }
  if (path === '/session' && method === 'GET') return send(response, 200, {});
  if (path === '/sessions/ott' && method === 'POST') {
    const ott = randomUUID();
    oneTimeTokens.add(ott);
    return send(response, 200, { ott });
  }
  if (path === '/connectors' && method === 'GET') return send(response, 200, { connectors });
  match = path.match(/^\/connectors\/([^/]+)$/);
  if (match && method === 'GET') {
    const connector = connectors.find((each) => each.slug === match[1]);
    return connector ? send(response, 200, { connector }) : send(response, 404, { error: 'no such connector' });
  }
  if (path === '/connections' && method === 'GET') {
    const slug = query.get('slug');
    return send(response, 200, { connections: [...connections.values()].filter((each) => slug == null || each.connector.slug === slug) });
  }
  match = path.match(/^\/(connections|connection)\/([^/]+)$/);
  if (match && (method === 'GET' || method === 'DELETE')) {
    const connection = match[1] === 'connections' ? findBySlug(match[2]) : connections.get(match[2]);
    if (connection == null) return send(response, 404, { error: 'no such connection' });
    if (method === 'DELETE') connections.delete(connection.id);
    return send(response, 200, { connection });
  }
  match = path.match(/^\/connections\/([^/]+)$/);
  if (match && method === 'POST') {
    const connector = connectors.find((each) => each.slug === match[1]);
    if (connector == null) return send(response, 404, { error: 'no such connector' });
    const { id = randomUUID() } = await body(request);
    const authorizationId = String(nextAuthorizationId++);
    const connection = {
      id,
      enabled: true,
      connector,
      authorization: {
        id: authorizationId,
        status: 'awaiting_callback',
        authorizer: { prototype: { slug: connector.slug, name: connector.name } },
        authorize_url: `${publicOrigin}/sandbox/oauth/authorize?state=${authorizationId}`,
      },
    };
    connections.set(id, connection);
    return send(response, 200, { connection });
  }
  match = path.match(/^\/authorizations\/([^/]+)\/([^/]+)$/);
  if (match && method === 'GET') {
    const authorization = findAuthorization(match[2]);
    return authorization ? send(response, 200, { authorization }) : send(response, 404, { error: 'no such authorization' });
  }
  return send(response, 404, { error: 'no such route' });
}

async function handle(request, response) {
  const url = new URL(request.url, publicOrigin);
  const origin = request.headers.origin;
  if (url.pathname.startsWith('/api/platform_user/')) {
    if (origin != null && allowedOrigins.has(origin)) {
      response.setHeader('access-control-allow-origin', origin);
      response.setHeader('access-control-allow-credentials', 'true');
      response.setHeader('vary', 'Origin');
      if (request.method === 'OPTIONS') {
        return send(response, 204, null, {
          'access-control-allow-methods': 'GET, POST, PUT, DELETE',
          'access-control-allow-headers': 'authorization, content-type, xkit-js-version',
        });
      }
    }
    return api(request, response, url.pathname.slice('/api/platform_user'.length), url.searchParams);
  }
  const openerOrigin = url.searchParams.get('opener_origin');
  if (url.pathname === '/authorizations/loading' && allowedOrigins.has(openerOrigin)) {
    return page(response, `<p>Loading...</p>${readyScript(openerOrigin)}`);
  }
  if (/^\/authorizations\/[^/]+\/loading$/.test(url.pathname) && allowedOrigins.has(openerOrigin)) {
    const ott = url.searchParams.get('token');
    if (!oneTimeTokens.delete(ott)) return page(response, '<p>This link has expired.</p>');
    const session = randomUUID();
    sessions.add(session);
    return page(response, `<p>Loading...</p>${readyScript(openerOrigin)}`, {
      'set-cookie': `xkit_session=${session}; Path=/; Secure; HttpOnly; SameSite=Lax`,
    });
  }
  if (url.pathname === '/sandbox/oauth/authorize' && request.method === 'GET' && hasSession(request)) {
    const state = url.searchParams.get('state');
    return page(
      response,
      `<h1>Sandbox sign-in</h1><form method="post" action="authorize"><input type="hidden" name="state" value="${state}">
<input type="text" name="subject" value="demo-user"><button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button></form>`,
    );
  }
  if (url.pathname === '/sandbox/oauth/authorize' && request.method === 'POST' && hasSession(request)) {
    let text = '';
    for await (const chunk of request) text += chunk;
    const form = new URLSearchParams(text);
    const authorization = findAuthorization(form.get('state'));
    if (authorization == null) return page(response, '<p>Unknown authorization.</p>');
    if (form.get('decision') === 'approve') {
      authorization.status = 'active';
      authorization.access_token = `${authorization.authorizer.prototype.slug}-token-for-${form.get('subject')}`;
      authorization.display_label = form.get('subject');
    } else {
      authorization.status = 'error';
      authorization.error_code = 'access_denied';
      authorization.error_message = 'Cancelled authorization';
    }
    delete authorization.authorize_url;
    pushStatus(authorization);
    return page(response, '<p>Done.</p><script>window.close()</script>');
  }
  if (/^\/connectors\/[^/]+$/.test(url.pathname) && hasSession(request)) return page(response, '<h1>Catalog</h1>');
  response.writeHead(hasSession(request) ? 404 : 401, { 'content-type': 'text/plain' }).end('not here\n');
}

const server = https.createServer({ cert: readFileSync(options.cert), key: readFileSync(options.key) }, (request, response) => {
  handle(request, response).catch((error) => {
    console.error(error);
    if (!response.headersSent) send(response, 500, { error: 'internal' });
  });
});

// The Phoenix socket: vsn 2.0.0 JSON arrays, topic authorization_status:<id>.
const sockets = new WebSocketServer({ noServer: true });
server.on('upgrade', (request, socket, head) => {
  const url = new URL(request.url, publicOrigin);
  if (url.pathname !== '/socket/websocket' || url.searchParams.get('token') !== contextToken || !allowedOrigins.has(request.headers.origin)) {
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  sockets.handleUpgrade(request, socket, head, (client) => {
    client.on('message', (data) => {
      const [joinRef, ref, topic, event] = JSON.parse(String(data));
      const reply = (response) => client.send(JSON.stringify([joinRef, ref, topic, 'phx_reply', { status: 'ok', response }]));
      if (topic === 'phoenix' && event === 'heartbeat') return reply({});
      const authorizationId = topic.replace(/^authorization_status:/, '');
      const authorization = findAuthorization(authorizationId);
      if (event === 'phx_join') {
        if (authorization == null) {
          client.send(JSON.stringify([joinRef, ref, topic, 'phx_reply', { status: 'error', response: { reason: 'unknown authorization' } }]));
          return undefined;
        }
        if (!channels.has(authorizationId)) channels.set(authorizationId, new Set());
        channels.get(authorizationId).add({ socket: client, joinRef, topic });
        return reply({ status: authorization.status });
      }
      if (event === 'phx_leave') {
        for (const member of channels.get(authorizationId) ?? []) {
          if (member.socket === client) channels.get(authorizationId).delete(member);
        }
        return reply({});
      }
      return undefined;
    });
  });
});

server.listen(Number(listenPort), listenHost, () => {
  const { address, port } = server.address();
  publicOrigin = `https://${address}:${port}`;
  console.log(JSON.stringify({ url: publicOrigin }));
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
