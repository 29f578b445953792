#!/usr/bin/env bash
# Makes the real node's cluster DNS server, CoreDNS, available and prints the directory holding it (a static
# binary named `coredns`) as the LAST line of stdout (all logging goes to stderr):
#
#   DIR=$(bash hack/coredns/build.sh)          # builds when missing (a few minutes from empty Go caches)
#   DIR=$(bash hack/coredns/build.sh --check)  # never builds: exit 1 (and print nothing) when missing
#   KEY=$(bash hack/coredns/build.sh --key)    # the cache key only (no build, no network)
#
# Built from this directory's Go module: main.go is CoreDNS's main with a trimmed plugin set (the upstream
# main imports every plugin, cloud providers' SDKs included), go.mod pins github.com/coredns/coredns and
# go.sum every dependency. Output: <cache>/<key>/coredns, where <cache> is
# ${XDG_CACHE_HOME:-$HOME/.cache}/retrodiction-operator/coredns (override with RETRODICTION_COREDNS_CACHE)
# and <key> is coredns-<version>_<hash of go.mod, go.sum, main.go and `go version`>: a change to any of them
# builds anew, anything else finds the binary in place without running the Go toolchain's build.
# The directory is only ever created by renaming a complete staging dir (<cache>/.partial-*) into place, so an
# interrupted build never leaves a half cache; concurrent runs serialize on a lock file.
# CGO_ENABLED=0 (static), -trimpath, GOTOOLCHAIN=local, -mod=readonly (the checked-in go.sum pins every
# dependency), nice -n 19. To bump CoreDNS: edit the version in go.mod, run
# `GOFLAGS=-mod=mod go mod tidy` here, and check the go.mod/go.sum diff in.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INPUTS=(go.mod go.sum main.go)

log() { echo "coredns: $*" >&2; }
die() { log "error: $*"; exit 1; }

command -v go >/dev/null || die "go is not on PATH (needed to build CoreDNS)"
VERSION=$(sed -n 's#^require github\.com/coredns/coredns \(v[0-9][^ ]*\)$#\1#p' "$HERE/go.mod")
[[ -n $VERSION ]] || die "no 'require github.com/coredns/coredns vX.Y.Z' line in $HERE/go.mod"
key_hash=$(
  cd "$HERE"
  for f in "${INPUTS[@]}"; do printf '%s\n' "$f"; sha256sum <"$f"; done
  GOTOOLCHAIN=local go version
) || die "cannot read ${INPUTS[*]} in $HERE"
KEY="coredns-${VERSION}_$(printf '%s' "$key_hash" | sha256sum | cut -c1-16)"
CACHE_ROOT=${RETRODICTION_COREDNS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/retrodiction-operator/coredns}
TARGET=$CACHE_ROOT/$KEY

ready() { [[ -f $TARGET/coredns && -x $TARGET/coredns ]]; }

case ${1:-} in
  "") ;;
  --check) if ready; then echo "$TARGET"; exit 0; else exit 1; fi ;;
  --key) echo "$KEY"; exit 0 ;;
  *) die "usage: $0 [--check|--key]" ;;
esac

if ready; then echo "$TARGET"; exit 0; fi

mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.lock"
if ! flock -n 9; then log "waiting for another build of CoreDNS (lock $CACHE_ROOT/.lock)"; flock 9; fi
if ready; then echo "$TARGET"; exit 0; fi   # another run finished it meanwhile

partial=$(mktemp -d "$CACHE_ROOT/.partial-$KEY.XXXXXX")
trap 'rm -rf "$partial"' EXIT
log "building CoreDNS $VERSION into $TARGET (go: $(GOTOOLCHAIN=local go env GOVERSION); nice -n 19)"
t0=$(date +%s.%N)
# GitCommit is what `coredns -version` reports as the commit: unknown from a module zip, so the module version.
(cd "$HERE" && CGO_ENABLED=0 GOTOOLCHAIN=local GOWORK=off nice -n 19 \
  go build -mod=readonly -trimpath -buildvcs=false \
    -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=module-$VERSION" \
    -o "$partial/coredns" .) || die "building CoreDNS failed"
reported=$("$partial/coredns" -version | head -1)
[[ $reported == "CoreDNS-${VERSION#v}" ]] || die "built coredns reports '$reported', expected CoreDNS-${VERSION#v}"
plugins=$("$partial/coredns" -plugins)
for p in $(sed -n 's/^[[:space:]]*"\([a-z_0-9]*\)",$/\1/p' "$HERE/main.go"); do
  grep -qxE "(  dns\.)?$p" <<<"$plugins" || die "built coredns lacks the plugin $p (coredns -plugins: $plugins)"
done
chmod 755 "$partial"         # mktemp made it 0700
rm -rf "$TARGET"             # an incomplete or broken earlier dir (a complete one returned above)
mv -T "$partial" "$TARGET"   # rename(2): atomic
trap - EXIT
size=$(stat -c %s "$TARGET/coredns")
log "$(awk -v t0="$t0" -v t1="$(date +%s.%N)" -v s="$size" \
  'BEGIN { printf "CoreDNS: built in %.1f s, %d bytes (%.1f MiB)", t1 - t0, s, s / 1048576 }')"
echo "$TARGET"
