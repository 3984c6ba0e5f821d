// js-json: reads a paged JSON API, one page per `fetch`. A JavaScript
// connector built with ComponentizeJS (see sdk/js/README.md); its Python twin
// is guests/python-json.
//
//   GET {base_url}{path}?{page_param}=N&{size_param}={page_size}
//   Authorization: Bearer {{secret:api_token}}
//
// The records are the array at the JSON pointer `records` ("" is the whole
// body). The cursor is the next page number; a page shorter than `page_size`
// is the last one.
//
// Build: node sdk/js/build.mjs guests/js-json/connector.js target/connectors/js-json.wasm

import { defineConnector, spec, get, bearer, page, stageRecords, log, ConfigError, FatalError } from '../../sdk/js/wharf.js';

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

/** GET one page of the list; the response, any status. With `keepBody`, the
 * body stays in the host (`resp.blob`). */
function getPage(config, n, keepBody = false) {
  if (config.page_size < 1) throw new ConfigError('`page_size` must be at least 1');
  const base = config.path.startsWith('/') ? config.base_url.replace(/\/+$/, '') : config.base_url;
  return get(`${base}${config.path}`, {
    query: [[config.page_param, n], [config.size_param, config.page_size]],
    headers: { Accept: 'application/json', Authorization: bearer(TOKEN) },
    keepBody,
  });
}

export const connector = defineConnector({
  spec: spec({
    name: 'js-json',
    version: '0.1.0',
    description: 'Reads records from a paged JSON API (page number and page size in the query), '
      + 'with a bearer token. Written in JavaScript.',
    roles: ['source'],
    streams: [{ name: STREAM, description: 'The records of every page, in order' }],
    configSchema: CONFIG_SCHEMA,
    secrets: [{ name: TOKEN, description: 'API token, sent as `Authorization: Bearer`', hosts: ['{config.base_url}'] }],
    hosts: ['{config.base_url}'],
    catalog: { displayName: 'JSON API (JavaScript)', categories: ['developer'] },
  }),

  check(config) {
    getPage(config, 1).raiseForStatus();
  },

  fetch(config, stream, cursor) {
    if (stream !== STREAM) throw new ConfigError(`unknown stream \`${stream}\` (this connector has \`${STREAM}\`)`);
    if (cursor !== undefined && !/^[1-9][0-9]*$/.test(cursor)) throw new FatalError(`bad cursor \`${cursor}\``);
    const n = cursor === undefined ? 1 : Number(cursor);
    // The page stays in the host, which slices the records out of it and
    // adds them to the page this call returns, each as its own text: the
    // body never enters JavaScript, and JavaScript parses none of it.
    const resp = getPage(config, n, true).raiseForStatus();
    const count = stageRecords(STREAM, resp, config.records ?? '', { key: config.key });
    const more = count === config.page_size;
    log.info(`page ${n}: ${count} records${more ? '' : ' (last page)'}`);
    return page([], { cursor: more ? String(n + 1) : undefined, more });
  },
});
