#!/usr/bin/env bash
# Prints the packages whose tests use a database, Redis or S3 (they import
# storetest, kvtest or objectstest, directly or through apptest): the ones
# `make test-real` runs against the real services. The others' tests do the
# same in the embedded pass, so running them again there would only cost
# CI time (benchhttp's end-to-end run alone is about a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
go list -test -f '{{.ImportPath}} {{join .Deps " "}}' ./... |
  awk '$1 ~ /\.test$/ && / github.com\/changzhi\/redpoint\/service\/(store\/storetest|kv\/kvtest|objects\/objectstest)( |$)/ {
    sub(/\.test$/, "", $1); print $1 }'
