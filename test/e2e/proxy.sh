#!/usr/bin/env bash
# End to end through a real HTTP proxy (tinyproxy on loopback), as a user runs
# it: tetrapak-token with --proxy, --noproxy, the environment's https_proxy
# (never used for loopback) and a proxy that is down; then
# example/beast_microservice configured with "Proxy" reaching both the
# authorization server and its downstream through the proxy.
#
#   test/e2e/proxy.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: proxy.sh BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
cli="$build/tetrapak-token"
ms="$build/example/beast_microservice"
for b in "$cli" "$ms"; do [ -x "$b" ] || { echo "proxy.sh: FAIL: $b is not built" >&2; exit 1; }; done
command -v tinyproxy >/dev/null || { echo "proxy.sh: FAIL: tinyproxy is not installed (scripts/install-deps.sh)" >&2; exit 1; }

inner=$(cat <<'SCRIPT'
set -uo pipefail
cli=$1 ms=$2
work=$(mktemp -d)
proxy_pid= ms_pid=
cleanup() {
  for p in $ms_pid $proxy_pid; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "proxy.sh: FAIL: $*" >&2
  [ -f "$work/proxy.log" ] && { echo "--- tinyproxy log (last 30 lines):" >&2; tail -n 30 "$work/proxy.log" >&2; }
  [ -f "$work/ms.err" ] && { echo "--- beast_microservice stderr (last 30 lines):" >&2; tail -n 30 "$work/ms.err" >&2; }
  exit 1
}
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});'; }
# tunnels: CONNECTs tinyproxy opened (its log line before it answers 200).
tunnels() { grep -c 'Not sending client headers to remote machine' "$work/proxy.log" || true; }
tunnels_to() { grep -c "CONNECT 127.0.0.1:$1 " "$work/proxy.log" || true; }

pport=$(free_port)
cat >"$work/tinyproxy.conf" <<CONF
Port $pport
Listen 127.0.0.1
Allow 127.0.0.1
Timeout 60
MaxClients 64
LogFile "$work/proxy.log"
LogLevel Info
PidFile "$work/tinyproxy.pid"
DisableViaHeader Yes
CONF
tinyproxy -d -c "$work/tinyproxy.conf" >/dev/null 2>&1 &
proxy_pid=$!
for _ in $(seq 50); do grep -q 'Starting main loop' "$work/proxy.log" 2>/dev/null && break; sleep 0.1; done
grep -q 'Starting main loop' "$work/proxy.log" 2>/dev/null || fail "tinyproxy did not start on port $pport"
proxy="http://127.0.0.1:$pport"
echo "tinyproxy on $pport"

printf '%s' basic-secret >"$work/secret"
common=(--token-url "$TETRAPAK_TOKEN_URL" --client-id basic-client --client-secret-file "$work/secret" --cacert "$TETRAPAK_CA_FILE")

# 1. --proxy: the token comes through a tunnel.
token=$("$cli" "${common[@]}" --proxy "$proxy" 2>"$work/cli.err") || fail "--proxy: exit $? ($(cat "$work/cli.err"))"
[ -n "$token" ] || fail "--proxy: no token printed"
[ "$(tunnels)" -eq 1 ] || fail "--proxy: tinyproxy opened $(tunnels) tunnels, expected 1"
echo "ok: --proxy $proxy -> a token through one CONNECT tunnel"

# 2. --verbose names the proxy steps.
"$cli" "${common[@]}" --proxy "$proxy" --verbose >/dev/null 2>"$work/verbose.err" || fail "--proxy --verbose: exit $?"
grep -q 'proxy_connect' "$work/verbose.err" || fail "--verbose shows no proxy_connect step: $(cat "$work/verbose.err")"
echo "ok: --verbose shows the proxy_connect step"

# 3. --noproxy: direct.
before=$(tunnels)
"$cli" "${common[@]}" --proxy "$proxy" --noproxy "example.com,127.0.0.1" >/dev/null 2>"$work/cli.err" || fail "--noproxy: exit $?"
[ "$(tunnels)" -eq "$before" ] || fail "--noproxy 127.0.0.1: the request still went through the proxy"
echo "ok: --noproxy 127.0.0.1 -> direct"

# 4. The environment's proxy is never used for loopback.
https_proxy=$proxy "$cli" "${common[@]}" >/dev/null 2>"$work/cli.err" || fail "https_proxy set: exit $?"
[ "$(tunnels)" -eq "$before" ] || fail "https_proxy was used for a loopback token endpoint"
echo "ok: https_proxy in the environment is not used for a loopback token endpoint"

# 5. A proxy that is down: exit 3, a message naming the proxy.
dead=$(free_port)
"$cli" "${common[@]}" --proxy "http://127.0.0.1:$dead" >/dev/null 2>"$work/dead.err"
rc=$?
[ $rc -eq 3 ] || fail "a proxy that is down: exit $rc, expected 3 ($(cat "$work/dead.err"))"
grep -q "proxy" "$work/dead.err" || fail "a proxy that is down: the message does not name the proxy: $(cat "$work/dead.err")"
grep -q "127.0.0.1:$dead" "$work/dead.err" || fail "a proxy that is down: the message does not give its address: $(cat "$work/dead.err")"
echo "ok: a proxy that is down -> exit 3: $(head -n1 "$work/dead.err")"

# 6. The microservice example, configured with a proxy: both its token
#    requests and its downstream requests go through tunnels.
alice_jwt=$(caller_token alice User)
cat >"$work/appsettings.json" <<JSON
{"TetraPak": {"DiscoveryDocumentUrl": "$TETRAPAK_ISSUER/.well-known/openid-configuration",
  "ClientId": "basic-client", "ClientSecret": "basic-secret", "Proxy": "$proxy",
  "Services": {"Orders": {"GrantType": "Automatic", "Audience": "urn:tetrapak:orders", "Scope": "read"}}}}
JSON
"$ms" "$work/appsettings.json" "$TETRAPAK_CERTS" 0 >"$work/ms.out" 2>"$work/ms.err" &
ms_pid=$!
line=
for _ in $(seq 100); do
  line=$(grep -m1 '^LISTENING ' "$work/ms.out")
  [ -n "$line" ] && break
  kill -0 "$ms_pid" 2>/dev/null || fail "beast_microservice exited before listening"
  sleep 0.1
done
[[ $line =~ ^LISTENING\ ([0-9]+)\ DOWNSTREAM\ ([0-9]+)$ ]] || fail "beast_microservice printed '$line'"
port=${BASH_REMATCH[1]} dport=${BASH_REMATCH[2]}
asport=${TETRAPAK_ISSUER##*:}
as_before=$(tunnels_to "$asport")
out=$(NODE_EXTRA_CA_CERTS=$TETRAPAK_CA_FILE node -e '
  fetch(process.argv[1], { headers: { authorization: "Bearer " + process.argv[2] }, signal: AbortSignal.timeout(10000) })
    .then(async (r) => { console.log(r.status + " " + await r.text()); })
    .catch((e) => { console.log("ERR " + (e.cause?.message ?? e.message)); process.exit(3); });
' "https://127.0.0.1:$port/orders" "$alice_jwt")
[[ $out == "200 "* ]] || fail "GET /orders through the proxied example: $out"
sub=$(node -e 'console.log(JSON.parse(process.argv[1].slice(4)).downstream?.sub)' "$out") || fail "GET /orders: not JSON: $out"
[ "$sub" = alice ] || fail "GET /orders: the downstream saw sub '$sub', expected alice: $out"
[ "$(tunnels_to "$asport")" -gt "$as_before" ] || fail "the example's discovery and token requests made no tunnel to the authorization server (port $asport)"
[ "$(tunnels_to "$dport")" -ge 1 ] || fail "the example's downstream request did not go through the proxy (no CONNECT to port $dport)"
echo "ok: beast_microservice with \"Proxy\": token and downstream requests through the proxy ($(tunnels_to "$dport") tunnel(s) to the downstream)"
SCRIPT
)

"$here/with_server.sh" --name proxy.sh -- bash -c "$inner" proxy.sh "$cli" "$ms"
