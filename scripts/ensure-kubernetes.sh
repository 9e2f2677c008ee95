#!/usr/bin/env bash
# Builds the real Kubernetes control plane the tests apply our manifests to: kube-apiserver,
# kube-controller-manager and kubectl from the k8s.io/kubernetes Go module, etcd from its own, and
# Flux's kustomize-controller (which applies a folder of manifests as Flux does), into a cache
# outside the repository keyed by version, so a fresh clone on this machine reuses them.
#
# Usage: scripts/ensure-kubernetes.sh [KUBERNETES_VERSION ...]   (default: every version the tests use)
# Cache: ${XDG_CACHE_HOME:-$HOME/.cache}/jetstream-cdk8s/{kubernetes,etcd,kustomize-controller}/<version>/
set -euo pipefail

# The versions the tests run against: the API cdk8s-plus-28 writes, and the newest release that builds.
KUBERNETES_VERSIONS=(1.28.15 1.37.2)
ETCD_VERSION=3.6.16
# Flux 2.9's kustomize-controller, latest patch.
KUSTOMIZE_CONTROLLER_VERSION=1.9.6

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/jetstream-cdk8s"
mkdir -p "$cache_root"
# Two runs at once (two clones, two terminals) build once: the second waits for the first.
exec 9>"$cache_root/.build.lock"
flock 9

if ! command -v go >/dev/null 2>&1; then
  echo "go is missing: the tests build kube-apiserver and etcd from their Go modules (Go 1.26 or newer)" >&2
  exit 1
fi
export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0

# Writes a throwaway module that requires MODULE@VERSION, so `go build` can build its commands
# without the module's own replace lines (which `go install pkg@version` refuses).
wrapper_module() {
  local dir="$1" module="$2" version="$3"
  printf 'module jetstream-cdk8s/build\n\ngo 1.22\n\nrequire %s %s\n' "$module" "$version" >"$dir/go.mod"
}

# Prints a field of `go mod download -json MODULE@VERSION`: its `Dir` (the unpacked module) or `GoMod`.
module_download() {
  local field="$1" module="$2"
  go mod download -json "$module" | sed -n 's/^\t"'"$field"'": "\(.*\)",$/\1/p'
}

build_etcd() {
  local out="$cache_root/etcd/$ETCD_VERSION"
  [ -x "$out/etcd" ] && return 0
  echo "Building etcd $ETCD_VERSION into $out (first run only, about 2 minutes)..." >&2
  local work
  work="$(mktemp -d)"
  wrapper_module "$work" go.etcd.io/etcd/server/v3 "v$ETCD_VERSION"
  (cd "$work" && go build -trimpath -ldflags='-s -w' -o "$work/etcd" go.etcd.io/etcd/server/v3)
  mkdir -p "$out"
  mv "$work/etcd" "$out/etcd.tmp" && mv "$out/etcd.tmp" "$out/etcd"
  rm -rf "$work"
  echo "Built $out/etcd" >&2
}

build_kubernetes() {
  local version="$1" out="$cache_root/kubernetes/$1"
  local binaries=(kube-apiserver kube-controller-manager kubectl)
  local missing=()
  for binary in "${binaries[@]}"; do
    [ -x "$out/$binary" ] || missing+=("$binary")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "Building Kubernetes $version (${missing[*]}) into $out (first run only, about 10 minutes each)..." >&2
  local work minor="${version#*.}"
  minor="${minor%%.*}"
  work="$(mktemp -d)"
  wrapper_module "$work" k8s.io/kubernetes "v$version"
  # k8s.io/kubernetes points each k8s.io/* staging module at a folder of its own repository; the
  # same code is published as k8s.io/<name> v0.<minor>.<patch>.
  local kube_mod
  kube_mod="$(cd "$work" && module_download GoMod "k8s.io/kubernetes@v$version")"
  {
    echo 'replace ('
    sed -n 's#^\t\(k8s\.io/[a-z0-9-]*\) => \./staging/src/k8s\.io/[a-z0-9-]*$#\t\1 => \1 v0.'"${version#*.}"'#p' "$kube_mod"
    echo ')'
  } >>"$work/go.mod"
  local version_ldflags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    version_ldflags+=" -X $pkg.gitVersion=v$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    version_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  mkdir -p "$out"
  for binary in "${missing[@]}"; do
    echo "  go build k8s.io/kubernetes/cmd/$binary@v$version ..." >&2
    local started=$SECONDS
    (cd "$work" && go build -trimpath -ldflags="-s -w$version_ldflags" -o "$work/$binary" "k8s.io/kubernetes/cmd/$binary")
    mv "$work/$binary" "$out/$binary.tmp" && mv "$out/$binary.tmp" "$out/$binary"
    echo "  built $out/$binary in $((SECONDS - started))s" >&2
  done
  rm -rf "$work"
}

# kustomize-controller points its api module at a folder of its repository (replace ./api), which
# its module zip leaves out: build a copy of the module with the published api module instead. Its
# Kustomization CRD and the CRDs of the sources it watches are copied beside the binary for the
# tests to install.
SOURCE_CRDS=(gitrepositories ocirepositories buckets)
build_kustomize_controller() {
  local out="$cache_root/kustomize-controller/$KUSTOMIZE_CONTROLLER_VERSION" crd complete=1
  [ -f "$out/crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml" ] || complete=0
  for crd in "${SOURCE_CRDS[@]}"; do
    [ -f "$out/crds/source.toolkit.fluxcd.io_$crd.yaml" ] || complete=0
  done
  [ -x "$out/kustomize-controller" ] && [ "$complete" -eq 1 ] && return 0
  echo "Building Flux kustomize-controller $KUSTOMIZE_CONTROLLER_VERSION into $out (first run only, about 5 minutes)..." >&2
  local work module_dir source_version source_dir
  work="$(mktemp -d)"
  module_dir="$(cd "$work" && module_download Dir "github.com/fluxcd/kustomize-controller@v$KUSTOMIZE_CONTROLLER_VERSION")"
  cp -r "$module_dir" "$work/src" && chmod -R u+w "$work/src"
  sed -i '/=> \.\/api$/d' "$work/src/go.mod"
  # The source-controller release whose API this kustomize-controller was built against has the GitRepository CRD.
  source_version="$(sed -n 's#^\tgithub.com/fluxcd/source-controller/api \(v[^ ]*\).*$#\1#p' "$work/src/go.mod")"
  if [ -z "$source_version" ]; then
    echo "kustomize-controller $KUSTOMIZE_CONTROLLER_VERSION: no source-controller/api version in its go.mod" >&2
    exit 1
  fi
  source_dir="$(cd "$work" && module_download Dir "github.com/fluxcd/source-controller@$source_version")"
  local started=$SECONDS
  (cd "$work/src" && go build -trimpath -ldflags='-s -w' -o "$work/kustomize-controller" .)
  mkdir -p "$out/crds"
  cp "$work/src/config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml" "$out/crds/"
  for crd in "${SOURCE_CRDS[@]}"; do
    cp "$source_dir/config/crd/bases/source.toolkit.fluxcd.io_$crd.yaml" "$out/crds/"
  done
  mv "$work/kustomize-controller" "$out/kustomize-controller.tmp" && mv "$out/kustomize-controller.tmp" "$out/kustomize-controller"
  rm -rf "$work"
  echo "Built $out/kustomize-controller in $((SECONDS - started))s" >&2
}

build_etcd
build_kustomize_controller
if [ "$#" -eq 0 ]; then
  set -- "${KUBERNETES_VERSIONS[@]}"
fi
for version in "$@"; do
  build_kubernetes "$version"
done
