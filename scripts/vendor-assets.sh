#!/usr/bin/env bash
# Vendor the dashboard's chart library: Apache ECharts from the npm registry, pinned by version
# and by the tarball's sha512 (the registry's "integrity"), unpacked into an ignored folder that
# the query API serves as a static file. Nothing is fetched when the dashboard runs: no CDN.
#
# Usage: scripts/vendor-assets.sh            (idempotent; re-checks the checksum of the copy)
set -euo pipefail
cd "$(dirname "$0")/.."

ECHARTS_VERSION=6.1.0
ECHARTS_SHA512=q0yaFPggC9FUdsWH4blavRWFmxdrIodbkoKNAjJudAI6CA9gNPxHtV2RcZNEepZVlk4yvBYkOkbk6HIVpIyHZA==
# sha256 of dist/echarts.min.js inside that tarball: checks the served copy itself.
ECHARTS_MIN_SHA256=b66b25aeb4df84e33199dc21694014d336d222cbd9deb0e5a7c14bd6aa0d0fd0

CACHE=.cache/npm
VENDOR=query_api/dashboard/vendor
TARBALL="$CACHE/echarts-$ECHARTS_VERSION.tgz"
TARGET="$VENDOR/echarts.min.js"

if [ -f "$TARGET" ] && echo "$ECHARTS_MIN_SHA256  $TARGET" | sha256sum --check --status; then
  exit 0
fi
mkdir -p "$CACHE" "$VENDOR"
if [ ! -f "$TARBALL" ]; then
  (cd "$CACHE" && npm pack --silent "echarts@$ECHARTS_VERSION" > /dev/null)
fi
got=$(openssl dgst -sha512 -binary "$TARBALL" | base64 -w0)
if [ "$got" != "$ECHARTS_SHA512" ]; then
  rm -f "$TARBALL"
  echo "echarts $ECHARTS_VERSION: tarball checksum mismatch (got sha512-$got)" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$TARBALL" -C "$tmp" package/dist/echarts.min.js package/LICENSE
echo "$ECHARTS_MIN_SHA256  $tmp/package/dist/echarts.min.js" | sha256sum --check --status
cp "$tmp/package/dist/echarts.min.js" "$TARGET"
cp "$tmp/package/LICENSE" "$VENDOR/ECHARTS-LICENSE"
echo "vendored echarts $ECHARTS_VERSION into $TARGET"
