#!/usr/bin/env bash
# Makes the lint tools that come from Go modules available, and prints the directory holding them as the LAST
# line of stdout (all logging goes to stderr):
#
#   BIN=$(bash hack/tools/build.sh)          # builds when missing (about 20 s from empty Go caches)
#   BIN=$(bash hack/tools/build.sh --check)  # never builds: exit 1 (and print nothing) when missing
#
# Tools: actionlint (lints .github/workflows; tests/unit/test_workflows.py runs it), built with
# `go install github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION` into
# <cache>/actionlint-<version>/, where <cache> is ${XDG_CACHE_HOME:-$HOME/.cache}/retrodiction-operator/tools
# (override with RETRODICTION_TOOLS_CACHE): outside the clone, reused by every clone on the machine.
# The directory is only ever created by renaming a complete staging dir (<cache>/.partial-*) into place, so an
# interrupted build never leaves a half cache; concurrent runs serialize on a lock file.
# The build is reproducible from the module proxy: the module's own go.sum pins its dependencies and the Go
# checksum database verifies the module; CGO_ENABLED=0, -trimpath, GOTOOLCHAIN=local.
set -euo pipefail

ACTIONLINT_VERSION=v1.7.12

CACHE_ROOT=${RETRODICTION_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/retrodiction-operator/tools}
TARGET=$CACHE_ROOT/actionlint-$ACTIONLINT_VERSION

log() { echo "tools: $*" >&2; }
die() { log "error: $*"; exit 1; }
ready() { [[ -f $TARGET/actionlint && -x $TARGET/actionlint ]]; }

case ${1:-} in
  "") ;;
  --check) if ready; then echo "$TARGET"; exit 0; else exit 1; fi ;;
  *) die "usage: $0 [--check]" ;;
esac

if ready; then echo "$TARGET"; exit 0; fi

mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.lock-actionlint"
if ! flock -n 9; then log "waiting for another build of actionlint (lock $CACHE_ROOT/.lock-actionlint)"; flock 9; fi
if ready; then echo "$TARGET"; exit 0; fi   # another run finished it meanwhile

command -v go >/dev/null || die "go is not on PATH (needed to build actionlint $ACTIONLINT_VERSION)"
partial=$(mktemp -d "$CACHE_ROOT/.partial-actionlint-$ACTIONLINT_VERSION.XXXXXX")
trap 'rm -rf "$partial"' EXIT
log "building actionlint $ACTIONLINT_VERSION into $TARGET (go: $(go env GOVERSION))"
t0=$(date +%s.%N)
# Outside any module (cd into the staging dir), so no go.mod or go.work of the caller can interfere.
(cd "$partial" && GOBIN="$partial" CGO_ENABLED=0 GOTOOLCHAIN=local GOWORK=off GOFLAGS=-buildvcs=false \
  go install -trimpath -ldflags "-s -w" "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION") \
  || die "building actionlint failed"
version=$("$partial/actionlint" -version | head -1)
[[ $version == "$ACTIONLINT_VERSION" ]] || die "built actionlint reports version '$version', expected $ACTIONLINT_VERSION"
chmod 755 "$partial"         # mktemp made it 0700
rm -rf "$TARGET"             # an incomplete or broken earlier dir (a complete one returned above)
mv -T "$partial" "$TARGET"   # rename(2): atomic
trap - EXIT
log "$(awk -v t0="$t0" -v t1="$(date +%s.%N)" 'BEGIN { printf "actionlint: built in %.1f s", t1 - t0 }')"
echo "$TARGET"
