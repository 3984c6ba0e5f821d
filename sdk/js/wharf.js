// Wharf SDK for JavaScript connectors (wharf:connector@0.2.0, world
// `sandboxed-connector`), built with ComponentizeJS by sdk/js/build.mjs.
//
//   import * as wharf from './wharf.js';
//   import { spec, get, bearer, record, page, log } from './wharf.js';
//
//   export const connector = wharf.connector({   // the export MUST be named `connector`
//     spec: spec({ name: 'todos', version: '0.1.0', streams: ['todos'], ... }),
//     check(config) { get(`${config.base_url}/todos`, { headers: { Authorization: bearer('api_token') } }).raiseForStatus(); },
//     fetch(config, stream, cursor) { ...; return page(records, { cursor: next, more: true }); },
//   });
//
// (`connector` is also exported as `defineConnector`, for a named import that
// does not clash with the `connector` export.)
//
// One file though over 600 lines: authors copy or import it as one module
// (a component has no node_modules), and its parts (HTTP, records, spec,
// config, the export wrapper) are sections below.
//
// Conventions (the same as the Rust SDK, sdk/src):
// - Errors: throw ConfigError, AuthError, AuthExpired, RateLimited(seconds),
//   TransientError, FatalError or Unsupported; `connector()` turns them into
//   the WIT `error` variant. ANY other exception becomes `fatal` with a
//   one-line message (ComponentizeJS would trap on a plain Error otherwise).
// - HTTP: `get/post/put/patch/del/send` return a Response; `raiseForStatus()`
//   maps 401/403 → auth, 429 → rate-limited (Retry-After, else 60 s),
//   408/5xx → transient, other 4xx → fatal. A request the host refuses
//   (`denied`) is a config error; timeouts and connection failures are
//   transient; too-large and invalid requests are fatal.
// - Secrets never reach the guest: write `secret('api_token')` or
//   `bearer('api_token')` and the host substitutes the value, only for the
//   hosts the spec binds the secret to.
// - Values are camelCase fields and kebab-case enum strings, as ComponentizeJS
//   maps WIT; option<T> is `undefined` when absent.
//
// Only synchronous host calls exist, but exported methods may be `async`:
// the platform `fetch()` works too (the build keeps ComponentizeJS's `http`
// feature; Wharf serves wasi:http through the same checks as `send`).
// Everything here runs inside the component; nothing needs Node.

import { send as hostSend } from 'wharf:connector/http@0.2.0';
import { log as hostLog } from 'wharf:connector/log@0.2.0';
import { get as stateGet, set as stateSet, remove as stateRemove } from 'wharf:connector/state@0.2.0';
import { info as oauthInfoHost } from 'wharf:connector/oauth@0.2.0';
import { stage as hostStage, stageBlob as hostStageBlob } from 'wharf:pages/pages@0.1.0';

// ---------------------------------------------------------------- errors

const ERROR_TAGS = ['config', 'auth', 'auth-expired', 'rate-limited', 'transient', 'fatal', 'unsupported'];

/**
 * Base class of the connector errors. `payload` is the WIT `error` variant
 * (`{tag, val}`); ComponentizeJS reads it even when the error is thrown
 * outside `connector()`.
 */
export class WharfError extends Error {
  constructor(tag, val, message) {
    super(message ?? (val === undefined ? tag : `${tag}: ${val}`));
    this.name = new.target.name;
    Object.defineProperty(this, 'payload', { value: val === undefined ? { tag } : { tag, val }, enumerable: false });
  }
  get tag() { return this.payload.tag; }
}
/** The configuration is wrong: not retried; the connection is marked `error`. */
export class ConfigError extends WharfError { constructor(msg) { super('config', oneLine(msg)); } }
/** The remote system rejected the credentials: not retried. */
export class AuthError extends WharfError { constructor(msg) { super('auth', oneLine(msg)); } }
/** The token or session expired: the host renews it and calls once more. */
export class AuthExpired extends WharfError { constructor(msg) { super('auth-expired', oneLine(msg)); } }
/** The remote system asked to wait `seconds` (at least 1). */
export class RateLimited extends WharfError {
  constructor(seconds = 60) { const s = toU32(seconds, 60, 1); super('rate-limited', s, `rate limited: retry after ${s} s`); this.seconds = s; }
}
/** A temporary failure (timeout, 5xx): retried with backoff. */
export class TransientError extends WharfError { constructor(msg) { super('transient', oneLine(msg)); } }
/** A permanent failure: the run fails with this message. */
export class FatalError extends WharfError { constructor(msg) { super('fatal', oneLine(msg)); } }
/** This connector does not implement the called function. */
export class Unsupported extends WharfError { constructor() { super('unsupported', undefined, 'unsupported'); } }

/** Text on one line, at most `max` characters. */
function oneLine(v, max = 1000) {
  let s;
  if (typeof v === 'string') s = v;
  else if (v instanceof Error) s = `${v.name}: ${v.message}`;
  else { try { s = JSON.stringify(v) ?? String(v); } catch { s = String(v); } }
  s = s.replace(/\s+/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function toU32(v, dflt, min = 0) {
  const n = Math.ceil(Number(v));
  if (!Number.isFinite(n)) return dflt;
  return Math.min(Math.max(n, min), 0xffffffff);
}

/** The first frame of a stack (`fetch@guests/x/connector.js:12:7`), if any. */
function where(e) {
  const frame = typeof e?.stack === 'string' ? e.stack.split('\n').find((l) => l.trim()) : undefined;
  return frame ? ` (at ${frame.trim()})` : '';
}

// What a host call's error (the payload of the Error an import throws) means.
function hostErrorToWharf(p, what = '') {
  const m = p.val === undefined ? '' : `: ${oneLine(p.val)}`;
  const at = what ? `${what}: ` : '';
  switch (p.tag) {
    case 'denied': return new ConfigError(`${at}request refused by the host${m}`);
    case 'timeout': return new TransientError(`${at}request timed out`);
    case 'connect': return new TransientError(`${at}connection failed${m}`);
    case 'too-large': return new FatalError(`${at}response larger than the host allows`);
    case 'invalid': return new FatalError(`${at}invalid request${m}`);
    case 'missing': return new ConfigError(`${at}a secret has no value on this connection`);
    default: return new FatalError(`${at}unexpected error ${oneLine(p)}`);
  }
}

/**
 * Any thrown value as the WIT `error` variant `{tag, val}`. Never throws.
 * Exported for tests and for code that calls exports by hand.
 */
export function toWitError(e) {
  try {
    let p = e instanceof WharfError ? e.payload
      : (e !== null && typeof e === 'object' && Object.prototype.hasOwnProperty.call(e, 'payload')) ? e.payload
        : (e !== null && typeof e === 'object' && !(e instanceof Error)) ? e : undefined;
    if (p && typeof p === 'object' && typeof p.tag === 'string') {
      if (!ERROR_TAGS.includes(p.tag)) p = hostErrorToWharf(p).payload;
      if (p.tag === 'unsupported') return { tag: 'unsupported' };
      if (p.tag === 'rate-limited') return { tag: 'rate-limited', val: toU32(p.val, 60, 1) };
      return { tag: p.tag, val: p.val === undefined ? p.tag : (typeof p.val === 'string' ? p.val : oneLine(p.val)) };
    }
    return { tag: 'fatal', val: oneLine(`${oneLine(e)}${e instanceof Error ? where(e) : ''}`) };
  } catch {
    return { tag: 'fatal', val: 'the connector failed with an exception that cannot be described' };
  }
}

// ---------------------------------------------------------------- logging

function logLine(level, args) {
  const text = args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? `${a.name}: ${a.message}` : safeJson(a))).join(' ');
  hostLog(level, text);
}
function safeJson(v) { try { return JSON.stringify(v) ?? String(v); } catch { return String(v); } }

/**
 * Log into the run's log (the host redacts secret values and caps the
 * volume). Arguments are joined with spaces; non-strings are written as JSON.
 * `console.log`/`console.error` also reach the run's log (stdout/stderr).
 */
export const log = {
  trace: (...a) => logLine('trace', a),
  debug: (...a) => logLine('debug', a),
  info: (...a) => logLine('info', a),
  warn: (...a) => logLine('warn', a),
  error: (...a) => logLine('error', a),
};

// ---------------------------------------------------------------- secrets

/** The placeholder the host replaces with secret `name`: `{{secret:NAME}}`. */
export const secret = (name) => `{{secret:${name}}}`;
/** `Bearer {{secret:NAME}}`, for an `Authorization` header. */
export const bearer = (name) => `Bearer ${secret(name)}`;
/** `Basic {{basic:USER:PASS}}` from two secrets; the host encodes them. */
export const basic = (user, password) => `Basic {{basic:${user}:${password}}}`;
/** `Bearer {{oauth:access_token}}`: the connection's OAuth2 token, kept by the host. */
export const oauthBearer = () => 'Bearer {{oauth:access_token}}';
/** `Bearer {{session:token}}`: the login session's token, kept by the host. */
export const sessionBearer = () => 'Bearer {{session:token}}';

// ---------------------------------------------------------------- HTTP

const PLACEHOLDER = /^\{\{[a-z]+:[^{}]*\}\}$/;

/** Percent-encode all but RFC 3986 unreserved characters. */
export function encode(text) {
  return encodeURIComponent(String(text)).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function pairs(v, what) {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : Object.entries(v);
  const out = [];
  for (const p of list) {
    if (!Array.isArray(p) || p.length !== 2) throw new FatalError(`${what} must be an object or a list of [name, value] pairs`);
    const [k, val] = p;
    if (val === undefined || val === null) continue;
    for (const one of Array.isArray(val) ? val : [val]) out.push([String(k), String(one)]);
  }
  return out;
}

/** `url` with `query` (object or pairs) appended; placeholders stay as they are. */
export function withQuery(url, query) {
  const q = pairs(query, 'query')
    .map(([k, v]) => `${encode(k)}=${PLACEHOLDER.test(v) ? v : encode(v)}`)
    .join('&');
  if (!q) return url;
  return `${url}${url.includes('?') ? (/[?&]$/.test(url) ? '' : '&') : '?'}${q}`;
}

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();

/** An HTTP response: `status`, `headers` ([name, value], lowercase names), `body` (bytes). */
export class Response {
  constructor(status, headers = [], body = new Uint8Array(0), blob = undefined, request = undefined) {
    this.status = status;
    this.headers = headers;
    this.body = typeof body === 'string' ? ENCODER.encode(body) : body;
    this.blob = blob;
    this.request = request; // `METHOD url`, for messages
  }
  /** Whether the status is 2xx. */
  get ok() { return this.status >= 200 && this.status < 300; }
  /** A header by name (case-insensitive), or undefined. */
  header(name) {
    const n = name.toLowerCase();
    const h = this.headers.find(([k]) => k.toLowerCase() === n);
    return h ? h[1] : undefined;
  }
  /** The body as text (UTF-8). */
  text() { return DECODER.decode(this.body); }
  /** The body parsed as JSON; a FatalError if it is not JSON. */
  json() {
    try { return JSON.parse(this.text()); } catch (e) {
      throw new FatalError(`response${this.request ? ` to ${this.request}` : ''} (status ${this.status}) is not JSON: ${e.message}`);
    }
  }
  /** `Retry-After` in seconds (decimal rounded up; an HTTP date counts as 60), or undefined. */
  retryAfter() {
    const v = this.header('retry-after');
    if (v === undefined) return undefined;
    const n = Number(v.trim());
    return v.trim() !== '' && Number.isFinite(n) && n >= 0 ? toU32(n, 60) : 60;
  }
  /** The `rel="next"` target of the `Link` header, if any. */
  nextLink() {
    const v = this.header('link');
    if (!v) return undefined;
    for (const part of v.split(/,(?=\s*<)/)) {
      const m = /^\s*<([^>]*)>(.*)$/.exec(part);
      if (m && /;\s*rel\s*=\s*"?([^";]*)"?/i.test(m[2])) {
        const rels = /;\s*rel\s*=\s*"?([^";]*)"?/i.exec(m[2])[1].trim().toLowerCase().split(/\s+/);
        if (rels.includes('next')) return m[1];
      }
    }
    return undefined;
  }
  /**
   * This response if the status is below 400; otherwise throw what tells the
   * host what to do: 401/403 → AuthError, 429 → RateLimited(Retry-After or
   * 60), 408/5xx → TransientError, other 4xx → FatalError.
   */
  raiseForStatus() {
    const s = this.status;
    if (s < 400) return this;
    const msg = () => `HTTP ${s}${this.request ? ` from ${this.request}` : ''}: ${oneLine(this.text(), 200)}`;
    if (s === 401 || s === 403) throw new AuthError(msg());
    if (s === 429) throw new RateLimited(this.retryAfter() ?? 60);
    if (s === 408 || s >= 500) throw new TransientError(msg());
    throw new FatalError(msg());
  }
}

/**
 * For a platform `fetch()` response (`wasi:http`, through the same egress
 * policy, grants, placeholders and redaction as `send`): the response if
 * its status is below 400, otherwise the error `raiseForStatus()` throws.
 * A request the host refuses rejects `fetch()` itself with a TypeError
 * (the reason is in the run's log); connection failures likewise.
 */
export async function raiseForFetchStatus(resp) {
  if (resp.status < 400) return resp;
  return new Response(resp.status, [...resp.headers.entries()], await resp.text(), undefined, resp.url || undefined)
    .raiseForStatus();
}

// JSON text with every `{` that starts `{{` written `\u007b`, so text from
// records is never taken for a placeholder (same text once decoded).
function escapePlaceholders(json) { return json.replace(/\{(?=\{)/g, '\\u007b'); }

/**
 * Send a request through the host and return a Response (any status; call
 * `raiseForStatus()`). Options:
 *   method ('GET'), url (absolute), headers (object or pairs), query (object
 *   or pairs; arrays repeat a name; undefined values are left out),
 *   json (a body you write, placeholders filled), jsonData (a body of record
 *   data: `{{` is escaped so no placeholder is ever filled), form (object:
 *   application/x-www-form-urlencoded), body (string or bytes),
 *   bodyBlob, sign (signing key name), keepBody (keep the body in the host
 *   as `response.blob`).
 * Host failures throw: denied → ConfigError, timeout/connect →
 * TransientError, too-large/invalid → FatalError.
 */
export function send(opts) {
  const { method = 'GET', url, headers, query, json, jsonData, form, body, bodyBlob, sign, keepBody = false } = opts ?? {};
  if (typeof url !== 'string' || url === '') throw new FatalError('an HTTP request needs a url');
  const hs = pairs(headers, 'headers');
  const has = (n) => hs.some(([k]) => k.toLowerCase() === n);
  let bytes;
  if (json !== undefined) {
    bytes = ENCODER.encode(JSON.stringify(json));
    if (!has('content-type')) hs.push(['Content-Type', 'application/json']);
  } else if (jsonData !== undefined) {
    bytes = ENCODER.encode(escapePlaceholders(typeof jsonData === 'string' ? jsonData : JSON.stringify(jsonData)));
    if (!has('content-type')) hs.push(['Content-Type', 'application/json; charset=utf-8']);
  } else if (form !== undefined) {
    const f = (s) => (PLACEHOLDER.test(s) ? s : encode(s).replace(/%20/g, '+'));
    bytes = ENCODER.encode(pairs(form, 'form').map(([k, v]) => `${f(k)}=${f(v)}`).join('&'));
    if (!has('content-type')) hs.push(['Content-Type', 'application/x-www-form-urlencoded']);
  } else if (body !== undefined && body !== null) {
    bytes = typeof body === 'string' ? ENCODER.encode(body) : body;
  }
  const full = withQuery(url, query);
  const m = String(method).toUpperCase();
  let r;
  try {
    r = hostSend({
      method: m, url: full, headers: hs, body: bytes, bodyBlob: bodyBlob ?? undefined,
      sign: sign ?? undefined, keepBody: Boolean(keepBody),
    });
  } catch (e) {
    if (e instanceof WharfError) throw e;
    if (e && typeof e === 'object' && e.payload && typeof e.payload.tag === 'string') {
      throw hostErrorToWharf(e.payload, `${m} ${full}`);
    }
    throw e;
  }
  return new Response(r.status, r.headers, r.body, r.blob, `${m} ${full}`);
}
/** `send({...opts, method: 'GET', url})`. */
export const get = (url, opts = {}) => send({ ...opts, method: 'GET', url });
/** `send({...opts, method: 'POST', url})`. */
export const post = (url, opts = {}) => send({ ...opts, method: 'POST', url });
/** `send({...opts, method: 'PUT', url})`. */
export const put = (url, opts = {}) => send({ ...opts, method: 'PUT', url });
/** `send({...opts, method: 'PATCH', url})`. */
export const patch = (url, opts = {}) => send({ ...opts, method: 'PATCH', url });
/** `send({...opts, method: 'DELETE', url})`. */
export const del = (url, opts = {}) => send({ ...opts, method: 'DELETE', url });

// ---------------------------------------------------------------- state, oauth

/** Small non-secret values kept per connection across runs. */
export const state = {
  /** The value of `key`, or undefined. */
  get: (key) => stateGet(key),
  /** Set `key` (a string), optionally for `ttlSecs`; a FatalError if the host refuses. */
  set: (key, value, ttlSecs) => {
    try { stateSet(key, String(value), ttlSecs === undefined ? undefined : toU32(ttlSecs, 0)); } catch (e) {
      throw new FatalError(`state.set(${key}) refused: ${oneLine(e?.payload ?? e)}`);
    }
  },
  /** Remove `key`. */
  remove: (key) => stateRemove(key),
};

/** The OAuth2 facts the spec's `infoFields` name, as an object (never a token). */
export const oauthInfo = () => Object.fromEntries(oauthInfoHost());

// ---------------------------------------------------------------- data helpers

/**
 * Resolve an RFC 6901 JSON pointer (`''` is the whole document,
 * `/data/0/name`, `~1` is `/`, `~0` is `~`). Returns undefined when nothing is
 * there; throws ConfigError for a pointer that does not start with `/`.
 */
export function pointer(doc, ptr) {
  if (ptr === undefined || ptr === null || ptr === '') return doc;
  if (typeof ptr !== 'string' || !ptr.startsWith('/')) {
    throw new ConfigError(`invalid JSON pointer ${JSON.stringify(ptr)}: it must be empty or start with "/"`);
  }
  let cur = doc;
  for (const raw of ptr.slice(1).split('/')) {
    const tok = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9][0-9]*)$/.test(tok)) return undefined;
      cur = cur[Number(tok)];
    } else if (cur !== null && typeof cur === 'object' && Object.prototype.hasOwnProperty.call(cur, tok)) {
      cur = cur[tok];
    } else {
      return undefined;
    }
    if (cur === undefined) return undefined;
  }
  return cur;
}

function scalarText(v) {
  return typeof v === 'string' ? v : (typeof v === 'number' || typeof v === 'boolean') ? String(v) : undefined;
}

/**
 * A record of `stream`. `data` is a JSON object (or JSON text of one).
 * Options: key (the record's identity; numbers become text), keyFrom (take
 * the key from this field of `data`), op ('upsert' | 'delete'), blob.
 */
export function record(stream, data, { key, keyFrom, op = 'upsert', blob } = {}) {
  let text;
  if (typeof data === 'string') text = data;
  else if (data !== null && typeof data === 'object' && !Array.isArray(data)) {
    text = JSON.stringify(data);
    if (key === undefined && keyFrom !== undefined && keyFrom !== null) key = scalarText(data[keyFrom]);
  } else throw new FatalError(`a record must be a JSON object, got ${data === null ? 'null' : Array.isArray(data) ? 'an array' : typeof data}`);
  if (op !== 'upsert' && op !== 'delete') throw new FatalError(`record op must be 'upsert' or 'delete', not ${JSON.stringify(op)}`);
  return {
    stream: String(stream),
    key: key === undefined || key === null ? undefined : (scalarText(key) ?? safeJson(key)),
    op,
    data: text,
    blob: blob ?? undefined,
  };
}

/**
 * Have the host slice the records at JSON pointer `ptr` out of `body` (a
 * Response, a Uint8Array or JSON text) and add them, as upserts of `stream`
 * keyed by their member `key`, to the page this `fetch` returns, ahead of
 * the records given to page(). Returns how many it added.
 *
 * The fastest way to a source's usual page: the host reads the page with
 * its own scanner, and no record is parsed, printed or handed back in
 * JavaScript. Fastest of all with a response sent with `keepBody: true`: the
 * body then stays in the host (`resp.blob`) and never enters JavaScript; the
 * host releases it once staged. Records are the array's elements (an object
 * there is one record, `null` none), each with its text as the page spells
 * it; a key is a string, number or bool member, as text, as the Rust SDK
 * reads it (a number as JSON prints it: `1.0` stays "1.0"). Throws a
 * FatalError (nothing added) if the body is not JSON, `ptr` leads to no
 * records, a record is not an object, the page would pass the call's
 * limits, or this is not `fetch`.
 *
 *   const resp = get(url, { keepBody: true }).raiseForStatus();
 *   const n = stageRecords('items', resp, '/data', { key: 'id' });
 *   return page([], { cursor, more: n === pageSize });
 */
export function stageRecords(stream, body, ptr = '', { key } = {}) {
  const k = key === undefined || key === null ? undefined : String(key);
  const blob = body instanceof Response && typeof body.blob === 'string' ? body.blob : undefined;
  let bytes;
  if (blob === undefined) {
    const raw = body instanceof Response ? body.body : typeof body === 'string' ? ENCODER.encode(body) : body;
    // The bindings hand a response body over as an ArrayBuffer or a view.
    bytes = raw instanceof Uint8Array ? raw
      : ArrayBuffer.isView(raw) ? new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength)
        : raw instanceof ArrayBuffer ? new Uint8Array(raw) : undefined;
    if (bytes === undefined) throw new FatalError('stageRecords: the body must be a Response, bytes or text');
  }
  try {
    return blob === undefined
      ? hostStage(String(stream), bytes, String(ptr), k)
      : hostStageBlob(String(stream), blob, String(ptr), k);
  } catch (e) {
    throw new FatalError(oneLine(e?.payload ?? e));
  }
}

/** The stream of a mapper's output record that refuses an input record. */
export const REJECTED_STREAM = 'wharf:rejected';

/**
 * What a mapper returns in place of a record it refuses: a record of
 * `wharf:rejected` with data `{stream, key, field, message}` (the Rust SDK's
 * `Record::rejection`). The host stores it with the run's errors under the
 * input's key; nothing of it reaches the destination, and the rest goes on.
 */
export function refuse(input, message, { field } = {}) {
  const data = { stream: String(input?.stream ?? '') };
  const key = input?.key === undefined || input?.key === null ? undefined : String(input.key);
  if (key !== undefined) data.key = key;
  if (field !== undefined && field !== null) data.field = String(field);
  data.message = oneLine(message);
  return record(REJECTED_STREAM, data, { key });
}

/** A row the source could not read: stored with the run's errors while the rest goes on. */
export function rowError(stream, row, message, { field } = {}) {
  return { stream: String(stream), row: String(row), field: field === undefined ? undefined : String(field), message: String(message) };
}

/**
 * One page for `fetch`. Options: cursor (where to resume; stored once the
 * destination has the page), more (another page follows; default false),
 * pending (seconds to wait for data still being prepared), rowErrors.
 */
export function page(records = [], { cursor, more = false, pending, rowErrors = [] } = {}) {
  const p = {
    records: Object.freeze(records.map(normRecord)),
    cursor: cursor === undefined || cursor === null ? undefined : String(cursor),
    more: Boolean(more),
    pending: pending === undefined || pending === null ? undefined : toU32(pending, 0),
    rowErrors: rowErrors.map((e) => rowError(e.stream, e.row, e.message, e)),
  };
  PAGES.add(p);
  return p;
}

// Pages made by page(), whose records are checked already (and frozen):
// `fetch` returns them as they are instead of checking every record again.
const PAGES = new WeakSet();

function normRecord(r) {
  if (r === null || typeof r !== 'object' || typeof r.stream !== 'string' || r.data === undefined) {
    throw new FatalError('a returned record must come from record(stream, data, {...})');
  }
  return record(r.stream, r.data, { key: r.key, op: r.op ?? 'upsert', blob: r.blob });
}

// ---------------------------------------------------------------- spec

const asText = (v, dflt) => (v === undefined || v === null ? dflt : typeof v === 'string' ? v : JSON.stringify(v));
const opt = (v) => (v === undefined || v === null ? undefined : v);

/** A stream spec from a name or `{name, description, keyField, cursorField, schema}`. */
export function stream(s) {
  const o = typeof s === 'string' ? { name: s } : s;
  return {
    name: String(o.name),
    description: o.description ?? '',
    keyField: opt(o.keyField),
    cursorField: opt(o.cursorField),
    schema: asText(o.schema, '{}'),
  };
}

/**
 * A connector spec with defaults: version '0.1.0', empty description,
 * roles from the methods given to `connector()` when left out, streams
 * (names or objects, see `stream`), configSchema (object or text; default
 * `{"type": "object"}`), secrets (names or `{name, description, hosts,
 * required = true}`), hosts, signing, rateBudgets empty, oauth2 / webhook /
 * login absent, catalog `{displayName: name, categories: []}` merged with
 * what you give. Nested WIT records (oauth2, webhook, ...) are passed as they
 * are, in ComponentizeJS's camelCase form.
 */
export function spec(o) {
  if (!o || typeof o.name !== 'string') throw new Error('spec({...}) needs a name');
  const cat = o.catalog ?? {};
  return {
    name: o.name,
    version: o.version ?? '0.1.0',
    description: o.description ?? '',
    roles: o.roles ?? [],
    streams: (o.streams ?? []).map(stream),
    configSchema: asText(o.configSchema, '{"type":"object"}'),
    secrets: (o.secrets ?? []).map((s) => {
      const x = typeof s === 'string' ? { name: s } : s;
      return { name: x.name, description: x.description ?? '', hosts: x.hosts ?? [], required: x.required ?? true };
    }),
    hosts: o.hosts ?? [],
    oauth2: opt(o.oauth2),
    webhook: opt(o.webhook),
    login: opt(o.login),
    signing: o.signing ?? [],
    rateBudgets: o.rateBudgets ?? [],
    catalog: {
      displayName: cat.displayName ?? o.name,
      categories: cat.categories ?? [],
      iconSvg: opt(cat.iconSvg),
      documentationUrl: opt(cat.documentationUrl),
      publisher: opt(cat.publisher),
    },
  };
}

// ---------------------------------------------------------------- config

const TYPE_CHECKS = {
  string: (v) => typeof v === 'string',
  integer: (v) => Number.isInteger(v),
  number: (v) => typeof v === 'number' && Number.isFinite(v),
  boolean: (v) => typeof v === 'boolean',
  array: (v) => Array.isArray(v),
  object: (v) => v !== null && typeof v === 'object' && !Array.isArray(v),
  null: (v) => v === null,
};

/**
 * Parse the config text and apply the top level of the config schema:
 * `default`s fill absent fields, `required` fields must be present (and not
 * an empty string), simple `type`s are checked. Throws ConfigError.
 */
export function parseConfig(text, schema = {}) {
  let c;
  try { c = JSON.parse(text); } catch (e) { throw new ConfigError(`the config is not JSON: ${e.message}`); }
  if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new ConfigError('the config must be a JSON object');
  const props = schema.properties ?? {};
  for (const [name, p] of Object.entries(props)) {
    if ((c[name] === undefined || c[name] === null) && p && p.default !== undefined) c[name] = JSON.parse(JSON.stringify(p.default));
  }
  for (const name of schema.required ?? []) {
    if (c[name] === undefined || c[name] === null || c[name] === '') throw new ConfigError(`\`${name}\` is required`);
  }
  for (const [name, p] of Object.entries(props)) {
    const v = c[name];
    if (v === undefined || v === null || !p || p.type === undefined) continue; // null: absent
    const types = Array.isArray(p.type) ? p.type : [p.type];
    if (!types.some((t) => (TYPE_CHECKS[t] ?? (() => true))(v))) {
      throw new ConfigError(`\`${name}\` must be ${types.map((t) => (/^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`)).join(' or ')}, got ${JSON.stringify(v)}`);
    }
  }
  return c;
}

// ---------------------------------------------------------------- connector

const METHODS = ['check', 'discover', 'fetch', 'map', 'push', 'receive'];

function incomingRecords(records) {
  return records.map((r) => {
    let data;
    try { data = JSON.parse(r.data); } catch (e) { throw new FatalError(`record of ${r.stream} is not JSON: ${e.message}`); }
    return { stream: r.stream, key: r.key, op: r.op, data, blob: r.blob };
  });
}

function pushResult(r) {
  const o = r ?? {};
  return {
    created: toU32(o.created ?? 0, 0), updated: toU32(o.updated ?? 0, 0), deleted: toU32(o.deleted ?? 0, 0),
    rejected: (o.rejected ?? []).map((x) => ({ index: toU32(x.index, 0), field: opt(x.field), message: String(x.message ?? '') })),
    acceptedJob: opt(o.acceptedJob),
  };
}

/**
 * The object to export as `connector`. Give `spec` (from `spec({...})`, or a
 * function returning one) and any of:
 *   check(config)                      → nothing (throw to fail)
 *   discover(config)                   → stream specs (names or objects)
 *   fetch(config, stream, cursor)      → page(...) (or an array of records: one last page)
 *   map(config, records)               → records
 *   push(config, records)              → {created, updated, deleted, rejected, acceptedJob}
 *   receive(config, delivery)          → records (delivery has text() and json())
 * `config` is the parsed config with the schema's defaults applied; incoming
 * records have `data` parsed. Methods may be async. A method left out answers
 * `unsupported`; every exception becomes a WIT error (never a trap).
 */
export function connector(impl) {
  if (!impl || impl.spec === undefined) throw new Error('connector({...}) needs a spec');
  let cached;
  const theSpec = () => {
    if (cached) return cached;
    const s = typeof impl.spec === 'function' ? impl.spec() : impl.spec;
    const roles = s.roles && s.roles.length ? s.roles
      : [impl.fetch && 'source', impl.push && 'destination', impl.map && 'mapper'].filter(Boolean);
    cached = { ...s, roles };
    return cached;
  };
  // A config schema that is not JSON (or a spec that fails) checks nothing.
  const loadSchema = () => { try { return JSON.parse(theSpec().configSchema); } catch { return {}; } };
  let schema;
  const config = (text) => {
    if (schema === undefined) schema = loadSchema();
    return parseConfig(text, schema);
  };
  // Built now, at build time: ComponentizeJS snapshots the module after it
  // has run, so every fresh instance starts with the spec and the config
  // schema parsed. A spec that cannot be built yet (it calls
  // the host, say) is built at the call that needs it, as before.
  try {
    theSpec();
    schema = loadSchema();
  } catch { /* built at the first call */ }
  const out = {
    spec: () => theSpec(),
  };
  const shape = {
    check: () => undefined,
    discover: (v) => (v ?? []).map(stream),
    fetch: (v) => (PAGES.has(v) ? v : Array.isArray(v) ? page(v) : page(v?.records ?? [], v ?? {})),
    map: (v) => (v ?? []).map(normRecord),
    push: pushResult,
    receive: (v) => (v ?? []).map(normRecord),
  };
  const args = {
    check: (c) => [config(c)],
    discover: (c) => [config(c)],
    fetch: (c, s, cur) => [config(c), s, cur],
    map: (c, records) => [config(c), incomingRecords(records)],
    push: (c, records) => [config(c), incomingRecords(records)],
    receive: (c, d) => [config(c), { ...d, text: () => DECODER.decode(d.body), json: () => JSON.parse(DECODER.decode(d.body)) }],
  };
  const fail = (e) => {
    const w = toWitError(e);
    if (w.tag === 'fatal' && !(e instanceof WharfError) && e instanceof Error && typeof e.stack === 'string') {
      const frames = e.stack.split('\n').filter((l) => l.trim() && !/(^|[@/])(wharf\.js|initializer\.js):/.test(l));
      const stack = frames.slice(0, 12).join('\n') + (frames.length > 12 ? `\n... ${frames.length - 12} more frames` : '');
      try { hostLog('debug', `${e.name}: ${e.message}\n${stack}`); } catch { /* the log may be full */ }
    }
    throw w;
  };
  for (const m of METHODS) {
    const f = impl[m];
    out[m] = (...a) => {
      try {
        if (typeof f !== 'function') throw new Unsupported();
        const r = f.apply(impl, args[m](...a));
        if (r && typeof r.then === 'function') return r.then((v) => { try { return shape[m](v); } catch (e) { return fail(e); } }, fail);
        return shape[m](r);
      } catch (e) {
        return fail(e);
      }
    };
  }
  return out;
}

/** The same as `connector`, for `import { defineConnector } from './wharf.js'`. */
export const defineConnector = connector;
