// OAuth 2.0 test authorization server for the tetrapak-asio tests.
//
// Usage:
//   node server.mjs --certs DIR [--port N] [--ttl SECONDS] [--cert NAME]
//                   [--slow-discovery MS] [--keep-alive-ms MS] [--no-token-exchange]
//                   [--dpop-nonce] [--mtls-bound] [--mtls-aliases] [--verbose]
//
//   --certs DIR    directory produced by gen-certs.sh (required)
//   --port N       TCP port on 127.0.0.1; 0 (default) picks an ephemeral port
//   --ttl SECONDS  lifetime of every access token issued (default 300)
//   --cert NAME    serve DIR/NAME.pem + DIR/NAME.key (default "server"; e.g.
//                  "other-server", "wronghost", "expired")
//   --slow-discovery MS
//                  delay every discovery answer by MS milliseconds (default 0)
//   --slow-token MS
//                  delay every token answer by MS milliseconds (default 0; the
//                  request is counted when it arrives)
//   --keep-alive-ms MS
//                  close idle keep-alive connections after MS milliseconds
//                  (default 5000, Node's own default)
//   --no-token-exchange
//                  do not support RFC 8693 token exchange at all (the grant is
//                  unknown: unsupported_grant_type)
//   --dpop-nonce   require a server-provided nonce in every DPoP proof: a proof
//                  without a valid nonce is answered with 400 use_dpop_nonce and
//                  a DPoP-Nonce header (RFC 9449 section 8)
//   --mtls-bound   certificate-bound access tokens (RFC 8705 section 3) for
//                  mtls-client and mtls-self-signed-client: their access tokens
//                  carry cnf["x5t#S256"] (visible in the JWT access tokens, i.e.
//                  resource=urn:tetrapak:test-api and the custom grants, and in
//                  the introspection of the opaque ones)
//   --mtls-aliases publish "mtls_endpoint_aliases": {"token_endpoint":
//                  "https://127.0.0.1:PORT/mtls/token"} in discovery (RFC 8705
//                  section 5) and serve POST /mtls/token as the token endpoint
//   --verbose      log every request (and the hidden reason of every token
//                  endpoint error) to stderr
//
// Protocol: once listening, exactly one line "READY <port>\n" is written to
// stdout; nothing else is ever written to stdout. The process exits with
// status 0 on SIGTERM/SIGINT and when its stdin reaches EOF (so it never
// outlives the test process holding the other end of its stdin pipe).
// Startup errors are reported on stderr with a non-zero exit status.
//
// Clients (all with scope "read write api:all"):
//   basic-client / basic-secret          client_secret_basic  cc, token-exchange, jwt-bearer
//   post-client / post-secret            client_secret_post   cc, token-exchange
//   "we:ird@id/+ %" / "s3:cr@t/+ %&="    client_secret_basic  cc
//   system-client / system-secret        client_secret_basic  cc (userType "System")
//   user-issuer / user-issuer-secret     client_secret_basic  cc, user-token
//   refresh-client / refresh-secret      client_secret_basic  cc, refresh_token,
//                                                             user-token, token-exchange
//   dpop-client / dpop-secret            client_secret_basic  cc, refresh_token, user-token,
//                                                             token-exchange, jwt-bearer;
//                                        dpop_bound_access_tokens: every token request
//                                        without a DPoP proof -> 400 invalid_grant
//   jwt-es256-client                     private_key_jwt ES256 (DIR/client-jwt-es256.key)
//   jwt-rs256-client                     private_key_jwt RS256 (DIR/client-jwt-rs256.key)
//   jwt-secret-client / jwt-secret-client-secret-0123456789abcdef
//                                        client_secret_jwt HS256
//   mtls-client                          tls_client_auth (DIR/client.pem, signed by DIR/ca.pem)
//   mtls-self-signed-client              self_signed_tls_client_auth (DIR/client-self-signed.pem,
//                                        self-signed, registered by its x5c in the client's jwks)
//   workload-client                      private_key_jwt ES256 with the workload platform's
//                                        key (DIR/workload-issuer.key) as its registered key;
//                                        a client assertion may be REUSED while unexpired
//                                        (federated workload identity, see below)
//   the jwt-*, mtls-* clients:           cc, token-exchange (jwt-es256/rs256 also jwt-bearer)
//   workload-client:                     cc, token-exchange, jwt-bearer
//
// Grants besides client_credentials:
//   urn:tetrapak:test:user-token  username (required), user_type (default
//       "User"), ttl (seconds, optional), scope (optional) -> RS256 JWT access
//       token {iss, sub: username, aud: "urn:tetrapak:test-api", iat, exp, jti,
//       client_id, userType[, scope][, cnf]}
//   urn:ietf:params:oauth:grant-type:token-exchange (RFC 8693) -> RS256 JWT
//       access token for the subject of a JWT issued by this server, with
//       act.sub = the authenticated client
//   urn:ietf:params:oauth:grant-type:jwt-bearer (RFC 7523 section 2.1)
//       assertion (required), scope, resource (only urn:tetrapak:test-api) ->
//       RS256 JWT access token {iss, sub: assertion sub, aud:
//       "urn:tetrapak:test-api", iat, exp: iat + ttl, jti, client_id[, scope]
//       [, cnf]}. The assertion is a JWS (ES256 or RS256) either
//         (a) from the workload platform: iss "https://platform.tetrapak.test",
//             signed by DIR/workload-issuer.key (ES256), or
//         (b) from the client itself: iss = the authenticated client's id,
//             signed by a key of its registered jwks (jwt-es256-client,
//             jwt-rs256-client, workload-client);
//       aud must be (or contain) the token endpoint URL or the issuer, exp in
//       the future (otherwise invalid_grant "assertion expired"), sub
//       non-empty, iat (optional) not more than 60 s in the future. Assertions
//       are not replay-protected. Errors: invalid_grant with the reason as
//       error_description.
//   refresh_token  refresh-client's and dpop-client's client_credentials and
//       user-token answers carry a refresh_token; refreshing rotates it
//       (single use)
//
// Sender-constrained tokens:
//   DPoP (RFC 9449) is always enabled for every client and grant: a token
//   request with a valid DPoP header (typ dpop+jwt; alg ES256, RS256, PS256
//   or EdDSA; embedded public jwk; htm POST; htu the token endpoint URL that
//   was requested, i.e. .../token or .../mtls/token; iat within 300 s unless
//   it carries a nonce; jti not seen before) gets token_type "DPoP" and
//   JWT access tokens carry cnf.jkt (RFC 7638 thumbprint of the proof key).
//   The custom grants validate proofs with oidc-provider's own DPoP code. A
//   replayed jti -> 400 invalid_grant "DPoP proof JWT Replay detected"; a
//   dpop_bound_access_tokens client without proof -> 400 invalid_grant "DPoP
//   proof JWT not provided"; any other bad proof -> 400 invalid_dpop_proof
//   with the reason (e.g. "DPoP proof htu mismatch"). (oidc-provider's own
//   invalid_grant answers say only "grant request is invalid"; this server
//   puts their hidden reason into error_description instead.)
//   Nonces: the server sends a fresh DPoP-Nonce header with every answer to
//   a proof that did not carry the current nonce; with --dpop-nonce a proof
//   without a valid nonce -> 400 use_dpop_nonce + DPoP-Nonce (also for an
//   expired nonce; a nonce stays valid for 3-4 minutes). Without
//   --dpop-nonce, a proof without nonce whose iat is more than 300 s off ->
//   400 use_dpop_nonce + DPoP-Nonce as well.
//   A refresh token obtained with a DPoP proof is bound to that key (for
//   these confidential clients too): refreshing it needs a proof of the same
//   key (else 400 invalid_grant); the new refresh token is bound to the key
//   of the refresh request's proof.
//   mTLS: see --mtls-bound.
//
// Workload identity: workload-client authenticates with a client assertion
// written by the platform: iss = sub = "workload-client", aud = the token
// endpoint URL (or the issuer), exp, jti, signed ES256 with
// DIR/workload-issuer.key. Unlike every other private_key_jwt client, the
// same assertion (same jti) may be used for any number of token requests
// while it is unexpired (as Kubernetes projected tokens / Azure federated
// credentials are); an expired one -> 401 invalid_client. (DPoP proof jtis of
// workload-client stay replay-protected.)
//
// Extra test endpoints (not OAuth):
//   GET  /test/stats  -> {"token_requests", "connections", "resumed_connections",
//                         "exchange_requests", "refresh_requests", "discovery_requests",
//                         "open_connections", "max_open_connections",
//                         "dpop_requests", "dpop_nonce_challenges", "dpop_replays",
//                         "mtls_alias_requests", "jwt_bearer_requests",
//                         "workload_auth_requests"}
//   POST /test/reset  -> zeroes all counters, answers with the zeroed JSON
//   POST /test/revoke-refresh -> invalidates every refresh token issued so
//                        far, answers {"revoked": N}
// token_requests counts every request (any method, any outcome) whose path
// is the token endpoint (/token, and /mtls/token with --mtls-aliases);
// exchange_requests / refresh_requests / jwt_bearer_requests count those of
// them whose grant_type is token-exchange / refresh_token / jwt-bearer (any
// outcome, as long as the form body was parsed); mtls_alias_requests those
// sent to /mtls/token; dpop_requests those carrying a DPoP header;
// dpop_nonce_challenges those answered with error use_dpop_nonce;
// dpop_replays those refused because the DPoP proof's jti was used before;
// workload_auth_requests those in which workload-client authenticated
// successfully; connections counts TLS connections that completed the
// handshake ('secureConnection' events), resumed_connections those of them
// that resumed a TLS session; open_connections counts TCP connections open
// now (the stats request's own included) and max_open_connections the most
// open at once since the reset; discovery_requests counts requests to
// /.well-known/openid-configuration (and /.well-known/oauth-authorization-server).
//
// Implementation note: DPoP validation and the sender-constraint checks of
// the custom grants import oidc-provider's internal helpers
// (lib/helpers/validate_dpop.js, sender_constraints.js,
// certificate_thumbprint.js), which oidc-provider hands to its own grant
// handlers only (package.json pins the exact oidc-provider version).

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

const usage = 'usage: node server.mjs --certs DIR [--port N] [--ttl SECONDS] [--cert NAME] '
  + '[--slow-discovery MS] [--slow-token MS] [--keep-alive-ms MS] [--no-token-exchange] [--dpop-nonce] '
  + '[--mtls-bound] [--mtls-aliases] [--verbose]';

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      certs: { type: 'string' },
      port: { type: 'string', default: '0' },
      ttl: { type: 'string', default: '300' },
      cert: { type: 'string', default: 'server' },
      'slow-discovery': { type: 'string', default: '0' },
      'slow-token': { type: 'string', default: '0' },
      'keep-alive-ms': { type: 'string', default: '5000' },
      'no-token-exchange': { type: 'boolean', default: false },
      'dpop-nonce': { type: 'boolean', default: false },
      'mtls-bound': { type: 'boolean', default: false },
      'mtls-aliases': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  die(`${err.message}\n${usage}`);
}

if (!args.certs) die('--certs DIR is required');
if (!/^\d+$/.test(args.port) || Number(args.port) > 65535) die(`invalid --port: ${args.port}`);
if (!/^\d+$/.test(args['keep-alive-ms'])) die(`invalid --keep-alive-ms: ${args['keep-alive-ms']}`);
if (!/^\d+$/.test(args.ttl) || Number(args.ttl) < 1) die(`invalid --ttl: ${args.ttl}`);
if (!/^[A-Za-z0-9._-]+$/.test(args.cert)) die(`invalid --cert: ${args.cert}`);
if (!/^\d+$/.test(args['slow-discovery'])) die(`invalid --slow-discovery: ${args['slow-discovery']}`);
if (!/^\d+$/.test(args['slow-token'])) die(`invalid --slow-token: ${args['slow-token']}`);

const port = Number(args.port);
const ttl = Number(args.ttl);
const slowDiscoveryMs = Number(args['slow-discovery']);
const slowTokenMs = Number(args['slow-token']);

function readCertsFile(name) {
  try {
    return fs.readFileSync(path.join(args.certs, name));
  } catch (err) {
    return die(`cannot read ${name} from ${args.certs}: ${err.message}`);
  }
}

const tlsKey = readCertsFile(`${args.cert}.key`);
const tlsCert = readCertsFile(`${args.cert}.pem`);
const caCert = readCertsFile('ca.pem');

// public JWK of a private key file (for private_key_jwt clients)
function publicJwk(name, alg) {
  let key;
  try {
    key = crypto.createPublicKey(readCertsFile(name));
  } catch (err) {
    return die(`cannot parse ${name}: ${err.message}`);
  }
  const jwk = key.export({ format: 'jwk' });
  return { ...jwk, alg, use: 'sig', kid: crypto.hash('sha256', JSON.stringify(jwk), 'base64url').slice(0, 16) };
}
const es256ClientJwk = publicJwk('client-jwt-es256.key', 'ES256');
const rs256ClientJwk = publicJwk('client-jwt-rs256.key', 'RS256');
// the workload identity platform's key: workload-client's registered key and
// the verification key of the platform's jwt-bearer assertions
const workloadIssuerJwk = publicJwk('workload-issuer.key', 'ES256');

// public JWK + x5c of a certificate file (self_signed_tls_client_auth)
function certificateJwk(name) {
  let cert;
  try {
    cert = new crypto.X509Certificate(readCertsFile(name));
  } catch (err) {
    return die(`cannot parse ${name}: ${err.message}`);
  }
  const jwk = cert.publicKey.export({ format: 'jwk' });
  return { ...jwk, use: 'sig', x5c: [cert.raw.toString('base64')] };
}
const selfSignedClientJwk = certificateJwk('client-self-signed.pem');

const { default: Provider, errors } = await import('oidc-provider');
const jose = await import('jose');
// oidc-provider's own DPoP / sender-constraint checks, which it hands only to
// its built-in grant handlers (see the implementation note above)
const { default: validateDpop, checkDpopReplay } = await import('oidc-provider/lib/helpers/validate_dpop.js');
const { checkDpopRequired, checkMtlsCert } = await import('oidc-provider/lib/helpers/sender_constraints.js');
const { default: certificateThumbprint } = await import('oidc-provider/lib/helpers/certificate_thumbprint.js');

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
const KNOWN_SCOPES = new Set(RESOURCE_SCOPE.split(' '));

const CC = 'client_credentials';
const REFRESH = 'refresh_token';
const USER_TOKEN = 'urn:tetrapak:test:user-token';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
// --no-token-exchange: a server that does not know RFC 8693 (unsupported_grant_type tests).
const TX_GRANTS = args['no-token-exchange'] ? [] : [TOKEN_EXCHANGE];
const TT_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const TT_ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
const TT_JWT = 'urn:ietf:params:oauth:token-type:jwt';
const EXCHANGE_DEFAULT_AUDIENCE = 'urn:tetrapak:downstream';
const EXCHANGE_AUDIENCE_PREFIX = 'urn:tetrapak:';

// RFC 7523 jwt-bearer grant: the simulated workload identity platform
const PLATFORM_ISSUER = 'https://platform.tetrapak.test';
const JWT_BEARER_ALGS = ['ES256', 'RS256'];
const JWT_BEARER_MAX_IAT_SKEW = 60; // seconds an assertion's iat may lie in the future
// the private_key_jwt client that may reuse its (platform-written) client assertion
const WORKLOAD_CLIENT = 'workload-client';
// DPoP proof algorithms accepted (RFC 9449)
const DPOP_ALGS = ['ES256', 'RS256', 'PS256', 'EdDSA'];

// Subject of gen-certs.sh's client.pem ("/O=tetrapak-asio tests/CN=mtls-client")
// as an RFC 4514 string (most specific RDN first).
const MTLS_SUBJECT_DN = 'CN=mtls-client,O=tetrapak-asio tests';
// RFC 8705 section 5 alias of the token endpoint (--mtls-aliases)
const MTLS_TOKEN_PATH = '/mtls/token';

// Signing key for JWT access tokens (RS256), made by gen-certs.sh for each
// certificate directory (provider-signing.key); generated here only when it
// is missing. Keeping RSA key generation out of start-up keeps start-up fast
// and predictable when many servers start on a loaded machine.
const signingKeyFile = path.join(args.certs, 'provider-signing.key');
const signingKey = fs.existsSync(signingKeyFile)
  ? crypto.createPrivateKey(fs.readFileSync(signingKeyFile))
  : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const signingPublicKey = crypto.createPublicKey(signingKey);
const signingJwk = {
  ...signingKey.export({ format: 'jwk' }),
  kid: crypto.randomBytes(8).toString('hex'),
  alg: 'RS256',
  use: 'sig',
};

const clientDefaults = {
  grant_types: [CC],
  response_types: [],
  redirect_uris: [],
  scope: RESOURCE_SCOPE,
};

const clients = [
  {
    client_id: 'basic-client',
    client_secret: 'basic-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: [CC, ...TX_GRANTS, JWT_BEARER],
  },
  {
    client_id: 'post-client',
    client_secret: 'post-secret',
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: [CC, ...TX_GRANTS],
  },
  // reserved characters: the client must form-urlencode id and secret before
  // base64 in the Basic header (RFC 6749 section 2.3.1)
  { client_id: 'we:ird@id/+ %', client_secret: 's3:cr@t/+ %&=', token_endpoint_auth_method: 'client_secret_basic' },
  {
    client_id: 'system-client',
    client_secret: 'system-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    userType: 'System',
  },
  {
    client_id: 'user-issuer',
    client_secret: 'user-issuer-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: [CC, USER_TOKEN],
  },
  {
    client_id: 'refresh-client',
    client_secret: 'refresh-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: [CC, REFRESH, USER_TOKEN, ...TX_GRANTS],
  },
  {
    client_id: 'dpop-client',
    client_secret: 'dpop-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: [CC, REFRESH, USER_TOKEN, ...TX_GRANTS, JWT_BEARER],
    dpop_bound_access_tokens: true,
  },
  {
    client_id: 'jwt-es256-client',
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    jwks: { keys: [es256ClientJwk] },
    grant_types: [CC, ...TX_GRANTS, JWT_BEARER],
  },
  {
    client_id: 'jwt-rs256-client',
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'RS256',
    jwks: { keys: [rs256ClientJwk] },
    grant_types: [CC, ...TX_GRANTS, JWT_BEARER],
  },
  {
    client_id: 'jwt-secret-client',
    client_secret: 'jwt-secret-client-secret-0123456789abcdef',
    token_endpoint_auth_method: 'client_secret_jwt',
    token_endpoint_auth_signing_alg: 'HS256',
    grant_types: [CC, ...TX_GRANTS],
  },
  {
    client_id: 'mtls-client',
    token_endpoint_auth_method: 'tls_client_auth',
    tls_client_auth_subject_dn: MTLS_SUBJECT_DN,
    grant_types: [CC, ...TX_GRANTS],
    ...(args['mtls-bound'] ? { tls_client_certificate_bound_access_tokens: true } : {}),
  },
  {
    client_id: 'mtls-self-signed-client',
    token_endpoint_auth_method: 'self_signed_tls_client_auth',
    jwks: { keys: [selfSignedClientJwk] },
    grant_types: [CC, ...TX_GRANTS],
    ...(args['mtls-bound'] ? { tls_client_certificate_bound_access_tokens: true } : {}),
  },
  {
    client_id: WORKLOAD_CLIENT,
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    jwks: { keys: [workloadIssuerJwk] },
    grant_types: [CC, ...TX_GRANTS, JWT_BEARER],
  },
].map((c) => ({ ...clientDefaults, ...c }));

// clients whose client_credentials / user-token answers carry a refresh_token
const REFRESH_CLIENTS = new Set(['refresh-client', 'dpop-client']);

function resourceServerInfo(resourceIndicator) {
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
}

// --- mutual TLS helpers -------------------------------------------------------

// The client certificate of the request's TLS connection, if the client sent
// one, whether or not it verified against DIR/ca.pem (self-signed client
// certificates do not; self_signed_tls_client_auth compares them with the
// client's registered x5c instead).
function presentedCertificate(ctx) {
  const socket = ctx.req?.socket;
  if (typeof socket?.getPeerX509Certificate !== 'function') return undefined;
  return socket.getPeerX509Certificate();
}

// The client certificate of the request's TLS connection, if the client sent
// one and it verified against DIR/ca.pem.
function peerCertificate(ctx) {
  return ctx.req?.socket?.authorized ? presentedCertificate(ctx) : undefined;
}

// X509Certificate.subject is "O=...\nCN=..." (least specific first);
// RFC 4514 wants the reverse order joined by commas.
function rfc4514(subject) {
  return subject.split('\n').filter(Boolean).reverse().join(',');
}

function certificateSubjectMatches(ctx, property, expected) {
  const cert = peerCertificate(ctx);
  if (!cert) return false;
  switch (property) {
    case 'tls_client_auth_subject_dn':
      return rfc4514(cert.subject) === expected;
    default:
      return false;
  }
}

function buildConfiguration(issuer) {
  return {
    clients,
    jwks: { keys: [signingJwk] },
    scopes: ['openid', ...RESOURCE_SCOPE.split(' ')],
    extraClientMetadata: { properties: ['userType'] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    clientAuthMethods: [
      'client_secret_basic',
      'client_secret_post',
      'client_secret_jwt',
      'private_key_jwt',
      'tls_client_auth',
      'self_signed_tls_client_auth',
    ],
    enabledJWA: {
      clientAuthSigningAlgValues: ['HS256', 'RS256', 'ES256'],
      dPoPSigningAlgValues: DPOP_ALGS,
    },
    // RFC 8705 section 5 (--mtls-aliases); oidc-provider knows the client
    // metadata use_mtls_endpoint_aliases but not the discovery field
    ...(args['mtls-aliases'] ? {
      discovery: { mtls_endpoint_aliases: { token_endpoint: `${issuer}${MTLS_TOKEN_PATH}` } },
    } : {}),
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
      dPoP: {
        enabled: true,
        // enables DPoP-Nonce headers (and use_dpop_nonce with --dpop-nonce)
        nonceSecret: crypto.randomBytes(32),
        requireNonce() {
          return args['dpop-nonce'];
        },
      },
      introspection: {
        enabled: true,
        async allowedPolicy() { return true; },
      },
      mTLS: {
        enabled: true,
        tlsClientAuth: true,
        // the clients' tls_client_certificate_bound_access_tokens (--mtls-bound)
        certificateBoundAccessTokens: args['mtls-bound'],
        selfSignedTlsClientAuth: true,
        // any certificate presented: tls_client_auth additionally needs
        // certificateAuthorized, self_signed_tls_client_auth matches the
        // client's registered x5c, bound tokens take its thumbprint
        getCertificate(ctx) {
          return presentedCertificate(ctx)?.toString();
        },
        certificateAuthorized(ctx) {
          return ctx.req?.socket?.authorized === true;
        },
        certificateSubjectMatches,
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
          return resourceServerInfo(resourceIndicator);
        },
      },
    },
  };
}

// --- JWTs minted by the custom grants ----------------------------------------

const nowSeconds = () => Math.floor(Date.now() / 1000);
const b64urlJson = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');

function signAccessTokenJwt(payload) {
  const header = { alg: 'RS256', typ: 'at+jwt', kid: signingJwk.kid };
  const input = `${b64urlJson(header)}.${b64urlJson(payload)}`;
  const signature = crypto.sign('sha256', Buffer.from(input), signingKey);
  return `${input}.${signature.toString('base64url')}`;
}

const invalidGrant = (description) => new errors.CustomOIDCProviderError('invalid_grant', description);

// Verifies a JWT issued by this server (any of its access tokens), returns
// the payload; throws invalid_grant naming the reason otherwise.
function verifyOwnJwt(token, name, issuer) {
  const parts = token.split('.');
  let header;
  let payload;
  try {
    if (parts.length !== 3) throw new Error();
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    if (header === null || typeof header !== 'object' || payload === null || typeof payload !== 'object') {
      throw new Error();
    }
  } catch {
    throw invalidGrant(`${name} is not a JWT`);
  }
  const signed = header.alg === 'RS256'
    && header.kid === signingJwk.kid
    && crypto.verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), signingPublicKey,
      Buffer.from(parts[2], 'base64url'));
  if (!signed) throw invalidGrant(`${name} is not signed by this server's current key`);
  if (payload.iss !== issuer) throw invalidGrant(`${name} was not issued by this server`);
  if (!Number.isInteger(payload.exp)) throw invalidGrant(`${name} has no exp claim`);
  if (payload.exp <= nowSeconds()) throw invalidGrant(`${name} is expired`);
  if (typeof payload.sub !== 'string' || !payload.sub) throw invalidGrant(`${name} has no sub claim`);
  return payload;
}

// space-separated scope parameter -> known scopes only, request order, no dupes
function filterScope(scope) {
  if (typeof scope !== 'string') return '';
  return [...new Set(scope.split(' ').filter((s) => KNOWN_SCOPES.has(s)))].join(' ');
}

const asList = (value) => {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
};

// --- RFC 7523 jwt-bearer assertions -------------------------------------------

const workloadIssuerPublicKey = crypto.createPublicKey(readCertsFile('workload-issuer.key'));

// Verifies a jwt-bearer grant assertion (see the header comment) presented by
// the authenticated client; audiences: the accepted aud values. Returns the
// payload; throws invalid_grant naming the reason otherwise.
async function verifyJwtBearerAssertion(assertion, client, audiences) {
  let claims;
  try {
    claims = jose.decodeJwt(assertion);
  } catch {
    throw invalidGrant('assertion is not a JWT');
  }
  let key;
  if (claims.iss === PLATFORM_ISSUER) {
    key = workloadIssuerPublicKey;
  } else if (claims.iss === client.clientId && client.jwks?.keys?.length) {
    key = jose.createLocalJWKSet(client.jwks);
  } else {
    throw invalidGrant(`assertion issuer ${JSON.stringify(claims.iss ?? null)} is not trusted (expected `
      + `"${PLATFORM_ISSUER}" or the client's own client_id with a registered jwks)`);
  }
  let payload;
  try {
    ({ payload } = await jose.jwtVerify(assertion, key, { algorithms: JWT_BEARER_ALGS, requiredClaims: ['exp'] }));
  } catch (err) {
    if (err instanceof jose.errors.JWTExpired) throw invalidGrant('assertion expired');
    throw invalidGrant(`assertion rejected: ${err.message}`);
  }
  if (!asList(payload.aud).some((aud) => audiences.has(aud))) {
    throw invalidGrant('assertion aud must be (or contain) the token endpoint URL or the issuer');
  }
  if (typeof payload.sub !== 'string' || !payload.sub) throw invalidGrant('assertion has no sub claim');
  if (payload.iat !== undefined && payload.iat > nowSeconds() + JWT_BEARER_MAX_IAT_SKEW) {
    throw invalidGrant('assertion iat is in the future');
  }
  return payload;
}

// --- refresh tokens (in memory, single use) ----------------------------------

// value -> { clientId, scope, jkt (DPoP key thumbprint the refresh token is
// bound to, or undefined), mint(client, scope, cnf) -> token response body }
const refreshTokens = new Map();

function issueRefreshToken(entry) {
  const value = crypto.randomBytes(32).toString('base64url');
  refreshTokens.set(value, entry);
  return value;
}

// --- server -----------------------------------------------------------------

const stats = {
  token_requests: 0,
  connections: 0,
  resumed_connections: 0,
  exchange_requests: 0,
  refresh_requests: 0,
  discovery_requests: 0,
  open_connections: 0,
  max_open_connections: 0,
  dpop_requests: 0,
  dpop_nonce_challenges: 0,
  dpop_replays: 0,
  mtls_alias_requests: 0,
  jwt_bearer_requests: 0,
  workload_auth_requests: 0,
};

const server = https.createServer({
  key: tlsKey,
  cert: tlsCert,
  minVersion: 'TLSv1.2',
  // mutual TLS: ask for a client certificate, but let clients without one
  // (or with an untrusted one) in; socket.authorized tells them apart
  requestCert: true,
  rejectUnauthorized: false,
  ca: caCert,
});
server.keepAliveTimeout = Number(args['keep-alive-ms']);
// open_connections: TCP connections open now; max_open_connections: the most
// open at once since the last reset.
server.on('connection', (socket) => {
  stats.open_connections += 1;
  stats.max_open_connections = Math.max(stats.max_open_connections, stats.open_connections);
  socket.once('close', () => { stats.open_connections -= 1; });
});
server.on('secureConnection', (socket) => {
  stats.connections += 1;
  if (socket.isSessionReused()) stats.resumed_connections += 1;
});
server.on('tlsClientError', (err) => {
  if (args.verbose) process.stderr.write(`test-server: TLS client error: ${err.message}\n`);
});

server.once('error', (err) => die(`cannot listen on 127.0.0.1:${port}: ${err.message}`));

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

server.listen(port, '127.0.0.1', async () => {
  const actualPort = server.address().port;
  const issuer = `https://127.0.0.1:${actualPort}`;

  let provider;
  try {
    provider = new Provider(issuer, buildConfiguration(issuer));
  } catch (err) {
    die(`provider configuration failed: ${err.stack || err}`);
  }

  const tokenPath = '/token'; // default routes.token

  provider.on('server_error', (ctx, err) => {
    process.stderr.write(`test-server: server_error on ${ctx.method} ${ctx.path}: ${err.stack || err}\n`);
  });
  if (args.verbose) {
    provider.on('grant.error', (ctx, err) => {
      process.stderr.write(`test-server:   token error ${err.error}: ${err.error_description ?? ''}`
        + `${err.error_detail ? ` (${err.error_detail})` : ''}\n`);
    });
  }
  provider.on('grant.error', (ctx, err) => {
    // DPoP counters (any grant, oidc-provider's or ours: both use the same checks)
    if (err.error === 'use_dpop_nonce') stats.dpop_nonce_challenges += 1;
    if (err.error_detail === 'DPoP proof JWT Replay detected') stats.dpop_replays += 1;
    // oidc-provider's invalid_grant answers all say "grant request is invalid";
    // tell the client the reason instead (the error handler has just set the
    // body, which is serialised later)
    if (err instanceof errors.InvalidGrant && typeof err.error_detail === 'string'
        && ctx.body?.error === 'invalid_grant') {
      ctx.body = { ...ctx.body, error_description: err.error_detail };
    }
  });

  // ---- workload identity: reusable client assertions for workload-client ----
  //
  // oidc-provider refuses a client assertion whose jti it has seen before
  // (ReplayDetection.unique(iss, jti, exp), called as the last step of
  // private_key_jwt authentication). For workload-client only, the jti of
  // the very client assertion being authenticated is let through; the
  // assertion's signature, aud and exp are checked before this as always.
  // DPoP proof jtis go through the same function (also with the client_id
  // as iss) and stay replay-protected: only one call per request, with the
  // assertion's jti, is exempted.
  const workloadAuthenticated = new WeakSet(); // ctx
  const { ReplayDetection } = provider;
  const uniqueJti = ReplayDetection.unique;
  ReplayDetection.unique = async function unique(iss, jti, exp) {
    const ctx = Provider.ctx;
    if (iss === WORKLOAD_CLIENT && ctx && !workloadAuthenticated.has(ctx)
        && ctx.oidc?.client?.clientId === WORKLOAD_CLIENT
        && typeof ctx.oidc.params?.client_assertion === 'string') {
      let assertionJti;
      try {
        assertionJti = jose.decodeJwt(ctx.oidc.params.client_assertion).jti;
      } catch {
        assertionJti = undefined;
      }
      if (assertionJti === jti) {
        workloadAuthenticated.add(ctx);
        return true;
      }
    }
    return uniqueJti.call(this, iss, jti, exp);
  };

  // --mtls-aliases: a client assertion sent to /mtls/token may name the
  // regular token endpoint URL as aud too (oidc-provider accepts the issuer
  // and the URL requested)
  if (args['mtls-aliases']) {
    const { prototype } = provider.OIDCContext;
    const expectedAudience = prototype.clientJwtAuthExpectedAudience;
    prototype.clientJwtAuthExpectedAudience = function clientJwtAuthExpectedAudience() {
      return expectedAudience.call(this).add(`${issuer}${tokenPath}`);
    };
  }

  // ---- sender constraints of the tokens minted by the custom grants ----
  //
  // Same checks and order as oidc-provider's client_credentials grant:
  // validateDpop(provider, ctx) first (proof, nonce; undefined without a DPoP
  // header), then senderConstraint(ctx, dPoP) right before minting (mTLS
  // certificate of a certificate-bound client, DPoP jti replay, DPoP required
  // by dpop_bound_access_tokens). Returns the cnf claim (or undefined).
  async function senderConstraint(ctx, dPoP) {
    const cert = checkMtlsCert(provider, ctx);
    if (dPoP) await checkDpopReplay(provider, ctx, dPoP, ctx.oidc.client.clientId);
    checkDpopRequired(provider, ctx, dPoP);
    const cnf = {};
    if (cert) cnf['x5t#S256'] = certificateThumbprint(cert);
    if (dPoP) cnf.jkt = dPoP.thumbprint;
    return Object.keys(cnf).length ? cnf : undefined;
  }
  const tokenTypeFor = (cnf) => (cnf?.jkt ? 'DPoP' : 'Bearer');

  // ---- access token minting shared by the grants ----

  async function mintClientCredentials(client, scope, resource, cnf) {
    const token = new provider.ClientCredentials({ client, scope: scope || undefined });
    if (resource) {
      token.resourceServer = new provider.ResourceServer(resource, resourceServerInfo(resource));
    }
    if (cnf?.jkt) token.jkt = cnf.jkt;
    if (cnf?.['x5t#S256']) token['x5t#S256'] = cnf['x5t#S256'];
    const value = await token.save();
    return {
      access_token: value,
      expires_in: token.expiration,
      token_type: token.tokenType,
      ...(scope ? { scope } : {}),
    };
  }

  function mintUserToken(client, username, userType, scope, lifetime, cnf) {
    const iat = nowSeconds();
    const payload = {
      iss: issuer,
      sub: username,
      aud: RESOURCE,
      iat,
      exp: iat + lifetime,
      jti: crypto.randomBytes(16).toString('base64url'),
      client_id: client.clientId,
      userType,
      ...(scope ? { scope } : {}),
      ...(cnf ? { cnf } : {}),
    };
    return {
      access_token: signAccessTokenJwt(payload),
      expires_in: lifetime,
      token_type: tokenTypeFor(cnf),
      ...(scope ? { scope } : {}),
    };
  }

  // ---- urn:tetrapak:test:user-token ----

  provider.registerGrantType(USER_TOKEN, async (ctx) => {
    const { params, client } = ctx.oidc;
    const dPoP = await validateDpop(provider, ctx);
    const { username } = params;
    if (typeof username !== 'string' || !username) {
      throw new errors.InvalidRequest("missing required parameter 'username'");
    }
    const userType = params.user_type || 'User';
    let lifetime = ttl;
    if (params.ttl !== undefined) {
      if (!/^\d+$/.test(params.ttl) || Number(params.ttl) < 1) {
        throw new errors.InvalidRequest('ttl must be a positive integer (seconds)');
      }
      lifetime = Number(params.ttl);
    }
    const scope = filterScope(params.scope);
    const cnf = await senderConstraint(ctx, dPoP);
    const body = mintUserToken(client, username, userType, scope, lifetime, cnf);
    if (REFRESH_CLIENTS.has(client.clientId)) {
      body.refresh_token = issueRefreshToken({
        clientId: client.clientId,
        scope,
        jkt: dPoP?.thumbprint,
        mint: (c, s, newCnf) => mintUserToken(c, username, userType, s, lifetime, newCnf),
      });
    }
    ctx.body = body;
  }, ['username', 'user_type', 'ttl', 'scope']);

  // ---- RFC 8693 token exchange ----

  const SUBJECT_TOKEN_TYPES = new Set([TT_ID_TOKEN, TT_ACCESS_TOKEN, TT_JWT]);
  const REQUESTED_TOKEN_TYPES = new Set([TT_ACCESS_TOKEN, TT_JWT]);

  if (!args['no-token-exchange']) provider.registerGrantType(TOKEN_EXCHANGE, async (ctx) => {
    const { params, client } = ctx.oidc;
    const dPoP = await validateDpop(provider, ctx);

    if (typeof params.subject_token !== 'string' || !params.subject_token) {
      throw new errors.InvalidRequest("missing required parameter 'subject_token'");
    }
    if (params.subject_token_type === undefined) {
      throw new errors.InvalidRequest("missing required parameter 'subject_token_type'");
    }
    if (!SUBJECT_TOKEN_TYPES.has(params.subject_token_type)) {
      throw new errors.InvalidRequest(`unsupported subject_token_type: ${params.subject_token_type}`);
    }
    if (params.actor_token !== undefined && !SUBJECT_TOKEN_TYPES.has(params.actor_token_type)) {
      throw new errors.InvalidRequest('actor_token_type missing or unsupported');
    }
    if (params.actor_token === undefined && params.actor_token_type !== undefined) {
      throw new errors.InvalidRequest('actor_token_type must not be sent without actor_token');
    }
    if (params.requested_token_type !== undefined
        && !REQUESTED_TOKEN_TYPES.has(params.requested_token_type)) {
      throw new errors.InvalidRequest(`unsupported requested_token_type: ${params.requested_token_type}`);
    }

    const targets = [...asList(params.audience), ...asList(params.resource)];
    for (const target of targets) {
      if (typeof target !== 'string' || !target.startsWith(EXCHANGE_AUDIENCE_PREFIX)) {
        throw new errors.InvalidTarget(`audience/resource must start with "${EXCHANGE_AUDIENCE_PREFIX}" (got ${target})`);
      }
    }
    const uniqueTargets = [...new Set(targets)];
    let aud;
    if (uniqueTargets.length === 0) aud = EXCHANGE_DEFAULT_AUDIENCE;
    else if (uniqueTargets.length === 1) [aud] = uniqueTargets;
    else aud = uniqueTargets;

    const subject = verifyOwnJwt(params.subject_token, 'subject_token', issuer);
    if (params.actor_token !== undefined) {
      verifyOwnJwt(params.actor_token, 'actor_token', issuer);
    }

    const scope = filterScope(params.scope);
    const cnf = await senderConstraint(ctx, dPoP);
    const iat = nowSeconds();
    const exp = Math.min(iat + ttl, subject.exp);
    const payload = {
      iss: issuer,
      sub: subject.sub,
      aud,
      iat,
      exp,
      jti: crypto.randomBytes(16).toString('base64url'),
      client_id: client.clientId,
      ...(subject.userType !== undefined ? { userType: subject.userType } : {}),
      ...(scope ? { scope } : {}),
      act: { sub: client.clientId },
      ...(cnf ? { cnf } : {}),
    };
    ctx.body = {
      access_token: signAccessTokenJwt(payload),
      issued_token_type: TT_ACCESS_TOKEN,
      token_type: tokenTypeFor(cnf),
      expires_in: exp - iat,
      ...(scope ? { scope } : {}),
    };
  }, [
    'subject_token', 'subject_token_type', 'actor_token', 'actor_token_type',
    'requested_token_type', 'audience', 'resource', 'scope',
  ], ['audience', 'resource']);

  // ---- RFC 7523 section 2.1 jwt-bearer ----

  provider.registerGrantType(JWT_BEARER, async (ctx) => {
    const { params, client } = ctx.oidc;
    const dPoP = await validateDpop(provider, ctx);
    if (typeof params.assertion !== 'string' || !params.assertion) {
      throw new errors.InvalidRequest("missing required parameter 'assertion'");
    }
    for (const target of asList(params.resource)) {
      if (target !== RESOURCE) throw new errors.InvalidTarget(`resource must be "${RESOURCE}" (got ${target})`);
    }
    const assertion = await verifyJwtBearerAssertion(params.assertion, client,
      ctx.oidc.clientJwtAuthExpectedAudience());
    const scope = filterScope(params.scope);
    const cnf = await senderConstraint(ctx, dPoP);
    const iat = nowSeconds();
    const payload = {
      iss: issuer,
      sub: assertion.sub,
      aud: RESOURCE,
      iat,
      exp: iat + ttl,
      jti: crypto.randomBytes(16).toString('base64url'),
      client_id: client.clientId,
      ...(scope ? { scope } : {}),
      ...(cnf ? { cnf } : {}),
    };
    ctx.body = {
      access_token: signAccessTokenJwt(payload),
      token_type: tokenTypeFor(cnf),
      expires_in: ttl,
      ...(scope ? { scope } : {}),
    };
  }, ['assertion', 'scope', 'resource'], ['resource']);

  // ---- refresh_token (own implementation, in-memory store) ----

  provider.registerGrantType(REFRESH, async (ctx) => {
    const { params, client } = ctx.oidc;
    const dPoP = await validateDpop(provider, ctx);
    const value = params.refresh_token;
    if (typeof value !== 'string' || !value) {
      throw new errors.InvalidRequest("missing required parameter 'refresh_token'");
    }
    const entry = refreshTokens.get(value);
    if (!entry) throw invalidGrant('refresh token is invalid, expired, revoked or already used');
    if (entry.clientId !== client.clientId) throw invalidGrant('refresh token was issued to another client');
    // RFC 9449 section 5: a refresh token obtained with DPoP is bound to the key
    if (entry.jkt && !dPoP) throw invalidGrant('refresh token is DPoP-bound: DPoP proof missing');
    if (entry.jkt && entry.jkt !== dPoP.thumbprint) {
      throw invalidGrant('refresh token is bound to a different DPoP key');
    }

    let { scope } = entry;
    if (params.scope !== undefined) {
      const granted = new Set(entry.scope.split(' ').filter(Boolean));
      const requested = params.scope.split(' ').filter(Boolean);
      const excess = requested.filter((s) => !granted.has(s));
      if (excess.length) {
        throw new errors.InvalidScope('requested scope exceeds the originally granted scope', excess.join(' '));
      }
      scope = [...new Set(requested)].join(' ');
    }

    const cnf = await senderConstraint(ctx, dPoP);
    refreshTokens.delete(value); // single use (rotation)
    const body = await entry.mint(client, scope, cnf);
    // bound to the key of the request that obtained it (the same key, if bound)
    body.refresh_token = issueRefreshToken({ ...entry, jkt: dPoP?.thumbprint });
    ctx.body = body;
  }, ['refresh_token', 'scope']);

  // REFRESH_CLIENTS' client_credentials answers carry a refresh token too
  // (oidc-provider itself never issues one for client_credentials)
  provider.on('grant.success', (ctx) => {
    const { client, params } = ctx.oidc;
    if (params.grant_type !== CC || !REFRESH_CLIENTS.has(client.clientId)) return;
    const token = ctx.oidc.entities.ClientCredentials;
    if (!token || typeof ctx.body?.access_token !== 'string') return;
    const resource = token.resourceServer?.identifier();
    ctx.body.refresh_token = issueRefreshToken({
      clientId: client.clientId,
      scope: token.scope ?? '',
      jkt: token.jkt,
      mint: (c, s, cnf) => mintClientCredentials(c, s, resource, cnf),
    });
  });

  // Validate the static clients now (oidc-provider does it lazily on first
  // use) so that a configuration mistake fails startup, not a test.
  try {
    for (const { client_id: id } of clients) {
      if (!await provider.Client.find(id)) throw new Error(`client ${id} not found`);
    }
  } catch (err) {
    die(`client configuration failed: ${err.error_description ?? ''} ${err.stack || err}`);
  }

  const discoveryPaths = new Set(['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']);

  provider.use(async (ctx, next) => {
    if (args.verbose) process.stderr.write(`test-server: ${ctx.method} ${ctx.url}\n`);

    if (args['mtls-aliases'] && ctx.path === MTLS_TOKEN_PATH) {
      // RFC 8705 section 5 alias: served by the token endpoint as if
      // oidc-provider were mounted at /mtls, so that everything derived from
      // the URL requested (DPoP htu, client assertion aud) names the alias
      stats.mtls_alias_requests += 1;
      ctx.req.originalUrl = ctx.url;
      ctx.path = tokenPath;
    }

    if (ctx.path === tokenPath) {
      stats.token_requests += 1;
      if (ctx.get('DPoP')) stats.dpop_requests += 1;
      if (slowTokenMs > 0) await sleep(slowTokenMs);
      try {
        await next();
      } finally {
        const grantType = ctx.oidc?.params?.grant_type;
        if (grantType === TOKEN_EXCHANGE) stats.exchange_requests += 1;
        else if (grantType === REFRESH) stats.refresh_requests += 1;
        else if (grantType === JWT_BEARER) stats.jwt_bearer_requests += 1;
        if (workloadAuthenticated.has(ctx)) stats.workload_auth_requests += 1;
      }
      if (args.verbose) process.stderr.write(`test-server:   -> ${ctx.status}\n`);
      return;
    }

    if (discoveryPaths.has(ctx.path)) {
      stats.discovery_requests += 1;
      if (slowDiscoveryMs > 0) await sleep(slowDiscoveryMs);
    } else if (ctx.path === '/test/stats' && ctx.method === 'GET') {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { ...stats };
      return;
    } else if (ctx.path === '/test/reset' && ctx.method === 'POST') {
      for (const key of Object.keys(stats)) if (key !== 'open_connections') stats[key] = 0;
      stats.max_open_connections = stats.open_connections;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { ...stats };
      return;
    } else if (ctx.path === '/test/revoke-refresh' && ctx.method === 'POST') {
      const revoked = refreshTokens.size;
      refreshTokens.clear();
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { revoked };
      return;
    }

    await next();

    if (args.verbose) process.stderr.write(`test-server:   -> ${ctx.status}\n`);
  });

  server.on('request', provider.callback());

  process.stdout.write(`READY ${actualPort}\n`);
});
