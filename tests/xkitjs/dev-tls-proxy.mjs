// Development only: a TLS-terminating reverse proxy in front of a plain-HTTP `xkit-dash serve`,
// so that the harness (xkit.js speaks only https: and wss:) can run against a server that has no
// TLS of its own yet. It forwards every request verbatim, WebSocket upgrades included.
//
//   node dev-tls-proxy.mjs --cert /tmp/x/cert.pem --key /tmp/x/key.pem \
//     --upstream http://127.0.0.1:8080 [--listen 127.0.0.1:0] [--allow-origin http://127.0.0.1:18500]
//
// --allow-origin stands in for the CORS answers the server does not give yet, so that a page on
// that origin (run-chromium.mjs --page-port) gets past the preflights: it answers OPTIONS itself
// and adds Access-Control-Allow-Origin/-Credentials to the server's answers for that origin.
//
// Prints one JSON line, {"url": "https://127.0.0.1:PORT"}, once it listens; stops on SIGTERM/SIGINT.

import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values: options } = parseArgs({
  options: {
    cert: { type: 'string' },
    key: { type: 'string' },
    upstream: { type: 'string' },
    listen: { type: 'string', default: '127.0.0.1:0' },
    'allow-origin': { type: 'string' },
  },
});
if (!options.cert || !options.key || !options.upstream) {
  console.error('usage: dev-tls-proxy.mjs --cert FILE --key FILE --upstream http://HOST:PORT [--listen HOST:PORT]');
  process.exit(2);
}
const upstream = new URL(options.upstream);
const [listenHost, listenPort] = options.listen.split(/:(?=\d+$)/);

const allowedOrigin = options['allow-origin'];

const server = https.createServer({ cert: readFileSync(options.cert), key: readFileSync(options.key) }, (request, response) => {
  const cors = allowedOrigin != null && request.headers.origin === allowedOrigin;
  if (cors) {
    response.setHeader('Access-Control-Allow-Origin', allowedOrigin);
    response.setHeader('Access-Control-Allow-Credentials', 'true');
    response.setHeader('Vary', 'Origin');
    if (request.method === 'OPTIONS') {
      response.writeHead(204, {
        'Access-Control-Allow-Methods': 'GET, POST, PUT, DELETE',
        'Access-Control-Allow-Headers': request.headers['access-control-request-headers'] ?? '',
        'Access-Control-Max-Age': '600',
      });
      response.end();
      return;
    }
  }
  const forwarded = http.request(
    {
      host: upstream.hostname,
      port: upstream.port,
      method: request.method,
      path: request.url,
      headers: request.headers,
    },
    (answer) => {
      for (let i = 0; i < answer.rawHeaders.length; i += 2) {
        if (!(cors && /^access-control-|^vary$/i.test(answer.rawHeaders[i]))) {
          response.appendHeader(answer.rawHeaders[i], answer.rawHeaders[i + 1]);
        }
      }
      response.writeHead(answer.statusCode, answer.statusMessage);
      answer.pipe(response);
    },
  );
  forwarded.on('error', (error) => {
    if (!response.headersSent) response.writeHead(502, { 'content-type': 'text/plain' });
    response.end(`dev-tls-proxy: upstream failed: ${error.message}\n`);
  });
  request.pipe(forwarded);
});

// WebSocket (and any other) upgrades: replay the request head upstream, then splice the sockets.
server.on('upgrade', (request, client, head) => {
  const backend = net.connect(Number(upstream.port), upstream.hostname, () => {
    const lines = [`${request.method} ${request.url} HTTP/1.1`];
    for (let i = 0; i < request.rawHeaders.length; i += 2) {
      lines.push(`${request.rawHeaders[i]}: ${request.rawHeaders[i + 1]}`);
    }
    backend.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) backend.write(head);
    backend.pipe(client);
    client.pipe(backend);
  });
  const close = () => {
    backend.destroy();
    client.destroy();
  };
  backend.on('error', close);
  client.on('error', close);
});

server.listen(Number(listenPort), listenHost, () => {
  const { address, port } = server.address();
  console.log(JSON.stringify({ url: `https://${address}:${port}` }));
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
