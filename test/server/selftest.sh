#!/usr/bin/env bash
# Self-check for the OAuth 2.0 test authorization server.
#
# Usage: selftest.sh        (run `npm ci` in this directory first)
#
# Generates certificates into a temporary directory, starts server.mjs the
# way the C++ harness does (stdin is a pipe held by us, stdout carries the
# READY line), runs HTTP checks with node's https module (no curl needed;
# DPoP proofs are made with the jose package from node_modules), checks the
# alternative server certificates are rejected for the right reason, and
# checks the server exits with status 0 on stdin EOF and on SIGTERM. Prints
# PASS/FAIL per check; exits non-zero if anything failed.
#
# Servers started: the default one (OAuth basics, grants, client auth); one
# with --ttl 2 --slow-discovery; a default one for DPoP (oidc-provider's
# client_credentials and the custom grants, DPoP-bound refresh tokens,
# dpop-client), the RFC 7523 jwt-bearer grant, workload-client's reusable
# client assertion and self_signed_tls_client_auth; one with --dpop-nonce;
# one with --mtls-bound --mtls-aliases; one per alternative certificate.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
server_pid=

failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

if [[ ! -d $here/node_modules/oidc-provider ]]; then
    echo "FAIL: node_modules missing; run 'npm ci' in $here first" >&2
    exit 1
fi

"$here/gen-certs.sh" "$tmp/certs"
pass "gen-certs.sh"

ttl=123
port=

# start_server ARGS... : starts server.mjs in the background with its stdin
# and stdout connected to us through named pipes (like the C++ harness's
# pipes), waits for "READY <port>" and sets $port. stderr goes to
# $tmp/server.log.
srv_in=
srv_out=
start_server() {
    local line t0 t1
    port=
    rm -f "$tmp/srv.in" "$tmp/srv.out"
    mkfifo "$tmp/srv.in" "$tmp/srv.out"
    t0=$(date +%s%N)
    node "$here/server.mjs" --certs "$tmp/certs" "$@" \
        <"$tmp/srv.in" >"$tmp/srv.out" 2>>"$tmp/server.log" &
    server_pid=$!
    exec {srv_in}>"$tmp/srv.in" {srv_out}<"$tmp/srv.out"
    if read -r -t 20 line <&"$srv_out" && [[ $line =~ ^READY\ ([0-9]+)$ ]]; then
        port=${BASH_REMATCH[1]}
        t1=$(date +%s%N)
        echo "      (server $* ready on port $port after $(((t1 - t0) / 1000000)) ms)"
        return 0
    fi
    echo "      server did not print READY (got '${line:-}'); log:" >&2
    cat "$tmp/server.log" >&2
    return 1
}

# stop_server_with eof|term : stops the server and checks it exits with 0
# and wrote nothing else to stdout.
stop_server_with() {
    local how=$1 rc=0 pid=$server_pid extra
    if [[ $how == eof ]]; then
        exec {srv_in}>&-
    else
        kill -TERM "$pid"
    fi
    # cat ends when the server closes stdout, i.e. exits
    if extra=$(timeout 5 cat <&"$srv_out"); then :; else
        fail "server did not exit within 5 s of $how"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    if wait "$pid"; then rc=0; else rc=$?; fi
    server_pid=
    [[ $how == eof ]] || exec {srv_in}>&-
    exec {srv_out}<&-
    if [[ $rc -eq 0 ]]; then pass "server exits with 0 on $how"; else fail "server exit status $rc on $how"; fi
    if [[ -z $extra ]]; then pass "stdout carries only the READY line"; else fail "unexpected stdout: $extra"; fi
}

# --- shared helpers for the node check scripts ------------------------------

cat >"$tmp/lib.mjs" <<'EOF'
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

// jose from the server's node_modules (oidc-provider's dependency)
export const jose = await import(pathToFileURL(
  createRequire(`${process.env.SELFTEST_SERVER_DIR}/`).resolve('jose')).href);

export const port = Number(process.env.SELFTEST_PORT);
export const ttl = Number(process.env.SELFTEST_TTL);
export const certs = process.env.SELFTEST_CERTS;
export const ca = fs.readFileSync(`${certs}/ca.pem`);
export const issuer = `https://127.0.0.1:${port}`;
export const tokenEndpoint = `${issuer}/token`;

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const USER_TOKEN = 'urn:tetrapak:test:user-token';
export const TT_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
export const TT_JWT = 'urn:ietf:params:oauth:token-type:jwt';
export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
export const PLATFORM_ISSUER = 'https://platform.tetrapak.test';

let failures = 0;
export const check = (ok, name, detail = '') => {
  console.log(`${ok ? 'PASS' : 'FAIL'}: ${name}${!ok && detail ? ` -- ${detail}` : ''}`);
  if (!ok) failures += 1;
};
export const finish = () => process.exit(failures ? 1 : 0);

export function request(agent, method, path, { headers = {}, form } = {}) {
  return new Promise((resolve, reject) => {
    // array values become repeated parameters
    const body = form ? new URLSearchParams(Object.entries(form)
      .flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v]]))).toString() : undefined;
    const req = https.request({
      host: '127.0.0.1', port, method, path, agent,
      headers: {
        ...(body !== undefined ? {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(body),
        } : {}),
        ...headers,
      },
    }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { data += c; });
      res.on('end', () => {
        let json;
        try { json = JSON.parse(data); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text: data, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

export const basic = (id, secret) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
// RFC 6749 2.3.1: application/x-www-form-urlencoded each part, then base64
const formEncode = (s) => new URLSearchParams({ x: s }).toString().slice(2);
export const basicEncoded = (id, secret) => basic(formEncode(id), formEncode(secret));
export const b64urlJson = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
export const jwtParts = (t) => (typeof t === 'string' ? t.split('.') : []);
export const jwtHeader = (t) => b64urlJson(jwtParts(t)[0]);
export const jwtPayload = (t) => b64urlJson(jwtParts(t)[1]);
export const now = () => Math.floor(Date.now() / 1000);
export const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// JWS compact serialisation with node's crypto; key: KeyObject/PEM (RS256,
// ES256) or the shared secret (HS256)
export function signJwt(header, payload, key) {
  const enc = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = Buffer.from(`${enc(header)}.${enc(payload)}`);
  let sig;
  switch (header.alg) {
    case 'HS256': sig = crypto.createHmac('sha256', key).update(input).digest(); break;
    case 'ES256': sig = crypto.sign('sha256', input, { key, dsaEncoding: 'ieee-p1363' }); break;
    case 'RS256': sig = crypto.sign('sha256', input, key); break;
    default: throw new Error(`alg ${header.alg}`);
  }
  return `${input.toString()}.${sig.toString('base64url')}`;
}

// RFC 7523 client assertion
export function clientAssertion(clientId, alg, key, overrides = {}) {
  const iat = now();
  return signJwt({ alg, typ: 'JWT' }, {
    iss: clientId,
    sub: clientId,
    aud: tokenEndpoint,
    jti: crypto.randomUUID(),
    iat,
    exp: iat + 60,
    ...overrides,
  }, key);
}

export const readKey = (name) => crypto.createPrivateKey(fs.readFileSync(`${certs}/${name}`));

// RFC 7523 section 2.1 grant assertion from the workload platform
// (DIR/workload-issuer.key), or from the issuer/key given in overrides
export function platformAssertion(overrides = {}, key = readKey('workload-issuer.key'), alg = 'ES256') {
  const iat = now();
  return signJwt({ alg, typ: 'JWT' }, {
    iss: PLATFORM_ISSUER,
    sub: 'system:serviceaccount:apps:worker',
    aud: tokenEndpoint,
    jti: crypto.randomUUID(),
    iat,
    exp: iat + 300,
    ...overrides,
  }, key);
}

// RFC 9449 DPoP: a key pair {alg, privateKey, jwk, jkt} and proofs made with it
export async function dpopKey(alg = 'ES256') {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  const jwk = await jose.exportJWK(publicKey);
  return { alg, privateKey, jwk, jkt: await jose.calculateJwkThumbprint(jwk) };
}
export function dpopProof(key, claims = {}, header = {}) {
  return new jose.SignJWT({ htm: 'POST', htu: tokenEndpoint, jti: crypto.randomUUID(), iat: now(), ...claims })
    .setProtectedHeader({ typ: 'dpop+jwt', alg: key.alg, jwk: key.jwk, ...header })
    .sign(key.privateKey);
}
// RFC 8705 x5t#S256 of a certificate file
export const certThumbprint = (name) => crypto.hash('sha256',
  new crypto.X509Certificate(fs.readFileSync(`${certs}/${name}`)).raw, 'base64url');
export const mtlsAgent = (name) => new https.Agent({
  ca,
  cert: fs.readFileSync(`${certs}/${name}.pem`),
  key: fs.readFileSync(`${certs}/${name}.key`),
  keepAlive: false,
});

// verifies an RS256 JWT with the server's jwks_uri
export async function verifiesWithJwks(agent, token) {
  const jwksUri = (await request(agent, 'GET', '/.well-known/openid-configuration')).json.jwks_uri;
  const jwks = (await request(agent, 'GET', new URL(jwksUri).pathname)).json;
  const [h, p, s] = jwtParts(token);
  const header = b64urlJson(h);
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  return !!jwk && header.alg === 'RS256' && crypto.verify('sha256', Buffer.from(`${h}.${p}`),
    crypto.createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url'));
}
EOF
export SELFTEST_LIB=$tmp/lib.mjs SELFTEST_SERVER_DIR=$here

# --- main server: OAuth checks ---------------------------------------------

if start_server --ttl "$ttl"; then
    pass "server started, READY $port"
    export SELFTEST_PORT=$port SELFTEST_CERTS=$tmp/certs SELFTEST_TTL=$ttl
    if node --input-type=module - <<'EOF'
import * as crypto from 'node:crypto';
import * as https from 'node:https';

const {
  port, ttl, ca, issuer, check, finish, request, basic, basicEncoded, b64urlJson,
  jwtParts, jwtHeader, jwtPayload, now, signJwt, clientAssertion, readKey, mtlsAgent,
  verifiesWithJwks, TOKEN_EXCHANGE, USER_TOKEN, TT_ACCESS_TOKEN, TT_JWT, ASSERTION_TYPE,
} = await import(process.env.SELFTEST_LIB);

const agent = new https.Agent({ ca, keepAlive: true, maxSockets: 1 });
const zeroStats = (j) => j?.token_requests === 0 && j?.connections === 0 && j?.exchange_requests === 0
  && j?.refresh_requests === 0 && j?.discovery_requests === 0;

try {
  // stats must start from a clean slate; reset over a throwaway connection
  // so that the keep-alive agent's connection is counted afterwards
  let r = await request(new https.Agent({ ca, keepAlive: false }), 'POST', '/test/reset');
  check(r.status === 200 && zeroStats(r.json), 'POST /test/reset', r.text);

  r = await request(agent, 'GET', '/.well-known/openid-configuration');
  check(r.status === 200 && r.json?.issuer === issuer,
    'discovery issuer is https://127.0.0.1:PORT', r.text);
  check(r.json?.token_endpoint === `${issuer}/token`, 'discovery token_endpoint', r.json?.token_endpoint);
  const authMethods = r.json?.token_endpoint_auth_methods_supported ?? [];
  check(['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt', 'tls_client_auth']
    .every((m) => authMethods.includes(m)), 'discovery lists the five token endpoint auth methods', JSON.stringify(authMethods));
  const grantTypes = r.json?.grant_types_supported ?? [];
  check([TOKEN_EXCHANGE, 'refresh_token', 'client_credentials', USER_TOKEN].every((g) => grantTypes.includes(g)),
    'discovery grant_types_supported has token-exchange, refresh_token, user-token', JSON.stringify(grantTypes));
  const algs = r.json?.token_endpoint_auth_signing_alg_values_supported ?? [];
  check(['ES256', 'RS256', 'HS256'].every((a) => algs.includes(a)), 'discovery auth signing algs ES256/RS256/HS256', JSON.stringify(algs));

  const cc = { grant_type: 'client_credentials' };
  const isToken = (res, expiresIn = ttl) => res.status === 200 && typeof res.json?.access_token === 'string'
    && res.json.access_token.length > 0 && res.json.token_type === 'Bearer'
    && res.json.expires_in === expiresIn;

  r = await request(agent, 'POST', '/token', {
    headers: { authorization: basic('basic-client', 'basic-secret') }, form: { ...cc, scope: 'read write' },
  });
  check(isToken(r) && r.json.scope === 'read write', 'basic-client (client_secret_basic) gets a token', r.text);
  check(r.json?.access_token?.split('.').length === 1, 'token without resource is opaque', r.json?.access_token);
  check(r.headers['cache-control'] === 'no-store', 'token response has Cache-Control: no-store', r.headers['cache-control']);
  check(r.json?.refresh_token === undefined, 'basic-client gets no refresh_token', r.text);
  const opaqueToken = r.json?.access_token;

  r = await request(agent, 'POST', '/token', {
    form: { ...cc, client_id: 'post-client', client_secret: 'post-secret' },
  });
  check(isToken(r), 'post-client (client_secret_post) gets a token', r.text);

  r = await request(agent, 'POST', '/token', {
    headers: { authorization: basicEncoded('we:ird@id/+ %', 's3:cr@t/+ %&=') }, form: cc,
  });
  check(isToken(r), 'client with reserved characters (form-encoded + base64) gets a token', r.text);

  r = await request(agent, 'POST', '/token', {
    headers: { authorization: basic('basic-client', 'wrong-secret') }, form: cc,
  });
  check(r.status === 401 && r.json?.error === 'invalid_client', 'wrong secret -> 401 invalid_client', `${r.status} ${r.text}`);
  check(/^Basic realm=/.test(r.headers['www-authenticate'] ?? ''), 'wrong secret -> WWW-Authenticate: Basic', r.headers['www-authenticate']);

  r = await request(agent, 'POST', '/token', {
    headers: { authorization: basic('basic-client', 'basic-secret') }, form: { grant_type: 'foo' },
  });
  check(r.status === 400 && r.json?.error === 'unsupported_grant_type', 'grant_type=foo -> 400 unsupported_grant_type', `${r.status} ${r.text}`);

  r = await request(agent, 'POST', '/token', {
    headers: { authorization: basic('system-client', 'system-secret') },
    form: { ...cc, resource: 'urn:tetrapak:test-api', scope: 'read api:all' },
  });
  const parts = r.json?.access_token?.split('.') ?? [];
  check(isToken(r) && parts.length === 3, 'resource=urn:tetrapak:test-api gives a JWT', r.text);
  const systemJwt = r.json?.access_token;
  if (parts.length === 3) {
    const header = b64urlJson(parts[0]);
    const payload = b64urlJson(parts[1]);
    check(header.alg === 'RS256' && header.typ === 'at+jwt' && typeof header.kid === 'string',
      'JWT header alg RS256, typ at+jwt, kid', JSON.stringify(header));
    check(Number.isInteger(payload.exp) && payload.exp - payload.iat === ttl, 'JWT exp = iat + ttl', JSON.stringify(payload));
    check(payload.aud === 'urn:tetrapak:test-api' && payload.iss === issuer
      && payload.client_id === 'system-client' && payload.sub === 'system-client',
    'JWT aud/iss/client_id/sub', JSON.stringify(payload));
    check(payload.scope === 'read api:all', 'JWT scope', JSON.stringify(payload));
    check(payload.userType === 'System', 'JWT userType for system-client', JSON.stringify(payload));
    check(await verifiesWithJwks(agent, systemJwt), 'JWT signature verifies with jwks_uri key');
  }

  r = await request(agent, 'POST', '/token', {
    headers: { authorization: basic('basic-client', 'basic-secret') },
    form: { ...cc, resource: 'urn:unknown' },
  });
  check(r.status === 400 && r.json?.error === 'invalid_target', 'unknown resource -> 400 invalid_target', `${r.status} ${r.text}`);

  // 7 requests to /token so far, all over one keep-alive connection; 2
  // discovery requests (one by verifiesWithJwks)
  r = await request(agent, 'GET', '/test/stats');
  check(r.status === 200 && r.json?.token_requests === 7 && r.json?.connections === 1,
    '/test/stats counts token requests and connections (7, 1)', r.text);
  check(r.json?.discovery_requests === 2 && r.json?.exchange_requests === 0 && r.json?.refresh_requests === 0,
    '/test/stats counts discovery requests (2), no exchange/refresh', r.text);

  const agent2 = new https.Agent({ ca, keepAlive: false });
  await request(agent2, 'POST', '/token', { form: { ...cc, client_id: 'post-client', client_secret: 'post-secret' } });
  r = await request(agent2, 'GET', '/test/stats');
  check(r.json?.token_requests === 8 && r.json?.connections === 3,
    '/test/stats counts new connections (8, 3)', r.text);

  r = await request(agent, 'POST', '/test/reset');
  r = await request(agent, 'GET', '/test/stats');
  check(zeroStats(r.json), '/test/reset zeroes counters', r.text);

  // ---- from here on token requests go through token(), which counts them
  // by grant type for the final /test/stats check
  const sent = { token: 0, exchange: 0, refresh: 0 };
  const token = (form, { headers = {}, via = agent } = {}) => {
    sent.token += 1;
    if (form.grant_type === TOKEN_EXCHANGE) sent.exchange += 1;
    if (form.grant_type === 'refresh_token') sent.refresh += 1;
    return request(via, 'POST', '/token', { headers, form });
  };
  const auth = (id, secret) => ({ headers: { authorization: basic(id, secret) } });
  const errorIs = (res, status, error) => res.status === status && res.json?.error === error;

  // ---- user tokens: urn:tetrapak:test:user-token ----
  const userIssuer = auth('user-issuer', 'user-issuer-secret');
  r = await token({ grant_type: USER_TOKEN, username: 'alice' }, userIssuer);
  check(isToken(r) && jwtParts(r.json.access_token).length === 3, 'user-token grant gives a JWT, expires_in = ttl', r.text);
  const aliceToken = r.json?.access_token;
  if (aliceToken) {
    const h = jwtHeader(aliceToken);
    const p = jwtPayload(aliceToken);
    check(h.alg === 'RS256' && h.typ === 'at+jwt', 'user token header RS256 at+jwt', JSON.stringify(h));
    check(p.sub === 'alice' && p.userType === 'User' && p.aud === 'urn:tetrapak:test-api' && p.iss === issuer
      && p.client_id === 'user-issuer' && typeof p.jti === 'string' && p.exp - p.iat === ttl
      && Math.abs(p.iat - now()) <= 2,
    'user token claims sub/userType User/aud/iss/client_id/jti/exp', JSON.stringify(p));
    check(await verifiesWithJwks(agent, aliceToken), 'user token verifies with jwks_uri key');
  }
  r = await token({ grant_type: USER_TOKEN, username: 'bob', user_type: 'Admin', ttl: '5' }, userIssuer);
  const bobToken = r.json?.access_token;
  check(isToken(r, 5) && jwtPayload(bobToken).userType === 'Admin' && jwtPayload(bobToken).sub === 'bob'
    && jwtPayload(bobToken).exp - jwtPayload(bobToken).iat === 5,
  'user-token user_type=Admin ttl=5 -> expires_in 5, userType Admin', r.text);
  r = await token({ grant_type: USER_TOKEN }, userIssuer);
  check(errorIs(r, 400, 'invalid_request'), 'user-token without username -> 400 invalid_request', r.text);
  r = await token({ grant_type: USER_TOKEN, username: 'x', ttl: 'soon' }, userIssuer);
  check(errorIs(r, 400, 'invalid_request'), 'user-token ttl=soon -> 400 invalid_request', r.text);
  r = await token({ grant_type: USER_TOKEN, username: 'x' }, auth('basic-client', 'basic-secret'));
  check(errorIs(r, 400, 'invalid_request'), 'user-token by basic-client -> 400 invalid_request (grant not allowed)', r.text);
  r = await token({ grant_type: USER_TOKEN, username: 'x' }, auth('user-issuer', 'nope'));
  check(errorIs(r, 401, 'invalid_client'), 'user-token with wrong secret -> 401 invalid_client', r.text);

  // ---- RFC 8693 token exchange ----
  const exchange = (extra, opts = auth('basic-client', 'basic-secret')) => token({
    grant_type: TOKEN_EXCHANGE, subject_token_type: TT_ACCESS_TOKEN, ...extra,
  }, opts);

  r = await exchange({ subject_token: aliceToken, audience: 'urn:tetrapak:orders', scope: 'read bogus api:all' });
  check(r.status === 200 && r.json?.issued_token_type === TT_ACCESS_TOKEN && r.json?.token_type === 'Bearer'
    && r.json?.scope === 'read api:all' && Number.isInteger(r.json?.expires_in)
    && r.json.expires_in > 0 && r.json.expires_in <= ttl,
  'token exchange (basic-client) -> 200 issued_token_type access_token, scope filtered', r.text);
  let xt = r.json?.access_token;
  if (xt) {
    const p = jwtPayload(xt);
    const s = jwtPayload(aliceToken);
    check(p.sub === 'alice' && p.userType === 'User' && p.aud === 'urn:tetrapak:orders' && p.iss === issuer
      && p.client_id === 'basic-client' && p.act?.sub === 'basic-client' && p.scope === 'read api:all'
      && typeof p.jti === 'string' && p.jti !== s.jti && p.exp <= s.exp && p.exp - p.iat === r.json.expires_in,
    'exchanged token claims sub/userType/aud/act/client_id/scope/exp', JSON.stringify(p));
    check(jwtHeader(xt).typ === 'at+jwt' && await verifiesWithJwks(agent, xt), 'exchanged token verifies with jwks_uri key');
  }

  r = await token({
    grant_type: TOKEN_EXCHANGE, subject_token: bobToken, subject_token_type: TT_JWT,
    client_id: 'post-client', client_secret: 'post-secret',
  });
  xt = r.json?.access_token;
  check(r.status === 200 && r.json?.scope === undefined && r.json?.expires_in <= 5
    && jwtPayload(xt).aud === 'urn:tetrapak:downstream' && jwtPayload(xt).exp === jwtPayload(bobToken).exp
    && jwtPayload(xt).userType === 'Admin' && jwtPayload(xt).act?.sub === 'post-client' && jwtPayload(xt).scope === undefined,
  'exchange (post-client, jwt type, no audience/scope): default audience, exp = subject exp, no scope',
  `${r.text} ${xt && JSON.stringify(jwtPayload(xt))}`);

  r = await exchange({ subject_token: systemJwt, subject_token_type: 'urn:ietf:params:oauth:token-type:id_token', resource: 'urn:tetrapak:x' });
  xt = r.json?.access_token;
  check(r.status === 200 && jwtPayload(xt).sub === 'system-client' && jwtPayload(xt).userType === 'System'
    && jwtPayload(xt).aud === 'urn:tetrapak:x',
  'exchange of a client-credentials resource JWT keeps sub/userType System; resource as audience', r.text);

  r = await exchange({ subject_token: aliceToken, audience: ['urn:tetrapak:a', 'urn:tetrapak:b'] });
  check(r.status === 200 && JSON.stringify(jwtPayload(r.json.access_token).aud) === '["urn:tetrapak:a","urn:tetrapak:b"]',
    'exchange with two audience values -> aud array', r.text);

  r = await exchange({});
  check(errorIs(r, 400, 'invalid_request'), 'exchange without subject_token -> 400 invalid_request', r.text);
  r = await exchange({ subject_token: aliceToken, subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' });
  check(errorIs(r, 400, 'invalid_request'), 'exchange with saml2 subject_token_type -> 400 invalid_request', r.text);
  r = await token({ grant_type: TOKEN_EXCHANGE, subject_token: aliceToken }, auth('basic-client', 'basic-secret'));
  check(errorIs(r, 400, 'invalid_request'), 'exchange without subject_token_type -> 400 invalid_request', r.text);
  r = await exchange({ subject_token: aliceToken, requested_token_type: 'urn:ietf:params:oauth:token-type:saml1' });
  check(errorIs(r, 400, 'invalid_request'), 'exchange with unsupported requested_token_type -> 400 invalid_request', r.text);
  r = await exchange({ subject_token: aliceToken, requested_token_type: TT_ACCESS_TOKEN });
  check(r.status === 200, 'exchange with requested_token_type access_token -> 200', r.text);
  r = await exchange({ subject_token: aliceToken, audience: 'https://evil.example' });
  check(errorIs(r, 400, 'invalid_target'), 'exchange with audience https://evil.example -> 400 invalid_target', r.text);
  r = await exchange({ subject_token: aliceToken, resource: 'urn:other:api' });
  check(errorIs(r, 400, 'invalid_target'), 'exchange with resource urn:other:api -> 400 invalid_target', r.text);
  r = await exchange({ subject_token: opaqueToken });
  check(errorIs(r, 400, 'invalid_grant') && /not a JWT/.test(r.json?.error_description),
    'exchange of an opaque token -> 400 invalid_grant "not a JWT"', r.text);
  const forged = signJwt(jwtHeader(aliceToken), { ...jwtPayload(aliceToken), sub: 'mallory' },
    crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
  r = await exchange({ subject_token: forged });
  check(errorIs(r, 400, 'invalid_grant') && /not signed by this server/.test(r.json?.error_description),
    'exchange of a token signed by another key -> 400 invalid_grant "not signed by this server"', r.text);
  r = await exchange({ subject_token: aliceToken }, auth('system-client', 'system-secret'));
  check(errorIs(r, 400, 'invalid_request'), 'exchange by system-client -> 400 invalid_request (grant not allowed)', r.text);
  r = await exchange({ subject_token: aliceToken, actor_token: bobToken, actor_token_type: TT_ACCESS_TOKEN });
  check(r.status === 200 && jwtPayload(r.json.access_token).act?.sub === 'basic-client',
    'exchange with a valid actor_token -> 200, act.sub is still the client', r.text);
  r = await exchange({ subject_token: aliceToken, actor_token: opaqueToken, actor_token_type: TT_ACCESS_TOKEN });
  check(errorIs(r, 400, 'invalid_grant'), 'exchange with an opaque actor_token -> 400 invalid_grant', r.text);

  // ---- refresh tokens (refresh-client) ----
  const refreshAuth = auth('refresh-client', 'refresh-secret');
  r = await token({ ...cc, scope: 'read write' }, refreshAuth);
  check(isToken(r) && typeof r.json.refresh_token === 'string' && r.json.refresh_token.length >= 32 && r.json.scope === 'read write',
    'refresh-client client_credentials answer carries a refresh_token', r.text);
  const rt1 = r.json?.refresh_token;
  const at1 = r.json?.access_token;
  r = await token({ grant_type: 'refresh_token', refresh_token: rt1 }, refreshAuth);
  check(isToken(r) && r.json.access_token !== at1 && typeof r.json.refresh_token === 'string'
    && r.json.refresh_token !== rt1 && r.json.scope === 'read write',
  'refresh_token grant -> new access_token, rotated refresh_token, same scope', r.text);
  const rt2 = r.json?.refresh_token;
  r = await request(agent, 'POST', '/token/introspection', {
    headers: { authorization: basic('refresh-client', 'refresh-secret') }, form: { token: r.json?.access_token },
  });
  check(r.json?.active === true && r.json?.client_id === 'refresh-client', 'refreshed opaque token introspects as active', r.text);
  r = await token({ grant_type: 'refresh_token', refresh_token: rt1 }, refreshAuth);
  check(errorIs(r, 400, 'invalid_grant') && typeof r.json?.error_description === 'string',
    'reusing a rotated refresh_token -> 400 invalid_grant', r.text);
  r = await token({ grant_type: 'refresh_token', refresh_token: rt2, scope: 'read api:all' }, refreshAuth);
  check(errorIs(r, 400, 'invalid_scope'), 'refresh with a scope beyond the grant -> 400 invalid_scope', r.text);
  r = await token({ grant_type: 'refresh_token', refresh_token: rt2, scope: 'read' }, refreshAuth);
  check(isToken(r) && r.json.scope === 'read', 'refresh with a narrower scope -> that scope', r.text);
  let rt3 = r.json?.refresh_token;
  r = await token({ grant_type: 'refresh_token', refresh_token: rt3 }, refreshAuth);
  check(isToken(r) && r.json.scope === 'read write', 'next refresh is back to the full granted scope', r.text);
  rt3 = r.json?.refresh_token;
  r = await token({ grant_type: 'refresh_token' }, refreshAuth);
  check(errorIs(r, 400, 'invalid_request'), 'refresh without refresh_token -> 400 invalid_request', r.text);
  r = await token({ grant_type: 'refresh_token', refresh_token: rt3 }, auth('refresh-client', 'bad'));
  check(errorIs(r, 401, 'invalid_client'), 'refresh with wrong client secret -> 401 invalid_client', r.text);
  r = await token({ grant_type: 'refresh_token', refresh_token: rt3 }, auth('basic-client', 'basic-secret'));
  check(errorIs(r, 400, 'invalid_request'), 'refresh by basic-client -> 400 invalid_request (grant not allowed)', r.text);

  r = await token({ ...cc, resource: 'urn:tetrapak:test-api', scope: 'api:all' }, refreshAuth);
  const jwt1 = r.json?.access_token;
  r = await token({ grant_type: 'refresh_token', refresh_token: r.json?.refresh_token }, refreshAuth);
  const jwt2 = r.json?.access_token;
  check(isToken(r) && jwtParts(jwt2).length === 3 && jwtPayload(jwt2).aud === 'urn:tetrapak:test-api'
    && jwtPayload(jwt2).client_id === 'refresh-client' && jwtPayload(jwt2).scope === 'api:all'
    && jwtPayload(jwt2).jti !== jwtPayload(jwt1).jti && jwtPayload(jwt2).exp - jwtPayload(jwt2).iat === ttl,
  'refreshing a resource JWT gives a new resource JWT', `${r.text}`);

  r = await token({ grant_type: USER_TOKEN, username: 'carol', ttl: '7' }, refreshAuth);
  check(r.status === 200 && typeof r.json?.refresh_token === 'string', 'refresh-client user-token answer carries a refresh_token', r.text);
  r = await token({ grant_type: 'refresh_token', refresh_token: r.json?.refresh_token }, refreshAuth);
  check(isToken(r, 7) && jwtPayload(r.json.access_token).sub === 'carol' && typeof r.json.refresh_token === 'string',
    'refreshing a user token gives a new user token (same sub, same lifetime)', r.text);
  r = await exchange({ subject_token: aliceToken }, refreshAuth);
  check(r.status === 200 && jwtPayload(r.json.access_token).act?.sub === 'refresh-client', 'refresh-client may exchange', r.text);

  r = await request(agent, 'POST', '/test/revoke-refresh');
  check(r.status === 200 && r.json?.revoked >= 2, 'POST /test/revoke-refresh revokes the live refresh tokens', r.text);
  r = await token({ grant_type: 'refresh_token', refresh_token: rt3 }, refreshAuth);
  check(errorIs(r, 400, 'invalid_grant'), 'refresh after /test/revoke-refresh -> 400 invalid_grant', r.text);

  // ---- RFC 7523 client authentication ----
  const es256Key = readKey('client-jwt-es256.key');
  const rs256Key = readKey('client-jwt-rs256.key');
  const hsSecret = 'jwt-secret-client-secret-0123456789abcdef';
  const jwtAuth = (assertion) => ({ client_assertion_type: ASSERTION_TYPE, client_assertion: assertion });
  const strangerEc = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const strangerRsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

  let assertion = clientAssertion('jwt-es256-client', 'ES256', es256Key);
  r = await token({ ...cc, ...jwtAuth(assertion) });
  check(isToken(r), 'private_key_jwt ES256, aud = token endpoint -> token', r.text);
  r = await token({ ...cc, ...jwtAuth(assertion) });
  check(errorIs(r, 401, 'invalid_client'), 'replayed client assertion (same jti) -> 401 invalid_client', r.text);
  r = await token({ ...cc, ...jwtAuth(clientAssertion('jwt-es256-client', 'ES256', es256Key, { aud: issuer })) });
  check(isToken(r), 'private_key_jwt ES256, aud = issuer -> token', r.text);
  r = await token({ ...cc, ...jwtAuth(clientAssertion('jwt-es256-client', 'ES256', es256Key, { aud: ['urn:x', `${issuer}/token`] })) });
  check(isToken(r), 'private_key_jwt ES256, aud = [other, token endpoint] -> token', r.text);
  r = await token({ ...cc, ...jwtAuth(clientAssertion('jwt-es256-client', 'ES256', es256Key, { aud: 'https://elsewhere.example/token' })) });
  check(errorIs(r, 401, 'invalid_client'), 'private_key_jwt with a foreign aud -> 401 invalid_client', r.text);
  r = await token({ ...cc, ...jwtAuth(clientAssertion('jwt-es256-client', 'ES256', strangerEc)) });
  check(errorIs(r, 401, 'invalid_client'), 'private_key_jwt ES256 signed by a wrong key -> 401 invalid_client', r.text);
  r = await token({ ...cc, ...jwtAuth(clientAssertion('jwt-es256-client', 'RS256', rs256Key)) });
  check(errorIs(r, 401, 'invalid_client'), 'jwt-es256-client assertion signed RS256 -> 401 invalid_client', r.text);
  r = await token({ ...cc, ...jwtAuth(clientAssertion('jwt-es256-client', 'ES256', es256Key, { exp: now() - 120, iat: now() - 180 })) });
  check(errorIs(r, 401, 'invalid_client'), 'expired client assertion -> 401 invalid_client', r.text);
  r = await token({ ...cc, client_assertion: clientAssertion('jwt-es256-client', 'ES256', es256Key) });
  check(errorIs(r, 400, 'invalid_request'), 'client_assertion without client_assertion_type -> 400 invalid_request', r.text);
  r = await token({ ...cc, client_id: 'jwt-es256-client', ...jwtAuth(clientAssertion('jwt-es256-client', 'ES256', es256Key)) });
  check(isToken(r), 'private_key_jwt with an additional matching client_id -> token', r.text);

  r = await token({ ...cc, resource: 'urn:tetrapak:test-api', ...jwtAuth(clientAssertion('jwt-rs256-client', 'RS256', rs256Key)) });
  check(isToken(r) && jwtPayload(r.json.access_token).client_id === 'jwt-rs256-client', 'private_key_jwt RS256 -> token', r.text);
  r = await token({ ...cc, ...jwtAuth(clientAssertion('jwt-rs256-client', 'RS256', strangerRsa)) });
  check(errorIs(r, 401, 'invalid_client'), 'private_key_jwt RS256 signed by a wrong key -> 401 invalid_client', r.text);

  r = await token({ ...cc, ...jwtAuth(clientAssertion('jwt-secret-client', 'HS256', hsSecret)) });
  check(isToken(r), 'client_secret_jwt HS256 -> token', r.text);
  r = await token({ ...cc, ...jwtAuth(clientAssertion('jwt-secret-client', 'HS256', `${hsSecret}x`)) });
  check(errorIs(r, 401, 'invalid_client'), 'client_secret_jwt with a wrong secret -> 401 invalid_client', r.text);

  r = await exchange({ subject_token: aliceToken, ...jwtAuth(clientAssertion('jwt-es256-client', 'ES256', es256Key)) }, {});
  check(r.status === 200 && jwtPayload(r.json.access_token).act?.sub === 'jwt-es256-client',
    'token exchange with private_key_jwt -> act.sub jwt-es256-client', r.text);

  // ---- RFC 8705 tls_client_auth ----
  const mtlsForm = { ...cc, client_id: 'mtls-client' };
  const goodCert = mtlsAgent('client');
  r = await token(mtlsForm, { via: goodCert });
  check(isToken(r), 'tls_client_auth with client.pem -> token', r.text);
  r = await token(mtlsForm, { via: new https.Agent({ ca, keepAlive: false }) });
  check(errorIs(r, 401, 'invalid_client'), 'tls_client_auth without a certificate -> 401 invalid_client', r.text);
  r = await token(mtlsForm, { via: mtlsAgent('other-client') });
  check(errorIs(r, 401, 'invalid_client'), 'tls_client_auth with a certificate from other-ca -> 401 invalid_client', r.text);
  r = await token(cc, { via: goodCert, headers: { authorization: basic('basic-client', 'basic-secret') } });
  check(isToken(r), 'secret-based client over a connection with a client certificate still works', r.text);
  r = await exchange({ subject_token: aliceToken, client_id: 'mtls-client' }, { via: goodCert });
  check(r.status === 200 && jwtPayload(r.json.access_token).act?.sub === 'mtls-client',
    'token exchange with tls_client_auth -> act.sub mtls-client', r.text);

  // ---- counters ----
  r = await request(agent, 'GET', '/test/stats');
  check(r.json?.token_requests === sent.token && r.json?.exchange_requests === sent.exchange
    && r.json?.refresh_requests === sent.refresh,
  `/test/stats token/exchange/refresh counters (${sent.token}, ${sent.exchange}, ${sent.refresh})`, r.text);
  r = await request(agent, 'POST', '/test/reset');
  check(zeroStats(r.json), '/test/reset zeroes all five counters', r.text);
} catch (err) {
  check(false, 'HTTP checks ran without exceptions', err.stack);
}
agent.destroy();
finish();
EOF
    then :; else failures=$((failures + 1)); fi
    stop_server_with eof
else
    fail "server started"
fi

# --- short-lived tokens (--ttl 2) and --slow-discovery ----------------------

slow=700
if start_server --ttl 2 --slow-discovery "$slow"; then
    pass "server with --ttl 2 --slow-discovery $slow started"
    export SELFTEST_PORT=$port SELFTEST_CERTS=$tmp/certs SELFTEST_TTL=2 SELFTEST_SLOW=$slow
    if node --input-type=module - <<'EOF'
import * as https from 'node:https';

const {
  ca, issuer, check, finish, request, basic, jwtParts, jwtPayload, sleep, clientAssertion, readKey,
  mtlsAgent, TOKEN_EXCHANGE, USER_TOKEN, TT_ACCESS_TOKEN, ASSERTION_TYPE,
} = await import(process.env.SELFTEST_LIB);
const slow = Number(process.env.SELFTEST_SLOW);

const agent = new https.Agent({ ca, keepAlive: true });
try {
  // discovery answers are delayed; other endpoints are not
  await request(agent, 'POST', '/test/reset');
  const t0 = Date.now();
  const inFlight = Array.from({ length: 5 }, () => request(agent, 'GET', '/.well-known/openid-configuration'));
  await sleep(100);
  let r = await request(agent, 'GET', '/test/stats');
  const tStats = Date.now() - t0;
  check(r.json?.discovery_requests === 5 && tStats < slow,
    `5 concurrent discovery requests counted while in flight, /test/stats not delayed (${tStats} ms)`, r.text);
  const answers = await Promise.all(inFlight);
  const tAll = Date.now() - t0;
  check(answers.every((a) => a.status === 200 && a.json?.issuer === issuer) && tAll >= slow,
    `--slow-discovery ${slow}: discovery answered after ${tAll} ms`);

  const cc = { grant_type: 'client_credentials' };
  const post = (form, headers = {}, via = agent) => request(via, 'POST', '/token', { headers, form });
  const auth = (id, secret) => ({ authorization: basic(id, secret) });
  const twoSeconds = (res) => res.status === 200 && res.json?.expires_in === 2;

  r = await post(cc, auth('basic-client', 'basic-secret'));
  check(twoSeconds(r), 'ttl 2: client_credentials expires_in 2', r.text);
  r = await post({ ...cc, resource: 'urn:tetrapak:test-api' }, auth('system-client', 'system-secret'));
  check(twoSeconds(r) && jwtPayload(r.json.access_token).exp - jwtPayload(r.json.access_token).iat === 2,
    'ttl 2: resource JWT expires_in 2, exp = iat + 2', r.text);
  r = await post({ grant_type: USER_TOKEN, username: 'dave' }, auth('user-issuer', 'user-issuer-secret'));
  check(twoSeconds(r), 'ttl 2: user-token expires_in 2', r.text);
  const dave = r.json?.access_token;
  r = await post({ grant_type: TOKEN_EXCHANGE, subject_token: dave, subject_token_type: TT_ACCESS_TOKEN },
    auth('basic-client', 'basic-secret'));
  check(r.status === 200 && r.json.expires_in >= 1 && r.json.expires_in <= 2, 'ttl 2: exchange expires_in <= 2', r.text);
  r = await post(cc, auth('refresh-client', 'refresh-secret'));
  check(twoSeconds(r) && r.json.refresh_token, 'ttl 2: refresh-client client_credentials expires_in 2', r.text);
  r = await post({ grant_type: 'refresh_token', refresh_token: r.json?.refresh_token }, auth('refresh-client', 'refresh-secret'));
  check(twoSeconds(r), 'ttl 2: refreshed token expires_in 2', r.text);
  const rt = r.json?.refresh_token;
  r = await post({ ...cc, client_assertion_type: ASSERTION_TYPE,
    client_assertion: clientAssertion('jwt-es256-client', 'ES256', readKey('client-jwt-es256.key')) });
  check(twoSeconds(r), 'ttl 2: private_key_jwt client expires_in 2', r.text);
  r = await post({ ...cc, client_id: 'mtls-client' }, {}, mtlsAgent('client'));
  check(twoSeconds(r), 'ttl 2: tls_client_auth client expires_in 2', r.text);
  const opaque = (await post(cc, auth('basic-client', 'basic-secret'))).json?.access_token;

  await sleep(2600);
  r = await post({ grant_type: TOKEN_EXCHANGE, subject_token: dave, subject_token_type: TT_ACCESS_TOKEN },
    auth('basic-client', 'basic-secret'));
  check(r.status === 400 && r.json?.error === 'invalid_grant' && /expired/.test(r.json?.error_description),
    'exchange of an expired subject_token -> 400 invalid_grant "expired"', r.text);
  r = await request(agent, 'POST', '/token/introspection', {
    headers: auth('basic-client', 'basic-secret'), form: { token: opaque },
  });
  check(r.status === 200 && r.json?.active === false, 'ttl 2: opaque token inactive after 2.6 s', r.text);
  r = await post({ grant_type: 'refresh_token', refresh_token: rt }, auth('refresh-client', 'refresh-secret'));
  check(twoSeconds(r), 'refresh works after the access token expired', r.text);
  check(jwtParts(dave).length === 3, 'user token is a JWT');
} catch (err) {
  check(false, 'ttl/slow-discovery checks ran without exceptions', err.stack);
}
agent.destroy();
finish();
EOF
    then :; else failures=$((failures + 1)); fi
    stop_server_with term
else
    fail "server with --ttl 2 --slow-discovery started"
fi

# --- sender-constrained tokens (DPoP, self-signed mTLS), jwt-bearer, workload identity

if start_server --ttl "$ttl"; then
    pass "server for DPoP / jwt-bearer / workload checks started"
    export SELFTEST_PORT=$port SELFTEST_CERTS=$tmp/certs SELFTEST_TTL=$ttl
    if node --input-type=module - <<'EOF'
import * as crypto from 'node:crypto';
import * as https from 'node:https';

const {
  ttl, ca, issuer, tokenEndpoint, check, finish, request, basic, jwtParts, jwtPayload, now, signJwt,
  clientAssertion, readKey, mtlsAgent, verifiesWithJwks, platformAssertion, dpopKey, dpopProof,
  TOKEN_EXCHANGE, USER_TOKEN, TT_ACCESS_TOKEN, ASSERTION_TYPE, JWT_BEARER, PLATFORM_ISSUER,
} = await import(process.env.SELFTEST_LIB);

const agent = new https.Agent({ ca, keepAlive: true });
const newStats = ['dpop_requests', 'dpop_nonce_challenges', 'dpop_replays', 'mtls_alias_requests',
  'jwt_bearer_requests', 'workload_auth_requests'];
try {
  let r = await request(agent, 'POST', '/test/reset');
  check(r.status === 200 && newStats.every((k) => r.json?.[k] === 0), '/test/reset zeroes the new counters', r.text);

  const sent = { dpop: 0, jwtBearer: 0 };
  const token = (form, { headers = {}, via = agent, dpop } = {}) => {
    if (dpop) sent.dpop += 1;
    if (form.grant_type === JWT_BEARER) sent.jwtBearer += 1;
    return request(via, 'POST', '/token', { headers: { ...headers, ...(dpop ? { dpop } : {}) }, form });
  };
  const auth = (id, secret) => ({ authorization: basic(id, secret) });
  const errorIs = (res, status, error) => res.status === status && res.json?.error === error;
  const cc = { grant_type: 'client_credentials' };
  const api = { resource: 'urn:tetrapak:test-api' };
  const isDpopToken = (res) => res.status === 200 && res.json?.token_type === 'DPoP'
    && typeof res.json.access_token === 'string' && res.json.expires_in === ttl;
  const jktOf = (res) => jwtPayload(res.json?.access_token)?.cnf?.jkt;

  r = await request(agent, 'GET', '/.well-known/openid-configuration');
  check(['ES256', 'RS256', 'PS256', 'EdDSA'].every((a) => r.json?.dpop_signing_alg_values_supported?.includes(a)),
    'discovery dpop_signing_alg_values_supported ES256 RS256 PS256 EdDSA', JSON.stringify(r.json?.dpop_signing_alg_values_supported));
  check(r.json?.grant_types_supported?.includes(JWT_BEARER)
    && r.json?.token_endpoint_auth_methods_supported?.includes('self_signed_tls_client_auth')
    && r.json?.mtls_endpoint_aliases === undefined,
  'discovery: jwt-bearer grant, self_signed_tls_client_auth, no mtls_endpoint_aliases', r.text);

  // ---- DPoP with oidc-provider's client_credentials ----
  const es = await dpopKey('ES256');
  const basicAuth = { headers: auth('basic-client', 'basic-secret') };
  let proof = await dpopProof(es);
  r = await token({ ...cc, ...api }, { ...basicAuth, dpop: proof });
  check(isDpopToken(r) && jktOf(r) === es.jkt, 'DPoP client_credentials -> token_type DPoP, JWT cnf.jkt = key thumbprint', r.text);
  check(typeof r.headers['dpop-nonce'] === 'string' && r.headers['dpop-nonce'].length > 0,
    'DPoP answer carries a DPoP-Nonce header', JSON.stringify(r.headers));
  r = await token({ ...cc, ...api }, { ...basicAuth, dpop: proof });
  check(errorIs(r, 400, 'invalid_grant') && r.json.error_description === 'DPoP proof JWT Replay detected',
    'replayed DPoP proof (client_credentials) -> 400 invalid_grant "DPoP proof JWT Replay detected"', r.text);
  r = await token(cc, { ...basicAuth, dpop: await dpopProof(es) });
  const opaqueDpop = r.json?.access_token;
  check(isDpopToken(r) && jwtParts(opaqueDpop).length === 1, 'DPoP client_credentials without resource -> opaque DPoP token', r.text);
  r = await request(agent, 'POST', '/token/introspection', { headers: auth('basic-client', 'basic-secret'), form: { token: opaqueDpop } });
  check(r.json?.active === true && r.json?.cnf?.jkt === es.jkt && r.json?.token_type === 'DPoP',
    'opaque DPoP token introspects with cnf.jkt, token_type DPoP', r.text);
  for (const alg of ['RS256', 'PS256', 'EdDSA']) {
    const key = await dpopKey(alg);
    r = await token({ ...cc, ...api }, { ...basicAuth, dpop: await dpopProof(key) });
    check(isDpopToken(r) && jktOf(r) === key.jkt, `DPoP proof signed ${alg} accepted`, r.text);
  }
  r = await token(cc, { ...basicAuth, dpop: await dpopProof(es, { htu: `${tokenEndpoint}?x=1#f` }) });
  check(isDpopToken(r), 'DPoP htu with query and fragment -> accepted (compared without them)', r.text);
  r = await token(cc, { ...basicAuth, dpop: await dpopProof(es, { htu: `${issuer}/other` }) });
  check(errorIs(r, 400, 'invalid_dpop_proof') && r.json.error_description === 'DPoP proof htu mismatch',
    'DPoP htu of another URL -> 400 invalid_dpop_proof "DPoP proof htu mismatch"', r.text);
  r = await token(cc, { ...basicAuth, dpop: await dpopProof(es, { htm: 'GET' }) });
  check(errorIs(r, 400, 'invalid_dpop_proof'), 'DPoP htm GET -> 400 invalid_dpop_proof', r.text);
  r = await token(cc, { ...basicAuth, dpop: await dpopProof(es, {}, { typ: 'JWT' }) });
  check(errorIs(r, 400, 'invalid_dpop_proof'), 'DPoP typ JWT -> 400 invalid_dpop_proof', r.text);
  const es384 = await dpopKey('ES384');
  r = await token(cc, { ...basicAuth, dpop: await dpopProof(es384) });
  check(errorIs(r, 400, 'invalid_dpop_proof'), 'DPoP alg ES384 (not enabled) -> 400 invalid_dpop_proof', r.text);
  const other = await dpopKey('ES256');
  r = await token(cc, { ...basicAuth, dpop: await dpopProof(es, {}, { jwk: other.jwk }) });
  check(errorIs(r, 400, 'invalid_dpop_proof'), 'DPoP proof not signed by its embedded jwk -> 400 invalid_dpop_proof', r.text);
  r = await token(cc, { ...basicAuth, dpop: await dpopProof(es, { iat: now() - 400 }) });
  check(errorIs(r, 400, 'use_dpop_nonce') && typeof r.headers['dpop-nonce'] === 'string',
    'DPoP iat 400 s old (no nonce) -> 400 use_dpop_nonce + DPoP-Nonce', r.text);
  r = await token(cc, { ...basicAuth, dpop: await dpopProof(es, { iat: now() - 400, nonce: r.headers['dpop-nonce'] }) });
  check(isDpopToken(r), '... the same with the nonce -> token', r.text);

  // ---- DPoP with the custom grants ----
  r = await token({ grant_type: USER_TOKEN, username: 'erin' },
    { headers: auth('user-issuer', 'user-issuer-secret'), dpop: await dpopProof(es) });
  check(isDpopToken(r) && jktOf(r) === es.jkt && jwtPayload(r.json.access_token).sub === 'erin'
    && typeof r.headers['dpop-nonce'] === 'string',
  'DPoP user-token -> token_type DPoP, cnf.jkt, DPoP-Nonce header', r.text);
  const erin = r.json?.access_token;
  check(await verifiesWithJwks(agent, erin), 'DPoP-bound user token verifies with jwks_uri key');
  proof = await dpopProof(es);
  r = await token({ grant_type: TOKEN_EXCHANGE, subject_token: erin, subject_token_type: TT_ACCESS_TOKEN },
    { ...basicAuth, dpop: proof });
  check(r.status === 200 && r.json?.token_type === 'DPoP' && jktOf(r) === es.jkt
    && jwtPayload(r.json.access_token).act?.sub === 'basic-client', 'DPoP token exchange -> token_type DPoP, cnf.jkt', r.text);
  r = await token({ grant_type: TOKEN_EXCHANGE, subject_token: erin, subject_token_type: TT_ACCESS_TOKEN },
    { ...basicAuth, dpop: proof });
  check(errorIs(r, 400, 'invalid_grant') && r.json.error_description === 'DPoP proof JWT Replay detected',
    'replayed DPoP proof (token exchange) -> 400 invalid_grant "DPoP proof JWT Replay detected"', r.text);
  r = await token({ grant_type: USER_TOKEN, username: 'erin' },
    { headers: auth('user-issuer', 'user-issuer-secret'), dpop: await dpopProof(es, { htu: `${issuer}/token/x` }) });
  check(errorIs(r, 400, 'invalid_dpop_proof'), 'custom grant: DPoP htu mismatch -> 400 invalid_dpop_proof', r.text);
  r = await token({ grant_type: USER_TOKEN, username: 'erin' },
    { headers: auth('user-issuer', 'user-issuer-secret'), dpop: 'not.a.jwt' });
  check(errorIs(r, 400, 'invalid_dpop_proof'), 'custom grant: malformed DPoP header -> 400 invalid_dpop_proof', r.text);
  r = await token({ grant_type: USER_TOKEN, username: 'erin' },
    { headers: auth('user-issuer', 'user-issuer-secret'), dpop: await dpopProof(es, { iat: now() - 400 }) });
  check(errorIs(r, 400, 'use_dpop_nonce') && typeof r.headers['dpop-nonce'] === 'string',
    'custom grant: stale DPoP iat -> 400 use_dpop_nonce + DPoP-Nonce', r.text);

  // ---- dpop-client (dpop_bound_access_tokens) and DPoP-bound refresh tokens ----
  const dpopAuth = { headers: auth('dpop-client', 'dpop-secret') };
  r = await token(cc, dpopAuth);
  check(errorIs(r, 400, 'invalid_grant') && r.json.error_description === 'DPoP proof JWT not provided',
    'dpop-client without DPoP proof -> 400 invalid_grant "DPoP proof JWT not provided"', r.text);
  r = await token({ grant_type: USER_TOKEN, username: 'x' }, dpopAuth);
  check(errorIs(r, 400, 'invalid_grant') && r.json.error_description === 'DPoP proof JWT not provided',
    'dpop-client user-token without DPoP proof -> 400 invalid_grant "DPoP proof JWT not provided"', r.text);
  r = await token({ ...cc, ...api, scope: 'read' }, { ...dpopAuth, dpop: await dpopProof(es) });
  check(isDpopToken(r) && jktOf(r) === es.jkt && typeof r.json.refresh_token === 'string' && r.json.scope === 'read',
    'dpop-client client_credentials with DPoP -> DPoP token + refresh_token', r.text);
  let rt = r.json?.refresh_token;
  r = await token({ grant_type: 'refresh_token', refresh_token: rt }, { ...dpopAuth, dpop: await dpopProof(other) });
  check(errorIs(r, 400, 'invalid_grant'), 'refresh with a proof of another key -> 400 invalid_grant', r.text);
  r = await token({ grant_type: 'refresh_token', refresh_token: rt }, { ...dpopAuth, dpop: await dpopProof(es) });
  check(isDpopToken(r) && jktOf(r) === es.jkt && r.json.scope === 'read' && r.json.refresh_token !== rt,
    'refresh with a proof of the same key -> new DPoP token, rotated refresh_token', r.text);
  rt = r.json?.refresh_token;
  r = await token({ grant_type: 'refresh_token', refresh_token: rt }, dpopAuth);
  check(errorIs(r, 400, 'invalid_grant'), 'refresh of a DPoP-bound refresh token without proof -> 400 invalid_grant', r.text);
  r = await token({ grant_type: 'refresh_token', refresh_token: rt }, { ...dpopAuth, dpop: await dpopProof(es) });
  check(isDpopToken(r), 'refresh still works afterwards (refused attempts do not consume it)', r.text);
  r = await token({ ...cc }, { headers: auth('refresh-client', 'refresh-secret'), dpop: await dpopProof(es) });
  rt = r.json?.refresh_token;
  r = await token({ grant_type: 'refresh_token', refresh_token: rt }, { headers: auth('refresh-client', 'refresh-secret') });
  check(errorIs(r, 400, 'invalid_grant'), 'refresh-client: refresh token obtained with DPoP needs a proof', r.text);
  r = await token({ grant_type: 'refresh_token', refresh_token: rt }, { headers: auth('refresh-client', 'refresh-secret'), dpop: await dpopProof(es) });
  check(isDpopToken(r) && jwtParts(r.json.access_token).length === 1, 'refresh-client: ... and gets an opaque DPoP token with it', r.text);

  // ---- RFC 7523 jwt-bearer grant ----
  const bearer = (assertion, extra = {}) => ({ grant_type: JWT_BEARER, assertion, ...extra });
  const platform = platformAssertion();
  r = await token(bearer(platform, { scope: 'read bogus' }), basicAuth);
  const wb = r.json?.access_token;
  check(r.status === 200 && r.json?.token_type === 'Bearer' && r.json.expires_in === ttl && r.json.scope === 'read'
    && jwtPayload(wb).sub === 'system:serviceaccount:apps:worker' && jwtPayload(wb).client_id === 'basic-client'
    && jwtPayload(wb).aud === 'urn:tetrapak:test-api' && jwtPayload(wb).iss === issuer && jwtPayload(wb).scope === 'read'
    && jwtPayload(wb).exp - jwtPayload(wb).iat === ttl && jwtPayload(wb).cnf === undefined,
  'jwt-bearer with a platform assertion (basic-client) -> Bearer JWT for the assertion sub', r.text);
  check(await verifiesWithJwks(agent, wb), 'jwt-bearer token verifies with jwks_uri key');
  r = await token(bearer(platform), basicAuth);
  check(r.status === 200, 'the same platform assertion again -> token (assertions are reusable)', r.text);
  r = await token(bearer(platformAssertion({ aud: issuer })), basicAuth);
  check(r.status === 200, 'jwt-bearer assertion aud = issuer -> token', r.text);
  r = await token(bearer(platformAssertion({ aud: ['urn:x', tokenEndpoint] }), api), basicAuth);
  check(r.status === 200, 'jwt-bearer assertion aud = [other, token endpoint], resource = test-api -> token', r.text);
  r = await token(bearer(platformAssertion({ iat: now() - 400, exp: now() - 10 })), basicAuth);
  check(errorIs(r, 400, 'invalid_grant') && r.json.error_description === 'assertion expired',
    'jwt-bearer expired assertion -> 400 invalid_grant "assertion expired"', r.text);
  r = await token(bearer(platformAssertion({ aud: 'https://elsewhere.example/token' })), basicAuth);
  check(errorIs(r, 400, 'invalid_grant'), 'jwt-bearer assertion with a foreign aud -> 400 invalid_grant', r.text);
  r = await token(bearer(platformAssertion({}, crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey)), basicAuth);
  check(errorIs(r, 400, 'invalid_grant'), 'jwt-bearer assertion signed by a wrong key -> 400 invalid_grant', r.text);
  r = await token(bearer(platformAssertion({ sub: undefined })), basicAuth);
  check(errorIs(r, 400, 'invalid_grant'), 'jwt-bearer assertion without sub -> 400 invalid_grant', r.text);
  r = await token(bearer(platformAssertion({ iat: now() + 120 })), basicAuth);
  check(errorIs(r, 400, 'invalid_grant'), 'jwt-bearer assertion iat 120 s in the future -> 400 invalid_grant', r.text);
  r = await token(bearer(platformAssertion({ iat: now() + 30 })), basicAuth);
  check(r.status === 200, 'jwt-bearer assertion iat 30 s in the future -> token', r.text);
  r = await token(bearer(platformAssertion({ exp: undefined })), basicAuth);
  check(errorIs(r, 400, 'invalid_grant'), 'jwt-bearer assertion without exp -> 400 invalid_grant', r.text);
  r = await token(bearer(platformAssertion({ iss: 'https://evil.example' })), basicAuth);
  check(errorIs(r, 400, 'invalid_grant'), 'jwt-bearer assertion from an unknown issuer -> 400 invalid_grant', r.text);
  r = await token(bearer(platformAssertion({ iss: 'basic-client' })), basicAuth);
  check(errorIs(r, 400, 'invalid_grant'), 'jwt-bearer iss = basic-client (no registered jwks) -> 400 invalid_grant', r.text);
  r = await token(bearer(platform, { resource: 'urn:other:api' }), basicAuth);
  check(errorIs(r, 400, 'invalid_target'), 'jwt-bearer resource urn:other:api -> 400 invalid_target', r.text);
  r = await token({ grant_type: JWT_BEARER }, basicAuth);
  check(errorIs(r, 400, 'invalid_request'), 'jwt-bearer without assertion -> 400 invalid_request', r.text);
  r = await token(bearer(platform), { headers: auth('system-client', 'system-secret') });
  check(errorIs(r, 400, 'invalid_request'), 'jwt-bearer by system-client -> 400 invalid_request (grant not allowed)', r.text);

  const es256Key = readKey('client-jwt-es256.key');
  const rs256Key = readKey('client-jwt-rs256.key');
  const jwtAuth = (id, alg, key) => ({ client_assertion_type: ASSERTION_TYPE, client_assertion: clientAssertion(id, alg, key) });
  r = await token({ ...bearer(platformAssertion({ iss: 'jwt-es256-client', sub: 'own-sub' }, es256Key)),
    ...jwtAuth('jwt-es256-client', 'ES256', es256Key) });
  check(r.status === 200 && jwtPayload(r.json.access_token).sub === 'own-sub'
    && jwtPayload(r.json.access_token).client_id === 'jwt-es256-client',
  'jwt-bearer with the client\'s own ES256 assertion (iss = client_id, jwks key) -> token', r.text);
  r = await token({ ...bearer(platformAssertion({ iss: 'jwt-rs256-client', sub: 'own-rs' }, rs256Key, 'RS256')),
    ...jwtAuth('jwt-rs256-client', 'RS256', rs256Key) });
  check(r.status === 200 && jwtPayload(r.json.access_token).sub === 'own-rs', 'jwt-bearer with an own RS256 assertion -> token', r.text);
  r = await token({ ...bearer(platformAssertion({ iss: 'jwt-rs256-client' }, es256Key)),
    ...jwtAuth('jwt-rs256-client', 'RS256', rs256Key) });
  check(errorIs(r, 400, 'invalid_grant'), 'jwt-bearer own assertion signed by a key not registered -> 400 invalid_grant', r.text);
  r = await token(bearer(platformAssertion()), { ...dpopAuth, dpop: await dpopProof(es) });
  check(isDpopToken(r) && jktOf(r) === es.jkt, 'jwt-bearer with DPoP (dpop-client) -> token_type DPoP, cnf.jkt', r.text);

  // ---- workload identity: workload-client ----
  const workloadKey = readKey('workload-issuer.key');
  const workloadAssertion = clientAssertion('workload-client', 'ES256', workloadKey, { exp: now() + 600 });
  const workloadAuth = { client_assertion_type: ASSERTION_TYPE, client_assertion: workloadAssertion };
  r = await token({ ...cc, ...api, ...workloadAuth });
  check(r.status === 200 && jwtPayload(r.json.access_token).client_id === 'workload-client',
    'workload-client with a platform-written client assertion -> token', r.text);
  r = await token({ ...cc, ...workloadAuth });
  check(r.status === 200, 'workload-client reusing the same assertion (same jti) -> token', r.text);
  r = await token({ ...bearer(platformAssertion({ sub: 'wl' })), ...workloadAuth });
  check(r.status === 200 && jwtPayload(r.json.access_token).sub === 'wl', 'workload-client jwt-bearer, assertion reused a third time -> token', r.text);
  r = await token({ ...bearer(platformAssertion({ iss: 'workload-client', sub: 'self' })), ...workloadAuth });
  check(r.status === 200 && jwtPayload(r.json.access_token).sub === 'self', 'workload-client jwt-bearer with iss = workload-client -> token', r.text);
  r = await token({ grant_type: TOKEN_EXCHANGE, subject_token: wb, subject_token_type: TT_ACCESS_TOKEN, ...workloadAuth });
  check(r.status === 200 && jwtPayload(r.json.access_token).act?.sub === 'workload-client', 'workload-client token exchange -> token', r.text);
  proof = await dpopProof(es);
  r = await token({ ...cc, ...workloadAuth }, { dpop: proof });
  check(isDpopToken(r), 'workload-client with DPoP -> DPoP token', r.text);
  r = await token({ ...cc, ...workloadAuth }, { dpop: proof });
  check(errorIs(r, 400, 'invalid_grant'), 'workload-client: a replayed DPoP proof is still refused', r.text);
  r = await token({ ...cc, client_assertion_type: ASSERTION_TYPE,
    client_assertion: clientAssertion('workload-client', 'ES256', workloadKey, { iat: now() - 300, exp: now() - 60 }) });
  check(errorIs(r, 401, 'invalid_client'), 'workload-client with an expired assertion -> 401 invalid_client', r.text);
  r = await token({ ...cc, client_assertion_type: ASSERTION_TYPE,
    client_assertion: clientAssertion('workload-client', 'ES256', es256Key) });
  check(errorIs(r, 401, 'invalid_client'), 'workload-client assertion signed by another key -> 401 invalid_client', r.text);
  const once = jwtAuth('jwt-es256-client', 'ES256', es256Key);
  r = await token({ ...cc, ...once });
  const first = r.status;
  r = await token({ ...cc, ...once });
  check(first === 200 && errorIs(r, 401, 'invalid_client'), 'jwt-es256-client: a reused assertion is still refused', r.text);

  // ---- RFC 8705 self_signed_tls_client_auth ----
  const selfSigned = mtlsAgent('client-self-signed');
  const ssForm = { ...cc, client_id: 'mtls-self-signed-client' };
  r = await token({ ...ssForm, ...api }, { via: selfSigned });
  check(r.status === 200 && r.json.token_type === 'Bearer' && jwtPayload(r.json.access_token).client_id === 'mtls-self-signed-client'
    && jwtPayload(r.json.access_token).cnf === undefined,
  'self_signed_tls_client_auth with client-self-signed.pem -> token (no cnf without --mtls-bound)', r.text);
  r = await token(ssForm, { via: mtlsAgent('client') });
  check(errorIs(r, 401, 'invalid_client'), 'self_signed_tls_client_auth with another certificate -> 401 invalid_client', r.text);
  r = await token(ssForm, { via: new https.Agent({ ca, keepAlive: false }) });
  check(errorIs(r, 401, 'invalid_client'), 'self_signed_tls_client_auth without a certificate -> 401 invalid_client', r.text);
  r = await token({ ...cc, client_id: 'mtls-client' }, { via: selfSigned });
  check(errorIs(r, 401, 'invalid_client'), 'tls_client_auth (mtls-client) with the self-signed certificate -> 401 invalid_client', r.text);

  r = await request(agent, 'POST', '/mtls/token', { headers: auth('basic-client', 'basic-secret'), form: cc });
  check(r.status === 404, 'POST /mtls/token without --mtls-aliases -> 404', `${r.status} ${r.text}`);

  r = await request(agent, 'GET', '/test/stats');
  check(r.json?.dpop_requests === sent.dpop && r.json?.jwt_bearer_requests === sent.jwtBearer,
    `/test/stats dpop_requests, jwt_bearer_requests (${sent.dpop}, ${sent.jwtBearer})`, r.text);
  check(r.json?.dpop_replays === 3 && r.json?.dpop_nonce_challenges === 2 && r.json?.mtls_alias_requests === 0,
    '/test/stats dpop_replays 3, dpop_nonce_challenges 2, mtls_alias_requests 0', r.text);
  check(r.json?.workload_auth_requests === 7, '/test/stats workload_auth_requests 7', r.text);
} catch (err) {
  check(false, 'DPoP / jwt-bearer / workload checks ran without exceptions', err.stack);
}
agent.destroy();
finish();
EOF
    then :; else failures=$((failures + 1)); fi
    stop_server_with term
else
    fail "server for DPoP / jwt-bearer / workload checks started"
fi

# --- --dpop-nonce: proofs must carry a server-provided nonce ------------------

if start_server --dpop-nonce; then
    pass "server with --dpop-nonce started"
    export SELFTEST_PORT=$port SELFTEST_CERTS=$tmp/certs SELFTEST_TTL=300
    if node --input-type=module - <<'EOF'
import * as https from 'node:https';

const {
  ca, check, finish, request, basic, jwtPayload, dpopKey, dpopProof, platformAssertion, USER_TOKEN, JWT_BEARER,
} = await import(process.env.SELFTEST_LIB);

const agent = new https.Agent({ ca, keepAlive: true });
try {
  await request(agent, 'POST', '/test/reset');
  const key = await dpopKey('ES256');
  const post = (form, id, secret, dpop) => request(agent, 'POST', '/token', {
    headers: { authorization: basic(id, secret), ...(dpop ? { dpop } : {}) }, form,
  });
  const cc = { grant_type: 'client_credentials', resource: 'urn:tetrapak:test-api' };
  const challenged = (res) => res.status === 400 && res.json?.error === 'use_dpop_nonce'
    && typeof res.headers['dpop-nonce'] === 'string' && res.headers['dpop-nonce'].length > 0;

  let r = await post(cc, 'basic-client', 'basic-secret', await dpopProof(key));
  check(challenged(r), '--dpop-nonce: proof without nonce -> 400 use_dpop_nonce + DPoP-Nonce header', `${r.text} ${JSON.stringify(r.headers)}`);
  const nonce = r.headers['dpop-nonce'];
  r = await post(cc, 'basic-client', 'basic-secret', await dpopProof(key, { nonce }));
  check(r.status === 200 && r.json?.token_type === 'DPoP' && jwtPayload(r.json.access_token).cnf?.jkt === key.jkt,
    '--dpop-nonce: retry with the nonce -> DPoP token with cnf.jkt', r.text);
  r = await post(cc, 'basic-client', 'basic-secret', await dpopProof(key, { nonce: 'bogus-nonce' }));
  check(challenged(r), '--dpop-nonce: invalid nonce -> 400 use_dpop_nonce + DPoP-Nonce', r.text);
  r = await post(cc, 'basic-client', 'basic-secret');
  check(r.status === 200 && r.json?.token_type === 'Bearer', '--dpop-nonce: request without DPoP is unaffected (Bearer)', r.text);

  // the custom grants follow the same rules
  r = await post({ grant_type: USER_TOKEN, username: 'frank' }, 'user-issuer', 'user-issuer-secret', await dpopProof(key));
  check(challenged(r), '--dpop-nonce: user-token without nonce -> 400 use_dpop_nonce + DPoP-Nonce', r.text);
  r = await post({ grant_type: USER_TOKEN, username: 'frank' }, 'user-issuer', 'user-issuer-secret',
    await dpopProof(key, { nonce: r.headers['dpop-nonce'] }));
  check(r.status === 200 && r.json?.token_type === 'DPoP' && jwtPayload(r.json.access_token).cnf?.jkt === key.jkt,
    '--dpop-nonce: user-token with the nonce -> DPoP token', r.text);
  r = await post({ grant_type: JWT_BEARER, assertion: platformAssertion() }, 'dpop-client', 'dpop-secret', await dpopProof(key));
  check(challenged(r), '--dpop-nonce: jwt-bearer without nonce -> 400 use_dpop_nonce', r.text);
  r = await post({ grant_type: JWT_BEARER, assertion: platformAssertion() }, 'dpop-client', 'dpop-secret',
    await dpopProof(key, { nonce: r.headers['dpop-nonce'] }));
  check(r.status === 200 && r.json?.token_type === 'DPoP', '--dpop-nonce: jwt-bearer with the nonce -> DPoP token', r.text);

  r = await request(agent, 'GET', '/test/stats');
  check(r.json?.dpop_nonce_challenges === 4 && r.json?.dpop_requests === 7 && r.json?.token_requests === 8,
    '/test/stats dpop_nonce_challenges 4, dpop_requests 7, token_requests 8', r.text);
} catch (err) {
  check(false, '--dpop-nonce checks ran without exceptions', err.stack);
}
agent.destroy();
finish();
EOF
    then :; else failures=$((failures + 1)); fi
    stop_server_with term
else
    fail "server with --dpop-nonce started"
fi

# --- --mtls-bound --mtls-aliases: certificate-bound tokens, RFC 8705 aliases --

if start_server --mtls-bound --mtls-aliases; then
    pass "server with --mtls-bound --mtls-aliases started"
    export SELFTEST_PORT=$port SELFTEST_CERTS=$tmp/certs SELFTEST_TTL=300
    if node --input-type=module - <<'EOF'
import * as https from 'node:https';

const {
  ca, issuer, tokenEndpoint, check, finish, request, basic, jwtParts, jwtPayload, clientAssertion, readKey,
  mtlsAgent, certThumbprint, dpopKey, dpopProof, platformAssertion, TOKEN_EXCHANGE, USER_TOKEN,
  TT_ACCESS_TOKEN, ASSERTION_TYPE, JWT_BEARER,
} = await import(process.env.SELFTEST_LIB);

const agent = new https.Agent({ ca, keepAlive: true });
const aliasUrl = `${issuer}/mtls/token`;
try {
  await request(agent, 'POST', '/test/reset');
  for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
    const r = await request(agent, 'GET', path);
    check(r.status === 200 && r.json?.mtls_endpoint_aliases?.token_endpoint === aliasUrl
      && r.json?.token_endpoint === tokenEndpoint && r.json?.tls_client_certificate_bound_access_tokens === true,
    `${path}: mtls_endpoint_aliases.token_endpoint = ${aliasUrl}`, r.text);
  }

  const cc = { grant_type: 'client_credentials' };
  const api = { resource: 'urn:tetrapak:test-api' };
  const clientPem = mtlsAgent('client');
  const selfSigned = mtlsAgent('client-self-signed');
  const post = (path, form, { via = agent, headers = {} } = {}) => request(via, 'POST', path, { headers, form });
  const x5t = (res) => jwtPayload(res.json?.access_token)?.cnf?.['x5t#S256'];

  let r = await post('/token', { ...cc, ...api, client_id: 'mtls-client' }, { via: clientPem });
  check(r.status === 200 && r.json.token_type === 'Bearer' && x5t(r) === certThumbprint('client.pem'),
    '--mtls-bound: mtls-client resource JWT carries cnf["x5t#S256"] of client.pem', r.text);
  r = await post('/token', { ...cc, client_id: 'mtls-client' }, { via: clientPem });
  const opaque = r.json?.access_token;
  r = await request(agent, 'POST', '/token/introspection', {
    headers: { authorization: basic('basic-client', 'basic-secret') }, form: { token: opaque },
  });
  check(jwtParts(opaque).length === 1 && r.json?.active === true && r.json?.cnf?.['x5t#S256'] === certThumbprint('client.pem'),
    '--mtls-bound: opaque mtls-client token introspects with cnf["x5t#S256"]', r.text);
  r = await post('/token', { ...cc, ...api, client_id: 'mtls-self-signed-client' }, { via: selfSigned });
  check(r.status === 200 && x5t(r) === certThumbprint('client-self-signed.pem'),
    '--mtls-bound: mtls-self-signed-client JWT carries cnf["x5t#S256"] of client-self-signed.pem', r.text);
  const subject = (await post('/token', { grant_type: USER_TOKEN, username: 'gina' },
    { headers: { authorization: basic('user-issuer', 'user-issuer-secret') } })).json?.access_token;
  r = await post('/token', { grant_type: TOKEN_EXCHANGE, subject_token: subject, subject_token_type: TT_ACCESS_TOKEN,
    client_id: 'mtls-client' }, { via: clientPem });
  check(r.status === 200 && x5t(r) === certThumbprint('client.pem'), '--mtls-bound: token exchange by mtls-client -> cnf["x5t#S256"]', r.text);
  r = await post('/token', { ...cc, ...api }, { headers: { authorization: basic('basic-client', 'basic-secret') } });
  check(r.status === 200 && jwtPayload(r.json.access_token).cnf === undefined, '--mtls-bound: basic-client tokens stay unbound', r.text);

  // the alias
  r = await post('/mtls/token', { ...cc, ...api, client_id: 'mtls-client' }, { via: clientPem });
  check(r.status === 200 && x5t(r) === certThumbprint('client.pem'), 'POST /mtls/token (mtls-client) -> bound token', r.text);
  r = await post('/mtls/token', { ...cc, client_id: 'mtls-client' }, { via: new https.Agent({ ca, keepAlive: false }) });
  check(r.status === 401 && r.json?.error === 'invalid_client', 'POST /mtls/token without certificate -> 401 invalid_client', r.text);
  const key = await dpopKey();
  r = await post('/mtls/token', cc, { headers: { authorization: basic('basic-client', 'basic-secret'), dpop: await dpopProof(key, { htu: aliasUrl }) } });
  check(r.status === 200 && r.json.token_type === 'DPoP', 'POST /mtls/token with DPoP htu = the alias URL -> DPoP token', r.text);
  r = await post('/mtls/token', cc, { headers: { authorization: basic('basic-client', 'basic-secret'), dpop: await dpopProof(key) } });
  check(r.status === 400 && r.json?.error === 'invalid_dpop_proof', 'POST /mtls/token with DPoP htu = /token -> 400 invalid_dpop_proof', r.text);
  r = await post('/mtls/token', { grant_type: USER_TOKEN, username: 'h' }, {
    headers: { authorization: basic('user-issuer', 'user-issuer-secret'), dpop: await dpopProof(key, { htu: aliasUrl }) } });
  check(r.status === 200 && jwtPayload(r.json.access_token).cnf?.jkt === key.jkt, 'POST /mtls/token custom grant with DPoP htu = alias -> DPoP token', r.text);
  const es256Key = readKey('client-jwt-es256.key');
  for (const aud of [tokenEndpoint, aliasUrl, issuer]) {
    r = await post('/mtls/token', { ...cc, client_assertion_type: ASSERTION_TYPE,
      client_assertion: clientAssertion('jwt-es256-client', 'ES256', es256Key, { aud }) });
    check(r.status === 200, `POST /mtls/token private_key_jwt with aud ${aud} -> token`, r.text);
  }
  r = await post('/mtls/token', { grant_type: JWT_BEARER, assertion: platformAssertion({ aud: aliasUrl }) },
    { headers: { authorization: basic('basic-client', 'basic-secret') } });
  check(r.status === 200, 'POST /mtls/token jwt-bearer with aud = alias URL -> token', r.text);

  r = await request(agent, 'GET', '/test/stats');
  check(r.json?.mtls_alias_requests === 9 && r.json?.token_requests === 15 && r.json?.discovery_requests === 2,
    '/test/stats mtls_alias_requests 9, token_requests 15', r.text);
} catch (err) {
  check(false, '--mtls-bound/--mtls-aliases checks ran without exceptions', err.stack);
}
agent.destroy();
finish();
EOF
    then :; else failures=$((failures + 1)); fi
    stop_server_with term
else
    fail "server with --mtls-bound --mtls-aliases started"
fi

# --- alternative certificates: the client must reject them ------------------

# tls_error NAME : connect to $port trusting only ca.pem; print the error code
tls_error() {
    SELFTEST_PORT=$port SELFTEST_CA=$tmp/certs/ca.pem node --input-type=module -e '
import * as fs from "node:fs";
import * as tls from "node:tls";
const s = tls.connect({ host: "127.0.0.1", port: Number(process.env.SELFTEST_PORT),
  ca: fs.readFileSync(process.env.SELFTEST_CA) });
s.on("secureConnect", () => { console.log("OK"); s.destroy(); });
s.on("error", (e) => console.log(e.code || e.message));
'
}

for spec in server:OK other-server:UNABLE_TO_VERIFY_LEAF_SIGNATURE \
    wronghost:ERR_TLS_CERT_ALTNAME_INVALID expired:CERT_HAS_EXPIRED; do
    name=${spec%%:*}
    want=${spec#*:}
    if start_server --cert "$name"; then
        got=$(tls_error)
        if [[ $got == "$want" ]]; then pass "--cert $name: client sees $want"; else fail "--cert $name: expected $want, got $got"; fi
        stop_server_with term
    else
        fail "server with --cert $name started"
    fi
done

if [[ $failures -ne 0 ]]; then
    echo "selftest: $failures failure(s); server log:" >&2
    cat "$tmp/server.log" >&2
    exit 1
fi
echo "selftest: all checks passed"
