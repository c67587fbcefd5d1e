// Runs the real xkit.js 3.14.1 in jsdom against a server, and prints one JSON object on stdout:
// per step, what the library returned or threw, the requests it made and where the page was sent.
//
//   XKITJS_TOKEN=<context token> NODE_EXTRA_CA_CERTS=/path/cert.pem \
//     node run-node.mjs --domain 127.0.0.1:PORT --scenario methods [--origin http://127.0.0.1:3000]
//
// The library speaks only https: and wss:, so the server must speak TLS; Node trusts its
// self-signed certificate through NODE_EXTRA_CA_CERTS (read when Node starts).
//
// Scenarios (pages share one cookie jar, as the tabs of one browser do):
//   snippet             seed 003's snippet
//   methods             every public method of xkit-api.md section 3.2 (disconnects two connections)
//   resume              login on one page, then a second page load that resumes the cookie session
//   bad-tokens          one page per refused login token: malformed, tampered (the good token
//                       with a claim added under its old signature), and, when given, expired
//                       and other-platform
//   foreign-connection  another context's connection id (--other-connection-id)
//   fields              login, then setAuthorizationFields(--slug, --authorization-state,
//                       {--field-name: $XKITJS_FIELD_VALUE}) for an API-key connector
//
// Inputs: --domain, --origin, --scenario, --slug (default slack), --unconnected-slug,
// --other-connection-id, --authorization-state, --field-name, --step-timeout-ms (default 5000);
// secrets from the environment, where `ps` does not show them: XKITJS_TOKEN,
// XKITJS_EXPIRED_TOKEN, XKITJS_FOREIGN_TOKEN, XKITJS_FIELD_VALUE.
// Exit status: 0 when the scenario ran (whatever the library answered), 2 on bad usage,
// 1 when the harness itself failed.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

import { JSDOM, VirtualConsole, CookieJar } from 'jsdom';

import { browserBundle } from './bundle.mjs';

const require = createRequire(import.meta.url);
const { implForWrapper } = require('jsdom/lib/jsdom/living/generated/utils.js');
const { serializeURL } = require('whatwg-url');

const SCENARIOS = ['snippet', 'methods', 'resume', 'bad-tokens', 'foreign-connection', 'fields'];
/** A whole scenario's bound, whatever the steps do. */
const SCENARIO_DEADLINE_MS = 120_000;

function usage(message) {
  console.error(`run-node.mjs: ${message}\nscenarios: ${SCENARIOS.join(', ')}`);
  process.exit(2);
}

const { values: options } = parseArgs({
  options: {
    domain: { type: 'string', default: process.env.XKITJS_DOMAIN },
    origin: { type: 'string', default: process.env.XKITJS_ORIGIN ?? 'http://127.0.0.1:3000' },
    scenario: { type: 'string', default: process.env.XKITJS_SCENARIO },
    slug: { type: 'string', default: 'slack' },
    'unconnected-slug': { type: 'string', default: 'no-such-connector' },
    'other-connection-id': { type: 'string' },
    'authorization-state': { type: 'string' },
    'field-name': { type: 'string', default: 'api_key' },
    'step-timeout-ms': { type: 'string', default: '5000' },
  },
});
if (!options.domain) usage('--domain HOST:PORT is required');
if (!SCENARIOS.includes(options.scenario)) usage(`unknown scenario ${JSON.stringify(options.scenario)}`);
const token = process.env.XKITJS_TOKEN;
if (!token) usage('XKITJS_TOKEN (a context token) is required');
if (options.scenario === 'foreign-connection' && !options['other-connection-id']) {
  usage('foreign-connection needs --other-connection-id');
}
if (options.scenario === 'fields' && (!options['authorization-state'] || !process.env.XKITJS_FIELD_VALUE)) {
  usage('fields needs --authorization-state and XKITJS_FIELD_VALUE');
}

const baseInputs = {
  domain: options.domain,
  token,
  slug: options.slug,
  unconnectedSlug: options['unconnected-slug'],
  otherConnectionId: options['other-connection-id'],
  authorizationState: options['authorization-state'],
  fields: { [options['field-name']]: process.env.XKITJS_FIELD_VALUE },
  stepTimeoutMs: Number(options['step-timeout-ms']),
};
const bundle = browserBundle();
const harness = readFileSync(new URL('./page-scenarios.js', import.meta.url), 'utf8');
const fetchPolyfill = readFileSync(require.resolve('whatwg-fetch/dist/fetch.umd.js'), 'utf8');
const cookieJar = new CookieJar();

/**
 * One page load on `origin` running one page script; resolves with its steps.
 *
 * jsdom has no fetch, so the page gets the standard polyfill over jsdom's XMLHttpRequest, which
 * does what a browser does for the library: CORS with credentials and the cookie jar.
 */
async function runPage(pageName, script, inputs) {
  const steps = [];
  const unattributed = { requests: [], navigations: [], console: [], events: [] };
  let current = null;
  const sink = () => current ?? unattributed;

  const virtualConsole = new VirtualConsole();
  for (const level of ['log', 'warn', 'error', 'info', 'debug']) {
    virtualConsole.on(level, (...args) => sink().console.push({ level, text: args.map(String).join(' ') }));
  }
  virtualConsole.on('jsdomError', (error) => sink().console.push({ level: 'jsdomError', text: error.message }));

  const dom = new JSDOM('<!doctype html><html><head><title>xkit.js harness</title></head><body></body></html>', {
    url: new URL('/', options.origin).href,
    runScripts: 'outside-only',
    pretendToBeVisual: true,
    cookieJar,
    virtualConsole,
  });
  const { window } = dom;

  // Where the page is sent: jsdom cannot navigate, so record the URL and tell the page.
  const location = implForWrapper(window.location);
  location._locationObjectNavigate = (url) => {
    const href = serializeURL(url);
    sink().navigations.push(href);
    window.__harnessNavigated();
  };

  window.eval(fetchPolyfill);
  const fetchWithCredentials = window.fetch;
  window.fetch = async (resource, init = {}) => {
    const request = {
      method: init.method ?? 'GET',
      url: String(resource),
      bearer: /^Bearer /.test(init.headers?.Authorization ?? ''),
      credentials: init.credentials ?? null,
    };
    sink().requests.push(request);
    try {
      const response = await fetchWithCredentials(resource, init);
      request.status = response.status;
      return response;
    } catch (error) {
      request.failed = error.message;
      throw error;
    }
  };

  const finished = new Promise((resolve, reject) => {
    window.__harnessEmit = (record) => {
      if (record.type === 'begin') {
        current = {
          page: pageName,
          step: record.step,
          call: record.call,
          requests: [],
          navigations: [],
          console: [],
          events: [],
        };
      } else if (record.type === 'end') {
        const { type: _type, step: _step, ...outcome } = record;
        steps.push({ ...current, ...outcome });
        current = null;
      } else if (record.type === 'event') {
        sink().events.push(record.event);
      } else if (record.type === 'done') {
        resolve();
      }
    };
    window.eval(bundle);
    window.eval(harness);
    window.xkitHarness.run(script, inputs).catch(reject);
  });
  await finished;
  window.close();
  return { page: pageName, script, steps, unattributed };
}

/**
 * The good token with one more claim and its old signature: well-formed, and must not verify.
 * (Changing the signature's last character is no test: its low bits are padding.) None when the
 * token is not a JWT.
 */
function tampered(jwt) {
  const parts = jwt.split('.');
  if (parts.length !== 3) return undefined;
  const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  const forged = Buffer.from(JSON.stringify({ ...claims, tampered: true })).toString('base64url');
  return [parts[0], forged, parts[2]].join('.');
}

async function runScenario() {
  switch (options.scenario) {
    case 'snippet':
      return [await runPage('page', 'snippet', baseInputs)];
    case 'methods':
      return [await runPage('page', 'methods', baseInputs)];
    case 'resume':
      return [
        await runPage('first load', 'login', baseInputs),
        await runPage('second load', 'resume', baseInputs),
      ];
    case 'bad-tokens': {
      const badTokens = [
        ['malformed', 'not-a-context-token'],
        ['tampered', tampered(token)],
        ['expired', process.env.XKITJS_EXPIRED_TOKEN],
        ['other platform', process.env.XKITJS_FOREIGN_TOKEN],
      ].filter(([, value]) => value);
      const pages = [];
      for (const [kind, badToken] of badTokens) {
        pages.push(await runPage(`${kind} token`, 'bad-token', { ...baseInputs, token: badToken }));
      }
      return pages;
    }
    case 'foreign-connection':
      return [await runPage('page', 'foreign-connection', baseInputs)];
    case 'fields':
      return [await runPage('page', 'fields', baseInputs)];
    default:
      throw new Error('unreachable');
  }
}

const deadline = setTimeout(() => {
  console.error(`run-node.mjs: the scenario did not finish within ${SCENARIO_DEADLINE_MS} ms`);
  process.exit(1);
}, SCENARIO_DEADLINE_MS);

try {
  const pages = await runScenario();
  clearTimeout(deadline);
  const report = {
    runner: 'jsdom',
    library: `@xkit-co/xkit.js@${require('@xkit-co/xkit.js/package.json').version}`,
    scenario: options.scenario,
    domain: options.domain,
    origin: new URL(options.origin).origin,
    pages,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  process.exit(0);
} catch (error) {
  console.error(`run-node.mjs: ${error.stack ?? error}`);
  process.exit(1);
}
