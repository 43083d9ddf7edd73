#!/usr/bin/env bash
# Measures one scale-seeded database as docs/scaling.md does: starts a
# server over it (PostgreSQL and its read replica, the Redis Cluster, the
# S3 server), rebuilds the leaderboards, times the repeated reads one at a
# time (redpoint-load reads), then runs the morning mix at a fixed rate.
#
#   scripts/measure-scale.sh redpoint_province [RATE] [DURATION]
#
# The database must have been seeded with `redpoint seed --scale …` under
# the same REDPOINT_PII_KEY and REDPOINT_AUTH_KEY this shell exports (the
# server reads sealed data with them). It starts the replica, the cluster
# and the S3 server if they are down, and empties the cluster first, so
# every scale starts cold — unless KEEP_BOARDS=1 and the boards in the
# cluster are the ones the last run built over the same database (a key
# in the cluster names it), which skips the rebuild. Needs bin/redpoint
# and bin/redpoint-load (make build; go build -o bin/redpoint-load
# ./cmd/redpoint-load).
set -euo pipefail
cd "$(dirname "$0")/.."
db=${1:?usage: $0 DATABASE [RATE] [DURATION]}
rate=${2:-100}
duration=${3:-60s}
: "${REDPOINT_PII_KEY:?export the REDPOINT_PII_KEY the database was seeded with}"
: "${REDPOINT_AUTH_KEY:?export REDPOINT_AUTH_KEY}"

replica=$(scripts/pg-replica.sh)
cluster=$(scripts/redis-cluster.sh)
s3=$(scripts/s3-server.sh)
export REDPOINT_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
export REDPOINT_DATABASE_REPLICA_URL="${replica%%/test*}/$db?sslmode=disable"
export REDPOINT_REDIS_URL="$cluster"
export REDPOINT_S3_URL="$s3"
dir=$(mktemp -d /tmp/redpoint-measure.XXXXXX)
log="$dir/serve.log"

echo "== $db: $(psql -h 127.0.0.1 -U postgres -d "$db" -XAtc "SELECT count(*) || ' errands, ' || pg_size_pretty(pg_database_size('$db')) FROM errands")"
used() { for p in 7001 7002 7003; do redis-cli -p "$p" info memory | tr -d '\r' | sed -n 's/^used_memory://p'; done | awk '{s+=$1} END {print s}'; }
# Which database the cluster's boards were built from (the slot of this
# key is on one master; -c follows the redirection).
built_from=$(redis-cli -c -p 7001 get redpoint-measure:boards-of)
if [ -z "${KEEP_BOARDS:-}" ] || [ "$built_from" != "$db" ]; then
  [ -n "${KEEP_BOARDS:-}" ] && echo "KEEP_BOARDS: the cluster holds the boards of '${built_from:-nothing}', not $db's: rebuilding"
  for p in 7001 7002 7003; do redis-cli -p "$p" flushall >/dev/null; done
  before=$(used)
  start=$(date +%s.%N)
  bin/redpoint leaderboard rebuild --data-dir "$dir" 2>/dev/null | sed 's/^/  /'
  echo "leaderboard rebuild (8 periods: the current week, month, quarter and year, and the ones before): $(echo "$(date +%s.%N) - $start" | bc) s"
  points=$(psql -h 127.0.0.1 -U postgres -d "$db" -XAtc "SELECT count(*) FROM service_points WHERE active")
  echo "leaderboards in Redis: $(( ($(used) - before) / 1024 )) KiB for $points points ($(( ($(used) - before) * 100000 / points / 1048576 )) MiB per 100,000 points)"
  redis-cli -c -p 7001 set redpoint-measure:boards-of "$db" >/dev/null
fi

bin/redpoint serve --demo --trusted-proxies 1 --data-dir "$dir" --http-addr 127.0.0.1:18080 \
  --grpc-addr 127.0.0.1:19090 --admin-addr 127.0.0.1:18081 >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 120); do
  curl -fs 127.0.0.1:18081/healthz >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fs 127.0.0.1:18081/healthz >/dev/null || { echo "the server did not start; its log:"; tail -20 "$log"; exit 1; }

province=()
if [ "$(psql -h 127.0.0.1 -U postgres -d "$db" -XAtc "SELECT count(*) FROM regions WHERE id = '140000000000'")" = 1 ]; then
  province=(--province 13200000014) # 山西's admin, as the scale seed names it
fi
echo "== the repeated reads, one at a time"
bin/redpoint-load reads --target http://127.0.0.1:18080 --samples 30 "${province[@]}"
echo "== the morning mix at $rate operations per second for $duration (the server's CPU profiled for 20 s of it)"
(sleep 15; curl -s -o "$dir/cpu.pprof" "127.0.0.1:18081/debug/pprof/profile?seconds=20") &
profiler=$!
bin/redpoint-load --target http://127.0.0.1:18080 --rate "$rate" --duration "$duration" --residents 1000 --agents 20
wait $profiler
echo "== where the server's CPU went during the mix"
go tool pprof -top -nodecount=12 bin/redpoint "$dir/cpu.pprof" 2>/dev/null | sed -n '4,17p'
echo "== reads by target: $(curl -s 127.0.0.1:18081/metrics | grep '^redpoint_database_reads_total' | tr '\n' ' ')"
