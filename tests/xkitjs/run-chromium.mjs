// Runs the real xkit.js 3.14.1 in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core, which never downloads a browser) from a page on its own loopback origin, and
// prints one JSON object on stdout: per step, what the library returned or threw, the requests
// of the page and of the popup, where they were sent, and the Phoenix socket's frames.
//
//   XKITJS_TOKEN=<context token> node run-chromium.mjs --domain 127.0.0.1:PORT \
//     --cert /path/server-cert.pem --scenario connect
//
// The page is served by this script on http://<page-host>:<page-port> (a secure context, being
// loopback), or over HTTPS with --page-cert/--page-key. The server must speak TLS (xkit.js speaks
// only https:/wss:); Chromium trusts exactly the server's certificate (and the page's), by SPKI
// hash (--ignore-certificate-errors-spki-list, honoured with a --user-data-dir, fresh every run).
// Which matters for cookies: Chromium refuses third-party cookies, so the session cookie that
// login sets reaches the server only from a same-site page (https://127.0.0.1:A against
// https://127.0.0.1:B); from http://127.0.0.1:A, or from localhost, the page is cross-site.
//
// Scenarios:
//   snippet   seed 003's snippet; the redirect to connectorUrl is a real navigation, reported
//   methods   every public method of xkit-api.md section 3.2 (disconnects two connections)
//   connect   login, then connect(slug) from a click: the popup is driven through the sandbox
//             provider's consent page (sign in as --subject, Approve) until it closes
//             (--connect-call addConnection: addConnection(slug, --connection-id) instead;
//             --connect-call reconnect: reconnect() of the context's connection to slug)
//   catalog   login, then the page opens connectorUrl(slug)
// When the page was sent away, `landing` says where it ended up: {url, status, text} (the
// landed page's visible text, first 4000 characters).
// A page origin the server does not list is refused by its CORS answers: run any scenario with
// --page-host/--page-port naming such an origin and read the errors.
//
// Inputs: --domain, --cert (PEM; default $NODE_EXTRA_CA_CERTS), --scenario, --slug (default
// slack), --subject (default demo-user), --page-host (default 127.0.0.1), --page-port (default 0:
// any), --page-cert/--page-key (PEM: serve the page over HTTPS), --connect-call (connect,
// addConnection or reconnect), --connection-id, --step-timeout-ms (default
// 5000; 30000 for connect); XKITJS_TOKEN from the environment.
// Token values in reported URLs (the socket's ?token=, the popup's one-time ?token=) are
// replaced by "REDACTED". Exit status: 0 when the scenario ran, 2 bad usage, 1 harness failure.

import { X509Certificate, createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

import { browserBundle } from './bundle.mjs';

const require = createRequire(import.meta.url);
const CHROMIUM = '/usr/bin/chromium';
const SCENARIOS = ['snippet', 'methods', 'connect', 'catalog'];
const SCENARIO_DEADLINE_MS = 120_000;
const SANDBOX_CONSENT = /\/sandbox\/oauth\/authorize/;

function usage(message) {
  console.error(`run-chromium.mjs: ${message}\nscenarios: ${SCENARIOS.join(', ')}`);
  process.exit(2);
}

const { values: options } = parseArgs({
  options: {
    domain: { type: 'string', default: process.env.XKITJS_DOMAIN },
    cert: { type: 'string', default: process.env.NODE_EXTRA_CA_CERTS },
    scenario: { type: 'string', default: process.env.XKITJS_SCENARIO },
    slug: { type: 'string', default: 'slack' },
    subject: { type: 'string', default: 'demo-user' },
    'page-host': { type: 'string', default: '127.0.0.1' },
    'page-port': { type: 'string', default: '0' },
    'page-cert': { type: 'string' },
    'page-key': { type: 'string' },
    'unconnected-slug': { type: 'string', default: 'no-such-connector' },
    'connect-call': { type: 'string', default: 'connect' },
    'connection-id': { type: 'string' },
    'step-timeout-ms': { type: 'string' },
  },
});
if (!options.domain) usage('--domain HOST:PORT is required');
if (!options.cert) usage('--cert FILE (the server certificate, PEM) is required');
if (Boolean(options['page-cert']) !== Boolean(options['page-key'])) usage('--page-cert and --page-key go together');
if (!SCENARIOS.includes(options.scenario)) usage(`unknown scenario ${JSON.stringify(options.scenario)}`);
const token = process.env.XKITJS_TOKEN;
if (!token) usage('XKITJS_TOKEN (a context token) is required');
const stepTimeoutMs = Number(options['step-timeout-ms'] ?? (options.scenario === 'connect' ? 30_000 : 5_000));

/** base64(SHA-256(SubjectPublicKeyInfo)): what --ignore-certificate-errors-spki-list takes. */
function spkiHash(pemFile) {
  const certificate = new X509Certificate(readFileSync(pemFile));
  const spki = certificate.publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/** A URL with the values of its `token` query parameters hidden (they are secrets). */
function redacted(url) {
  try {
    const parsed = new URL(url);
    if (!parsed.searchParams.has('token')) return url;
    parsed.searchParams.set('token', 'REDACTED');
    return parsed.href;
  } catch {
    return url;
  }
}

/** The test page's own origin: the page, the library's browser bundle and the scenarios. */
async function startPageServer() {
  const bundle = browserBundle();
  const harness = readFileSync(new URL('./page-scenarios.js', import.meta.url), 'utf8');
  const page = `<!doctype html>
<html><head><meta charset="utf-8"><title>xkit.js harness</title>
<script src="/xkit.js"></script><script src="/harness.js"></script></head>
<body><h1>xkit.js harness</h1></body></html>`;
  const files = {
    '/': ['text/html; charset=utf-8', page],
    '/xkit.js': ['text/javascript; charset=utf-8', bundle],
    '/harness.js': ['text/javascript; charset=utf-8', harness],
  };
  const serve = (request, response) => {
    const file = files[new URL(request.url, 'http://page').pathname];
    if (file == null) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    response.writeHead(200, { 'content-type': file[0], 'cache-control': 'no-store' }).end(file[1]);
  };
  const tls = options['page-cert'] != null;
  const server = tls
    ? https.createServer({ cert: readFileSync(options['page-cert']), key: readFileSync(options['page-key']) }, serve)
    : http.createServer(serve);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(options['page-port']), options['page-host'], resolve);
  });
  const host = options['page-host'].includes(':') ? `[${options['page-host']}]` : options['page-host'];
  return { server, origin: `${tls ? 'https' : 'http'}://${host}:${server.address().port}` };
}

const steps = [];
const unattributed = { requests: [], navigations: [], console: [], events: [] };
const popups = [];
const socketFrames = [];
let landing = null;
/** The status of the last document the page's main frame received (after redirects). */
let documentStatus = null;
let current = null;
const sink = () => current ?? unattributed;

/** The page a request comes from; none for a popup's first navigation (its frame is not yet made). */
function pageOf(request) {
  try {
    return request.frame().page();
  } catch {
    return null;
  }
}

/** Every request of the page and its popup (CORS preflights are not shown by the browser). */
function observeRequests(context, pageForSteps) {
  const records = new WeakMap();
  context.on('request', (request) => {
    const record = { method: request.method(), url: redacted(request.url()) };
    if (pageOf(request) !== pageForSteps) record.popup = true;
    record.bearer = /^Bearer /.test(request.headers().authorization ?? '');
    sink().requests.push(record);
    records.set(request, record);
  });
  context.on('response', (response) => {
    const record = records.get(response.request());
    if (record != null) record.status = response.status();
  });
  context.on('requestfailed', (request) => {
    const record = records.get(request);
    if (record != null) record.failed = request.failure()?.errorText ?? 'failed';
  });
}

function observeSocket(page) {
  page.on('websocket', (socket) => {
    socketFrames.push({ opened: redacted(socket.url()) });
    socket.on('framesent', ({ payload }) => socketFrames.push({ sent: String(payload) }));
    socket.on('framereceived', ({ payload }) => socketFrames.push({ received: String(payload) }));
    socket.on('socketerror', (error) => socketFrames.push({ error: String(error) }));
    socket.on('close', () => socketFrames.push({ closed: true }));
  });
}

/** Drives the popup: waits for the sandbox consent page, signs in, approves, awaits the close. */
async function drivePopup(popup) {
  const record = { navigations: popup.url() === 'about:blank' ? [] : [redacted(popup.url())], actions: [] };
  popups.push(record);
  popup.on('framenavigated', (frame) => {
    if (frame === popup.mainFrame()) record.navigations.push(redacted(frame.url()));
  });
  const closed = popup.waitForEvent('close', { timeout: stepTimeoutMs }).then(
    () => 'closed',
    () => 'still open',
  );
  const consent = popup.waitForURL(SANDBOX_CONSENT, { timeout: stepTimeoutMs }).then(
    () => 'consent page',
    () => 'no consent page',
  );
  const first = await Promise.race([consent, closed]);
  // waitForURL also gives up when the popup closes: then it closed.
  const reached = first !== 'consent page' && popup.isClosed() ? 'closed' : first;
  record.actions.push(reached === 'closed' ? 'closed before the consent page' : `reached: ${reached}`);
  if (reached === 'consent page') {
    await popup.fill('input[name=subject]', options.subject);
    record.actions.push(`signed in as ${options.subject}`);
    await popup.click('button[name=decision][value=approve]');
    record.actions.push('approved');
    record.actions.push(`after approval: ${await closed}`);
  } else if (reached !== 'closed') {
    record.actions.push(`popup at ${redacted(popup.url())}`);
  }
}

/** Where the page ended up after it was sent away (redirects followed), and what it shows. */
async function landedPage(page, pageUrl) {
  await page.waitForURL((url) => url.href !== pageUrl, { waitUntil: 'load', timeout: stepTimeoutMs }).catch(() => {});
  const text = await page
    .evaluate(() => (document.body ? document.body.innerText : ''))
    .catch((error) => `unreadable: ${error.message}`);
  return { url: redacted(page.url()), status: documentStatus, text: text.slice(0, 4000) };
}

async function run(pageOrigin) {
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'xkitjs-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--ignore-certificate-errors-spki-list=${[options.cert, options['page-cert']]
        .filter(Boolean)
        .map(spkiHash)
        .join(',')}`,
    ],
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    observeRequests(context, page);
    observeSocket(page);
    page.on('response', (response) => {
      if (response.request().isNavigationRequest() && response.frame() === page.mainFrame()) {
        documentStatus = response.status();
      }
    });
    page.on('console', (message) => sink().console.push({ level: message.type(), text: message.text() }));
    page.on('pageerror', (error) => sink().console.push({ level: 'pageerror', text: error.message }));

    const pageUrl = `${pageOrigin}/`;
    let finish;
    const finished = new Promise((resolve) => {
      finish = resolve;
    });
    let readyToClick;
    const clickable = new Promise((resolve) => {
      readyToClick = resolve;
    });
    await page.exposeBinding('__harnessEmit', (_source, record) => {
      if (record.type === 'begin') {
        current = { step: record.step, call: record.call, requests: [], navigations: [], console: [], events: [] };
      } else if (record.type === 'end') {
        const { type: _type, step, ...outcome } = record;
        if (current != null) {
          steps.push({ ...current, ...outcome });
          current = null;
        } else if (steps.at(-1)?.step === step) {
          // The step was closed as pending by its navigation, but the page lived long enough
          // to see it settle: its real outcome wins.
          Object.assign(steps.at(-1), outcome);
        }
      } else if (record.type === 'event') {
        (current ?? steps.at(-1) ?? unattributed).events.push(record.event);
      } else if (record.type === 'ready-to-click') {
        readyToClick(record.selector);
      } else if (record.type === 'done') {
        finish('done');
      }
    });
    // The library sends the page away on purpose (the snippet's redirect, the login redirect),
    // which ends the page's script: the open step is reported as pending with the navigation
    // (unless the page reports its end before unloading), or, when the navigation starts after
    // its step ended, the navigation goes to that step. The requested URL is reported (an
    // unreachable one, like a login page on the internet, commits as an error page).
    page.on('request', (request) => {
      if (!request.isNavigationRequest() || pageOf(request) !== page || request.url() === pageUrl) return;
      if (request.frame() !== page.mainFrame()) return;
      const url = redacted(request.url());
      if (current != null) {
        steps.push({ ...current, navigations: [...current.navigations, url], outcome: 'pending' });
        current = null;
      } else {
        (steps.at(-1) ?? unattributed).navigations.push(url);
      }
      finish('navigated away');
    });

    await page.goto(pageUrl);
    const inputs = {
      domain: options.domain,
      token,
      slug: options.slug,
      unconnectedSlug: options['unconnected-slug'],
      connectCall: options['connect-call'],
      connectionId: options['connection-id'],
      stepTimeoutMs,
    };
    // Not awaited: a navigation ends the page's script, and `finished` says how it ended.
    page
      .evaluate(([script, scriptInputs]) => window.xkitHarness.run(script, scriptInputs), [options.scenario, inputs])
      .catch((error) => unattributed.console.push({ level: 'harness', text: error.message }));

    if (options.scenario === 'connect') {
      const selector = await Promise.race([clickable, finished.then(() => null)]);
      if (selector != null) {
        const popup = page.waitForEvent('popup', { timeout: stepTimeoutMs });
        await page.click(selector);
        await popup.then(drivePopup, (error) => popups.push({ actions: [`no popup: ${error.message}`] }));
      }
    }
    const ending = await finished;
    if (ending === 'navigated away') landing = await landedPage(page, pageUrl);
    // The socket's last frames (phx_leave and its reply) may trail the final step.
    await new Promise((resolve) => setTimeout(resolve, 300));
    return ending;
  } finally {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
}

const deadline = setTimeout(() => {
  console.error(`run-chromium.mjs: the scenario did not finish within ${SCENARIO_DEADLINE_MS} ms`);
  process.exit(1);
}, SCENARIO_DEADLINE_MS);

try {
  const { server, origin } = await startPageServer();
  const ending = await run(origin);
  server.close();
  clearTimeout(deadline);
  const report = {
    runner: 'chromium',
    library: `@xkit-co/xkit.js@${require('@xkit-co/xkit.js/package.json').version}`,
    scenario: options.scenario,
    domain: options.domain,
    origin,
    ending,
    landing,
    steps,
    unattributed,
    popups,
    socket: socketFrames,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  process.exit(0);
} catch (error) {
  console.error(`run-chromium.mjs: ${error.stack ?? error}`);
  process.exit(1);
}
