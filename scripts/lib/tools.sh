# shellcheck shell=bash
# apko, melange, cosign and crane: static binaries from toolchain/build-tools.sh, in minimal images
# built reproducibly (podman build --timestamp 0) and pushed to the local registry, pinned by
# the digest the registry reports (sourced by scripts/setup).

TOOLS_REPO=$REGISTRY_ADDR/buildkit-tools
IMAGES_DIR=$BUILDKIT_CACHE/images
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
MANIFEST_TYPES="application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"
APKO_IMAGE=""
MELANGE_IMAGE=""
COSIGN_IMAGE=""
CRANE_IMAGE=""

setup_tools() {
  local build=$ROOT/toolchain/build-tools.sh versions=$ROOT/toolchain/versions.env
  if [ ! -f "$build" ] || [ ! -f "$versions" ]; then
    die "toolchain/build-tools.sh or toolchain/versions.env is missing: cannot build apko/melange"
  fi
  # Quick when the binaries are already built; its lines are shown as this step's.
  BUILDKIT_CACHE=$BUILDKIT_CACHE bash "$build" 2>&1 | sed -u "s/^/$(step tools '')/" ||
    die "toolchain/build-tools.sh failed"
  # shellcheck source=/dev/null
  . "$versions"
  local apko_bin=$BUILDKIT_CACHE/tools/apko-$APKO_VERSION/apko
  local melange_bin=$BUILDKIT_CACHE/tools/melange-$MELANGE_VERSION/melange
  [ -x "$apko_bin" ] || die "build-tools.sh left no $apko_bin"
  [ -x "$melange_bin" ] || die "build-tools.sh left no $melange_bin"
  APKO_IMAGE=$(tool_image apko "$APKO_VERSION" "$apko_bin")
  MELANGE_IMAGE=$(tool_image melange "$MELANGE_VERSION" "$melange_bin" /usr/bin/bwrap)
  local cosign_bin=$BUILDKIT_CACHE/tools/cosign-$COSIGN_VERSION/cosign
  local crane_bin=$BUILDKIT_CACHE/tools/crane-$CRANE_VERSION/crane
  [ -x "$cosign_bin" ] || die "build-tools.sh left no $cosign_bin"
  [ -x "$crane_bin" ] || die "build-tools.sh left no $crane_bin"
  COSIGN_IMAGE=$(tool_image cosign "$COSIGN_VERSION" "$cosign_bin")
  CRANE_IMAGE=$(tool_image crane "$CRANE_VERSION" "$crane_bin")
}

# Host files copied into an image, with the shared libraries each needs (as ldd lists them).
with_libraries() {
  local file
  for file in "$@"; do
    echo "$file"
    ldd "$file" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
  done | sort -u
}

# Cheap change detection: file names, sizes and mtimes plus the Containerfile and version.
# Hashing the binaries (tens of MB) on every setup would cost most of its time budget.
image_key() {
  local name=$1 version=$2
  shift 2
  {
    echo "$name $version"
    cat "$ROOT/toolchain/images/$name.Containerfile"
    stat -L -c '%n %s %Y' "$@" "$CA_BUNDLE"
  } | sha256sum | cut -d' ' -f1
}

registry_digest() { # registry_digest REPO REFERENCE: the manifest digest the registry reports
  curl -fsS --max-time 5 -I -H "Accept: $MANIFEST_TYPES" \
    "http://$REGISTRY_ADDR/v2/$1/manifests/$2" 2>/dev/null |
    tr -d '\r' | awk 'tolower($1) == "docker-content-digest:" { print $2 }'
}

# tool_image NAME VERSION BINARY [EXTRA_HOST_FILE...]: prints REGISTRY/buildkit-tools/NAME@sha256:...
tool_image() {
  local name=$1 version=$2 binary=$3
  shift 3
  local files=() stamp=$IMAGES_DIR/$name.stamp key digest="" repo=buildkit-tools/$name
  mapfile -t files < <(with_libraries "$@")
  key=$(image_key "$name" "$version" "$binary" "${files[@]}")
  if [ -f "$stamp" ] && grep -qx "key=$key" "$stamp"; then
    digest=$(sed -n 's/^digest=//p' "$stamp")
    # The stamp is only as good as the registry's storage: check the digest is still there.
    if [ -n "$digest" ] && [ "$(registry_digest "$repo" "$digest")" = "$digest" ]; then
      step tools "ok ($name $version, $digest)" >&2
      echo "$REGISTRY_ADDR/$repo@$digest"
      return
    fi
  fi
  digest=$(build_tool_image "$name" "$version" "$binary" "${files[@]}")
  mkdir -p "$IMAGES_DIR"
  {
    echo "key=$key"
    echo "binary_sha256=$(sha256_of "$binary")"
    for f in "${files[@]}"; do echo "file_sha256=$(sha256_of "$f") $f"; done
    echo "ref=$REGISTRY_ADDR/$repo:$version"
    echo "digest=$digest"
  } | write_if_changed "$stamp" || true
  step tools "pushed $REGISTRY_ADDR/$repo:$version ($digest)" >&2
  echo "$REGISTRY_ADDR/$repo@$digest"
}

# The image's root file system, assembled in a temporary build context (never in the repo).
assemble_rootfs() {
  local rootfs=$1 binary=$2 name=$3 f
  shift 3
  mkdir -p "$rootfs"/{usr/bin,etc/ssl/certs,root,tmp,work}
  chmod 0755 "$rootfs" "$rootfs"/{usr,usr/bin,etc,etc/ssl,etc/ssl/certs,work}
  chmod 0700 "$rootfs/root"
  chmod 1777 "$rootfs/tmp"
  install -m 0755 "$binary" "$rootfs/usr/bin/$name"
  install -m 0644 "$CA_BUNDLE" "$rootfs/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' \
    >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$rootfs/etc/group"
  chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"
  for f in "$@"; do # host files keep their paths (the loader finds libraries where ldd did)
    mkdir -p "$rootfs$(dirname "$f")"
    install -m "$(stat -L -c %a "$f")" "$f" "$rootfs$f"
  done
}

# build_tool_image NAME VERSION BINARY [HOST_FILE...]: builds, pushes, prints the digest.
build_tool_image() {
  local name=$1 version=$2 binary=$3 ctx log tag=$TOOLS_REPO/$1:$2 digest
  shift 3
  mkdir -p "$IMAGES_DIR"
  ctx=$(mktemp -d "$IMAGES_DIR/ctx-$name.XXXXXX")
  log=$IMAGES_DIR/$name.log
  step tools "building $tag" >&2
  assemble_rootfs "$ctx/rootfs" "$binary" "$name" "$@"
  cp "$ROOT/toolchain/images/$name.Containerfile" "$ctx/Containerfile"
  if ! {
    podman build --timestamp 0 --pull=never -t "$tag" -f "$ctx/Containerfile" "$ctx" &&
      podman push --tls-verify=false "$tag"
  } >"$log" 2>&1; then
    rm -rf "$ctx"
    tail -n 20 "$log" >&2
    die "building or pushing $tag failed (log: $log)"
  fi
  rm -rf "$ctx"
  digest=$(registry_digest "buildkit-tools/$name" "$version")
  [ -n "$digest" ] || die "the registry does not report a digest for $tag after the push"
  # Record the digest in the local store too, so `docker run NAME@DIGEST` needs no pull.
  podman pull -q --tls-verify=false "$TOOLS_REPO/$name@$digest" >>"$log" 2>&1 ||
    die "podman pull $TOOLS_REPO/$name@$digest failed (log: $log)"
  echo "$digest"
}
