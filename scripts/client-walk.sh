#!/usr/bin/env bash
# The TypeScript client's walk (clients/ts/test) against a running demo,
# twice: straight to the server, then through Prism's validating proxy
# (`prism proxy --errors`), where any request or answer the OpenAPI
# document does not describe fails the walk. Run by `make test-client`.
#
# Starts its own server (embedded mode, the demo seed, free ports, a
# temporary data directory) and stops it, and Prism, on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. scripts/walk-lib.sh # $tmp, $pids (stopped on exit), free_port, wait_for


(cd clients/ts && [ -d node_modules ] || npm ci --no-audit --no-fund)
go build -o "$tmp/redpoint" ./cmd/redpoint

http=$(free_port) grpc=$(free_port) admin=$(free_port) prism=$(free_port)
"$tmp/redpoint" serve --demo --data-dir "$tmp/data" --log-level warn \
  --http-addr "127.0.0.1:$http" --grpc-addr "127.0.0.1:$grpc" --admin-addr "127.0.0.1:$admin" \
  >"$tmp/server.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$http/healthz" "the demo server" "$tmp/server.log"

cd clients/ts
npx tsc -p .
echo "=== walk: straight to the server"
REDPOINT_URL="http://127.0.0.1:$http" node --test dist/test/

node_modules/.bin/prism proxy "$root/gen/openapi/redpoint.openapi.json" "http://127.0.0.1:$http" \
  --errors --host 127.0.0.1 --port "$prism" >"$tmp/prism.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$prism/v1/regions/140400000000" "Prism" "$tmp/prism.log"
echo "=== walk: through Prism's validating proxy"
if ! REDPOINT_URL="http://127.0.0.1:$prism" REDPOINT_VIA_PRISM=1 node --test dist/test/; then
  echo "client-walk: Prism's log:" >&2
  grep -iE 'violation|error' "$tmp/prism.log" | tail -40 >&2
  exit 1
fi
