#!/usr/bin/env bash
# Copies google/api/{annotations,http,httpbody}.proto out of the Go module
# cache into the git-ignored third_party/googleapis, for buf. The module
# github.com/grpc-ecosystem/grpc-gateway@v1.16.0 ships them; the Go module
# proxy is the only network this needs.
set -euo pipefail
cd "$(dirname "$0")/.."
version=v1.16.0
dir=$(go mod download -json "github.com/grpc-ecosystem/grpc-gateway@${version}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$dir/third_party/googleapis/google/api" ] || { echo "googleapis: not found in $dir" >&2; exit 1; }
rm -rf third_party/googleapis
mkdir -p third_party/googleapis/google/api
cp --no-preserve=mode "$dir"/third_party/googleapis/google/api/{annotations,http,httpbody}.proto third_party/googleapis/google/api/
