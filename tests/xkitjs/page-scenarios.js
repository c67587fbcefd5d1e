// The scenarios, run inside the page (jsdom's window or Chromium's) after the library's browser
// bundle: they call the real xkit.js as a web page would and report each call's outcome, never a
// hard-coded result. A classic script (no modules) so that both runners load it the same way.
//
// The runner provides `window.__harnessEmit(record)` (each record leaves the page at once, so a
// navigation cannot lose it) and may call `window.__harnessNavigated()` when the page is sent
// elsewhere (jsdom, which records navigations instead of performing them): the script then stops
// after that step, as a browser would unload the page.
(function () {
  'use strict';

  var PENDING = { pending: true };
  var navigated = false;
  var onNavigation = function () {};
  window.__harnessNavigated = function () {
    navigated = true;
    onNavigation();
  };

  /** Thrown by a step after the page was sent elsewhere: the scenario ends there. */
  function PageLeft() {}

  function sleep(ms) {
    return new Promise(function (resolve) {
      setTimeout(resolve, ms);
    });
  }

  function describeError(error) {
    if (error == null || typeof error !== 'object') return { message: String(error) };
    var described = { name: error.name, message: error.message };
    if (error.statusCode !== undefined) described.statusCode = error.statusCode;
    if (error.statusText !== undefined) described.statusText = error.statusText;
    if (error.code !== undefined) described.code = error.code;
    return described;
  }

  function plain(value) {
    if (value === undefined) return null;
    return JSON.parse(JSON.stringify(value));
  }

  function Run(inputs) {
    this.inputs = inputs;
  }

  // Something seen during a step (a library event, an intermediate value): it leaves the page at
  // once, before any navigation the step may cause.
  Run.prototype.event = function (event) {
    window.__harnessEmit({ type: 'event', event: plain(event) });
  };

  // One library call: its outcome is "returned" (with the value), "threw" (with the error) or
  // "pending" (it did not settle within the step's deadline, or the page was sent elsewhere,
  // as the library does on purpose when it redirects to the platform's login page).
  Run.prototype.step = async function (name, call, fn) {
    if (navigated) throw new PageLeft();
    window.__harnessEmit({ type: 'begin', step: name, call: call });
    var record;
    try {
      var afterNavigation = new Promise(function (resolve) {
        onNavigation = resolve;
      }).then(function () {
        return sleep(300).then(function () {
          return PENDING;
        });
      });
      var value = await Promise.race([
        Promise.resolve().then(fn),
        sleep(this.inputs.stepTimeoutMs).then(function () {
          return PENDING;
        }),
        afterNavigation,
      ]);
      record = value === PENDING ? { outcome: 'pending' } : { outcome: 'returned', value: plain(value) };
    } catch (error) {
      record = { outcome: 'threw', error: describeError(error) };
    }
    record.type = 'end';
    record.step = name;
    window.__harnessEmit(record);
    return record;
  };

  // `xkit.init(domain)`, then wait until the library's start-up calls (GET /platform and the
  // silent session resume, POST /sessions/token) have settled: it says so with a config update.
  Run.prototype.init = async function () {
    var run = this;
    return this.step('init', 'xkit.init(domain)', function () {
      return new Promise(function (resolve) {
        window.xkit.init(run.inputs.domain);
        ['connection:enable', 'connection:remove'].forEach(function (type) {
          window.xkit.on(type, function (payload) {
            run.event({ event: type, payload: payload });
          });
        });
        window.xkit.on('config:update', function (update) {
          if (update != null && update.loading === false) resolve('settled');
        });
      });
    });
  };

  var scripts = {};

  // Seed 003's snippet, verbatim but for the token and slug it is given and one line that
  // reports what getConnectionToken returned. It starts right after init, as on a real page.
  // Where it sends the page is in the step's `navigations` (the runners observe it).
  scripts.snippet = async function (run) {
    var token = run.inputs.token;
    var slug = run.inputs.slug;
    await run.step('snippet', 'xkit.init(domain), then the seed 003 snippet', function () {
      return new Promise(function (resolve, reject) {
        window.xkit.init(run.inputs.domain);
        var xkit = window.xkit;
        xkit.ready(async () => {
          try {
            await xkit.login(token);

            const slackToken = await xkit.getConnectionToken(slug);
            run.event({ getConnectionToken: slackToken });

            if (!slackToken) {
              window.location.href = xkit.connectorUrl(slug);
            }
            resolve('finished');
          } catch (error) {
            reject(error);
          }
        });
      });
    });
  };

  scripts.login = async function (run) {
    await run.init();
    await run.step('login', 'login(token)', function () {
      return window.xkit.login(run.inputs.token);
    });
  };

  // Every public method of section 3.2, in the order a page would use them.
  scripts.methods = async function (run) {
    var xkit = window.xkit;
    var slug = run.inputs.slug;
    await run.init();
    await run.step('getPlatform before login', 'getPlatform()', function () {
      return xkit.getPlatform();
    });
    await run.step('listConnectors before login', 'listConnectors()', function () {
      return xkit.listConnectors();
    });
    await run.step('getConnector before login', 'getConnector(slug)', function () {
      return xkit.getConnector(slug);
    });
    await run.step('login', 'login(token)', function () {
      return xkit.login(run.inputs.token);
    });
    await run.step('getAccessToken', 'getAccessToken()', function () {
      return xkit.getAccessToken();
    });
    await run.step('getPlatform', 'getPlatform()', function () {
      return xkit.getPlatform();
    });
    var connectors = await run.step('listConnectors', 'listConnectors()', function () {
      return xkit.listConnectors();
    });
    await run.step('getConnector', 'getConnector(slug)', function () {
      return xkit.getConnector(slug);
    });
    var connections = await run.step('listConnections', 'listConnections()', function () {
      return xkit.listConnections();
    });
    await run.step('listConnections by slug', 'listConnections(slug)', function () {
      return xkit.listConnections(slug);
    });
    var connection = await run.step('getConnection by slug', 'getConnection({slug})', function () {
      return xkit.getConnection({ slug: slug });
    });
    await run.step('getConnection by legacy slug', 'getConnection(slug)', function () {
      return xkit.getConnection(slug);
    });
    var connectionId = connection.value != null ? connection.value.id : 'unknown-connection-id';
    await run.step('getConnection by id', 'getConnection({id})', function () {
      return xkit.getConnection({ id: connectionId });
    });
    await run.step('getConnectionToken by slug', 'getConnectionToken({slug})', function () {
      return xkit.getConnectionToken({ slug: slug });
    });
    await run.step('getConnectionToken by id', 'getConnectionToken({id})', function () {
      return xkit.getConnectionToken({ id: connectionId });
    });
    await run.step('getConnectionOrConnector', 'getConnectionOrConnector(slug)', function () {
      return xkit.getConnectionOrConnector(slug);
    });
    // A connector the context has no connection to: from the library's own answers when it
    // gave them, else the one the runner was given.
    var unconnected = run.inputs.unconnectedSlug;
    if (Array.isArray(connectors.value) && Array.isArray(connections.value)) {
      var connected = connections.value.map(function (each) {
        return each.connector && each.connector.slug;
      });
      var candidate = connectors.value.find(function (each) {
        return connected.indexOf(each.slug) < 0;
      });
      if (candidate != null) unconnected = candidate.slug;
    }
    await run.step('getConnectionToken without connection', 'getConnectionToken({slug: ' + unconnected + '})', function () {
      return xkit.getConnectionToken({ slug: unconnected });
    });
    await run.step('getConnectionOrConnector without connection', 'getConnectionOrConnector(' + unconnected + ')', function () {
      return xkit.getConnectionOrConnector(unconnected);
    });
    await run.step('connectorUrl', 'connectorUrl(slug)', function () {
      return xkit.connectorUrl(slug);
    });
    await run.step('disconnect', 'disconnect(slug)', function () {
      return xkit.disconnect(slug);
    });
    await run.step('getConnection after disconnect', 'getConnection({slug})', function () {
      return xkit.getConnection({ slug: slug });
    });
    // Another of the context's connections, removed by id.
    var other = Array.isArray(connections.value)
      ? connections.value.find(function (each) {
          return each.id !== connectionId;
        })
      : null;
    var otherId = other != null ? other.id : 'unknown-connection-id';
    await run.step('removeConnection by id', 'removeConnection({id})', function () {
      return xkit.removeConnection({ id: otherId });
    });
    await run.step('getConnection after removeConnection', 'getConnection({id})', function () {
      return xkit.getConnection({ id: otherId });
    });
    await run.step('logout', 'logout()', function () {
      return xkit.logout();
    });
    await run.step('listConnections after logout', 'listConnections()', function () {
      return xkit.listConnections();
    });
  };

  // A second page load with the cookies of the first: no login, the session resumes.
  scripts.resume = async function (run) {
    var xkit = window.xkit;
    await run.init();
    await run.step('getAccessToken', 'getAccessToken()', function () {
      return xkit.getAccessToken();
    });
    await run.step('getConnectionToken by slug', 'getConnectionToken({slug})', function () {
      return xkit.getConnectionToken({ slug: run.inputs.slug });
    });
    await run.step('listConnections', 'listConnections()', function () {
      return xkit.listConnections();
    });
  };

  // A refused login token: what the page can still do, and where it is sent.
  scripts['bad-token'] = async function (run) {
    var xkit = window.xkit;
    await run.init();
    await run.step('login', 'login(badToken)', function () {
      return xkit.login(run.inputs.token);
    });
    await run.step('getPlatform', 'getPlatform()', function () {
      return xkit.getPlatform();
    });
    await run.step('getConnector', 'getConnector(slug)', function () {
      return xkit.getConnector(run.inputs.slug);
    });
    await run.step('getConnectionToken', 'getConnectionToken({slug})', function () {
      return xkit.getConnectionToken({ slug: run.inputs.slug });
    });
  };

  // Another context's connection, asked for by id: it must look like no connection at all.
  scripts['foreign-connection'] = async function (run) {
    var xkit = window.xkit;
    var id = run.inputs.otherConnectionId;
    await run.init();
    await run.step('login', 'login(token)', function () {
      return xkit.login(run.inputs.token);
    });
    await run.step('getConnection by foreign id', 'getConnection({id})', function () {
      return xkit.getConnection({ id: id });
    });
    await run.step('getConnectionToken by foreign id', 'getConnectionToken({id})', function () {
      return xkit.getConnectionToken({ id: id });
    });
    await run.step('removeConnection by foreign id', 'removeConnection({id})', function () {
      return xkit.removeConnection({ id: id });
    });
  };

  // setAuthorizationFields for an API-key connector, with the state of the connection the
  // runner started (the popup flow that would show the form is not driven here).
  scripts.fields = async function (run) {
    var xkit = window.xkit;
    await run.init();
    await run.step('login', 'login(token)', function () {
      return xkit.login(run.inputs.token);
    });
    await run.step('setAuthorizationFields', 'setAuthorizationFields(slug, state, fields)', function () {
      return xkit.setAuthorizationFields(run.inputs.slug, run.inputs.authorizationState, run.inputs.fields);
    });
    await run.step('getConnectionToken after setAuthorizationFields', 'getConnectionToken({slug})', function () {
      return xkit.getConnectionToken({ slug: run.inputs.slug });
    });
  };

  // The catalog page connectorUrl(slug) names, opened by the page after login as a link would
  // be: the runner reports where the browser landed and what the page says.
  scripts.catalog = async function (run) {
    var xkit = window.xkit;
    await run.init();
    await run.step('login', 'login(token)', function () {
      return xkit.login(run.inputs.token);
    });
    await run.step('open connectorUrl', 'window.location.href = connectorUrl(slug)', function () {
      window.location.href = xkit.connectorUrl(run.inputs.slug);
      return new Promise(function () {});
    });
  };

  // connect() from a click (a user gesture, as popup blockers want): the runner clicks #connect
  // and drives the popup; the page reports what connect() returned and what it sees afterwards.
  // With inputs.connectCall 'addConnection' the click calls addConnection(slug, connectionId);
  // with 'reconnect', reconnect() of the context's connection to the connector, read first.
  scripts.connect = async function (run) {
    var xkit = window.xkit;
    var slug = run.inputs.slug;
    var connectCall = run.inputs.connectCall || 'connect';
    await run.init();
    await run.step('login', 'login(token)', function () {
      return xkit.login(run.inputs.token);
    });
    var existing = null;
    if (connectCall === 'reconnect') {
      existing = (
        await run.step('getConnection before reconnect', 'getConnection({slug})', function () {
          return xkit.getConnection({ slug: slug });
        })
      ).value;
    }
    var calls = {
      connect: ['connect(slug)', function () {
        return xkit.connect(slug);
      }],
      addConnection: ['addConnection(slug, id)', function () {
        return xkit.addConnection(slug, run.inputs.connectionId);
      }],
      reconnect: ['reconnect(connection)', function () {
        return xkit.reconnect(existing);
      }],
    };
    var call = calls[connectCall];
    if (call == null) throw new Error('unknown connect call ' + connectCall);
    var button = document.createElement('button');
    button.id = 'connect';
    button.textContent = 'Connect';
    var clicked = new Promise(function (resolve) {
      button.addEventListener('click', function () {
        resolve(call[1]());
      });
    });
    document.body.appendChild(button);
    window.__harnessEmit({ type: 'ready-to-click', selector: '#connect' });
    await run.step('connect', call[0] + ' from a click', function () {
      return clicked;
    });
    await run.step('getConnectionToken after connect', 'getConnectionToken({slug})', function () {
      return xkit.getConnectionToken({ slug: slug });
    });
  };

  window.xkitHarness = {
    scripts: Object.keys(scripts),
    run: async function (script, inputs) {
      if (scripts[script] == null) throw new Error('unknown page script ' + script);
      try {
        await scripts[script](new Run(inputs));
      } catch (error) {
        if (!(error instanceof PageLeft)) throw error;
      }
      window.__harnessEmit({ type: 'done' });
    },
  };
})();
