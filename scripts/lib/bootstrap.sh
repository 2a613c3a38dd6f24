# shellcheck shell=bash
# The bootstrap repository, the project signing key and the env file (sourced by scripts/setup).

ENV_FILE=$BUILDKIT_CACHE/env

setup_bootstrap_repo() {
  # The generator checks its own stamp (inputs digest) and prints one line either way.
  "$VENV/bin/python" "$ROOT/scripts/bootstrap_repo.py" --cache "$BUILDKIT_CACHE" \
    --busybox "x86_64=$(busybox_dir amd64)/bin/busybox" \
    --busybox "aarch64=$(busybox_dir arm64)/bin/busybox" ||
    die "generating the bootstrap repository failed (see above)"
}

setup_project_key() {
  local key=$ROOT/keys/buildkit.rsa
  if [ -f "$key" ]; then
    step keys "ok (keys/buildkit.rsa)"
    return
  fi
  (cd "$ROOT" && "$VENV/bin/buildkit" keygen >/dev/null) ||
    die "buildkit keygen failed: cannot create keys/buildkit.rsa"
  [ -f "$key" ] || die "buildkit keygen did not create $key"
  step keys "generated keys/buildkit.rsa (git-ignored, never commit it)"
}

# The cosign key pair keys/cosign.key (git-ignored) + keys/cosign.pub for offline signing. Its
# password is random, kept in $BUILDKIT_CACHE/cosign.password (0600); the env file reads it into
# COSIGN_PASSWORD when sourced (the file itself holds no secret).
COSIGN_PASSWORD_FILE=$BUILDKIT_CACHE/cosign.password

setup_cosign_key() {
  local key=$ROOT/keys/cosign.key
  if [ -f "$key" ] && [ -f "$ROOT/keys/cosign.pub" ]; then
    # A pair made before this machine's password (a cache wiped, a checkout copied from another
    # machine) would only fail at publish: say so now. Never replaced: it may be the one to keep.
    local why
    if why=$(cd "$ROOT" && COSIGN_PASSWORD=$(cat "$COSIGN_PASSWORD_FILE" 2>/dev/null) \
      DOCKER_HOST=unix://$PODMAN_SOCK BUILDKIT_COSIGN_IMAGE=$COSIGN_IMAGE \
      "$VENV/bin/buildkit" keygen --cosign --check 2>&1 >/dev/null); then
      step keys "ok (keys/cosign.key opens with the password in $COSIGN_PASSWORD_FILE)"
    else
      why=${why%%$'\n'*}
      step keys "warning: ${why#buildkit: error: }"
      step keys "to start over, move keys/cosign.key and keys/cosign.pub away and run" \
        "scripts/setup again: it makes a new pair with the password in $COSIGN_PASSWORD_FILE"
    fi
    return
  fi
  if [ ! -s "$COSIGN_PASSWORD_FILE" ]; then
    (umask 077 && head -c 24 /dev/urandom | base64 >"$COSIGN_PASSWORD_FILE.tmp") &&
      mv -f "$COSIGN_PASSWORD_FILE.tmp" "$COSIGN_PASSWORD_FILE" ||
      die "cannot write $COSIGN_PASSWORD_FILE"
  fi
  (cd "$ROOT" && COSIGN_PASSWORD=$(cat "$COSIGN_PASSWORD_FILE") DOCKER_HOST=unix://$PODMAN_SOCK \
    BUILDKIT_COSIGN_IMAGE=$COSIGN_IMAGE "$VENV/bin/buildkit" keygen --cosign >/dev/null) ||
    die "buildkit keygen --cosign failed: cannot create keys/cosign.key"
  [ -f "$key" ] || die "buildkit keygen --cosign did not create $key"
  step keys "generated keys/cosign.key (git-ignored, password in $COSIGN_PASSWORD_FILE)"
}

# One file per machine, shared by every checkout: no checkout's .venv goes on PATH here
# (with two checkouts the last setup would win and the other would run the wrong code).
env_file() {
  cat <<EOF
# Written by scripts/setup; sourced by scripts/demo and scripts/test. No secrets here.
# Machine-wide: nothing here names a checkout (put a checkout's .venv/bin on PATH yourself).
export BUILDKIT_CACHE=$BUILDKIT_CACHE
export DOCKER_HOST=unix://$PODMAN_SOCK
export BUILDKIT_APKO_IMAGE=$APKO_IMAGE
export BUILDKIT_MELANGE_IMAGE=$MELANGE_IMAGE
export BUILDKIT_COSIGN_IMAGE=$COSIGN_IMAGE
export BUILDKIT_CRANE_IMAGE=$CRANE_IMAGE
[ -r $COSIGN_PASSWORD_FILE ] && COSIGN_PASSWORD=\$(cat $COSIGN_PASSWORD_FILE) && export COSIGN_PASSWORD
export BUILDKIT_BOOTSTRAP_URL=$BOOTSTRAP_URL
export BUILDKIT_BOOTSTRAP_KEY_URL=$BOOTSTRAP_URL/$BOOTSTRAP_KEY_NAME
export BUILDKIT_RUNTIMES_URL=$RUNTIMES_URL
export BUILDKIT_RUNTIMES_KEY_URL=$RUNTIMES_URL/$RUNTIMES_KEY_NAME
export BUILDKIT_BUSYBOX_AMD64=$(busybox_dir amd64)/bin/busybox
export BUILDKIT_BUSYBOX_ARM64=$(busybox_dir arm64)/bin/busybox
EOF
}

setup_env_file() {
  if env_file | write_if_changed "$ENV_FILE"; then
    step env "wrote $ENV_FILE"
  else
    step env "ok ($ENV_FILE)"
  fi
}
