#!/usr/bin/env bash
# Fails if the API in the working tree breaks clients of the previous
# commit's API (buf's FILE rules, see buf.yaml). The previous commit is
# HEAD's first parent, or the ref given as $1 (e.g. origin/main).
# third_party/googleapis is not in git, so both sides are built into
# images from the same copy of it (`make googleapis` made it).
set -euo pipefail
cd "$(dirname "$0")/.."
buf=tools/node_modules/.bin/buf
against=${1:-HEAD^1}
if ! git rev-parse -q --verify "$against^{commit}" >/dev/null; then
  git fetch -q --deepen=1 2>/dev/null || true # a shallow clone: fetch the parent
fi
rev=$(git rev-parse -q --verify "$against^{commit}") || {
  echo "buf-breaking: no commit $against to compare with (a repository with one commit has no previous API)" >&2
  exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git archive "$rev" buf.yaml proto | tar -x -C "$tmp"
mkdir -p "$tmp/third_party"
cp -r third_party/googleapis "$tmp/third_party/"
(cd "$tmp" && "$OLDPWD/$buf" build -o previous.binpb)
"$buf" breaking --against "$tmp/previous.binpb"
echo "buf breaking: no breaking change against ${rev:0:12}"
