#!/usr/bin/env bash
# README command 1: installs what is missing, builds, starts the local
# authorization server (oidc-provider over TLS on 127.0.0.1 with a CA made
# now), and fetches real tokens with the examples, the microservice and the CLI.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$here/build}

if [ "${1:-}" != --inside ]; then
  "$here/scripts/install-deps.sh"
  cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTETRAPAK_BUILD_EXAMPLES=ON >/dev/null
  cmake --build "$build" -j "$(nproc)" --target client_credentials token_exchange_handler beast_microservice tetrapak-token
  # The rest runs against a fresh local authorization server: test/e2e/with_server.sh
  # starts it (certificates made now), runs this script again inside, and stops it.
  exec "$here/test/e2e/with_server.sh" -- "$0" --inside
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
certs=$TETRAPAK_CERTS
port=${TETRAPAK_ISSUER##*:}
url=$TETRAPAK_TOKEN_URL
echo "authorization server (oidc-provider) at https://127.0.0.1:$port"
echo
echo "== opaque token for basic-client"
TETRAPAK_CLIENT_SECRET=basic-secret "$build/example/client_credentials" "$url" basic-client - "$certs/ca.pem"
echo
echo "== JWT access token for system-client (resource indicator)"
TETRAPAK_CLIENT_SECRET=system-secret "$build/example/client_credentials" "$url" system-client - "$certs/ca.pem" urn:tetrapak:test-api
echo
echo "== a wrong secret: the server's error, with its description"
"$build/example/client_credentials" "$url" basic-client not-the-secret "$certs/ca.pem" || echo "(exit status $?, as expected)"

echo
echo "== token exchange (RFC 8693) in a request handler, grant Automatic, config from a TetraPak JSON file"
cat >"$work/appsettings.json" <<JSON
{ "TetraPak": {
    "DiscoveryDocumentUrl": "https://127.0.0.1:$port/.well-known/openid-configuration",
    "ClientId": "basic-client", "ClientSecret": "basic-secret",
    "Services": { "Orders": { "GrantType": "Automatic", "Audience": "urn:tetrapak:orders", "Scope": "read" } } } }
JSON
echo "-- a user calls in: the token is exchanged"
"$build/example/token_exchange_handler" "$work/appsettings.json" Orders "Bearer $(caller_token alice User)" "$certs/ca.pem"
echo "-- a system identity calls in: client credentials instead"
"$build/example/token_exchange_handler" "$work/appsettings.json" Orders "Bearer $(caller_token nightly-job System)" "$certs/ca.pem"

echo
echo "== the Beast microservice: a caller's JWT exchanged (Automatic grant), the downstream service called with it"
"$build/example/beast_microservice" "$work/appsettings.json" "$certs" >"$work/ms.out" 2>"$work/ms.err" &
ms_pid=$!
for _ in $(seq 100); do grep -q LISTENING "$work/ms.out" 2>/dev/null && break; sleep 0.1; done
ms_port=$(awk '/LISTENING/ {print $2}' "$work/ms.out")
down_port=$(awk '/LISTENING/ {print $4}' "$work/ms.out")
[ -n "$ms_port" ] || { echo "the microservice did not start:"; cat "$work/ms.err"; exit 1; }
echo "microservice at https://127.0.0.1:$ms_port, its downstream at https://127.0.0.1:$down_port"
NODE_EXTRA_CA_CERTS="$certs/ca.pem" node -e '
  const [port, down, alice, job] = process.argv.slice(1);
  const get = async (what, headers) => {
    const r = await fetch(`https://127.0.0.1:${port}/orders`, { headers });
    const j = await r.json();
    console.log(`-- ${what}: HTTP ${r.status}, grant ${j.grant}, downstream saw sub=${JSON.stringify(j.downstream?.sub)} ` +
                `act=${JSON.stringify(j.downstream?.act_sub)} flow=${JSON.stringify(j.downstream?.flow_id)}; ` +
                `token requests ${j.token_requests}, cache hits ${j.cache_hits}, ${j.elapsed_us} us`);
  };
  (async () => {
    await get("alice (a user) calls", { authorization: `Bearer ${alice}`, "api-flow-id": "demo-1" });
    await get("alice again (cached)", { authorization: `Bearer ${alice}` });
    await fetch(`https://127.0.0.1:${down}/revoke`, { method: "POST" }); // the downstream now refuses that token
    await get("alice after the downstream revoked her token (a 401, then one renewal)", { authorization: `Bearer ${alice}` });
    await get("a system job calls", { authorization: `Bearer ${job}` });
    await get("an anonymous call", {});
    const s = await (await fetch(`https://127.0.0.1:${port}/stats`)).json();
    console.log(`-- the service counted: ${s.fetch} fetches, ${s.cache_hit} cache hits, ${s.connection_opened} connections ` +
                `opened, ${s.connection_reused} reused, ${s.tls_resumed} TLS sessions resumed`);
    await fetch(`https://127.0.0.1:${port}/quit`, { method: "POST" });
  })().catch((e) => { console.error(e); process.exit(1); });' \
  "$ms_port" "$down_port" "$(caller_token alice User)" "$(caller_token nightly-job System)"
wait "$ms_pid"

echo
echo "== a fleet: two instances of the microservice share their tokens through Redis (encrypted)"
redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --daemonize no >"$work/redis.log" 2>&1 &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
echo "k1:$(openssl rand -base64 32)" >"$work/fleet-keys"
sed "s|\"Services\"|\"Fleet\": { \"RedisUrl\": \"redis://127.0.0.1:$redis_port\", \"KeyFile\": \"$work/fleet-keys\" },\n    \"Services\"|" \
  "$work/appsettings.json" >"$work/fleet.json"
for i in 1 2; do
  "$build/example/beast_microservice" "$work/fleet.json" "$certs" >"$work/ms$i.out" 2>"$work/ms$i.err" &
  eval "ms${i}_pid=$!"
done
for i in 1 2; do
  for _ in $(seq 100); do grep -q LISTENING "$work/ms$i.out" 2>/dev/null && break; sleep 0.1; done
done
ms1_port=$(awk '/LISTENING/ {print $2}' "$work/ms1.out"); ms2_port=$(awk '/LISTENING/ {print $2}' "$work/ms2.out")
[ -n "$ms1_port" ] && [ -n "$ms2_port" ] || { echo "the instances did not start:"; cat "$work/ms1.err" "$work/ms2.err"; exit 1; }
echo "instance 1 at https://127.0.0.1:$ms1_port, instance 2 at https://127.0.0.1:$ms2_port, Redis at 127.0.0.1:$redis_port"
NODE_EXTRA_CA_CERTS="$certs/ca.pem" node -e '
  const [p1, p2, alice, job] = process.argv.slice(1);
  const get = async (what, port, headers) => {
    const r = await fetch(`https://127.0.0.1:${port}/orders`, { headers });
    const j = await r.json();
    console.log(`-- ${what}: HTTP ${r.status}, grant ${j.grant}, token requests ${j.token_requests}, ` +
                `from the fleet ${j.fleet_hits}, ${j.elapsed_us} us`);
  };
  (async () => {
    await get("alice calls instance 1 (a token exchange)", p1, { authorization: `Bearer ${alice}` });
    await get("alice calls instance 2 (its first call: the token instance 1 stored)", p2, { authorization: `Bearer ${alice}` });
    await get("a system job calls instance 2 (client credentials)", p2, { authorization: `Bearer ${job}` });
    await get("the job calls instance 1 (its first such call: from the fleet)", p1, { authorization: `Bearer ${job}` });
    for (const p of [p1, p2]) await fetch(`https://127.0.0.1:${p}/quit`, { method: "POST" });
  })().catch((e) => { console.error(e); process.exit(1); });' \
  "$ms1_port" "$ms2_port" "$(caller_token alice User)" "$(caller_token nightly-job System)"
wait "$ms1_pid" "$ms2_pid"
echo "-- what Redis holds (key names are digests; values are AES-256-GCM envelopes):"
redis-cli -p "$redis_port" --scan | sed 's/^/   /'
redis-cli -p "$redis_port" --scan --pattern 'tetrapak:t:*' | head -1 | xargs -r redis-cli -p "$redis_port" --no-raw get | cut -c1-60 | sed 's/^/   value: /; s/$/.../'

echo
echo "== the CLI"
echo "-- tetrapak-token --issuer https://127.0.0.1:$port --client-id basic-client --json"
TETRAPAK_CLIENT_SECRET=basic-secret "$build/tetrapak-token" --issuer "https://127.0.0.1:$port" --client-id basic-client \
  --cacert "$certs/ca.pem" --json | sed -E 's/"access_token":"[^"]{6}[^"]*"/"access_token":"<redacted>"/'
echo "-- tetrapak-token run three times with --redis: one token request, the later runs reuse its token"
for i in 1 2 3; do
  start=$(date +%s%N)
  sum=$(TETRAPAK_CLIENT_SECRET=basic-secret "$build/tetrapak-token" --token-url "$url" --client-id basic-client \
    --cacert "$certs/ca.pem" --scope read --redis "redis://127.0.0.1:$redis_port" --redis-key-file "$work/fleet-keys" |
    sha256sum | cut -c1-12)
  echo "   run $i: token sha256 $sum, $(( ($(date +%s%N) - start) / 1000000 )) ms"
done
