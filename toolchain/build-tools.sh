#!/usr/bin/env bash
# Build the pinned apko, melange, cosign and crane binaries (static, linux/amd64)
# from the Go module proxy, using the build modules in toolchain/go/<tool>/.
#
# Versions come from toolchain/versions.env (the single place they are pinned);
# the go.mod of each build module must require the same version (checked).
#
# Output: $BUILDKIT_CACHE/tools/<tool>-<version>/<tool>
#   BUILDKIT_CACHE defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/buildkit
#
# Idempotent: a tool whose binary already exists and reports the expected
# version is skipped. Builds go to a temporary name and are renamed into place
# atomically. Prints one line per tool; exits non-zero on any failure.
set -euo pipefail

TOOLCHAIN_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VERSIONS_FILE="$TOOLCHAIN_DIR/versions.env"
CACHE_ROOT="${BUILDKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/buildkit}"
TOOLS_DIR="$CACHE_ROOT/tools"
BUILD_TIMEOUT="${BUILDKIT_TOOLS_BUILD_TIMEOUT:-3600}"

die() {
    echo "build-tools: error: $*" >&2
    exit 1
}

[ -f "$VERSIONS_FILE" ] || die "missing $VERSIONS_FILE"
# shellcheck source=/dev/null
. "$VERSIONS_FILE"
: "${APKO_VERSION:?APKO_VERSION not set in $VERSIONS_FILE}"
: "${MELANGE_VERSION:?MELANGE_VERSION not set in $VERSIONS_FILE}"
: "${COSIGN_VERSION:?COSIGN_VERSION not set in $VERSIONS_FILE}"
: "${CRANE_VERSION:?CRANE_VERSION not set in $VERSIONS_FILE}"

command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || die "go toolchain not found (need Go >= 1.26 on PATH or at /usr/local/go)"
command -v go >/dev/null 2>&1 || PATH="/usr/local/go/bin:$PATH"

# Does the binary exist, execute, and report the expected version?
tool_ok() {
    local bin="$1" version="$2" out
    [ -x "$bin" ] || return 1
    out="$("$bin" version 2>&1)" || return 1
    grep -qF -- "$version" <<<"$out"
}

# build_tool TOOL VERSION [MODULE [PACKAGE [LDFLAGS]]]: MODULE is what go.mod requires (default
# chainguard.dev/TOOL), PACKAGE what is built (default MODULE).
build_tool() {
    local tool="$1" version="$2"
    local module="${3:-chainguard.dev/$tool}"
    local package="${4:-$module}"
    local ldflags="${5:-}"
    local moddir="$TOOLCHAIN_DIR/go/$tool"
    local outdir="$TOOLS_DIR/$tool-$version"
    local bin="$outdir/$tool"

    if tool_ok "$bin" "$version"; then
        echo "$tool $version: up to date ($bin)"
        return 0
    fi

    [ -f "$moddir/go.mod" ] || die "$tool: missing build module $moddir/go.mod"
    # The go.mod pin must agree with versions.env.
    local pinned
    pinned="$(awk -v m="$module" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$moddir/go.mod")"
    [ "$pinned" = "$version" ] || die "$tool: versions.env says $version but $moddir/go.mod requires '${pinned:-nothing}'; run: (cd $moddir && go get -tool $module@$version)"

    mkdir -p "$outdir" || die "$tool: cannot create $outdir"
    local tmp="$outdir/.$tool.tmp.$$"
    local log="$outdir/.build.log.$$"
    local start end
    start=$(date +%s)
    echo "$tool $version: building (about 1-2 minutes with a cold Go cache, cosign 5-10)..." >&2
    if ! (
        cd "$moddir" &&
            env CGO_ENABLED=0 GOOS=linux GOARCH=amd64 \
                GOFLAGS="-trimpath -buildvcs=false -mod=readonly" \
                GOWORK=off GOTOOLCHAIN=local \
                timeout "$BUILD_TIMEOUT" go build -ldflags "$ldflags" -o "$tmp" "$package"
    ) >"$log" 2>&1; then
        rm -f "$tmp"
        cat "$log" >&2
        rm -f "$log"
        die "$tool $version: go build failed (see output above)"
    fi
    rm -f "$log"
    if ! tool_ok "$tmp" "$version"; then
        rm -f "$tmp"
        die "$tool $version: built binary does not run or does not report version $version"
    fi
    mv -f "$tmp" "$bin" || { rm -f "$tmp"; die "$tool: cannot move binary into $bin"; }
    end=$(date +%s)
    echo "$tool $version: built in $((end - start))s ($bin)"
}

build_tool apko "$APKO_VERSION"
build_tool melange "$MELANGE_VERSION"
# cosign and crane report the module version from the Go build info.
build_tool cosign "$COSIGN_VERSION" github.com/sigstore/cosign/v3 \
    github.com/sigstore/cosign/v3/cmd/cosign
build_tool crane "$CRANE_VERSION" github.com/google/go-containerregistry \
    github.com/google/go-containerregistry/cmd/crane
