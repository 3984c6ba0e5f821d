#!/usr/bin/env node
// Build a JavaScript connector into a Wharf component (wharf:connector@0.2.0,
// world `sandboxed-connector`, plus the host's page slicing, wharf:pages@0.1.0)
// with ComponentizeJS.
//
//   node sdk/js/build.mjs <connector.js> <out.wasm> [--toolchain DIR] [--force]
//
// - Installs @bytecodealliance/componentize-js (pinned below) with npm into the
//   toolchain directory the first time (default <repo>/target/js-toolchain).
// - Follows the connector's relative imports (`./wharf.js`, `../../sdk/js/wharf.js`):
//   ComponentizeJS loads them itself, from a directory that must hold them all,
//   so the build runs from their closest common directory. Bare imports other
//   than `wharf:connector/...` and `wharf:pages/...` are refused (there is no node_modules inside
//   the component: copy the file next to yours or bundle it first).
// - Skips the build when <out.wasm> is newer than every input (the connector's
//   modules, the WIT files and this script); --force builds anyway.
// - Keeps ComponentizeJS's `http` feature, so `fetch()` works (Wharf serves
//   wasi:http/outgoing-handler through the same egress checks as http.send),
//   disables `fetch-event` (a server's incoming handler, which a connector has
//   no use for), and checks the result's imports the way Wharf's loader does.
// Works from any working directory; exits non-zero with the error on failure.

import { spawnSync } from 'node:child_process';
import {
  copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const COMPONENTIZE_JS = '@bytecodealliance/componentize-js';
const COMPONENTIZE_JS_VERSION = '0.23.0';
const WORLD = 'sandboxed-connector';
// `fetch-event` would export wasi:http/incoming-handler; stdio, random, clocks
// and http stay (console.log goes to the run's log, Math.random, Date.now and
// fetch() work).
const DISABLED_FEATURES = ['fetch-event'];
// What Wharf's loader accepts besides the contract (host/src/runtime/wasi.rs).
const WASI_OK = ['wasi:cli/', 'wasi:clocks/', 'wasi:filesystem/', 'wasi:io/', 'wasi:random/', 'wasi:sockets/',
  'wasi:http/types@', 'wasi:http/outgoing-handler@'];

const SCRIPT = fileURLToPath(import.meta.url);
const REPO = resolve(dirname(SCRIPT), '..', '..');
const WIT_DIR = join(REPO, 'wit', '0.2.0');
// The host's page slicing (`stageRecords` in wharf.js), imported beside the
// contract: the connector's world is written into the toolchain directory.
const PAGES_WIT_DIR = join(REPO, 'wit', 'pages-0.1.0');
const PAGES = 'wharf:pages/pages@0.1.0';
const JS_WORLD = 'js-connector';

/** A WIT directory whose world is the contract's plus `wharf:pages`. */
function composeWit(toolchain) {
  const dir = join(toolchain, `wit-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  for (const [name, src] of [['wharf-connector', WIT_DIR], ['wharf-pages', PAGES_WIT_DIR]]) {
    mkdirSync(join(dir, 'deps', name), { recursive: true });
    for (const f of readdirSync(src).filter((f) => f.endsWith('.wit'))) {
      copyFileSync(join(src, f), join(dir, 'deps', name, f));
    }
  }
  writeFileSync(join(dir, 'world.wit'), 'package wharf:js-connector;\n\n' +
    '/// A JavaScript connector: the contract and the host\'s page slicing.\n' +
    `world ${JS_WORLD} {\n  include wharf:connector/${WORLD}@0.2.0;\n  import ${PAGES};\n}\n`);
  return dir;
}

class BuildError extends Error {}
const fail = (msg) => { throw new BuildError(msg); };

function usage() {
  return 'usage: node sdk/js/build.mjs <connector.js> <out.wasm> [--toolchain DIR] [--force]';
}

function parseArgs(argv) {
  const pos = [];
  let toolchain = join(REPO, 'target', 'js-toolchain');
  let force = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--toolchain') {
      if (i + 1 >= argv.length) fail(`--toolchain needs a directory\n${usage()}`);
      toolchain = argv[++i];
    } else if (a.startsWith('--toolchain=')) toolchain = a.slice('--toolchain='.length);
    else if (a === '--force') force = true;
    else if (a === '-h' || a === '--help') { console.log(usage()); process.exit(0); }
    else if (a.startsWith('--')) fail(`unknown option ${a}\n${usage()}`);
    else pos.push(a);
  }
  if (pos.length !== 2) fail(usage());
  return { source: resolve(pos[0]), out: resolve(pos[1]), toolchain: resolve(toolchain), force };
}

/** Install the pinned ComponentizeJS into `dir` unless it is there already. */
function ensureToolchain(dir) {
  const pkg = join(dir, 'node_modules', ...COMPONENTIZE_JS.split('/'), 'package.json');
  if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).version === COMPONENTIZE_JS_VERSION) return;
  mkdirSync(dir, { recursive: true });
  const spec = `${COMPONENTIZE_JS}@${COMPONENTIZE_JS_VERSION}`;
  console.log(`installing ${spec} into ${dir} ...`);
  const t = Date.now();
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['install', '--prefix', dir, '--no-audit', '--no-fund', '--save-exact', spec],
    { stdio: 'inherit' });
  if (r.error) fail(`could not run npm: ${r.error.message}`);
  if (r.status !== 0) fail(`npm install ${spec} failed (exit ${r.status})`);
  if (!existsSync(pkg)) fail(`npm install ${spec} did not produce ${pkg}`);
  console.log(`installed ${spec} in ${secs(t)}`);
}

/** Load a package installed in the toolchain directory (ESM entry point). */
async function importFromToolchain(dir, name) {
  const pkgPath = [join(dir, 'node_modules', name), join(dir, 'node_modules', COMPONENTIZE_JS, 'node_modules', name)]
    .map((d) => join(d, 'package.json')).find(existsSync);
  if (!pkgPath) fail(`${name} is not installed in ${dir}`);
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
  let entry = pkg.exports;
  if (entry && typeof entry === 'object' && entry['.'] !== undefined) entry = entry['.'];
  if (entry && typeof entry === 'object') entry = entry.import ?? entry.default;
  if (typeof entry !== 'string') entry = pkg.module ?? pkg.main ?? 'index.js';
  return import(pathToFileURL(join(dirname(pkgPath), entry)).href);
}

/** The connector's module graph: every file reached by relative imports. */
async function moduleGraph(source, toolchain) {
  const require = createRequire(join(toolchain, 'package.json'));
  const lexer = require('es-module-lexer'); // a dependency of ComponentizeJS
  await lexer.init;
  const files = [];
  const todo = [source];
  while (todo.length) {
    const file = todo.pop();
    if (files.includes(file)) continue;
    if (!existsSync(file)) fail(`${file}: no such file`);
    files.push(file);
    const text = readFileSync(file, 'utf8');
    syntaxCheck(file, text);
    let imports;
    try {
      [imports] = lexer.parse(text, file);
    } catch (e) {
      fail(`${file}: cannot parse as an ES module: ${e.message}`);
    }
    for (const imp of imports) {
      const spec = imp.n;
      if (imp.d === -2) continue; // import.meta
      if (imp.d > -1) {
        console.warn(`warning: ${file}: dynamic import(${spec ?? '...'}) cannot load anything at run time`);
        continue;
      }
      if (spec === undefined) continue;
      if (spec.startsWith('./') || spec.startsWith('../')) {
        todo.push(resolve(dirname(file), spec));
      } else if (!spec.startsWith('wharf:connector/') && !spec.startsWith('wharf:pages/')) {
        fail(`${file}: cannot import '${spec}': a connector may import only relative files ` +
          `('./wharf.js') and wharf:connector/* and wharf:pages/* interfaces (no node_modules; copy or bundle the file)`);
      }
    }
  }
  return files;
}

/** Fail with Node's message (file:line, the line, a caret) on a syntax error. */
function syntaxCheck(file, text) {
  const r = spawnSync(process.execPath, ['--input-type=module', '--check'], { input: text, encoding: 'utf8' });
  if (r.status === 0 || r.error) return; // no node to ask: ComponentizeJS will complain
  const lines = r.stderr.split('\n');
  const end = lines.findIndex((l) => /^\s+at /.test(l));
  const msg = lines.slice(0, end < 0 ? 6 : end).join('\n').replaceAll('[stdin]', file).trim();
  fail(`syntax error in ${msg}`);
}

function commonDir(files) {
  let parts = dirname(files[0]).split(sep);
  for (const f of files.slice(1)) {
    const p = dirname(f).split(sep);
    let i = 0;
    while (i < parts.length && i < p.length && parts[i] === p[i]) i++;
    parts = parts.slice(0, i);
  }
  return parts.join(sep) || sep;
}

function listFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)]);
}

function secs(t0) {
  return `${((Date.now() - t0) / 1000).toFixed(1)} s`;
}

/** The import names of a component, checked like Wharf's loader does. */
async function checkImports(toolchain, wasm) {
  const jco = await importFromToolchain(toolchain, '@bytecodealliance/jco');
  const wit = await jco.componentWit(wasm);
  const imports = [...wit.matchAll(/^\s*import ([^;\s]+);/gm)].map((m) => m[1]);
  const bad = imports.filter((i) => !i.startsWith('wharf:connector/') && i !== PAGES &&
    !(WASI_OK.some((p) => i.startsWith(p)) && /@0\.2\.[0-9]+$/.test(i)));
  if (bad.length) fail(`the component imports ${bad.join(', ')}, which Wharf refuses`);
  return imports;
}

// ComponentizeJS 0.23's generated bindings pass every string to the host
// through `_utf8AllocateAndEncode` (SLOW_ENCODE, quoted whole below), which
// first counts the UTF-8 length in a JavaScript loop over each character.
// Inside the component that loop runs in SpiderMonkey's interpreter: for a
// page of 100 records of 1 KiB it was ~80% of a `fetch` call (perf,
// docs/performance.md). FAST_ENCODE encodes with `TextEncoder.encodeInto`
// straight into guest memory (`encode` and a copy cost 6 µs per KiB inside
// the guest, `encodeInto` 1 µs). It is put in place of the generated one by
// wrapping the splicer that writes the bindings, only if the generated text is
// exactly SLOW_ENCODE (the pinned ComponentizeJS): otherwise the bindings are
// left as they are and the build says so.
const SLOW_ENCODE = `function _utf8AllocateAndEncode(s, realloc, memory) {
  if (typeof s !== 'string') {
    throw new TypeError('expected a string, received [' + typeof s + ']');
  }
  if (s.length === 0) { return { ptr: 1, len: 0 }; }
  // Compute the exact allocation size up front. Some older preview1
  // adapters only support an initial allocation, not a subsequent shrink.
  let len = 0;
  let codepoints = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    codepoints++;
    if (ch < 0x80) { len += 1; }
    else if (ch < 0x800) { len += 2; }
    else if (ch >= 0xd800 && ch <= 0xdbff &&
    i + 1 < s.length &&
    (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      len += 4;
      i++;
    } else { len += 3; }
  }
  const ptr = realloc(0, 0, 1, len);
  const { read, written } = TEXT_ENCODER_UTF8.encodeInto(
  s,
  new Uint8Array(memory.buffer, ptr, len),
  );
  if (read !== s.length || written !== len) {
    throw new Error('failed to encode whole string');
  }
  const res = { ptr, len, codepoints };
  return res;
}
`;
const FAST_ENCODE = `function _utf8AllocateAndEncode(s, realloc, memory) {
  if (typeof s !== 'string') {
    throw new TypeError('expected a string, received [' + typeof s + ']');
  }
  if (s.length === 0) { return { ptr: 1, len: 0 }; }
  // Wharf's build (sdk/js/build.mjs): encoded natively into guest memory, no
  // per-character loop. One byte per UTF-16 unit first (enough for ASCII);
  // if that was not enough, again into a fresh allocation with room for the
  // worst case (three bytes per remaining unit). Fresh, not grown: realloc of
  // an earlier pointer searches this call's allocations, and the first buffer
  // is freed with the rest when the call ends.
  let cap = s.length;
  let ptr = realloc(0, 0, 1, cap);
  let { read, written } = TEXT_ENCODER_UTF8.encodeInto(s, new Uint8Array(memory.buffer, ptr, cap));
  if (read < s.length) {
    cap = written + (s.length - read) * 3;
    ptr = realloc(0, 0, 1, cap);
    ({ read, written } = TEXT_ENCODER_UTF8.encodeInto(s, new Uint8Array(memory.buffer, ptr, cap)));
    if (read !== s.length) {
      throw new Error('failed to encode whole string');
    }
  }
  return { ptr, len: written };
}
`;

/** Wrap ComponentizeJS's splicer so the bindings encode strings natively. */
async function encodeStringsNatively(toolchain) {
  const pkg = join(toolchain, 'node_modules', ...COMPONENTIZE_JS.split('/'));
  const { splicer } = await import(pathToFileURL(join(pkg, 'lib', 'spidermonkey-embedding-splicer.js')).href);
  const state = { patched: false, why: 'the bindings encode strings with ComponentizeJS\'s own per-character loop' };
  const splice = splicer.spliceBindings;
  splicer.spliceBindings = (...args) => {
    const result = splice(...args);
    // The replacement returns no `codepoints`: nothing else may read them.
    if (!result.jsBindings.includes(SLOW_ENCODE) || /codepoints\b/.test(result.jsBindings.replace(SLOW_ENCODE, ''))) {
      state.why += ' (its generated encoder is not the one this build replaces)';
      return result;
    }
    state.patched = true;
    return { ...result, jsBindings: result.jsBindings.replace(SLOW_ENCODE, () => FAST_ENCODE) };
  };
  return state;
}

async function main() {
  const t0 = Date.now();
  const { source, out, toolchain, force } = parseArgs(process.argv.slice(2));
  if (!existsSync(source)) fail(`${source}: no such file`);
  if (!existsSync(WIT_DIR)) fail(`${WIT_DIR}: no WIT (is ${SCRIPT} inside the Wharf repository?)`);
  ensureToolchain(toolchain);

  const modules = await moduleGraph(source, toolchain);
  const inputs = [...modules, ...listFiles(WIT_DIR), ...listFiles(PAGES_WIT_DIR), SCRIPT];
  if (!force && existsSync(out)) {
    const built = statSync(out).mtimeMs;
    const newest = inputs.reduce((m, f) => Math.max(m, statSync(f).mtimeMs), 0);
    if (built > newest) {
      console.log(`${out} is up to date (newer than ${inputs.length} inputs); skipped`);
      return;
    }
  }

  // ComponentizeJS maps the working directory as the guest's `/` when the
  // source lies under it, and resolves relative imports there: so work from
  // the closest directory that holds every module.
  const root = commonDir(modules);
  if (root === sep) fail(`the connector's modules (${modules.join(', ')}) share no directory but /`);
  process.chdir(root);

  const { componentize } = await importFromToolchain(toolchain, COMPONENTIZE_JS);
  const fastStrings = await encodeStringsNatively(toolchain);
  const tb = Date.now();
  let component;
  const witPath = composeWit(resolve(toolchain));
  try {
    ({ component } = await componentize({
      sourcePath: source,
      witPath,
      worldName: JS_WORLD,
      disableFeatures: DISABLED_FEATURES,
    }));
  } catch (e) {
    fail(`componentize ${relative(root, source)} failed:\n${e?.message ?? e}`);
  } finally {
    rmSync(witPath, { recursive: true, force: true });
  }
  const buildTime = secs(tb);
  const imports = await checkImports(toolchain, component);

  mkdirSync(dirname(out), { recursive: true });
  const tmp = join(dirname(out), `.${basename(out)}.${process.pid}.tmp`);
  writeFileSync(tmp, component);
  renameSync(tmp, out);

  const shown = modules.map((m) => relative(root, m)).join(', ');
  const wasi = imports.filter((i) => i.startsWith('wasi:')).map((i) => i.replace(/^wasi:|@.*$/g, ''));
  console.log(`built ${out}: ${(component.length / 1048576).toFixed(1)} MiB from ${shown} ` +
    `in ${buildTime} (total ${secs(t0)})`);
  if (!fastStrings.patched) console.log(`note: ${fastStrings.why}`);
  console.log(`imports: ${imports.filter((i) => i.startsWith('wharf:')).length} wharf interfaces; ` +
    `WASI ${wasi.join(', ')}`);
}

main().catch((e) => {
  console.error(`error: ${e instanceof BuildError ? e.message : (e?.stack ?? e)}`);
  process.exit(1);
});
