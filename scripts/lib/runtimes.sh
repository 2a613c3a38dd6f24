# shellcheck shell=bash
# The runtime repository (Debian 12's glibc, CPython 3.11, OpenJDK 17 JRE, CA certificates and
# busybox packed as signed APKs by scripts/runtime_repo.py) and its HTTP server on :8041, next
# to the bootstrap repository and served the same way (sourced by scripts/setup).

RUNTIMES_ADDR=127.0.0.1:8041
RUNTIMES_URL=http://$RUNTIMES_ADDR/os
RUNTIMES_KEY_NAME=buildkit-runtimes.rsa.pub

setup_runtime_repo() {
  # The generator checks its own stamp (inputs digest) and prints one line either way. It
  # downloads the .deb files it lacks with apt-get (arm64 is a foreign arch: setup_packages
  # adds it) into $BUILDKIT_CACHE/runtimes/debs.
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    need_root "adding the arm64 architecture (for apt-get download PKG:arm64)"
    dpkg --add-architecture arm64
    apt_logged apt-get update
  fi
  "$VENV/bin/python" "$ROOT/scripts/runtime_repo.py" --cache "$BUILDKIT_CACHE" ||
    die "generating the runtime repository failed (see above)"
}

# Answering is not enough: it must serve this cache's repository (same key as on disk).
runtimes_answer() {
  curl -fsS --max-time 2 "$RUNTIMES_URL/$RUNTIMES_KEY_NAME" 2>/dev/null |
    cmp -s - "$BUILDKIT_CACHE/runtimes/www/os/$RUNTIMES_KEY_NAME"
}

setup_runtime_server() {
  if runtimes_answer; then
    step http "ok ($RUNTIMES_URL)"
    return
  fi
  mkdir -p "$RUN_DIR"
  start_daemon runtimes-http runtimes_answer "$VENV/bin/python" -m http.server \
    --bind "${RUNTIMES_ADDR%:*}" --directory "$BUILDKIT_CACHE/runtimes/www" "${RUNTIMES_ADDR#*:}"
  step http "started ($RUNTIMES_URL, pid $(cat "$RUN_DIR/runtimes-http.pid"))"
}
