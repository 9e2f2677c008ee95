#!/usr/bin/env bash
# The Node.js the apply Job's default image runs (DEFAULT_APPLY_IMAGE in src/apply-job.ts), so the
# tests and benchmarks run the program on the runtime the Job runs it on. From the npm registry's
# node-linux-<arch> package (the release's Linux binary, as the npm package `node` installs it),
# into a cache outside the repository keyed by version, so a fresh clone here reuses it.
#
# Usage: scripts/ensure-node.sh
# Cache: ${XDG_CACHE_HOME:-$HOME/.cache}/jetstream-cdk8s/node/<version>/bin/node
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$(sed -n "s/^export const DEFAULT_APPLY_IMAGE = 'node:\([0-9][0-9.]*\)-alpine';$/\1/p" "$root/src/apply-job.ts")"
if [ -z "$version" ]; then
  echo "no Node.js version in src/apply-job.ts: DEFAULT_APPLY_IMAGE should read 'node:<version>-alpine'" >&2
  exit 1
fi

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/jetstream-cdk8s"
out="$cache_root/node/$version"
[ -x "$out/bin/node" ] && exit 0

case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "no node-linux package for $(uname -m)" >&2; exit 1 ;;
esac
mkdir -p "$cache_root"
# Two runs at once (two clones, two terminals) fetch once: the second waits for the first.
exec 9>"$cache_root/.node.lock"
flock 9
[ -x "$out/bin/node" ] && exit 0

echo "Fetching Node.js $version (node-linux-$arch from the npm registry) into $out (first run only)..." >&2
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# npm checks the tarball against the registry's integrity hash.
(cd "$work" && npm pack --silent "node-linux-$arch@$version" >/dev/null)
tar -xzf "$work/node-linux-$arch-$version.tgz" -C "$work"
reported="$("$work/package/bin/node" --version)"
if [ "$reported" != "v$version" ]; then
  echo "node-linux-$arch@$version holds Node.js $reported, not v$version" >&2
  exit 1
fi
mkdir -p "$out/bin"
mv "$work/package/bin/node" "$out/bin/node.tmp" && mv "$out/bin/node.tmp" "$out/bin/node"
echo "  $out/bin/node ($reported)" >&2
