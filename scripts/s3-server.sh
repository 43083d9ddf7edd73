#!/usr/bin/env bash
# A separately started S3-compatible server for the tests against real
# services (`make test-real`, .ci/run): the Versity S3 Gateway (versitygw,
# Apache 2.0, Go) with its posix backend, on 127.0.0.1:7070, the bucket
# "redpoint-test", its files under /tmp/redpoint-versitygw. It is an
# implementation of its own (not the embedded mode's gofakes3), checks
# SigV4 signatures, and lists in key order as S3 does.
#
# versitygw is built once from the Go module proxy at the pinned version
# (about 3-4 minutes on 2 cores) into ~/.cache/redpoint/versitygw-VERSION/.
# The server is left running in the background; a second run finds it
# answering and only makes sure the bucket is there.
#
# Prints the REDPOINT_TEST_S3_URL to use on stdout (messages go to stderr):
#
#   export REDPOINT_TEST_S3_URL=$(scripts/s3-server.sh)
#
# Stop it with: kill "$(cat /tmp/redpoint-versitygw/pid)"
set -euo pipefail

version=v1.8.0
host=127.0.0.1
port=7070
bucket=redpoint-test
access=redpoint-test
secret=redpoint-test-secret
dir=/tmp/redpoint-versitygw
bin="${XDG_CACHE_HOME:-$HOME/.cache}/redpoint/versitygw-$version/versitygw"
url="http://$access:$secret@$host:$port/$bucket?lookup=path"

# answers: anything at all answers HTTP on the port.
answers() { curl -s -o /dev/null --max-time 2 "http://$host:$port/"; }

# The posix backend serves each directory under root as a bucket: making
# the directory makes the bucket, also for a server already running.
mkdir -p "$dir/root/$bucket" "$dir/meta"
chmod 0700 "$dir"

if ! answers; then
  if [ ! -x "$bin" ]; then
    echo "s3-server: building versitygw $version (once; 3-4 minutes)" >&2
    (cd / && GOBIN="$(dirname "$bin")" GOFLAGS= go install "github.com/versity/versitygw/cmd/versitygw@$version" >&2)
  fi
  echo "s3-server: starting versitygw on $host:$port (files in $dir, log $dir/log)" >&2
  # setsid: the server outlives this script and the shell that ran it.
  setsid "$bin" --access "$access" --secret "$secret" --port "$host:$port" --quiet \
    posix --sidecar "$dir/meta" --dir-perms 0700 --file-perms 0600 "$dir/root" \
    </dev/null >"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
fi

deadline=$((SECONDS + 60))
until answers; do
  if ! kill -0 "$(cat "$dir/pid" 2>/dev/null || echo 0)" 2>/dev/null; then
    echo "s3-server: versitygw exited; its log:" >&2
    tail -30 "$dir/log" >&2 || true
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "s3-server: versitygw did not answer within 60 s; its log:" >&2
    tail -30 "$dir/log" >&2 || true
    exit 1
  fi
  sleep 0.2
done
echo "$url"
