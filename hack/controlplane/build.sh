#!/usr/bin/env bash
# Makes the local control-plane binaries available for the end-to-end tests:
#   etcd kube-apiserver kube-controller-manager kubectl helm
# and prints the directory holding them as the LAST line of stdout (all logging goes to stderr):
#
#   BIN=$(bash hack/controlplane/build.sh)
#
# With --node it builds the real node's binaries instead (kubelet kube-proxy kube-scheduler, from the same
# module and versions), always from source, into <cache>/<key>/node-bin, and prints that directory:
#
#   NODE_BIN=$(bash hack/controlplane/build.sh --node)
#
# Sources, in order:
#   1. $KUBEBUILDER_ASSETS, if it holds all five binaries: printed as is, nothing is built.
#   2. $KUBEBUILDER_ASSETS holding envtest's etcd, kube-apiserver and kubectl only: the missing ones
#      (kube-controller-manager, helm) are built at the pinned versions into
#      <cache>/envtest-<hash of the assets path>_<key>/bin/, next to symlinks to the envtest binaries,
#      and that directory is printed.
#   3. Otherwise <cache>/<key>/bin/, built from the pinned Go modules in this directory (kube/, etcd/,
#      helm/; versions in versions.sh) when missing. Cold build: tens of minutes on 2 cores.
# <cache> is ${XDG_CACHE_HOME:-$HOME/.cache}/retrodiction-operator/controlplane (override with
# RETRODICTION_CONTROLPLANE_CACHE); <key> names the versions, e.g. k8s-v1.34.4_etcd-v3.6.16_helm-v3.19.5.
#
# A cache dir is only ever created by renaming a complete staging dir (<cache>/.partial-<name>) into place,
# so an interrupted build never leaves a half cache; binaries already finished in the staging dir are reused
# by the next run. Concurrent runs serialize on a lock file. Builds run under `nice -n 19`, CGO_ENABLED=0,
# -trimpath, GOTOOLCHAIN=local, -mod=readonly (the checked-in go.sum files pin every dependency).
# Requires Go >= 1.26.0 (etcd v3.6.16's go.mod) and the Go module proxy (or a warm module cache).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.sh
source "$HERE/versions.sh"

ALL=(etcd kube-apiserver kube-controller-manager kubectl helm)
NODE=(kube-scheduler kube-proxy kubelet)
ENVTEST=(etcd kube-apiserver kubectl)
KEY="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_helm-${HELM_VERSION}"
CACHE_ROOT=${RETRODICTION_CONTROLPLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/retrodiction-operator/controlplane}

log() { echo "controlplane: $*" >&2; }
die() { log "error: $*"; exit 1; }

has_all() { # dir names... : true if every name is an executable regular file (symlinks followed)
  local dir=$1 name; shift
  for name in "$@"; do [[ -f $dir/$name && -x $dir/$name ]] || return 1; done
}

# ---------------------------------------------------------------------------------------------------------
# Building

go_build() { # module-dir output package ldflags
  local mod=$1 out=$2 pkg=$3 ldflags=$4
  (cd "$HERE/$mod" && CGO_ENABLED=0 GOTOOLCHAIN=local GOWORK=off nice -n 19 \
    go build -mod=readonly -trimpath -buildvcs=false -ldflags "$ldflags" -o "$out" "$pkg")
}

module_time() { # module-dir module -> its commit time from the module cache (reproducible build date)
  (cd "$HERE/$1" && GOTOOLCHAIN=local GOWORK=off go list -mod=readonly -m -f '{{with .Time}}{{.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' "$2")
}

kube_ldflags() {
  local v=${K8S_VERSION#v} major minor date flags="-s -w" pkg
  major=${v%%.*}; minor=${v#*.}; minor=${minor%%.*}
  date=$(module_time kube k8s.io/kubernetes)
  # The same variables kubernetes' hack/lib/version.sh sets (gitCommit is not known from a module zip;
  # "archive" is what kubernetes reports for builds from a source archive).
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    flags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=archive -X $pkg.buildDate=$date"
  done
  echo "$flags"
}

build_one() { # name output-path
  local name=$1 out=$2 v minor
  case $name in
    kube-apiserver|kube-controller-manager|kubectl|kube-scheduler|kube-proxy|kubelet)
      go_build kube "$out" "./cmd/$name" "$(kube_ldflags)" ;;
    etcd)
      # Version is a constant of go.etcd.io/etcd/api/v3/version; GitSHA is unknown from a module zip.
      go_build etcd "$out" . "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=module-$ETCD_VERSION" ;;
    helm)
      # As helm's Makefile: version, empty metadata (a release), and the Kubernetes version it was built
      # against (client-go v0.X.Y -> 1.X) as the default .Capabilities.KubeVersion and lint target.
      v=$(cd "$HERE/helm" && GOTOOLCHAIN=local GOWORK=off go list -mod=readonly -m -f '{{.Version}}' k8s.io/client-go)
      minor=${v#v0.}; minor=${minor%%.*}
      go_build helm "$out" helm.sh/helm/v3/cmd/helm "-s -w \
        -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
        -X helm.sh/helm/v3/internal/version.metadata= \
        -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
        -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor \
        -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" ;;
    *) die "unknown binary $name" ;;
  esac
}

# populate <name> <build-names...> [-- <name>=<path-to-link>...]
# Fills <cache>/.partial-<name>/bin (resuming), then renames it to <cache>/<name>/bin ($BIN_DIR, default bin).
populate() {
  local cname=$1; shift
  local target=$CACHE_ROOT/$cname/${BIN_DIR:-bin} partial=$CACHE_ROOT/.partial-$cname${BIN_DIR:+-$BIN_DIR}
  local builds=() links=() item b t0 t1 size
  while (($#)); do
    if [[ $1 == -- ]]; then shift; links=("$@"); break; fi
    builds+=("$1"); shift
  done

  mkdir -p "$CACHE_ROOT"
  exec 9>"$CACHE_ROOT/.lock-$cname${BIN_DIR:+-$BIN_DIR}"
  if ! flock -n 9; then log "waiting for another build of $cname (lock $CACHE_ROOT/.lock-$cname)"; flock 9; fi
  if has_all "$target" "${WANTED[@]}"; then return 0; fi   # another run finished it meanwhile

  if ((${#builds[@]})); then command -v go >/dev/null || die "go is not on PATH (needed to build ${builds[*]})"; fi
  if ((${#builds[@]})); then log "building ${builds[*]} into $target (go: $(go env GOVERSION); nice -n 19)"; fi
  mkdir -p "$partial/bin"
  rm -f "$partial"/.tmp-*
  for item in ${links[@]+"${links[@]}"}; do ln -sfn "${item#*=}" "$partial/bin/${item%%=*}"; done
  for b in ${builds[@]+"${builds[@]}"}; do
    if has_all "$partial/bin" "$b"; then log "$b: already built by an interrupted run, reusing"; continue; fi
    t0=$(date +%s.%N)
    build_one "$b" "$partial/.tmp-$b" || die "building $b failed"
    mv -f "$partial/.tmp-$b" "$partial/bin/$b"
    t1=$(date +%s.%N)
    size=$(stat -c %s "$partial/bin/$b")
    log "$(awk -v b="$b" -v t0="$t0" -v t1="$t1" -v s="$size" 'BEGIN { printf "%s: built in %.1f s, %d bytes (%.1f MiB)", b, t1 - t0, s, s / 1048576 }')"
  done
  has_all "$partial/bin" "${WANTED[@]}" || die "internal: $partial/bin is incomplete"
  mkdir -p "$CACHE_ROOT/$cname"
  [[ -e $target || -L $target ]] && rm -rf "$target"   # an incomplete or broken earlier dir
  mv -T "$partial/bin" "$target"                       # rename(2): atomic
  rmdir "$partial" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------------------

WANTED=("${ALL[@]}")
if [[ ${1:-} == --node ]]; then
  WANTED=("${NODE[@]}") BIN_DIR=node-bin
  target=$CACHE_ROOT/$KEY/$BIN_DIR
  if ! has_all "$target" "${WANTED[@]}"; then
    t_start=$(date +%s.%N)
    populate "$KEY" "${WANTED[@]}"
    log "$(awk -v t0="$t_start" -v t1="$(date +%s.%N)" 'BEGIN { printf "node binaries ready in %.1f s", t1 - t0 }')"
  fi
  echo "$target"; exit 0
elif [[ -n ${1:-} ]]; then
  die "unknown argument $1 (usage: build.sh [--node])"
fi

if [[ -n ${KUBEBUILDER_ASSETS:-} ]]; then
  assets=$(realpath -e "$KUBEBUILDER_ASSETS" 2>/dev/null) || die "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS does not exist"
  if has_all "$assets" "${ALL[@]}"; then
    log "using KUBEBUILDER_ASSETS=$assets (all binaries present; nothing built)"
    echo "$assets"; exit 0
  elif has_all "$assets" "${ENVTEST[@]}"; then
    cname="envtest-$(printf '%s' "$assets" | sha256sum | cut -c1-12)_$KEY"
    target=$CACHE_ROOT/$cname/bin
    if ! has_all "$target" "${ALL[@]}"; then
      links=() missing=() cached=()
      for b in "${ALL[@]}"; do
        if has_all "$assets" "$b"; then links+=("$b=$assets/$b")
        elif has_all "$CACHE_ROOT/$KEY/bin" "$b"; then links+=("$b=$CACHE_ROOT/$KEY/bin/$b"); cached+=("$b")
        else missing+=("$b"); fi
      done
      apiserver_version=$("$assets/kube-apiserver" --version 2>/dev/null | sed -n 's/^Kubernetes //p') || true
      log "KUBEBUILDER_ASSETS=$assets holds kube-apiserver ${apiserver_version:-of unknown version};" \
        "adding ${cached[*]:+${cached[*]} (linked from $CACHE_ROOT/$KEY/bin) }${missing[*]:+${missing[*]} (to build) }at $KEY"
      k8s_minor=${K8S_VERSION#v1.}; k8s_minor=${k8s_minor%%.*}
      if [[ $apiserver_version != v1.$k8s_minor.* ]]; then
        log "warning: kube-controller-manager $K8S_VERSION with kube-apiserver ${apiserver_version:-?}: outside the" \
          "supported skew if the apiserver is older than v1.$k8s_minor or more than one minor newer"
      fi
      populate "$cname" ${missing[@]+"${missing[@]}"} -- "${links[@]}"
    fi
    log "using KUBEBUILDER_ASSETS=$assets via $target"
    echo "$target"; exit 0
  else
    log "KUBEBUILDER_ASSETS=$assets lacks one of ${ENVTEST[*]}: ignoring it"
  fi
fi

target=$CACHE_ROOT/$KEY/bin
if ! has_all "$target" "${ALL[@]}"; then
  t_start=$(date +%s.%N)
  populate "$KEY" "${ALL[@]}"
  log "$(awk -v t0="$t_start" -v t1="$(date +%s.%N)" 'BEGIN { printf "ready in %.1f s", t1 - t0 }')"
fi
echo "$target"
