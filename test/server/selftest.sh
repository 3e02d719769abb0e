#!/usr/bin/env bash
# Self-check for the OAuth 2.0 test authorization server.
#
# Usage: selftest.sh        (run `npm ci` in this directory first)
#
# Generates certificates into a temporary directory, starts server.mjs the
# way the C++ harness does (stdin is a pipe held by us, stdout carries the
# READY line), runs HTTP checks with node's https module (no curl needed),
# checks the alternative server certificates are rejected for the right
# reason, and checks the server exits with status 0 on stdin EOF and on
# SIGTERM. Prints PASS/FAIL per check; exits non-zero if anything failed.
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

# --- main server: OAuth checks ---------------------------------------------

if start_server --ttl "$ttl"; then
    pass "server started, READY $port"
    export SELFTEST_PORT=$port SELFTEST_CERTS=$tmp/certs SELFTEST_TTL=$ttl
    if node --input-type=module - <<'EOF'
import * as fs from 'node:fs';
import * as https from 'node:https';

const port = Number(process.env.SELFTEST_PORT);
const ttl = Number(process.env.SELFTEST_TTL);
const ca = fs.readFileSync(`${process.env.SELFTEST_CERTS}/ca.pem`);
const issuer = `https://127.0.0.1:${port}`;

let failures = 0;
const check = (ok, name, detail = '') => {
  console.log(`${ok ? 'PASS' : 'FAIL'}: ${name}${!ok && detail ? ` -- ${detail}` : ''}`);
  if (!ok) failures += 1;
};

function request(agent, method, path, { headers = {}, form } = {}) {
  return new Promise((resolve, reject) => {
    const body = form ? new URLSearchParams(form).toString() : undefined;
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

const basic = (id, secret) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
// RFC 6749 2.3.1: application/x-www-form-urlencoded each part, then base64
const formEncode = (s) => new URLSearchParams({ x: s }).toString().slice(2);
const basicEncoded = (id, secret) => basic(formEncode(id), formEncode(secret));
const b64urlJson = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));

const agent = new https.Agent({ ca, keepAlive: true, maxSockets: 1 });

try {
  // stats must start from a clean slate; reset over a throwaway connection
  // so that the keep-alive agent's connection is counted afterwards
  let r = await request(new https.Agent({ ca, keepAlive: false }), 'POST', '/test/reset');
  check(r.status === 200 && r.json?.token_requests === 0 && r.json?.connections === 0,
    'POST /test/reset', r.text);

  r = await request(agent, 'GET', '/.well-known/openid-configuration');
  check(r.status === 200 && r.json?.issuer === issuer,
    'discovery issuer is https://127.0.0.1:PORT', r.text);
  check(r.json?.token_endpoint === `${issuer}/token`, 'discovery token_endpoint', r.json?.token_endpoint);

  const cc = { grant_type: 'client_credentials' };
  const isToken = (res) => res.status === 200 && typeof res.json?.access_token === 'string'
    && res.json.access_token.length > 0 && res.json.token_type === 'Bearer'
    && res.json.expires_in === ttl;

  r = await request(agent, 'POST', '/token', {
    headers: { authorization: basic('basic-client', 'basic-secret') }, form: { ...cc, scope: 'read write' },
  });
  check(isToken(r) && r.json.scope === 'read write', 'basic-client (client_secret_basic) gets a token', r.text);
  check(r.json?.access_token?.split('.').length === 1, 'token without resource is opaque', r.json?.access_token);
  check(r.headers['cache-control'] === 'no-store', 'token response has Cache-Control: no-store', r.headers['cache-control']);

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

    // signature verifies with the published JWKS
    const jwksUri = (await request(agent, 'GET', '/.well-known/openid-configuration')).json.jwks_uri;
    const jwks = (await request(agent, 'GET', new URL(jwksUri).pathname)).json;
    const jwk = jwks.keys.find((k) => k.kid === header.kid);
    const { createPublicKey, verify } = await import('node:crypto');
    const ok = jwk && verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`),
      createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(parts[2], 'base64url'));
    check(!!ok, 'JWT signature verifies with jwks_uri key');
  }

  r = await request(agent, 'POST', '/token', {
    headers: { authorization: basic('basic-client', 'basic-secret') },
    form: { ...cc, resource: 'urn:unknown' },
  });
  check(r.status === 400 && r.json?.error === 'invalid_target', 'unknown resource -> 400 invalid_target', `${r.status} ${r.text}`);

  // 7 requests to /token so far, all over one keep-alive connection
  r = await request(agent, 'GET', '/test/stats');
  check(r.status === 200 && r.json?.token_requests === 7 && r.json?.connections === 1,
    '/test/stats counts token requests and connections (7, 1)', r.text);

  const agent2 = new https.Agent({ ca, keepAlive: false });
  await request(agent2, 'POST', '/token', { form: { ...cc, client_id: 'post-client', client_secret: 'post-secret' } });
  r = await request(agent2, 'GET', '/test/stats');
  check(r.json?.token_requests === 8 && r.json?.connections === 3,
    '/test/stats counts new connections (8, 3)', r.text);

  r = await request(agent, 'POST', '/test/reset');
  r = await request(agent, 'GET', '/test/stats');
  check(r.json?.token_requests === 0 && r.json?.connections === 0, '/test/reset zeroes counters', r.text);
} catch (err) {
  check(false, 'HTTP checks ran without exceptions', err.stack);
}
agent.destroy();
process.exit(failures ? 1 : 0);
EOF
    then :; else failures=$((failures + 1)); fi
    stop_server_with eof
else
    fail "server started"
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
