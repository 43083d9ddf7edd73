#!/usr/bin/env bash
# Copies the Google API protos the API imports (google/api/annotations, http,
# httpbody, field_behavior) into the git-ignored third_party/googleapis, for
# buf, because the Buf Schema Registry is not reachable: they come from the
# npm package google-proto-files, pinned in tools/package.json (run
# `make tools` first). protoc-gen-openapiv2's options (the OpenAPI
# document's info, security and responses) come from the grpc-gateway v2 Go
# module go.mod already pins.
set -euo pipefail
cd "$(dirname "$0")/.."
src=tools/node_modules/google-proto-files/google/api
[ -f "$src/field_behavior.proto" ] || { echo "googleapis: $src not found; run 'make tools'" >&2; exit 1; }
rm -rf third_party/googleapis
mkdir -p third_party/googleapis/google/api
cp --no-preserve=mode "$src"/{annotations,http,httpbody,field_behavior}.proto third_party/googleapis/google/api/
go mod download github.com/grpc-ecosystem/grpc-gateway/v2 # go list -m prints no Dir for a module not yet downloaded
v2=$(go list -m -f '{{.Dir}}' github.com/grpc-ecosystem/grpc-gateway/v2)
mkdir -p third_party/googleapis/protoc-gen-openapiv2/options
cp --no-preserve=mode "$v2"/protoc-gen-openapiv2/options/{annotations,openapiv2}.proto third_party/googleapis/protoc-gen-openapiv2/options/
