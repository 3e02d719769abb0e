#!/usr/bin/env bash
# Installs what the build, the tests and the demo need on Debian 12 (as root),
# skipping what is already there. Safe to run again.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

pkgs=(g++ clang cmake ninja-build pkg-config openssl libssl-dev nodejs npm
      libboost1.81-all-dev libboost-json1.81-dev libboost-url1.81-dev libboost1.81-tools-dev
      libbenchmark-dev wrk libclang-rt-14-dev
      nginx-light libcurl4-openssl-dev python3-requests tinyproxy-bin
      redis-server libhiredis-dev prometheus-cpp-dev doxygen xz-utils)
# tinyproxy-bin: the HTTP proxy the proxy tests start with their own config
# (test/common/proxy_server.cpp); it is the binary alone, without the `tinyproxy`
# package's system service that would listen on port 8888.
# redis-server, libhiredis-dev: the Redis the Redis tests start with their own
# config on random ports (test/common/redis_server.cpp), and the client library
# of its synchronous helpers; the package's system service is not used.
# prometheus-cpp-dev: tetrapak::prometheus (lib/prometheus) and the example's GET /metrics.
# doxygen: the API reference (ctest -L docs); xz-utils: the Boost 1.89 tarball of ctest -L compat.
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs/npm may come from outside apt (as on the CI image): accept any node >= 20 with npm.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The test authorization server (oidc-provider, pinned by package-lock.json).
if [ ! -d "$here/test/server/node_modules/oidc-provider" ]; then
  (cd "$here/test/server" && npm ci --no-audit --no-fund --loglevel=error)
fi

# The side-by-side benchmarks' Node contender (openid-client, pinned by package-lock.json).
if [ ! -d "$here/bench/compare/node_modules/openid-client" ]; then
  (cd "$here/bench/compare" && npm ci --no-audit --no-fund --loglevel=error)
fi
