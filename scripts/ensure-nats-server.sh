#!/usr/bin/env bash
# The nats-server releases the tests run against: Debian's 2.9.10 (the oldest line we support),
# and the latest patch of each line from 2.10 up, built with `go install` from the nats-server Go
# module into a cache outside the repository keyed by version, so a fresh clone here reuses them.
#
# Usage: scripts/ensure-nats-server.sh
# Cache: ${XDG_CACHE_HOME:-$HOME/.cache}/jetstream-cdk8s/nats-server/<version>/nats-server
set -euo pipefail

# Keep in step with NATS_SERVER_RELEASES in test/support/nats-server.ts and src/versions.ts (test/support.test.ts checks).
NATS_SERVER_VERSIONS=(2.10.27 2.11.17 2.12.15 2.14.10 2.15.3)

if ! command -v nats-server >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "nats-server is missing; install it with: sudo apt-get install -y nats-server" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq nats-server >/dev/null
  nats-server --version
fi

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/jetstream-cdk8s"
mkdir -p "$cache_root"
# Two runs at once (two clones, two terminals) build once: the second waits for the first.
exec 9>"$cache_root/.nats-server.lock"
flock 9

missing=()
for version in "${NATS_SERVER_VERSIONS[@]}"; do
  [ -x "$cache_root/nats-server/$version/nats-server" ] || missing+=("$version")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if ! command -v go >/dev/null 2>&1; then
  echo "go is missing: the tests build nats-server ${missing[*]} from its Go module (Go 1.26 or newer)" >&2
  exit 1
fi
# GOTOOLCHAIN=local: build with this machine's Go, never download the toolchain a go.mod suggests.
export GOTOOLCHAIN=local GOFLAGS="-buildvcs=false" CGO_ENABLED=0
echo "Building nats-server ${missing[*]} into $cache_root/nats-server (first run only, about a minute each)..." >&2
for version in "${missing[@]}"; do
  out="$cache_root/nats-server/$version"
  work="$(mktemp -d)"
  started=$SECONDS
  echo "  go install github.com/nats-io/nats-server/v2@v$version ..." >&2
  GOBIN="$work" go install -trimpath -ldflags='-s -w' "github.com/nats-io/nats-server/v2@v$version"
  mkdir -p "$out"
  mv "$work/nats-server" "$out/nats-server.tmp" && mv "$out/nats-server.tmp" "$out/nats-server"
  rm -rf "$work"
  echo "  built $out/nats-server ($("$out/nats-server" --version)) in $((SECONDS - started))s" >&2
done
