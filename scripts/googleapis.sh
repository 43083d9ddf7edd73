#!/usr/bin/env bash
# Copies google/api/{annotations,http,httpbody}.proto (and protoc-gen-openapiv2's
# options, for the OpenAPI document's info and security) out of the Go module
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
# protoc-gen-openapiv2's options (the document's info and security scheme),
# from the grpc-gateway v2 module go.mod already pins.
v2=$(go list -m -f '{{.Dir}}' github.com/grpc-ecosystem/grpc-gateway/v2)
mkdir -p third_party/googleapis/protoc-gen-openapiv2/options
cp --no-preserve=mode "$v2"/protoc-gen-openapiv2/options/{annotations,openapiv2}.proto third_party/googleapis/protoc-gen-openapiv2/options/
