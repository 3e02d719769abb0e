#!/usr/bin/env bash
# End-to-end test of example/callback_style, example/future_style,
# example/asio_server, example/client_credentials and
# example/token_exchange_handler, run as a user runs them against a fresh local
# authorization server (see with_server.sh).
#
#   test/e2e/examples.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: examples.sh BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
for e in callback_style future_style asio_server client_credentials token_exchange_handler; do
  [ -x "$build/example/$e" ] || { echo "examples.sh: FAIL: $build/example/$e is not built" >&2; exit 1; }
done

# Runs inside with_server.sh: $1 is the examples directory.
inner=$(cat <<'SCRIPT'
set -uo pipefail
ex=$1
work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "examples.sh: FAIL: $*" >&2
  if [ -f "$work/out" ]; then echo "--- output:" >&2; cat "$work/out" >&2; fi
  if [ -f "$work/server.err" ]; then echo "--- asio_server stderr:" >&2; cat "$work/server.err" >&2; fi
  exit 1
}
url=$TETRAPAK_TOKEN_URL ca=$TETRAPAK_CA_FILE

# 1. callback_style and future_style: a token, then the same token from the cache.
for e in callback_style future_style; do
  timeout 20 "$ex/$e" "$url" basic-client basic-secret "$ca" >"$work/out" 2>&1
  rc=$?
  [ $rc -eq 0 ] || fail "$e exited with $rc, expected 0"
  fps=$(grep -o 'sha256=[0-9a-f]*' "$work/out" | sort -u)
  [ "$(grep -c 'sha256=' "$work/out")" -eq 2 ] && [ "$(echo "$fps" | wc -l)" -eq 1 ] ||
    fail "$e: expected two tokens with one fingerprint, got: $fps"
  grep -q 'cache_hit=1' "$work/out" && grep -q '^served from the cache$' "$work/out" ||
    fail "$e: no cache-hit evidence (cache_hit=1, served from the cache)"
  echo "ok: $e fetched a token and served it again from the cache ($fps)"

  # The secret from the environment ("-"), a wrong one: exit 1 and the server's error.
  TETRAPAK_CLIENT_SECRET=wrong-secret timeout 20 "$ex/$e" "$url" basic-client - "$ca" >"$work/out" 2>&1
  rc=$?
  [ $rc -eq 1 ] || fail "$e with a wrong secret exited with $rc, expected 1"
  grep -q 'invalid_client' "$work/out" || fail "$e with a wrong secret: no invalid_client in the output"
  grep -q 'wrong-secret' "$work/out" && fail "$e printed the secret"
  echo "ok: $e with a wrong secret exits 1 with invalid_client"
done
rm -f "$work/out"

# 1b. client_credentials (basic and post authentication) and token_exchange_handler (Automatic grant).
timeout 20 "$ex/client_credentials" "$url" basic-client basic-secret "$ca" >"$work/out" 2>&1 ||
  fail "client_credentials exited with $?, expected 0"
[ "$(grep -c '  got actor_token{' "$work/out")" -eq 2 ] || fail "client_credentials: expected two tokens"
echo "ok: client_credentials"
cat >"$work/appsettings.json" <<JSON
{ "TetraPak": { "DiscoveryDocumentUrl": "$TETRAPAK_ISSUER/.well-known/openid-configuration",
  "ClientId": "basic-client", "ClientSecret": "basic-secret",
  "Services": { "Orders": { "GrantType": "Automatic", "Audience": "urn:tetrapak:orders", "Scope": "read" } } } }
JSON
timeout 20 "$ex/token_exchange_handler" "$work/appsettings.json" Orders "Bearer $(caller_token alice User)" "$ca" >"$work/out" 2>&1 ||
  fail "token_exchange_handler (user) exited with $?, expected 0"
grep -q 'issued_token_type=urn:ietf:params:oauth:token-type:access_token' "$work/out" ||
  fail "token_exchange_handler: a user's token was not exchanged"
timeout 20 "$ex/token_exchange_handler" "$work/appsettings.json" Orders "Bearer $(caller_token nightly-job System)" "$ca" >"$work/out" 2>&1 ||
  fail "token_exchange_handler (system) exited with $?, expected 0"
grep -q 'calling downstream with actor_token{' "$work/out" && ! grep -q 'issued_token_type=' "$work/out" ||
  fail "token_exchange_handler: a system caller should get client credentials"
echo "ok: token_exchange_handler exchanges a user's token and gives a system caller client credentials"
rm -f "$work/out"

# 2. asio_server
TETRAPAK_CLIENT_SECRET=basic-secret "$ex/asio_server" 0 "$url" basic-client - "$ca" >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
port=
for _ in $(seq 100); do
  port=$(awk '/^LISTENING / {print $2}' "$work/server.out")
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || fail "asio_server exited before listening"
  sleep 0.1
done
[ -n "$port" ] || fail "asio_server did not print LISTENING within 10 s"

# read_line VAR: one line from the connection on fd 3, within 10 s.
read_line() { IFS= read -r -t 10 "$1" <&3 || fail "no answer from asio_server within 10 s"; }

# A client that connects and leaves at once.
exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect to asio_server"
exec 3>&-

# Three requests, sent together: the first fetches, the next two hit the cache.
exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect to asio_server after a client disconnected"
printf 'one\ntwo\nthree\n' >&3
read_line l1; read_line l2; read_line l3
exec 3>&-
echo "asio_server answered: '$l1' '$l2' '$l3'"
read -r w1 fp w3 <<<"$l1"
[ "$w1" = OK ] && [ -n "$fp" ] && [ "$w3" = miss ] || fail "first answer '$l1', expected 'OK <fingerprint> miss'"
[ "$l2" = "OK $fp hit" ] || fail "second answer '$l2', expected 'OK $fp hit'"
[ "$l3" = "OK $fp hit" ] || fail "third answer '$l3', expected 'OK $fp hit'"
echo "ok: asio_server: miss, hit, hit with one fingerprint ($fp)"

# A client that sends a request and leaves without waiting for the answer.
exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect to asio_server"
printf 'abandoned\n' >&3
exec 3>&-

# The server still answers the next client, then QUIT stops it.
exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect to asio_server after clients disconnected"
printf 'four\nQUIT\n' >&3
read_line l4; read_line l5
exec 3>&-
[ "$l4" = "OK $fp hit" ] || fail "answer after the disconnects '$l4', expected 'OK $fp hit'"
[ "$l5" = BYE ] || fail "answer to QUIT '$l5', expected BYE"
for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$server_pid" 2>/dev/null && fail "asio_server still running 5 s after QUIT"
wait "$server_pid"; rc=$?
server_pid=
[ $rc -eq 0 ] || fail "asio_server exited with $rc after QUIT, expected 0"
ended=$(grep -c '^session ended$' "$work/server.err")
[ "$ended" -ge 2 ] || fail "expected the disconnected sessions to end (saw $ended 'session ended')"
echo "ok: asio_server survives client disconnects ($ended sessions ended) and stops on QUIT"
SCRIPT
)

"$here/with_server.sh" --name examples.sh -- bash -c "$inner" examples.sh "$build/example"
