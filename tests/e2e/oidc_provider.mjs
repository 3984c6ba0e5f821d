// An OpenID Connect provider on loopback for the single sign-on tests:
// `oauth2-mock-server` (npm) serves discovery, the JWKS, the authorization
// endpoint (which signs the next person in at once) and the token endpoint
// that issues RS256 ID tokens carrying the request's nonce and the client
// id as audience. Around it, two test-only routes:
//
//   POST /_test/person  {"sub", "email", "email_verified", "groups",
//                       "exp_in", "nonce"}: who the next tokens are for
//                       (exp_in: seconds, negative for a token that has
//                       already expired; nonce: one to put in place of the
//                       sign-in's);
//   POST /_test/forge   a token for that person signed by a key the JWKS
//                       does not publish, under the published key's id.
//
// Usage: node oidc_provider.mjs <path to oauth2-mock-server/dist/index.mjs> <port>

import http from "node:http";

const [entry, port] = process.argv.slice(2);
const { OAuth2Issuer, OAuth2Service } = await import(entry);

const issuer = new OAuth2Issuer();
issuer.url = `http://127.0.0.1:${port}`;
const published = await issuer.keys.generate("RS256");
const service = new OAuth2Service(issuer);

const forger = new OAuth2Issuer();
forger.url = issuer.url;
const unpublished = await forger.keys.generate("RS256");

let person = { sub: "alice", email: "alice@example.com", groups: ["staff"], exp_in: 3600 };

function dress(payload) {
  payload.sub = person.sub;
  if (person.email) payload.email = person.email;
  if (person.groups) payload.groups = person.groups;
  if (person.email_verified !== undefined) payload.email_verified = person.email_verified;
  // A nonce other than the one the sign-in sent (a token from elsewhere).
  if (person.nonce !== undefined && "nonce" in payload) payload.nonce = person.nonce;
  const now = Math.floor(Date.now() / 1000);
  payload.iat = now;
  payload.exp = now + person.exp_in;
}

service.on("beforeTokenSigning", (token) => dress(token.payload));

function body(req) {
  return new Promise((resolve) => {
    let data = "";
    req.on("data", (c) => (data += c));
    req.on("end", () => resolve(data));
  });
}

const server = http.createServer(async (req, res) => {
  if (req.method === "POST" && req.url === "/_test/person") {
    person = { exp_in: 3600, ...JSON.parse(await body(req)) };
    res.writeHead(204).end();
    return;
  }
  if (req.method === "POST" && req.url === "/_test/forge") {
    const aud = JSON.parse((await body(req)) || "{}").aud;
    const token = await forger.buildToken({
      kid: unpublished.kid,
      scopesOrTransform: (header, payload) => {
        header.kid = published.kid;
        payload.aud = aud;
        dress(payload);
      },
    });
    res.writeHead(200, { "content-type": "text/plain" }).end(token);
    return;
  }
  service.requestHandler(req, res);
});
server.listen(Number(port), "127.0.0.1");
