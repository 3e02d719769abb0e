#!/usr/bin/env bash
# tetrapak-token as a user runs it, against the real authorization server:
# success (bare and --json, client credentials and token exchange, discovery),
# a wrong secret, an unreachable server, bad flags; and --verbose, on every
# path, never shows a secret, the subject or a token. Workload identity
# (assertion files, the jwt_bearer grant) and DPoP tokens. --redis: two runs
# share one token through a local redis-server (one token request), which
# never holds the token readably.
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

# --redis: runs share a token through a real redis-server (sealed, never readable there).
redis_dir=$(mktemp -d)
redis_pid=
trap "[ -n \"\$redis_pid\" ] && kill \"\$redis_pid\" 2>/dev/null; wait 2>/dev/null; rm -rf \"\$redis_dir\"" EXIT
redis_port=$(python3 -c "import socket; s = socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])")
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$redis_dir" \
  --logfile "$redis_dir/redis.log" >/dev/null 2>&1 &
redis_pid=$!
rcli() { redis-cli -h 127.0.0.1 -p "$redis_port" "$@"; }
for _ in $(seq 100); do [ "$(rcli ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
[ "$(rcli ping 2>/dev/null)" = PONG ] || fail "redis-server did not start on port $redis_port: $(cat "$redis_dir/redis.log")"
redis_url="redis://127.0.0.1:$redis_port"
key_b64=$(openssl rand -base64 32)
key_file="$redis_dir/keys"; printf "k1:%s\n" "$key_b64" >"$key_file"
wrong_key_file="$redis_dir/wrong-keys"; printf "k1:%s\n" "$(openssl rand -base64 32)" >"$wrong_key_file"
token_requests() {
  local stats
  stats=$(curl -sS --cacert "$TETRAPAK_CA_FILE" "$TETRAPAK_ISSUER/test/stats") || fail "GET /test/stats failed"
  node -e "const j = JSON.parse(process.argv[1]); if (typeof j.token_requests !== \"number\") process.exit(1); console.log(j.token_requests)" "$stats" \
    || fail "GET /test/stats: no token_requests in $stats"
}
# timed_run WANT DESCRIPTION -- COMMAND...: expect_exit, bounded, and in at most 5 s.
timed_run() {
  local t0=$(date +%s%N)
  expect_exit "$1" "$2" -- timeout 20 "${@:4}"
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  [ "$ms" -lt 5000 ] || fail "$2: took $ms ms (the CLI must exit promptly)"
  echo "   ($ms ms)"
}
redis_run=("$cli" "${base[@]}" --client-secret-file "$secret_file" --redis "$redis_url")

before=$(token_requests)
timed_run 0 "--redis: the first run fetches and stores" -- "${redis_run[@]}" --redis-key-file "$key_file"
shared=$out
[[ "$shared" =~ ^[A-Za-z0-9_-]{20,}$ ]] || fail "--redis: not a bare token: $shared"
[ "$(token_requests)" = $((before + 1)) ] || fail "--redis: the first run made $(( $(token_requests) - before )) token requests"
[ -n "$(rcli --scan --pattern "tetrapak:t:*")" ] || fail "--redis: nothing stored in Redis after the first run"
timed_run 0 "--redis: the second run reuses the stored token" -- "${redis_run[@]}" --redis-key-file "$key_file"
[ "$out" = "$shared" ] || fail "--redis: the second run printed another token"
[ "$(token_requests)" = $((before + 1)) ] || fail "--redis: two runs made $(( $(token_requests) - before )) token requests, wanted 1"

# Nothing in Redis shows the token or the key.
keys=$(rcli --scan)
[ -n "$keys" ] || fail "--redis: no keys in Redis"
while IFS= read -r k; do
  grep -qF -- "$shared" <<<"$k" && fail "--redis: the token is in the Redis key name $k"
  rcli --raw get "$k" >"$redis_dir/value" # binary: grep -a reads it as text
  [ -s "$redis_dir/value" ] || fail "--redis: $k has no value"
  grep -qaF -- "$shared" "$redis_dir/value" && fail "--redis: the token is in the value of $k"
  grep -qF -- "$key_b64" <<<"$k" && fail "--redis: the envelope key is in the name $k"
  grep -qaF -- "$key_b64" "$redis_dir/value" && fail "--redis: the envelope key is in the value of $k"
  grep -qaF -- "basic-secret" "$redis_dir/value" && fail "--redis: the client secret is in the value of $k"
done <<<"$keys"
echo "ok: --redis: no token, key or secret readable in Redis ($(wc -l <<<"$keys") keys)"

before=$(token_requests)
timed_run 0 "--redis with the wrong key file: a fresh fetch" -- "${redis_run[@]}" --redis-key-file "$wrong_key_file"
[[ "$out" =~ ^[A-Za-z0-9_-]{20,}$ ]] || fail "--redis, wrong key file: not a bare token: $out"
[ "$out" != "$shared" ] || fail "--redis, wrong key file: the shared token was opened with the wrong key"
[ "$(token_requests)" = $((before + 1)) ] || fail "--redis, wrong key file: $(( $(token_requests) - before )) token requests, wanted 1"

expect_exit 2 "--redis-key-file without --redis" -- "$cli" "${base[@]}" --client-secret-file "$secret_file" --redis-key-file "$key_file"
grep -q -- "--redis" <<<"$err" || fail "--redis-key-file without --redis: not explained: $err"
expect_exit 2 "--redis without keys" -- "${redis_run[@]}"
grep -q "fleet.keys" <<<"$err" || fail "--redis without keys: the setting is not named: $err"
no_leak "--redis without keys" "$key_b64"
expect_exit 2 "--redis with a malformed key file" -- "${redis_run[@]}" --redis-key-file "$secret_file"
no_leak "--redis with a malformed key file" basic-secret
expect_exit 2 "--redis with a bad URL" -- "$cli" "${base[@]}" --client-secret-file "$secret_file" --redis "http://u:canary-url-pw@127.0.0.1:$redis_port" --redis-key-file "$key_file"
no_leak "--redis with a bad URL" canary-url-pw
timed_run 0 "--redis unreachable: a token anyway" -- "$cli" "${base[@]}" --client-secret-file "$secret_file" --redis redis://127.0.0.1:1 --redis-key-file "$key_file"
[[ "$out" =~ ^[A-Za-z0-9_-]{20,}$ ]] || fail "--redis unreachable: not a bare token: $out"
timed_run 0 "--redis refusing the password, verbose: a token, no password shown" -- "$cli" "${base[@]}" --client-secret-file "$secret_file" --redis "redis://:canary-redis-pw@127.0.0.1:$redis_port" --redis-key-file "$key_file" --verbose
no_leak "--redis refusing the password" canary-redis-pw "$key_b64"

echo "all CLI checks passed"
' "$cli"
