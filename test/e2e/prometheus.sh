#!/usr/bin/env bash
# example/beast_microservice's GET /metrics (tetrapak::prometheus) against a
# fresh local authorization server: after a run of calls, every counter and
# histogram count in the scrape equals the service's own stats() (GET /stats),
# and the scrape holds no secret, token or client id (prometheus_scrape.mjs).
#
#   test/e2e/prometheus.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: prometheus.sh BUILD_DIR" >&2; exit 2; }
bin="$(cd "$1" && pwd)/example/beast_microservice"
[ -x "$bin" ] || { echo "prometheus.sh: FAIL: $bin is not built" >&2; exit 1; }

inner=$(cat <<'SCRIPT'
set -uo pipefail
bin=$1 check=$2
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
fail() {
  echo "prometheus.sh: FAIL: $*" >&2
  [ -f "$work/err" ] && { echo "--- beast_microservice stderr (last 40 lines):" >&2; tail -n 40 "$work/err" >&2; }
  exit 1
}
cat >"$work/appsettings.json" <<JSON
{"TetraPak": {"DiscoveryDocumentUrl": "$TETRAPAK_ISSUER/.well-known/openid-configuration",
  "ClientId": "basic-client", "ClientSecret": "basic-secret",
  "Services": {"Orders": {"GrantType": "Automatic", "Audience": "urn:tetrapak:orders", "Scope": "read"}}}}
JSON
alice=$(caller_token alice User)
job=$(caller_token nightly-job System)
"$bin" "$work/appsettings.json" "$TETRAPAK_CERTS" 0 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do
  grep -q '^LISTENING ' "$work/out" && break
  kill -0 "$pid" 2>/dev/null || fail "beast_microservice exited before listening"
  sleep 0.1
done
port=$(awk '/^LISTENING / {print $2}' "$work/out")
[ -n "$port" ] || fail "beast_microservice printed no LISTENING line within 10 s"
NODE_EXTRA_CA_CERTS=$TETRAPAK_CA_FILE node "$check" "https://127.0.0.1:$port" "$alice" "$job" || fail "see above"
SCRIPT
)

"$here/with_server.sh" --name prometheus.sh -- bash -c "$inner" prometheus.sh "$bin" "$here/prometheus_scrape.mjs"
