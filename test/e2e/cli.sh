#!/usr/bin/env bash
# tetrapak-token as a user runs it, against the real authorization server:
# success (bare and --json, client credentials and token exchange, discovery),
# a wrong secret, an unreachable server, bad flags; and --verbose, on every
# path, never shows a secret, the subject or a token. Workload identity
# (assertion files, the jwt_bearer grant) and DPoP tokens.
#   test/e2e/cli.sh BUILD_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cli="$1/tetrapak-token"
exec "$here/test/e2e/with_server.sh" -- bash -c '
cli=$0
fail() { echo "FAIL: $*"; exit 1; }
expect_exit() { # expect_exit CODE DESCRIPTION -- COMMAND...
  local want=$1 what=$2; shift 3
  out=$("$@" 2>"$err_file"); got=$?; err=$(cat "$err_file")
  [ "$got" = "$want" ] || fail "$what: exit $got, wanted $want; stderr: $err"
  echo "ok: $what (exit $got)"
}
err_file=$(mktemp)
base=(--token-url "$TETRAPAK_TOKEN_URL" --client-id basic-client --cacert "$TETRAPAK_CA_FILE")
secret_file=$(mktemp); printf "basic-secret\n" > "$secret_file"

expect_exit 0 "help" -- "$cli" --help
grep -q -- "--client-secret-file" <<<"$out" || fail "--help does not document --client-secret-file"

expect_exit 0 "client credentials, secret from a file" -- "$cli" "${base[@]}" --client-secret-file "$secret_file"
[[ "$out" =~ ^[A-Za-z0-9_-]{20,}$ ]] || fail "not a bare token: $out"
token=$out

expect_exit 0 "--basic-credentials raw" -- "$cli" "${base[@]}" --client-secret-file "$secret_file" --basic-credentials raw
expect_exit 2 "--basic-credentials bogus" -- "$cli" "${base[@]}" --client-secret-file "$secret_file" --basic-credentials bogus
expect_exit 0 "secret from TETRAPAK_CLIENT_SECRET, --json" -- env TETRAPAK_CLIENT_SECRET=basic-secret "$cli" "${base[@]}" --json
node -e "const j = JSON.parse(process.argv[1]); if (!j.access_token || j.token_type !== \"Bearer\" || !(j.expires_in > 200)) process.exit(1)" "$out" \
  || fail "--json output: $out"

expect_exit 0 "discovery from --issuer" -- "$cli" --issuer "$TETRAPAK_ISSUER" --client-id basic-client --cacert "$TETRAPAK_CA_FILE" --client-secret-file "$secret_file"

subject=$(caller_token alice User)
expect_exit 0 "token exchange" -- "$cli" "${base[@]}" --client-secret-file "$secret_file" --subject-token "$subject" --audience urn:tetrapak:orders --json
node -e "const j = JSON.parse(process.argv[1]); const c = JSON.parse(Buffer.from(j.access_token.split(\".\")[1], \"base64url\")); if (c.sub !== \"alice\" || c.aud !== \"urn:tetrapak:orders\" || j.issued_token_type !== \"urn:ietf:params:oauth:token-type:access_token\") process.exit(1)" "$out" \
  || fail "exchanged token: $out"

cfg=$(mktemp)
cat >"$cfg" <<JSON
{ "TetraPak": { "DiscoveryDocumentUrl": "$TETRAPAK_ISSUER/.well-known/openid-configuration",
  "ClientId": "basic-client", "ClientSecret": "basic-secret",
  "Services": { "Orders": { "GrantType": "Automatic", "Audience": "urn:tetrapak:orders" } } } }
JSON
expect_exit 0 "--config with a service (Automatic grant: a user is exchanged)" -- "$cli" --config "$cfg" --service Orders --cacert "$TETRAPAK_CA_FILE" --subject-token "$subject" --json
node -e "const j = JSON.parse(process.argv[1]); const c = JSON.parse(Buffer.from(j.access_token.split(\".\")[1], \"base64url\")); if (c.sub !== \"alice\" || c.aud !== \"urn:tetrapak:orders\") process.exit(1)" "$out" \
  || fail "--config exchanged token: $out"
expect_exit 0 "--config without a subject: client credentials" -- "$cli" --config "$cfg" --service Orders --cacert "$TETRAPAK_CA_FILE"
expect_exit 2 "--config with an unknown service" -- "$cli" --config "$cfg" --service Nope --cacert "$TETRAPAK_CA_FILE"
grep -q "TetraPak:Services:Nope" <<<"$err" || fail "unknown service: the key is not named: $err"

expect_exit 0 "verbose" -- "$cli" "${base[@]}" --client-secret-file "$secret_file" --verbose
grep -q "read_header finished" <<<"$err" || fail "--verbose shows no steps: $err"
grep -q "basic-secret" <<<"$err$out" && fail "--verbose printed the secret"
tok=$out; grep -qF "$tok" <<<"$err" && fail "--verbose printed the token on stderr"

# --verbose on every other path: no secret, no subject, no token, no JWT at all.
no_leak() { # no_leak WHAT NEEDLE...
  local what=$1; shift
  for n in "$@"; do grep -qF -- "$n" <<<"$err$out" && fail "$what printed a secret or token"; done
  grep -q "eyJ" <<<"$err" && fail "$what printed a JWT on stderr"
  return 0
}
expect_exit 0 "verbose token exchange" -- "$cli" "${base[@]}" --client-secret-file "$secret_file" --subject-token "$subject" --audience urn:tetrapak:orders --verbose
no_leak "verbose token exchange" basic-secret "$subject"
expect_exit 1 "verbose, wrong secret" -- env TETRAPAK_CLIENT_SECRET=canary-wrong-7f1d "$cli" "${base[@]}" --verbose --subject-token "$subject"
no_leak "verbose, wrong secret" canary-wrong "$subject"
expect_exit 3 "verbose, unreachable" -- env TETRAPAK_CLIENT_SECRET=canary-wrong-7f1d "$cli" --token-url https://127.0.0.1:1/token --client-id basic-client --cacert "$TETRAPAK_CA_FILE" --verbose
no_leak "verbose, unreachable" canary-wrong
bad_cfg=$(mktemp)
cat >"$bad_cfg" <<JSON
{ "TetraPak": { "ClientId": "basic-client", "ClientSecret": "canary-cfg-secret", "GrantType": "Sideways" } }
JSON
expect_exit 2 "verbose, bad configuration" -- "$cli" --config "$bad_cfg" --service "" --verbose
grep -q "GrantType" <<<"$err" || fail "bad configuration: the key is not named: $err"
no_leak "verbose, bad configuration" canary-cfg-secret
expect_exit 2 "verbose, CR/LF in the secret" -- env "TETRAPAK_CLIENT_SECRET=$(printf "canary-crlf\r\nX: 1")" "$cli" "${base[@]}" --verbose
no_leak "verbose, CR/LF in the secret" canary-crlf

expect_exit 1 "wrong secret" -- env TETRAPAK_CLIENT_SECRET=not-it "$cli" "${base[@]}"
grep -q "error: invalid_client" <<<"$err" || fail "wrong secret: no RFC 6749 error: $err"
grep -q "error_description:" <<<"$err" || fail "wrong secret: no error_description: $err"
grep -q "not-it" <<<"$err" && fail "the wrong secret was printed"
[ -z "$out" ] || fail "wrong secret printed something on stdout: $out"

expect_exit 3 "unreachable server" -- env TETRAPAK_CLIENT_SECRET=x "$cli" --token-url https://127.0.0.1:1/token --client-id basic-client --cacert "$TETRAPAK_CA_FILE"
expect_exit 2 "unknown flag" -- "$cli" --frobnicate
expect_exit 2 "missing value" -- "$cli" --token-url
expect_exit 2 "no endpoint" -- "$cli" --client-id x
expect_exit 2 "bad auth method" -- "$cli" "${base[@]}" --auth-method magic
expect_exit 2 "plain http to a non-loopback host" -- env TETRAPAK_CLIENT_SECRET=x "$cli" --token-url http://example.com/token --client-id basic-client
# Workload identity: JWTs a platform would write, signed with its key ($TETRAPAK_CERTS/workload-issuer.key).
jwt_maker=$(mktemp --suffix=.cjs)
cat >"$jwt_maker" <<"JS"
// node JWT_MAKER KEY_FILE ISS SUB AUD SECONDS_TO_EXP: an ES256 JWT on stdout
const crypto = require("crypto"), fs = require("fs");
const [keyFile, iss, sub, aud, ttl] = process.argv.slice(2);
const key = crypto.createPrivateKey(fs.readFileSync(keyFile));
const part = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
const now = Math.floor(Date.now() / 1000);
const input = part({ alg: "ES256", typ: "JWT" }) + "." +
  part({ iss, sub, aud, jti: crypto.randomUUID(), iat: now, exp: now + Number(ttl) });
const sig = crypto.sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
process.stdout.write(input + "." + sig.toString("base64url") + "\n");
JS
platform_key="$TETRAPAK_CERTS/workload-issuer.key"
client_assertion=$(mktemp); node "$jwt_maker" "$platform_key" workload-client workload-client "$TETRAPAK_TOKEN_URL" 600 >"$client_assertion"
grant_assertion=$(mktemp); node "$jwt_maker" "$platform_key" https://platform.tetrapak.test system:serviceaccount:orders:api "$TETRAPAK_TOKEN_URL" 600 >"$grant_assertion"
expired_assertion=$(mktemp); node "$jwt_maker" "$platform_key" workload-client workload-client "$TETRAPAK_TOKEN_URL" -120 >"$expired_assertion"
workload=(--token-url "$TETRAPAK_TOKEN_URL" --client-id workload-client --cacert "$TETRAPAK_CA_FILE")
sub_of() { node -e "const j = JSON.parse(process.argv[1]); console.log(JSON.parse(Buffer.from(j.access_token.split(\".\")[1], \"base64url\")).sub)" "$1"; }

expect_exit 0 "private_key_jwt from a platform file (--client-assertion-file)" -- "$cli" "${workload[@]}" --client-assertion-file "$client_assertion" --verbose
no_leak "--client-assertion-file" "$(cat "$client_assertion")"
expect_exit 0 "jwt_bearer with a platform assertion file" -- "$cli" "${base[@]}" --client-secret-file "$secret_file" --grant jwt_bearer --assertion-file "$grant_assertion" --json
[ "$(sub_of "$out")" = system:serviceaccount:orders:api ] || fail "jwt_bearer token: $out"
expect_exit 0 "jwt_bearer: --assertion-file implies the grant, with a workload client" -- "$cli" "${workload[@]}" --client-assertion-file "$client_assertion" --assertion-file "$grant_assertion" --json
[ "$(sub_of "$out")" = system:serviceaccount:orders:api ] || fail "workload jwt_bearer token: $out"
expect_exit 0 "jwt_bearer signed with --key for --subject" -- "$cli" --token-url "$TETRAPAK_TOKEN_URL" --cacert "$TETRAPAK_CA_FILE" --client-id jwt-es256-client --auth-method private_key_jwt --key "$TETRAPAK_CERTS/client-jwt-es256.key" --grant jwt_bearer --subject alice --json
[ "$(sub_of "$out")" = alice ] || fail "jwt_bearer --subject token: $out"

missing=/nonexistent/var/run/secrets/token
expect_exit 2 "missing client assertion file" -- "$cli" "${workload[@]}" --client-assertion-file "$missing"
grep -qF "$missing" <<<"$err" || fail "missing client assertion file: the file is not named: $err"
grep -q "not found" <<<"$err" || fail "missing client assertion file: no reason: $err"
expect_exit 2 "missing jwt_bearer assertion file" -- "$cli" "${base[@]}" --client-secret-file "$secret_file" --grant jwt_bearer --assertion-file "$missing"
grep -qF "$missing" <<<"$err" || fail "missing jwt_bearer assertion file: the file is not named: $err"
expect_exit 2 "expired client assertion file" -- "$cli" "${workload[@]}" --client-assertion-file "$expired_assertion"
grep -q "expired" <<<"$err" || fail "expired client assertion file: not said: $err"
no_leak "expired client assertion file" "$(cat "$expired_assertion")"
expect_exit 2 "jwt_bearer without an assertion or key" -- "$cli" "${base[@]}" --client-secret-file "$secret_file" --grant jwt_bearer
expect_exit 2 "--key and --client-assertion-file together" -- "$cli" "${workload[@]}" --client-assertion-file "$client_assertion" --key "$TETRAPAK_CERTS/client-jwt-es256.key"

# DPoP (RFC 9449): the token is bound to a proof key and says so.
dpop_type() { node -e "const j = JSON.parse(process.argv[1]); if (j.token_type !== \"DPoP\") process.exit(1)" "$1"; }
expect_exit 0 "DPoP token (--dpop)" -- "$cli" "${base[@]}" --client-secret-file "$secret_file" --dpop --json
dpop_type "$out" || fail "--dpop: not a DPoP token: $out"
expect_exit 0 "DPoP token, bare" -- "$cli" "${base[@]}" --client-secret-file "$secret_file" --dpop
grep -q "token_type DPoP" <<<"$err" || fail "--dpop: the token type is not shown: $err"
expect_exit 0 "DPoP with --dpop-key" -- "$cli" "${base[@]}" --client-secret-file "$secret_file" --dpop-key "$TETRAPAK_CERTS/client-jwt-es256.key" --json
dpop_type "$out" || fail "--dpop-key: not a DPoP token: $out"
expect_exit 0 "DPoP with --dpop-alg EdDSA" -- "$cli" "${base[@]}" --client-secret-file "$secret_file" --dpop-alg EdDSA --json
dpop_type "$out" || fail "--dpop-alg EdDSA: not a DPoP token: $out"
expect_exit 2 "--dpop-key that does not exist" -- "$cli" "${base[@]}" --client-secret-file "$secret_file" --dpop-key "$missing"
grep -qF "$missing" <<<"$err" || fail "--dpop-key: the file is not named: $err"
expect_exit 2 "--dpop-alg unknown" -- "$cli" "${base[@]}" --client-secret-file "$secret_file" --dpop-alg HS256
rm -f "$jwt_maker" "$client_assertion" "$grant_assertion" "$expired_assertion"

echo "all CLI checks passed"
' "$cli"
