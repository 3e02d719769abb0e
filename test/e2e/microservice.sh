#!/usr/bin/env bash
# End-to-end test of example/beast_microservice, run as a user runs it
# against a fresh local authorization server (see with_server.sh): grant
# selection (token exchange for a user, client credentials for a system caller
# and for no caller), flow-id propagation, the token cache, exactly one new
# token after a downstream 401, a caller's disconnect cancelling the outgoing
# request, a load run (when wrk is installed) and a clean exit on POST /quit.
#
#   test/e2e/microservice.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: microservice.sh BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
bin="$build/example/beast_microservice"
[ -x "$bin" ] || { echo "microservice.sh: FAIL: $bin is not built" >&2; exit 1; }

# Runs inside with_server.sh: $1 is the beast_microservice binary.
inner=$(cat <<'SCRIPT'
set -uo pipefail
bin=$1
work=$(mktemp -d)
pid=
started=$(date +%s%N)
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "microservice.sh: FAIL: $*" >&2
  if [ -n "${status:-}${body:-}" ]; then echo "--- last response: ${status:-} ${body:-}" >&2; fi
  if [ -f "$work/out" ]; then echo "--- beast_microservice stdout:" >&2; cat "$work/out" >&2; fi
  if [ -f "$work/err" ]; then echo "--- beast_microservice stderr (last 60 lines):" >&2; tail -n 60 "$work/err" >&2; fi
  exit 1
}
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
export NODE_EXTRA_CA_CERTS=$TETRAPAK_CA_FILE

# http METHOD URL [HEADER: VALUE]...: sets status and body (10 s limit).
cat >"$work/req.mjs" <<'JS'
const [method, url, ...headers] = process.argv.slice(2);
const h = {};
for (const line of headers) { const i = line.indexOf(':'); h[line.slice(0, i).trim()] = line.slice(i + 1).trim(); }
try {
  const r = await fetch(url, { method, headers: h, signal: AbortSignal.timeout(10000) });
  process.stdout.write(`${r.status}\n${await r.text()}`);
} catch (e) {
  process.stdout.write(`ERR ${e.name}: ${e.cause?.message ?? e.message}`);
  process.exit(3);
}
JS
http() {
  local out
  out=$(node "$work/req.mjs" "$@")
  case $? in
    0) status=${out%%$'\n'*}; body=${out#*$'\n'} ;;
    *) status=; body=; fail "$1 $2: no answer ($out)" ;;
  esac
}

# jget VAR JSON PATH: VAR = the value at the dotted PATH (strings raw, others
# as JSON, "<missing>" when absent); fails when JSON does not parse.
jget() {
  local _jv
  _jv=$(node -e '
    let v; try { v = JSON.parse(process.argv[1]); } catch { process.exit(1); }
    for (const k of process.argv[2].split(".")) v = v?.[k];
    process.stdout.write(v === undefined ? "<missing>" : typeof v === "string" ? v : JSON.stringify(v));
  ' "$2" "$3") || fail "not JSON: $2"
  printf -v "$1" '%s' "$_jv"
}

# ex_stat VAR NAME / srv_stat VAR NAME: a counter of the example's service
# (GET /stats) / of the authorization server (GET /test/stats).
ex_stat() {
  http GET "$front/stats"
  [ "$status" = 200 ] || fail "GET /stats answered $status, expected 200"
  jget "$1" "$body" "$2"
  [[ ${!1} =~ ^[0-9]+$ ]] || fail "GET /stats: $2 is '${!1}', expected a number"
}
srv_stat() {
  http GET "$TETRAPAK_ISSUER/test/stats"
  [ "$status" = 200 ] || fail "GET /test/stats of the authorization server answered $status"
  jget "$1" "$body" "$2"
}

# orders WHAT [HEADER: VALUE]...: GET /orders, expecting 200 and a JSON body.
orders() {
  local what=$1; shift
  http GET "$front/orders" "$@"
  [ "$status" = 200 ] || fail "$what: GET /orders answered $status, expected 200"
  jget grant "$body" grant
}

# Caller tokens first: caller_token's own requests count on the server.
alice_jwt=$(caller_token alice User)
job_jwt=$(caller_token nightly-job System)
[[ $alice_jwt =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]] || fail "caller_token alice User gave no JWT: $alice_jwt"
[[ $job_jwt =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]] || fail "caller_token nightly-job System gave no JWT: $job_jwt"

cat >"$work/appsettings.json" <<JSON
{"TetraPak": {"DiscoveryDocumentUrl": "$TETRAPAK_ISSUER/.well-known/openid-configuration",
  "ClientId": "basic-client", "ClientSecret": "basic-secret",
  "Services": {"Orders": {"GrantType": "Automatic", "Audience": "urn:tetrapak:orders", "Scope": "read"}}}}
JSON

"$bin" "$work/appsettings.json" "$TETRAPAK_CERTS" 0 >"$work/out" 2>"$work/err" &
pid=$!
line=
for _ in $(seq 100); do
  line=$(grep -m1 '^LISTENING ' "$work/out")
  [ -n "$line" ] && break
  kill -0 "$pid" 2>/dev/null || fail "beast_microservice exited before listening"
  sleep 0.1
done
[ -n "$line" ] || fail "beast_microservice printed no LISTENING line within 10 s"
[[ $line =~ ^LISTENING\ ([0-9]+)\ DOWNSTREAM\ ([0-9]+)$ ]] ||
  fail "first stdout line '$line', expected 'LISTENING <port> DOWNSTREAM <port>'"
port=${BASH_REMATCH[1]} dport=${BASH_REMATCH[2]}
front="https://127.0.0.1:$port" down="https://127.0.0.1:$dport"
echo "beast_microservice listening on $port, downstream on $dport"

ex_stat first cache_hit
for k in cache_hit cache_miss coalesced renewal_started renewal_succeeded renewal_failed retry \
         failure fetch retry_after_honoured connection_opened connection_reused tls_resumed; do
  jget v "$body" "$k"
  [[ $v =~ ^[0-9]+$ ]] || fail "GET /stats: counter $k is '$v', expected a number"
done
echo "ok: GET /stats has every counter of metrics.hpp"

http GET "$down/orders"
[ "$status" = 401 ] || fail "the downstream's GET /orders without a token answered $status, expected 401"

# 1. A user caller: token exchange, the user as subject, the client as actor, the flow id propagated.
flow="e2e-flow-$RANDOM$RANDOM"
orders "user caller" "Authorization: Bearer $alice_jwt" "api-flow-id: $flow"
echo "user caller: $body"
[ "$grant" = token_exchange ] || fail "user caller: grant '$grant', expected token_exchange"
jget v "$body" downstream.sub;     [ "$v" = alice ] || fail "user caller: downstream.sub '$v', expected alice"
jget v "$body" downstream.aud;     [ "$v" = urn:tetrapak:orders ] || fail "user caller: downstream.aud '$v', expected urn:tetrapak:orders"
jget v "$body" downstream.act_sub; [ "$v" = basic-client ] || fail "user caller: downstream.act_sub '$v', expected basic-client"
jget v "$body" downstream.flow_id; [ "$v" = "$flow" ] || fail "user caller: downstream.flow_id '$v', expected the api-flow-id sent ($flow)"
for k in cache_hits token_requests elapsed_us; do
  jget v "$body" "$k"; [[ $v =~ ^[0-9]+$ ]] || fail "user caller: $k is '$v', expected a number"
done
echo "ok: user caller -> token_exchange, sub alice, aud urn:tetrapak:orders, act.sub basic-client, flow id $flow"

# 2. A system caller: client credentials.
orders "system caller" "Authorization: Bearer $job_jwt"
[ "$grant" = client_credentials ] || fail "system caller: grant '$grant', expected client_credentials"
echo "ok: system caller -> client_credentials"

# 3. No caller token: client credentials (Automatic with no subject).
orders "no Authorization header"
[ "$grant" = client_credentials ] || fail "no Authorization header: grant '$grant', expected client_credentials"
echo "ok: no Authorization header -> client_credentials"

# (Not one of the numbered checks) A token failure: 502 with the server's RFC 6749 error.
sig=${alice_jwt##*.}; [ "${sig:0:1}" = A ] && c=B || c=A   # the first signature character: 6 real bits
http GET "$front/orders" "Authorization: Bearer ${alice_jwt%.*}.$c${sig:1}"
[ "$status" = 502 ] || fail "caller JWT with a broken signature: GET /orders answered $status, expected 502"
jget v "$body" error; [ "$v" = invalid_grant ] || fail "broken caller JWT: error '$v', expected invalid_grant"
jget v "$body" error_description; [ -n "$v" ] && [ "$v" != "<missing>" ] || fail "broken caller JWT: no error_description"
echo "ok: a caller JWT with a broken signature -> 502 invalid_grant ($v)"

# 4. The same user again: served from the cache, no request to the server.
ex_stat hits0 cache_hit; srv_stat req0 token_requests
orders "user caller again" "Authorization: Bearer $alice_jwt"
[ "$grant" = token_exchange ] || fail "user caller again: grant '$grant', expected token_exchange"
jget v "$body" downstream.sub; [ "$v" = alice ] || fail "user caller again: downstream.sub '$v', expected alice"
ex_stat hits1 cache_hit; srv_stat req1 token_requests
[ "$hits1" -gt "$hits0" ] || fail "user caller again: cache_hit stayed at $hits0"
[ "$req1" = "$req0" ] || fail "user caller again: the server's token_requests went from $req0 to $req1, expected no request"
echo "ok: the same user again -> cache hit (cache_hit $hits0 -> $hits1), no token request (server: $req0)"

# 5. The downstream revokes the cached token: its 401 makes exactly one new token.
ex_stat fetch0 fetch; srv_stat req0 token_requests; srv_stat xreq0 exchange_requests
http POST "$down/revoke"
[[ $status =~ ^2[0-9][0-9]$ ]] || fail "the downstream's POST /revoke answered $status, expected 2xx"
orders "user caller after a revocation" "Authorization: Bearer $alice_jwt"
[ "$grant" = token_exchange ] || fail "after a revocation: grant '$grant', expected token_exchange"
jget v "$body" downstream.sub; [ "$v" = alice ] || fail "after a revocation: downstream.sub '$v', expected alice"
ex_stat fetch1 fetch; srv_stat req1 token_requests; srv_stat xreq1 exchange_requests
[ $((fetch1 - fetch0)) -eq 1 ] || fail "after a revocation: fetch went from $fetch0 to $fetch1, expected exactly one more"
[ $((req1 - req0)) -eq 1 ] || fail "after a revocation: the server's token_requests went from $req0 to $req1, expected exactly one more"
[ $((xreq1 - xreq0)) -eq 1 ] || fail "after a revocation: the server's exchange_requests went from $xreq0 to $xreq1, expected exactly one more"
echo "ok: downstream 401 after a revocation -> one new token (fetch $fetch0 -> $fetch1, server token_requests $req0 -> $req1), 200"

# 6. A caller that leaves: the outgoing request to the downstream is cancelled.
grep -q 'downstream: caller went away' "$work/err" && fail "'downstream: caller went away' logged before any /slow request"
slow=$(node -e '
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 300);
  fetch(process.argv[1], { signal: ac.signal })
    .then((r) => { console.log(`answered ${r.status}`); process.exit(1); },
          (e) => { if (e.name === "AbortError") { console.log("aborted"); process.exit(0); }
                   console.log(`error ${e.cause?.message ?? e.message}`); process.exit(2); });
' "$front/slow")
[ "$slow" = aborted ] || fail "GET /slow: $slow (expected no answer before the client aborts after 300 ms)"
aborted=$(date +%s%N)
until grep -q 'downstream: caller went away' "$work/err"; do
  [ "$(ms_since "$aborted")" -lt 3000 ] || fail "no 'downstream: caller went away' within 3 s of the client aborting GET /slow"
  kill -0 "$pid" 2>/dev/null || fail "beast_microservice exited after a client aborted GET /slow"
  sleep 0.05
done
echo "ok: aborting GET /slow after 300 ms -> 'downstream: caller went away' after $(ms_since "$aborted") ms"
orders "user caller after an aborted /slow" "Authorization: Bearer $alice_jwt"
echo "ok: still serving after the abort"

# 7. Load.
if command -v wrk >/dev/null; then
  srv_stat req0 token_requests
  timeout 30 wrk -t2 -c16 -d5s -H "Authorization: Bearer $alice_jwt" "$front/orders" >"$work/wrk" 2>&1
  rc=$?
  cat "$work/wrk"
  [ $rc -eq 0 ] || fail "wrk exited with $rc"
  grep -q 'Non-2xx' "$work/wrk" && fail "wrk reports $(grep -o 'Non-2xx.*' "$work/wrk")"
  grep -q 'Socket errors' "$work/wrk" && fail "wrk reports $(grep -o 'Socket errors.*' "$work/wrk")"
  rps=$(grep -o 'Requests/sec.*' "$work/wrk") || fail "no Requests/sec in wrk's output"
  srv_stat req1 token_requests
  echo "ok: wrk -t2 -c16 -d5s /orders: no errors; $rps; server token_requests during the run: $((req1 - req0))"
else
  echo "wrk not installed: load run skipped"
fi

# 8. POST /quit: 200, then the process exits 0.
http POST "$front/quit"
[ "$status" = 200 ] || fail "POST /quit answered $status, expected 200"
quit=$(date +%s%N)
while kill -0 "$pid" 2>/dev/null; do
  [ "$(ms_since "$quit")" -lt 5000 ] || fail "beast_microservice still running 5 s after POST /quit"
  sleep 0.05
done
wait "$pid"; rc=$?
pid=
[ $rc -eq 0 ] || fail "beast_microservice exited with $rc after POST /quit, expected 0"
[ "$(wc -l <"$work/out")" -eq 1 ] || fail "stdout has $(wc -l <"$work/out") lines, expected only the LISTENING line"
echo "ok: POST /quit -> 200, exit 0 after $(ms_since "$quit") ms"
echo "all beast_microservice checks passed in $(ms_since "$started") ms"
SCRIPT
)

"$here/with_server.sh" --name microservice.sh -- bash -c "$inner" microservice.sh "$bin"
