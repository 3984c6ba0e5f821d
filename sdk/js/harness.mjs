// Test a Wharf connector from Node.js (20+), in the server's own sandbox.
//
// The JavaScript twin of the `wharf-harness` crate (sdk/harness): it builds a
// JavaScript connector into a component (`build`, with sdk/js/build.mjs),
// starts `wharf dev rpc` on it (the same runtime, grants and limits as
// `wharf serve`) and drives it call by call. Requests are answered from a
// cassette recorded with `wharf dev ... --record` (`replay`), from scripted
// answers (`respond`), or, when neither is given, by the network the harness
// was granted. Every request the connector made is kept for assertions
// (`requests()`). Standard library only; runs in the test, never in the
// component.
//
//   import { test } from 'node:test';
//   import assert from 'node:assert/strict';
//   import { Harness, build } from '/path/to/wharf/sdk/js/harness.mjs';
//
//   const wasm = await build(new URL('./connector.js', import.meta.url), 'target/my-api.wasm');
//   test('reads items', async () => {
//     const c = await new Harness(wasm)
//       .config({ base_url: 'https://api.example.com' })
//       .replay(new URL('./tests/cassettes/items.json', import.meta.url))
//       .start();
//     const records = await c.fetchAll('items');
//     assert.equal(records[0].key, '1');
//     await c.finish(); // no request differed from the cassette
//   });
//
// A call that fails rejects with `CallError`: `kind` is the contract's
// (`config`, `auth`, `auth-expired`, `rate-limited`, `transient`, `fatal`,
// `unsupported`, `limit`, `trap`, `protocol`, `replay`, ...), `harness` (the
// session itself failed) or `build`. The `wharf` binary is `$WHARF` (a path),
// else `wharf` on `PATH`.
//
// Also a command: `node sdk/js/harness.mjs build <connector.js> [out.wasm]
// [--copy-wharf-js] [--force] [--toolchain DIR]` builds and prints the path.

import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SDK_DIR = dirname(fileURLToPath(import.meta.url)); // <repo>/sdk/js
/** The Wharf checkout this file belongs to. */
export const REPO = resolve(SDK_DIR, '..', '..');
/** sdk/js/build.mjs, which `build` runs. */
export const BUILD_MJS = join(SDK_DIR, 'build.mjs');
/** sdk/js/wharf.js, the SDK a connector imports. */
export const WHARF_JS = join(SDK_DIR, 'wharf.js');
/** The stream of a mapper's output record that refuses an input record. */
export const REJECTED_STREAM = 'wharf:rejected';
/**
 * Milliseconds one call may take before the harness gives up (the first call
 * of a session compiles the component when it is new: 10-20 s for a 12 MiB
 * ComponentizeJS component with a debug `wharf`, more when the machine is busy).
 */
export const DEFAULT_TIMEOUT_MS = 300_000;

/** How a call failed: `kind` (machine-readable) and `message` (for a person). */
export class CallError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = 'CallError';
    this.kind = kind;
  }
  toString() { return `error[${this.kind}]: ${this.message}`; }
}

const harnessError = (message) => new CallError('harness', message);

/** A path from a string (taken from the current directory) or a `file:` URL. */
function toPath(p, what) {
  if (p instanceof URL) return fileURLToPath(p);
  if (typeof p === 'string' && p.startsWith('file:')) return fileURLToPath(p);
  if (typeof p === 'string' && p !== '') return resolve(p);
  throw new TypeError(`${what} must be a path or a file: URL, not ${JSON.stringify(p)}`);
}

/** The `wharf` to run: `$WHARF`, else `wharf` (looked up on PATH). */
export function wharfBinary() {
  return process.env.WHARF || 'wharf';
}

/**
 * Copy sdk/js/wharf.js into `dir` (next to a connector outside this
 * repository, which imports `./wharf.js`) unless the same file is there
 * already; gives its path. The copy keeps its time when nothing changed, so
 * an up-to-date build stays skipped.
 */
export function copyWharfJs(dir) {
  const to = join(toPath(dir, 'dir'), 'wharf.js');
  if (existsSync(to) && realpathSync(to) === realpathSync(WHARF_JS)) return to;
  if (!existsSync(to) || !readFileSync(to).equals(readFileSync(WHARF_JS))) copyFileSync(WHARF_JS, to);
  return to;
}

/**
 * Build the connector `connectorJs` (a path or a file: URL; the module that
 * exports `connector`) with sdk/js/build.mjs and resolve to the path of the
 * `.wasm`. `out` defaults to `<connector's dir>/target/<file name>.wasm`; a
 * relative `out` is taken from the current directory. The build is skipped
 * when `out` is newer than every input. Options: `copyWharfJs` (first copy
 * sdk/js/wharf.js next to the connector, see `copyWharfJs`), `force`,
 * `toolchain` (build.mjs's `--toolchain`; default `$WHARF_JS_TOOLCHAIN`,
 * else build.mjs's own, `<repo>/target/js-toolchain`), `verbose` (show
 * build.mjs's output; it is kept and quoted only on failure otherwise).
 * Rejects with `CallError('build', <build.mjs's output>)`.
 */
export async function build(connectorJs, out, options = {}) {
  const source = toPath(connectorJs, 'the connector');
  const target = out === undefined || out === null
    ? join(dirname(source), 'target', `${basename(source, extname(source))}.wasm`)
    : toPath(out, 'out');
  if (!existsSync(source)) throw new CallError('build', `${source}: no such file`);
  if (options.copyWharfJs) copyWharfJs(dirname(source));
  const args = [BUILD_MJS, source, target];
  const toolchain = options.toolchain ?? process.env.WHARF_JS_TOOLCHAIN;
  if (toolchain) args.push('--toolchain', toPath(toolchain, 'toolchain'));
  if (options.force) args.push('--force');
  const verbose = Boolean(options.verbose);
  const child = spawn(process.execPath, args, { stdio: ['ignore', verbose ? 'inherit' : 'pipe', verbose ? 'inherit' : 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d) => { output += d; });
  child.stderr?.on('data', (d) => { output += d; });
  const code = await new Promise((ok, fail) => {
    child.once('error', fail);
    child.once('close', (c, signal) => ok(c ?? signal));
  }).catch((e) => { throw new CallError('build', `cannot run ${process.execPath}: ${e.message}`); });
  if (code !== 0) {
    throw new CallError('build', `node ${args.join(' ')} failed (exit ${code})${output.trim() ? `:\n${output.trim()}` : ''}`);
  }
  if (!existsSync(target)) throw new CallError('build', `build.mjs wrote no ${target}`);
  return target;
}

function keyText(key) {
  if (key === undefined || key === null) return undefined;
  if (typeof key === 'string') return key;
  if (typeof key === 'number' || typeof key === 'boolean' || typeof key === 'bigint') return String(key);
  return JSON.stringify(key);
}

/**
 * A record as the contract carries it: `{stream, key, op, data}` (`key`
 * turned into text as the SDK does, `null` when absent; `op` 'upsert' or
 * 'delete'). Records given to `map`/`push` may also be plain objects.
 */
export function record(stream, data, { key, op = 'upsert' } = {}) {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new TypeError(`record data must be an object, not ${Array.isArray(data) ? 'an array' : data === null ? 'null' : typeof data}`);
  }
  return { stream: String(stream), key: keyText(key) ?? null, op, data };
}

function outgoing(records) {
  if (!Array.isArray(records)) throw new TypeError('records must be an array');
  return records.map((r) => {
    if (r === null || typeof r !== 'object' || typeof r.stream !== 'string' || r.data === undefined) {
      throw new TypeError(`not a record ({stream, key, op, data}): ${JSON.stringify(r)}`);
    }
    const data = typeof r.data === 'string' ? JSON.parse(r.data) : r.data;
    const o = { stream: r.stream, key: keyText(r.key) ?? null, op: r.op ?? 'upsert', data };
    if (r.blob !== undefined && r.blob !== null) o.blob = r.blob;
    return o;
  });
}

/** An incoming record with every field present (`key: null` when absent). */
function incoming(r) {
  const o = { stream: r.stream, key: r.key ?? null, op: r.op ?? 'upsert', data: r.data };
  if (r.blob !== undefined && r.blob !== null) o.blob = r.blob;
  return o;
}

function pairs(h, what) {
  if (h === undefined || h === null) return [];
  const list = Array.isArray(h) ? h : Object.entries(h);
  return list.map((p) => {
    if (!Array.isArray(p) || p.length !== 2) throw new TypeError(`${what} must be an object or [name, value] pairs`);
    return [String(p[0]), String(p[1])];
  });
}

const hidden = (o, name, value) => Object.defineProperty(o, name, { value, enumerable: false });

/**
 * A request the connector sent, as it wrote it (placeholders, not secrets):
 * a plain object `{method, url, headers: [[name, value]], body?}` (`body` is
 * `{text}` or `{base64}`) with the non-enumerable helpers `header(name)`,
 * `bodyText()` and `json()`, so `deepStrictEqual` against a literal works.
 */
function request(r) {
  const o = { ...r };
  hidden(o, 'header', (name) => (o.headers ?? []).find(([k]) => k.toLowerCase() === String(name).toLowerCase())?.[1]);
  hidden(o, 'bodyText', () => (o.body && typeof o.body.text === 'string' ? o.body.text : undefined));
  hidden(o, 'json', () => {
    const t = o.bodyText();
    if (t === undefined) throw new TypeError(`${o.method} ${o.url} has no text body`);
    return JSON.parse(t);
  });
  return o;
}

// Sessions still running when the test process exits are killed and their
// script files removed (a test that failed before `finish`).
const live = new Set();
let exitHook = false;
function track(c) {
  live.add(c);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => { for (const s of live) s.kill(); });
  }
}

/**
 * A connector to start: component, config, secrets, grants, and where its
 * requests are answered. Every setter returns the harness, for chaining.
 */
export class Harness {
  #secretEnv = {};
  #wasm;
  #config;
  #args = [];
  #script = [];
  #timeout = DEFAULT_TIMEOUT_MS;

  /** The component at `wasm` (a path or a file: URL). */
  constructor(wasm) { this.#wasm = toPath(wasm, 'the component'); }

  /** The connection's config (an object, sent as JSON). Left unset with `replay`, the cassette's is used. */
  config(config) { this.#config = config; return this; }

  /**
   * A secret of the connection (filled into requests by the host; the
   * connector never sees it). `env:VAR` and `@file` work as in `wharf dev`.
   */
  secret(name, value) {
    // Through the environment of `wharf dev rpc`, not its command line
    // (which other users of the machine can read).
    const v = `WHARF_HARNESS_SECRET_${Object.keys(this.#secretEnv).length}`;
    this.#secretEnv[v] = value;
    this.#args.push('--secret', `${name}=env:${v}`);
    return this;
  }

  /** Grant a host pattern besides the spec's. */
  allowHost(pattern) { this.#args.push('--allow-host', pattern); return this; }

  /** Allow a blocked network (`127.0.0.0/8` for a server in the test). */
  allowNetwork(cidr) { this.#args.push('--allow-network', cidr); return this; }

  /** An OAuth2 access token for `{{oauth:access_token}}`. */
  oauthToken(token) { this.#args.push('--oauth-token', token); return this; }

  /**
   * Answer requests from this cassette (recorded with `wharf dev ... --record`);
   * `finish()` fails on the first difference.
   */
  replay(cassette) { this.#args.push('--replay', toPath(cassette, 'the cassette')); return this; }

  /**
   * Record the session in this cassette (on the network the harness was
   * granted, or from the scripted answers); written when the session ends.
   */
  record(cassette) { this.#args.push('--record', toPath(cassette, 'the cassette')); return this; }

  /**
   * Answer `method url` (a URL ending in `*` is a prefix) with `status` and
   * `body` as JSON; the first scripted answer that fits is used.
   */
  respond(method, url, status, body = null) {
    return this.respondWith(method, url, status, [['content-type', 'application/json']], JSON.stringify(body));
  }

  /** Answer `method url` with `status`, `headers` (object or pairs) and a text `body`. */
  respondWith(method, url, status, headers = [], body = '') {
    this.#script.push({
      method, url,
      outcome: { response: { status, headers: pairs(headers, 'headers'), body: { text: String(body) } } },
    });
    return this;
  }

  /** More arguments for `wharf dev rpc` (e.g. `'--no-cache'`). */
  arg(...args) { this.#args.push(...args.map(String)); return this; }

  /** How long one call may take, in milliseconds, before the harness gives up (default 300 s). */
  timeout(ms) { this.#timeout = ms; return this; }

  /** Start `wharf dev rpc` on the component; resolves to a `Connector`. */
  async start() {
    const wharf = wharfBinary();
    const args = ['dev', 'rpc', this.#wasm];
    if (this.#config !== undefined) args.push('--config', JSON.stringify(this.#config));
    args.push(...this.#args);
    let scriptDir;
    if (this.#script.length) {
      scriptDir = mkdtempSync(join(tmpdir(), 'wharf-harness-'));
      const file = join(scriptDir, 'script.json');
      writeFileSync(file, JSON.stringify(this.#script));
      args.push('--script', file);
    }
    const child = spawn(wharf, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...this.#secretEnv },
    });
    try {
      await new Promise((ok, fail) => { child.once('spawn', ok); child.once('error', fail); });
    } catch (e) {
      if (scriptDir) rmSync(scriptDir, { recursive: true, force: true });
      throw harnessError(`cannot start \`${wharf}\` (${e.message}); set WHARF to the wharf binary`);
    }
    return new Connector(child, scriptDir, this.#timeout);
  }
}

/**
 * A running connector session (`await harness.start()`). Calls are answered
 * in order; each resolves to the call's value or rejects with `CallError`.
 * End it with `finish()` (checks the cassette) or `close()`; `await using`
 * works too where the runtime has it.
 */
export class Connector {
  #child;
  #scriptDir;
  #timeout;
  #buf = '';
  #lines = [];
  #waiters = [];
  #stderr = '';
  #ended = false;   // stdout closed
  #closed = false;  // stdin closed by us
  #exit;            // promise of the exit code

  constructor(child, scriptDir, timeout) {
    this.#child = child;
    this.#scriptDir = scriptDir;
    this.#timeout = timeout;
    this.#exit = new Promise((ok) => child.once('close', (code, signal) => ok(code ?? signal)));
    child.stdin.on('error', () => { /* EPIPE when wharf has ended: the read reports it */ });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      this.#buf += d;
      let i;
      while ((i = this.#buf.indexOf('\n')) >= 0) {
        const line = this.#buf.slice(0, i);
        this.#buf = this.#buf.slice(i + 1);
        if (line.trim()) this.#deliver(line);
      }
    });
    child.stdout.on('end', () => {
      this.#ended = true;
      for (const w of this.#waiters.splice(0)) w(null);
    });
    // wharf writes log lines to standard error as they come: kept (the last
    // 1 MiB, `stderr()`) and quoted when the session fails.
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      this.#stderr += d;
      if (this.#stderr.length > 1 << 20) this.#stderr = this.#stderr.slice(-(1 << 19));
    });
    track(this);
    this.#idle();
  }

  #deliver(line) {
    const w = this.#waiters.shift();
    if (w) w(line); else this.#lines.push(line);
  }

  // While no call is waiting, the session does not keep the test process
  // alive (a test that fails before `finish` must not hang the run).
  #idle() {
    for (const h of [this.#child, this.#child.stdin, this.#child.stdout, this.#child.stderr]) h?.unref?.();
  }
  #busy() {
    for (const h of [this.#child, this.#child.stdin, this.#child.stdout, this.#child.stderr]) h?.ref?.();
  }

  #nextLine() {
    if (this.#lines.length) return Promise.resolve(this.#lines.shift());
    if (this.#ended) return Promise.resolve(null);
    return new Promise((ok) => this.#waiters.push(ok));
  }

  #tail(lines = 20) {
    const t = this.#stderr.trimEnd();
    return t ? `\n--- wharf dev rpc standard error (last lines) ---\n${t.split('\n').slice(-lines).join('\n')}` : '';
  }

  /**
   * Send one request (`{op: ...}`) and resolve to the answer's `ok` value;
   * rejects with `CallError` for an `error` answer.
   */
  async call(req) {
    if (this.#closed) throw harnessError('the session is finished');
    this.#busy();
    let timer;
    try {
      this.#child.stdin.write(`${JSON.stringify(req)}\n`);
      const timeout = new Promise((ok) => { timer = setTimeout(() => ok(undefined), this.#timeout); });
      const line = await Promise.race([this.#nextLine(), timeout]);
      if (line === undefined) {
        this.kill();
        throw harnessError(`wharf dev rpc answered nothing to \`${req.op}\` in ${this.#timeout / 1000} s${this.#tail()}`);
      }
      if (line === null) {
        const code = await this.#exit;
        throw harnessError(`wharf dev rpc ended (exit ${code})${this.#tail()}`);
      }
      let answer;
      try { answer = JSON.parse(line); } catch (e) {
        throw harnessError(`wharf dev rpc answered \`${line}\`: ${e.message}`);
      }
      if (answer && typeof answer === 'object' && 'error' in answer) {
        const e = answer.error;
        if (e && typeof e === 'object') throw new CallError(String(e.kind ?? 'unknown'), String(e.message ?? ''));
        throw harnessError(JSON.stringify(e));
      }
      if (!answer || typeof answer !== 'object' || !('ok' in answer)) throw harnessError(`unexpected answer \`${line}\``);
      return answer.ok;
    } finally {
      clearTimeout(timer);
      if (!this.#waiters.length) this.#idle();
    }
  }

  /** `check` the config (and credentials). */
  async check() { await this.call({ op: 'check' }); }

  /** The streams the connection offers (`discover`), as JSON. */
  discover() { return this.call({ op: 'discover' }); }

  /** One page of `stream` after `cursor`: `{records, cursor, more, row_errors}` (every field present). */
  async fetch(stream, cursor = null) {
    const p = await this.call({ op: 'fetch', stream, cursor: cursor ?? null });
    return {
      ...p,
      records: (p.records ?? []).map(incoming),
      cursor: p.cursor ?? null,
      more: Boolean(p.more),
      row_errors: p.row_errors ?? [],
    };
  }

  /** Every record of `stream`, from the start, following cursors while `more`. */
  async fetchAll(stream, maxPages = 10_000) {
    let cursor = null;
    const records = [];
    for (let i = 0; i < maxPages; i++) {
      const p = await this.fetch(stream, cursor);
      records.push(...p.records);
      if (!p.more) return records;
      cursor = p.cursor ?? cursor;
    }
    throw harnessError(`\`${stream}\` still had more after ${maxPages} pages`);
  }

  /** `map` records; resolves to the output records (refusals are records of `REJECTED_STREAM`). */
  async map(records) {
    return (await this.call({ op: 'map', records: outgoing(records) })).map(incoming);
  }

  /** `push` records: `{created, updated, deleted, rejected: [{index, field, message}]}`. */
  async push(records) {
    const r = await this.call({ op: 'push', records: outgoing(records) });
    return { created: 0, updated: 0, deleted: 0, ...r, rejected: r.rejected ?? [] };
  }

  /**
   * A webhook delivery (`receive`): `headers` (object or pairs), `body`
   * (text; anything else is sent as JSON); resolves to its records.
   */
  async receive(headers = [], body = '', { method = 'POST', query = [] } = {}) {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    const r = await this.call({ op: 'receive', method, headers: pairs(headers, 'headers'), query: pairs(query, 'query'), body: text });
    return r.map(incoming);
  }

  /** Every request the connector sent so far (with `header(name)`, `bodyText()`, `json()`). */
  async requests() { return (await this.call({ op: 'requests' })).map(request); }

  /** Log lines since the last call of this (`{level, source, message, at_ms}`). */
  logs() { return this.call({ op: 'logs' }); }

  /** What `wharf dev rpc` wrote to standard error so far (its log lines). */
  stderr() { return this.#stderr; }

  /**
   * End the session: rejects with `CallError('replay', ...)` naming the first
   * difference from the cassette (or a request no scripted answer fitted), if
   * there was one; a recorded cassette is written now.
   */
  async finish() {
    let error;
    try { await this.call({ op: 'finish' }); } catch (e) { error = e; }
    const code = await this.close();
    if (error) throw error;
    if (code !== 0) throw harnessError(`wharf dev rpc ended with exit ${code}${this.#tail()}`);
  }

  /** End the session without `finish`'s check (standard input closed); resolves to the exit code. */
  async close() {
    if (!this.#closed) {
      this.#closed = true;
      this.#child.stdin.end();
    }
    this.#busy();
    let timer;
    const code = await Promise.race([
      this.#exit,
      new Promise((ok) => { timer = setTimeout(() => { this.kill(); ok(undefined); }, this.#timeout); }),
    ]);
    clearTimeout(timer);
    this.#cleanup();
    return code ?? this.#exit;
  }

  /** Stop the process now (no cassette is written). */
  kill() {
    this.#closed = true;
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
    this.#cleanup();
  }

  #cleanup() {
    live.delete(this);
    if (this.#scriptDir) {
      try { rmSync(this.#scriptDir, { recursive: true, force: true }); } catch { /* gone */ }
      this.#scriptDir = undefined;
    }
  }

  async [Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')]() { await this.close(); }
}

// ------------------------------------------------------------ command line

async function main(argv) {
  const usage = 'usage: node sdk/js/harness.mjs build <connector.js> [out.wasm] [--copy-wharf-js] [--force] [--toolchain DIR]';
  if (argv[0] !== 'build') throw new CallError('usage', usage);
  const pos = [];
  const options = { verbose: true };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--copy-wharf-js') options.copyWharfJs = true;
    else if (a === '--force') options.force = true;
    else if (a === '--toolchain' && i + 1 < argv.length) options.toolchain = argv[++i];
    else if (a.startsWith('--')) throw new CallError('usage', `unknown option ${a}\n${usage}`);
    else pos.push(a);
  }
  if (pos.length < 1 || pos.length > 2) throw new CallError('usage', usage);
  await build(pos[0], pos[1], options);
}

const invoked = process.argv[1] && (() => {
  try { return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url)); } catch { return false; }
})();
if (invoked) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(e instanceof CallError ? `error: ${e.message}` : (e?.stack ?? e));
    process.exit(1);
  });
}
