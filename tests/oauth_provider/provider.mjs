// A real, independent OAuth2 authorization server for xkit-dash's integration tests.
//
// oidc-provider (panva, OpenID certified) on 127.0.0.1 with one confidential client, the
// authorization_code and refresh_token grants, always-rotating refresh tokens (reuse of a
// consumed one revokes the grant, as RFC 9700 asks), token revocation, and its development
// login/consent pages. It picks a free port itself and prints one JSON line on stdout:
//   {"issuer": "http://127.0.0.1:PORT", "authorize_url": ..., "token_url": ..., "revocation_url": ...}
// Test instrumentation only: GET /__stats answers {"token_requests": N} (POST /token count).
//
// Usage: node provider.mjs --client-id ID --client-secret SECRET --redirect-uri URI [--access-ttl SECONDS]
import http from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: options } = parseArgs({
  options: {
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    'access-ttl': { type: 'string', default: '3600' },
  },
});
for (const required of ['client-id', 'client-secret', 'redirect-uri']) {
  if (!options[required]) {
    console.error(`provider.mjs: --${required} is required`);
    process.exit(2);
  }
}

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: options['client-id'],
    client_secret: options['client-secret'],
    redirect_uris: options['redirect-uri'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  scopes: ['openid', 'offline_access'],
  ttl: { AccessToken: Number(options['access-ttl']) },
  features: { revocation: { enabled: true } },
  // Every refresh returns a new refresh token; presenting a consumed one revokes the grant.
  rotateRefreshToken: () => true,
  findAccount: async (_ctx, accountId) => ({ accountId, claims: async () => ({ sub: accountId }) }),
});
// Plain http on loopback: tell the provider it is not behind a TLS proxy.
provider.proxy = false;

let tokenRequests = 0;
provider.use(async (ctx, next) => {
  if (ctx.path === '/__stats') {
    ctx.body = { token_requests: tokenRequests };
    return;
  }
  if (ctx.method === 'POST' && ctx.path === '/token') {
    tokenRequests += 1;
  }
  await next();
});

server.on('request', provider.callback());
console.log(JSON.stringify({
  issuer,
  authorize_url: `${issuer}/auth`,
  token_url: `${issuer}/token`,
  revocation_url: `${issuer}/token/revocation`,
}));
