// js-fetch: the twin of guests/js-json written with the platform `fetch()`
// instead of the SDK's `get`: what a JavaScript author writes without
// learning Wharf's HTTP helpers. `fetch()` goes through wasi:http, which
// Wharf serves with the same egress policy, grants, placeholder substitution
// and redaction as `http.send`: the `{{secret:api_token}}` below is
// substituted by the host, for the granted origin only.
//
//   GET {base_url}{path}?{page_param}=N&{size_param}={page_size}
//   Authorization: Bearer {{secret:api_token}}
//
// Build: node sdk/js/build.mjs guests/js-fetch/connector.js target/connectors/js-fetch.wasm

import {
  defineConnector, spec, bearer, record, page, pointer, log, raiseForFetchStatus,
  ConfigError, FatalError, TransientError,
} from '../../sdk/js/wharf.js';

const STREAM = 'items';
const TOKEN = 'api_token';

const CONFIG_SCHEMA = {
  type: 'object',
  required: ['base_url', 'path'],
  properties: {
    base_url: { type: 'string', format: 'uri', description: 'Origin (and base path) of the API, e.g. https://api.example.com' },
    path: { type: 'string', description: 'Path of the list endpoint, appended to base_url, e.g. /page-items' },
    records: { type: 'string', default: '', description: 'JSON pointer to the array of records in each answer ("" is the whole body)' },
    key: { type: 'string', description: 'Field of each record that identifies it (optional)' },
    page_size: { type: 'integer', minimum: 1, default: 100, description: 'Records asked for per page' },
    page_param: { type: 'string', default: 'page', description: 'Query parameter with the page number (from 1)' },
    size_param: { type: 'string', default: 'per_page', description: 'Query parameter with the page size' },
  },
};

/** GET one page of the list with `fetch()`; the response, any status. */
async function getPage(config, n) {
  if (config.page_size < 1) throw new ConfigError('`page_size` must be at least 1');
  const base = config.path.startsWith('/') ? config.base_url.replace(/\/+$/, '') : config.base_url;
  const url = new URL(`${base}${config.path}`);
  url.searchParams.set(config.page_param, String(n));
  url.searchParams.set(config.size_param, String(config.page_size));
  let resp;
  try {
    resp = await fetch(url, { headers: { Accept: 'application/json', Authorization: bearer(TOKEN) } });
  } catch (e) {
    // Refused by the host (the run's log says why) or no connection.
    throw new TransientError(`GET ${url.origin}${url.pathname} failed: ${e.message}`);
  }
  return raiseForFetchStatus(resp);
}

export const connector = defineConnector({
  spec: spec({
    name: 'js-fetch',
    version: '0.1.0',
    description: 'Reads records from a paged JSON API (page number and page size in the query), '
      + 'with a bearer token. Written in JavaScript with fetch().',
    roles: ['source'],
    streams: [{ name: STREAM, description: 'The records of every page, in order' }],
    configSchema: CONFIG_SCHEMA,
    secrets: [{ name: TOKEN, description: 'API token, sent as `Authorization: Bearer`', hosts: ['{config.base_url}'] }],
    hosts: ['{config.base_url}'],
    catalog: { displayName: 'JSON API (JavaScript, fetch)', categories: ['developer'] },
  }),

  async check(config) {
    await getPage(config, 1);
  },

  async fetch(config, stream, cursor) {
    if (stream !== STREAM) throw new ConfigError(`unknown stream \`${stream}\` (this connector has \`${STREAM}\`)`);
    if (cursor !== undefined && !/^[1-9][0-9]*$/.test(cursor)) throw new FatalError(`bad cursor \`${cursor}\``);
    const n = cursor === undefined ? 1 : Number(cursor);
    const resp = await getPage(config, n);
    let body;
    try {
      body = await resp.json();
    } catch (e) {
      throw new FatalError(`page ${n} is not JSON: ${e.message}`);
    }
    const items = pointer(body, config.records);
    if (!Array.isArray(items)) {
      throw new FatalError(`\`records\` (${JSON.stringify(config.records)}) does not point at an array in page ${n}`);
    }
    const records = items.map((item) => record(STREAM, item, { keyFrom: config.key }));
    const more = records.length === config.page_size;
    log.info(`page ${n}: ${records.length} records${more ? '' : ' (last page)'}`);
    return page(records, { cursor: more ? String(n + 1) : undefined, more });
  },
});
