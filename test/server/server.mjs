// OAuth 2.0 test authorization server for the tetrapak-asio tests.
//
// Usage:
//   node server.mjs --certs DIR [--port N] [--ttl SECONDS] [--cert NAME] [--verbose]
//
//   --certs DIR    directory produced by gen-certs.sh (required)
//   --port N       TCP port on 127.0.0.1; 0 (default) picks an ephemeral port
//   --ttl SECONDS  lifetime of client credentials access tokens (default 300)
//   --cert NAME    serve DIR/NAME.pem + DIR/NAME.key (default "server"; e.g.
//                  "other-server", "wronghost", "expired")
//   --verbose      log every request to stderr
//
// Protocol: once listening, exactly one line "READY <port>\n" is written to
// stdout; nothing else is ever written to stdout. The process exits with
// status 0 on SIGTERM/SIGINT and when its stdin reaches EOF (so it never
// outlives the test process holding the other end of its stdin pipe).
// Startup errors are reported on stderr with a non-zero exit status.
//
// Extra test endpoints (not OAuth):
//   GET  /test/stats  -> {"token_requests": N, "connections": M}
//   POST /test/reset  -> zeroes both counters, answers with the zeroed JSON
// token_requests counts every request (any method, any outcome) whose path
// is the token endpoint (/token); connections counts TLS connections that
// completed the handshake ('secureConnection' events).

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

// stdout is reserved for the READY line. oidc-provider prints its notices
// with console.info (stdout), so route every console method to stderr before
// the library is loaded (hence the dynamic import below).
for (const method of ['log', 'info', 'debug', 'trace']) {
  console[method] = console.error;
}

function die(message) {
  process.stderr.write(`test-server: ${message}\n`);
  process.exit(1);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      certs: { type: 'string' },
      port: { type: 'string', default: '0' },
      ttl: { type: 'string', default: '300' },
      cert: { type: 'string', default: 'server' },
      verbose: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  die(`${err.message}\nusage: node server.mjs --certs DIR [--port N] [--ttl SECONDS] [--cert NAME] [--verbose]`);
}

if (!args.certs) die('--certs DIR is required');
if (!/^\d+$/.test(args.port) || Number(args.port) > 65535) die(`invalid --port: ${args.port}`);
if (!/^\d+$/.test(args.ttl) || Number(args.ttl) < 1) die(`invalid --ttl: ${args.ttl}`);
if (!/^[A-Za-z0-9._-]+$/.test(args.cert)) die(`invalid --cert: ${args.cert}`);

const port = Number(args.port);
const ttl = Number(args.ttl);

let tlsKey;
let tlsCert;
try {
  tlsKey = fs.readFileSync(path.join(args.certs, `${args.cert}.key`));
  tlsCert = fs.readFileSync(path.join(args.certs, `${args.cert}.pem`));
} catch (err) {
  die(`cannot read certificate pair "${args.cert}" from ${args.certs}: ${err.message}`);
}

const { default: Provider, errors } = await import('oidc-provider');

// --- shutdown ---------------------------------------------------------------

let shuttingDown = false;
function shutdown(reason) {
  if (shuttingDown) return;
  shuttingDown = true;
  if (args.verbose) process.stderr.write(`test-server: exiting (${reason})\n`);
  process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

// Exit when stdin is closed by the parent (or the parent dies).
process.stdin.on('data', () => {});
process.stdin.on('end', () => shutdown('stdin EOF'));
process.stdin.on('close', () => shutdown('stdin closed'));
process.stdin.on('error', () => shutdown('stdin error'));
process.stdin.resume();

// --- configuration ----------------------------------------------------------

const RESOURCE = 'urn:tetrapak:test-api';
const RESOURCE_SCOPE = 'read write api:all';

// Signing key for JWT access tokens (RS256), fresh for every run.
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = {
  ...privateKey.export({ format: 'jwk' }),
  kid: crypto.randomBytes(8).toString('hex'),
  alg: 'RS256',
  use: 'sig',
};

const clientDefaults = {
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  scope: RESOURCE_SCOPE,
};

const clients = [
  { client_id: 'basic-client', client_secret: 'basic-secret', token_endpoint_auth_method: 'client_secret_basic' },
  { client_id: 'post-client', client_secret: 'post-secret', token_endpoint_auth_method: 'client_secret_post' },
  // reserved characters: the client must form-urlencode id and secret before
  // base64 in the Basic header (RFC 6749 section 2.3.1)
  { client_id: 'we:ird@id/+ %', client_secret: 's3:cr@t/+ %&=', token_endpoint_auth_method: 'client_secret_basic' },
  {
    client_id: 'system-client',
    client_secret: 'system-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    userType: 'System',
  },
].map((c) => ({ ...clientDefaults, ...c }));

function buildConfiguration() {
  return {
    clients,
    jwks: { keys: [signingJwk] },
    scopes: ['openid', ...RESOURCE_SCOPE.split(' ')],
    extraClientMetadata: { properties: ['userType'] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    ttl: {
      ClientCredentials: ttl,
      AccessToken: ttl,
    },
    async extraTokenClaims(ctx, token) {
      const userType = ctx?.oidc?.client?.metadata().userType;
      return userType === undefined ? undefined : { userType };
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        async allowedPolicy() { return true; },
      },
      resourceIndicators: {
        enabled: true,
        // no resource parameter -> no resource server -> opaque token
        async defaultResource(ctx, client, oneOf) {
          return oneOf || undefined;
        },
        async useGrantedResource() {
          return false;
        },
        async getResourceServerInfo(ctx, resourceIndicator) {
          if (resourceIndicator === RESOURCE) {
            return {
              audience: RESOURCE,
              scope: RESOURCE_SCOPE,
              accessTokenTTL: ttl,
              accessTokenFormat: 'jwt',
              jwt: { sign: { alg: 'RS256' } },
            };
          }
          throw new errors.InvalidTarget();
        },
      },
    },
  };
}

// --- server -----------------------------------------------------------------

const stats = { token_requests: 0, connections: 0 };

const server = https.createServer({
  key: tlsKey,
  cert: tlsCert,
  minVersion: 'TLSv1.2',
});
server.keepAliveTimeout = 5000;
server.on('secureConnection', () => { stats.connections += 1; });
server.on('tlsClientError', (err) => {
  if (args.verbose) process.stderr.write(`test-server: TLS client error: ${err.message}\n`);
});

server.once('error', (err) => die(`cannot listen on 127.0.0.1:${port}: ${err.message}`));

server.listen(port, '127.0.0.1', () => {
  const actualPort = server.address().port;
  const issuer = `https://127.0.0.1:${actualPort}`;

  let provider;
  try {
    provider = new Provider(issuer, buildConfiguration());
  } catch (err) {
    die(`provider configuration failed: ${err.stack || err}`);
  }

  provider.on('server_error', (ctx, err) => {
    process.stderr.write(`test-server: server_error on ${ctx.method} ${ctx.path}: ${err.stack || err}\n`);
  });

  const tokenPath = '/token'; // default routes.token

  provider.use(async (ctx, next) => {
    if (args.verbose) process.stderr.write(`test-server: ${ctx.method} ${ctx.url}\n`);

    if (ctx.path === tokenPath) {
      stats.token_requests += 1;
    } else if (ctx.path === '/test/stats' && ctx.method === 'GET') {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { ...stats };
      return;
    } else if (ctx.path === '/test/reset' && ctx.method === 'POST') {
      stats.token_requests = 0;
      stats.connections = 0;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { ...stats };
      return;
    }

    await next();

    if (args.verbose) process.stderr.write(`test-server:   -> ${ctx.status}\n`);
  });

  server.on('request', provider.callback());

  process.stdout.write(`READY ${actualPort}\n`);
});
