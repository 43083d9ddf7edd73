#!/usr/bin/env bash
# A local Redis Cluster for the tests against real services
# (`make test-cluster`, .ci/run): three masters, no replicas, on
# 127.0.0.1:7001, 7002 and 7003, each keeping nothing on disk but its
# cluster config (nodes.conf) and log under /tmp/redpoint-redis-cluster/PORT.
#
# A second run finds the cluster answering with cluster_state:ok and does
# nothing; a run that finds the nodes up but the cluster not formed forms it.
# The servers are left running in the background (daemonized).
#
# Prints the REDPOINT_TEST_REDIS_URL to use on stdout (messages go to stderr):
#
#   export REDPOINT_TEST_REDIS_URL=$(scripts/redis-cluster.sh)
#
# Stop the three and remove their state with: scripts/redis-cluster.sh stop
set -euo pipefail

host=127.0.0.1
ports=(7001 7002 7003)
dir=/tmp/redpoint-redis-cluster
url="redis://$host:${ports[0]}?addr=$host:${ports[1]}&addr=$host:${ports[2]}"

up() { redis-cli -h "$host" -p "$1" ping 2>/dev/null | grep -q PONG; }
state_ok() { redis-cli -h "$host" -p "${ports[0]}" cluster info 2>/dev/null | tr -d '\r' | grep -q '^cluster_state:ok$'; }
# known: how many nodes the first one knows of (1 until the cluster is formed).
known() { redis-cli -h "$host" -p "${ports[0]}" cluster info 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_known_nodes://p'; }

if [ "${1:-}" = stop ]; then
  for p in "${ports[@]}"; do
    if up "$p"; then
      redis-cli -h "$host" -p "$p" shutdown nosave >/dev/null 2>&1 || true
    fi
  done
  deadline=$((SECONDS + 20))
  for p in "${ports[@]}"; do
    while up "$p"; do
      if [ "$SECONDS" -ge "$deadline" ]; then
        echo "redis-cluster: the node on $p did not stop within 20 s" >&2
        exit 1
      fi
      sleep 0.2
    done
  done
  rm -rf "$dir"
  echo "redis-cluster: stopped, $dir removed" >&2
  exit 0
fi
if [ $# -gt 0 ]; then
  echo "usage: $0 [stop]" >&2
  exit 2
fi

if up "${ports[0]}" && state_ok; then
  echo "$url"
  exit 0
fi

for p in "${ports[@]}"; do
  if ! up "$p"; then
    mkdir -p "$dir/$p"
    echo "redis-cluster: starting a node on $host:$p (files in $dir/$p)" >&2
    redis-server --port "$p" --bind "$host" --cluster-enabled yes --daemonize yes \
      --save "" --appendonly no --dir "$dir/$p" --cluster-config-file "$dir/$p/nodes.conf" \
      --logfile "$dir/$p/log" --pidfile "$dir/$p/pid" >&2
  fi
done
deadline=$((SECONDS + 20))
for p in "${ports[@]}"; do
  until up "$p"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "redis-cluster: the node on $p did not answer within 20 s; its log:" >&2
      tail -20 "$dir/$p/log" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
done

if [ "$(known)" = 1 ]; then
  echo "redis-cluster: forming the cluster" >&2
  redis-cli --cluster create "${ports[@]/#/$host:}" --cluster-replicas 0 --cluster-yes >&2
fi
deadline=$((SECONDS + 30))
until state_ok; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "redis-cluster: no cluster_state:ok within 30 s; the cluster says:" >&2
    redis-cli -h "$host" -p "${ports[0]}" cluster info >&2 || true
    exit 1
  fi
  sleep 0.2
done
echo "$url"
