#!/usr/bin/env bash
# Runs a command against a fresh local authorization server (oidc-provider
# over TLS on 127.0.0.1, certificates made now), for end-to-end tests of the
# examples and the CLI as a user runs them.
#
#   test/e2e/with_server.sh [--server-arg ARG]... [--name NAME] -- COMMAND [ARGS...]
#
# COMMAND sees: TETRAPAK_ISSUER (https://127.0.0.1:PORT), TETRAPAK_TOKEN_URL,
# TETRAPAK_CA_FILE, TETRAPAK_CERTS (the certificate directory) and
# caller_token USER TYPE (a script printing a caller's JWT from the server's
# user-token grant). The server stops when the command ends; the command's
# exit status is the script's; with --name, "NAME: PASS" or "NAME: FAILED
# (exit N)" is printed after it.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
server_args=()
name=""
while [ $# -gt 0 ]; do
  case "$1" in
    --server-arg) server_args+=("$2"); shift 2 ;;
    --name) name=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "with_server.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: with_server.sh [--server-arg ARG]... [--name NAME] -- COMMAND [ARGS...]" >&2; exit 2; }

work=$(mktemp -d)
cleanup() { [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
bash "$here/test/server/gen-certs.sh" "$work/certs" >/dev/null 2>&1
mkfifo "$work/in"
node "$here/test/server/server.mjs" --certs "$work/certs" --port 0 "${server_args[@]}" <"$work/in" >"$work/out" 2>"$work/server.log" &
server_pid=$!
exec 4>"$work/in"
for _ in $(seq 200); do grep -q READY "$work/out" 2>/dev/null && break; sleep 0.1; done
port=$(awk '/READY/ {print $2}' "$work/out")
[ -n "$port" ] || { echo "with_server.sh: the authorization server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }

export TETRAPAK_ISSUER="https://127.0.0.1:$port"
export TETRAPAK_TOKEN_URL="$TETRAPAK_ISSUER/token"
export TETRAPAK_CA_FILE="$work/certs/ca.pem"
export TETRAPAK_CERTS="$work/certs"
cat >"$work/caller_token" <<'SH'
#!/usr/bin/env bash
# caller_token USER [TYPE]: a caller's JWT from the test server's user-token grant.
NODE_EXTRA_CA_CERTS="$TETRAPAK_CA_FILE" node -e '
  const [url, user, type] = process.argv.slice(1);
  fetch(url, { method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded",
               authorization: "Basic " + Buffer.from("user-issuer:user-issuer-secret").toString("base64") },
    body: new URLSearchParams({ grant_type: "urn:tetrapak:test:user-token", username: user, user_type: type }) })
  .then(r => r.json()).then(j => console.log(j.access_token));' "$TETRAPAK_TOKEN_URL" "$1" "${2:-User}"
SH
chmod +x "$work/caller_token"
export PATH="$work:$PATH"
set +e
"$@"
status=$?
set -e
if [ -n "$name" ]; then
  if [ $status -eq 0 ]; then echo "$name: PASS"; else echo "$name: FAILED (exit $status)" >&2; fi
fi
exit $status
