// The browser build of the published xkit.js, made from the package's own CommonJS `lib/`.
//
// The npm package ships only `lib/` (CommonJS, compiled by tsc); its browser build
// (`parcel build src/browser.ts`, served as `https://<domain>/xkit.js` by Xkit) is not in it.
// This does what that build did and nothing more: it concatenates `lib/browser.js` and every
// module it requires (phoenix, uuid, event-target-shim), honours each package's `browser` field
// (uuid's `rng-browser.js`), and defines `process.env.NODE_ENV` as "production" the way the
// bundler inlined it. The library's code is not changed: every module runs verbatim.

import { readFileSync, existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const REQUIRE_CALL = /\brequire\((["'])([^"']+)\1\)/g;

function isFile(candidate) {
  return existsSync(candidate) && statSync(candidate).isFile();
}

function resolveFile(base) {
  for (const candidate of [base, `${base}.js`, `${base}.json`, path.join(base, 'index.js')]) {
    if (isFile(candidate)) return candidate;
  }
  throw new Error(`cannot resolve ${base}`);
}

/** The directory and parsed package.json of the package that holds `file`. */
function owningPackage(file) {
  for (let dir = path.dirname(file); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (isFile(manifest)) return { dir, manifest: JSON.parse(readFileSync(manifest, 'utf8')) };
  }
  throw new Error(`no package.json above ${file}`);
}

/** Applies the `browser` field's file replacements of the package that holds `file`. */
function browserVariant(file) {
  const { dir, manifest } = owningPackage(file);
  if (typeof manifest.browser !== 'object' || manifest.browser === null) return file;
  const relative = `./${path.relative(dir, file).split(path.sep).join('/')}`;
  const replacement = manifest.browser[relative];
  return typeof replacement === 'string' ? path.join(dir, replacement) : file;
}

function resolveRequire(fromFile, specifier) {
  if (specifier.startsWith('.')) {
    return browserVariant(resolveFile(path.resolve(path.dirname(fromFile), specifier)));
  }
  // Node's CommonJS resolution (the `require` export condition), as the bundler's own.
  return browserVariant(require.resolve(specifier, { paths: [path.dirname(fromFile)] }));
}

/** The library as one classic script that sets `window.xkit` (with `init(domain)`). */
export function browserBundle() {
  const entry = require.resolve('@xkit-co/xkit.js/lib/browser.js');
  const ids = new Map();
  const modules = [];
  const visit = (file) => {
    if (ids.has(file)) return ids.get(file);
    const id = modules.length;
    ids.set(file, id);
    const module = { file, source: readFileSync(file, 'utf8'), requires: {} };
    modules.push(module);
    if (file.endsWith('.json')) return id;
    for (const [, , specifier] of module.source.matchAll(REQUIRE_CALL)) {
      module.requires[specifier] = visit(resolveRequire(file, specifier));
    }
    return id;
  };
  visit(entry);

  const definitions = modules.map(({ file, source, requires }, id) => {
    const body = file.endsWith('.json') ? `module.exports = ${source.trim()};` : source;
    return `/* ${path.relative(path.dirname(entry), file)} */ ${id}: [function (module, exports, require) {\n${body}\n}, ${JSON.stringify(requires)}]`;
  });
  return `(function () {
var process = { env: { NODE_ENV: "production" } };
var definitions = {
${definitions.join(',\n')}
};
var cache = {};
function load(id) {
  if (cache[id]) return cache[id].exports;
  var module = (cache[id] = { exports: {} });
  var definition = definitions[id];
  definition[0].call(module.exports, module, module.exports, function (specifier) {
    return load(definition[1][specifier]);
  });
  return module.exports;
}
load(0);
})();
`;
}
