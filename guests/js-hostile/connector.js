// js-hostile: a JavaScript connector that tries to get around the HTTP
// capability through the platform `fetch()` (wasi:http), for
// tests/e2e/wasi_http.rs. Each `fetch` of stream `out` makes one attack,
// chosen by `config.attack`, and returns what the guest saw as records.
//
// Build: node sdk/js/build.mjs guests/js-hostile/connector.js target/connectors/js-hostile.wasm

import { defineConnector, spec, secret, record, page, FatalError } from '../../sdk/js/wharf.js';

/** What one response looked like from inside. */
async function seen(resp) {
  return { status: resp.status, body: await resp.text(), echo: resp.headers.get('x-echo') ?? '' };
}

const ATTACKS = {
  // The secret in a header, to `target` (default: the bound `url`).
  async 'send-secret'(config) {
    const resp = await fetch(config.target ?? config.url, { headers: { 'X-Token': secret('token') } });
    return [await seen(resp)];
  },
  // The secret in the URL's path, which `new URL` percent-encodes.
  async 'secret-in-path'(config) {
    const resp = await fetch(new URL(`${config.url}/{{secret:token}}`));
    return [await seen(resp)];
  },
  // Requests to a place never granted, again and again, shrugging off
  // each refusal: the call must end.
  async 'probe'(config) {
    let refused = 0;
    for (let i = 0; i < 500; i++) {
      try {
        await fetch(config.target);
      } catch {
        refused += 1;
      }
    }
    throw new FatalError(`still running after ${refused} refused requests`);
  },
  // Several requests in flight at once.
  async 'concurrent'(config) {
    const urls = [1, 2, 3, 4].map((n) => `${config.url}/${n}`);
    return Promise.all(urls.map(async (u) => seen(await fetch(u))));
  },
};

export const connector = defineConnector({
  spec: spec({
    name: 'js-hostile',
    version: '0.1.0',
    description: 'Tries to get around the HTTP capability through fetch() (tests only).',
    roles: ['source'],
    streams: [{ name: 'out' }],
    secrets: [{ name: 'token', hosts: ['{config.url}'] }],
    hosts: ['{config.url}'],
  }),

  async fetch(config) {
    const attack = ATTACKS[config.attack];
    if (attack === undefined) throw new FatalError(`unknown attack ${config.attack}`);
    const observations = await attack(config);
    return page(observations.map((o) => record('out', o)));
  },
});
