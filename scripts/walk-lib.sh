# Shared by the walks that start a demo server of their own
# (client-walk.sh, console-walk.sh): source it from the repository's root.

# $tmp is removed, and the processes in $pids stopped, on exit.
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# free_port prints a free loopback port.
free_port() { node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'; }

# wait_for URL WHAT LOG: wait up to 2 minutes for URL to answer; if it
# does not, show LOG and fail.
wait_for() {
  for _ in $(seq 1 600); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "$(basename "$0" .sh): $2 did not come up; its log:" >&2
  tail -50 "$3" >&2
  exit 1
}
