#!/usr/bin/env bash
# The secretaries' console's browser walk (service/console/test) against a
# running demo: Chromium, driven by Playwright, signs in as a township
# secretary, a county and a city admin and checks every screen against the
# public REST API. Run from anywhere in the repository (CI runs it after
# the Go suite): bash scripts/console-walk.sh
#
# Starts its own server (embedded mode, the demo seed, free ports, a
# temporary data directory) and stops it on exit. Needs Chromium at
# /usr/bin/chromium (REDPOINT_CHROMIUM to use another).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/walk-lib.sh # $tmp, $pids (stopped on exit), free_port, wait_for

chromium=${REDPOINT_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "console-walk: no Chromium at $chromium; install it (apt-get install chromium) or set REDPOINT_CHROMIUM" >&2
  exit 1
fi


(cd service/console && [ -d node_modules ] || npm ci --no-audit --no-fund)
go build -o "$tmp/redpoint" ./cmd/redpoint

http=$(free_port) grpc=$(free_port) admin=$(free_port)
"$tmp/redpoint" serve --demo --data-dir "$tmp/data" --log-level warn \
  --http-addr "127.0.0.1:$http" --grpc-addr "127.0.0.1:$grpc" --admin-addr "127.0.0.1:$admin" \
  >"$tmp/server.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$http/healthz" "the demo server" "$tmp/server.log"
if ! kill -0 "${pids[0]}" 2>/dev/null; then # another process answered on its port
  echo "console-walk: the demo server exited; its log:" >&2
  tail -50 "$tmp/server.log" >&2
  exit 1
fi

echo "=== console walk: Chromium against http://127.0.0.1:$http/console/"
if ! REDPOINT_URL="http://127.0.0.1:$http" REDPOINT_CHROMIUM="$chromium" node --test service/console/test/; then
  echo "console-walk: the server's log:" >&2
  tail -40 "$tmp/server.log" >&2
  exit 1
fi
