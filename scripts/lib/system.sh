# shellcheck shell=bash
# Debian packages and the static busybox binaries (sourced by scripts/setup).

APT_PACKAGES=(
  podman runc skopeo   # the engine behind the docker CLI (crun fails here: see docs)
  docker-registry      # the local registry on 127.0.0.1:5000
  qemu-user-static     # arm64 emulation through binfmt_misc
  bubblewrap           # copied into the melange tool image (melange's runner)
  gcc                  # compiles the APKINDEX parser (buildkit/apk/_native_index.c)
  ca-certificates curl python3-venv
)
BUSYBOX_ARCHS=(amd64 arm64)

missing_packages() {
  # One dpkg-query for all: fast enough to run on every setup.
  local installed
  installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${APT_PACKAGES[@]}" 2>/dev/null |
    awk '$2 == "installed" { print $1 }') || true # dpkg-query fails when any is unknown
  local p
  for p in "${APT_PACKAGES[@]}"; do
    grep -qx "$p" <<<"$installed" || echo "$p"
  done
}

# Run an apt command with its chatter in a log; show the end of it when it fails.
apt_logged() {
  local log=$BUILDKIT_CACHE/apt.log
  mkdir -p "$BUILDKIT_CACHE"
  "$@" >>"$log" 2>&1 || {
    tail -n 20 "$log" >&2
    die "$* failed (log: $log)"
  }
}

busybox_dir() { echo "$BUILDKIT_CACHE/busybox/$1"; }

setup_packages() {
  local missing=() need_busybox=() arch
  mapfile -t missing < <(missing_packages)
  for arch in "${BUSYBOX_ARCHS[@]}"; do
    [ -x "$(busybox_dir "$arch")/bin/busybox" ] || need_busybox+=("$arch")
  done
  # The machines come with the docker CLI (a client only); the engine behind it is podman.
  command -v docker >/dev/null || die "the docker CLI is missing (these machines should have it)"
  if [ ${#missing[@]} -eq 0 ] && [ ${#need_busybox[@]} -eq 0 ]; then
    step packages "ok"
    return
  fi
  need_root "installing Debian packages"
  command -v apt-get >/dev/null || die "apt-get not found: this setup expects Debian 12"
  if [ ${#need_busybox[@]} -gt 0 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64 # only to download busybox-static:arm64, never to install it
  fi
  step packages "apt-get update"
  apt_logged apt-get update
  if [ ${#missing[@]} -gt 0 ]; then
    step packages "installing ${missing[*]}"
    apt_logged env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "${missing[@]}"
  fi
  for arch in "${need_busybox[@]}"; do
    fetch_busybox "$arch"
  done
}

# Download busybox-static for ARCH and unpack it into the cache (not installed on the host).
fetch_busybox() {
  local arch=$1 dest tmp deb
  dest=$(busybox_dir "$arch")
  mkdir -p "$BUILDKIT_CACHE/busybox"
  tmp=$(mktemp -d "$BUILDKIT_CACHE/busybox/.tmp.XXXXXX")
  (cd "$tmp" && apt_logged apt-get download -o APT::Sandbox::User=root "busybox-static:$arch")
  deb=$(echo "$tmp"/busybox-static_*.deb)
  [ -f "$deb" ] || die "apt-get download busybox-static:$arch gave no .deb"
  dpkg-deb -x "$deb" "$tmp/root"
  dpkg-deb -f "$deb" Version >"$tmp/root/DEBIAN_VERSION"
  [ -x "$tmp/root/bin/busybox" ] || die "busybox-static:$arch has no /bin/busybox"
  rm -rf "$dest"
  mv "$tmp/root" "$dest"
  rm -rf "$tmp"
  step packages "busybox-static:$arch $(cat "$dest/DEBIAN_VERSION") -> $dest/bin/busybox"
}
