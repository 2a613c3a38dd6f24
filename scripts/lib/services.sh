# shellcheck shell=bash
# podman (Docker API), the local registry, arm64 emulation and the bootstrap repository's
# HTTP server (sourced by scripts/setup).

CONTAINERS_CONF=/etc/containers/containers.conf
REGISTRIES_CONF=/etc/containers/registries.conf.d/50-buildkit-local.conf

# podman's default rlimits exceed what this process may set (no CAP_SYS_RESOURCE), and the
# API service lowers its own process limit at start (to 32768 here): ask for at most 16384,
# and never more than this shell's hard limit.
_limit() {
  local hard
  hard=$(ulimit -H "$1")
  if [ "$hard" = unlimited ] || [ "$hard" -gt 16384 ]; then
    hard=16384
  fi
  echo "$hard"
}

containers_conf() {
  local nofile nproc
  nofile=$(_limit -n)
  nproc=$(_limit -u)
  cat <<EOF
# Written by buildkit's scripts/setup.
[containers]
# podman's defaults exceed the hard limits of this machine's processes.
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
# crun fails on these machines ("cgroups in hybrid mode not supported").
runtime = "runc"
EOF
}

registries_conf() {
  cat <<EOF
# Written by buildkit's scripts/setup: the local registry speaks plain HTTP.
[[registry]]
location = "$REGISTRY_ADDR"
insecure = true

[[registry]]
location = "localhost:5000"
insecure = true
EOF
}

podman_answers() { curl -fsS -o /dev/null --max-time 2 --unix-socket "$PODMAN_SOCK" http://d/_ping 2>/dev/null; }

setup_podman() {
  local changed=()
  if ! containers_conf | cmp -s - "$CONTAINERS_CONF" 2>/dev/null; then
    need_root "configuring podman"
    mkdir -p "$(dirname "$CONTAINERS_CONF")"
    containers_conf | write_if_changed "$CONTAINERS_CONF" && changed+=("$CONTAINERS_CONF")
  fi
  if ! registries_conf | cmp -s - "$REGISTRIES_CONF" 2>/dev/null; then
    need_root "configuring podman"
    mkdir -p "$(dirname "$REGISTRIES_CONF")"
    registries_conf | write_if_changed "$REGISTRIES_CONF" && changed+=("$REGISTRIES_CONF")
  fi
  # The API service reads its configuration once, at start.
  if [ ${#changed[@]} -eq 0 ] && podman_answers; then
    step podman "ok ($PODMAN_SOCK)"
    return
  fi
  need_root "starting the podman API service"
  mkdir -p "$RUN_DIR"
  rm -f "$PODMAN_SOCK"
  start_daemon podman podman_answers podman system service --time=0 "unix://$PODMAN_SOCK"
  step podman "started ($PODMAN_SOCK, pid $(cat "$RUN_DIR/podman.pid"))${changed:+, wrote ${changed[*]}}"
}

registry_conf() {
  cat <<EOF
# Written by buildkit's scripts/setup. Storage lives in the machine cache, so pushed images
# survive a reboot of the registry.
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $BUILDKIT_CACHE/registry/data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
EOF
}

registry_answers() { http_ok "http://$REGISTRY_ADDR/v2/"; }

setup_registry() {
  local conf=$BUILDKIT_CACHE/registry/config.yml conf_changed=""
  mkdir -p "$BUILDKIT_CACHE/registry/data"
  registry_conf | write_if_changed "$conf" && conf_changed=1
  if [ -z "$conf_changed" ] && registry_answers; then
    step registry "ok (http://$REGISTRY_ADDR)"
    return
  fi
  mkdir -p "$RUN_DIR"
  if [ -n "$conf_changed" ] && [ ! -f "$RUN_DIR/registry.pid" ] && registry_answers; then
    # Someone else's registry holds the port: use it rather than fight over it.
    step registry "ok (http://$REGISTRY_ADDR, not started by setup: $conf not applied)"
    return
  fi
  start_daemon registry registry_answers docker-registry serve "$conf"
  step registry "started (http://$REGISTRY_ADDR, pid $(cat "$RUN_DIR/registry.pid"))"
}

BINFMT_DIR=/proc/sys/fs/binfmt_misc
# Emulate the other of the two archs buildkit builds (arm64 on amd64 hosts and vice versa).
case $(uname -m) in
  x86_64) FOREIGN_ARCH=aarch64 ;;
  aarch64) FOREIGN_ARCH=x86_64 ;;
  *) FOREIGN_ARCH=aarch64 ;;
esac
QEMU_NAME=qemu-$FOREIGN_ARCH
QEMU_BIN=/usr/bin/qemu-$FOREIGN_ARCH-static

# Flags as tonistiigi/binfmt registers them: F opens the interpreter now, so foreign binaries
# also run inside containers whose root file system has no qemu; P preserves argv[0], which
# multi-call binaries (busybox applets called by bare name) need (qemu >= 6.1 reads it from
# AT_FLAGS, no wrapper); O and C pass the open binary and take its credentials (setuid).
QEMU_FLAGS=POCF
binfmt_ok() {
  local entry=$BINFMT_DIR/$QEMU_NAME
  [ -f "$entry" ] && grep -qx enabled "$entry" && grep -qx "interpreter $QEMU_BIN" "$entry" &&
    grep -qx "flags: $QEMU_FLAGS" "$entry"
}

setup_binfmt() {
  if binfmt_ok; then
    step binfmt "ok ($QEMU_NAME, flags $QEMU_FLAGS)"
    return
  fi
  need_root "registering $FOREIGN_ARCH emulation"
  if [ ! -f "$BINFMT_DIR/register" ]; then
    mount -t binfmt_misc binfmt_misc "$BINFMT_DIR"
  fi
  if [ -f "$BINFMT_DIR/$QEMU_NAME" ]; then
    echo -1 >"$BINFMT_DIR/$QEMU_NAME" # registered differently (other flags or qemu): replace it
  fi
  local conf=/usr/lib/binfmt.d/$QEMU_NAME.conf line
  line=$(grep -m1 "^:$QEMU_NAME:" "$conf") || die "no $QEMU_NAME line in $conf (qemu-user-static)"
  # :name:type:offset:magic:mask:interpreter:flags (magic and mask are \x-escaped: no colons).
  # Debian's line names a wrapper script (absent inside containers); the static binary handles P.
  line=$(awk -F: -v OFS=: -v interp="$QEMU_BIN" -v flags="$QEMU_FLAGS" \
    '{ $7 = interp; $8 = flags; print }' <<<"$line")
  printf '%s' "$line" >"$BINFMT_DIR/register"
  binfmt_ok || die "binfmt registration of $QEMU_NAME did not take"
  step binfmt "registered $QEMU_NAME ($QEMU_BIN, flags $QEMU_FLAGS)"
}

BOOTSTRAP_URL=http://$BOOTSTRAP_ADDR/os
BOOTSTRAP_KEY_NAME=buildkit-bootstrap.rsa.pub

# Answering is not enough: it must serve this cache's repository (same key as on disk).
bootstrap_answers() {
  curl -fsS --max-time 2 "$BOOTSTRAP_URL/$BOOTSTRAP_KEY_NAME" 2>/dev/null |
    cmp -s - "$BUILDKIT_CACHE/bootstrap/www/os/$BOOTSTRAP_KEY_NAME"
}

setup_bootstrap_server() {
  if bootstrap_answers; then
    step http "ok ($BOOTSTRAP_URL)"
    return
  fi
  mkdir -p "$RUN_DIR"
  # http.server answers If-Modified-Since with 304: the revalidation path real mirrors take.
  start_daemon bootstrap-http bootstrap_answers "$VENV/bin/python" -m http.server \
    --bind "${BOOTSTRAP_ADDR%:*}" --directory "$BUILDKIT_CACHE/bootstrap/www" "${BOOTSTRAP_ADDR#*:}"
  step http "started ($BOOTSTRAP_URL, pid $(cat "$RUN_DIR/bootstrap-http.pid"))"
}
