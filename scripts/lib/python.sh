# shellcheck shell=bash
# The project's virtualenv at <project>/.venv (sourced by scripts/setup).

VENV=$ROOT/.venv
VENV_STAMP=$VENV/.buildkit-install.sha256

setup_python() {
  local python=${BUILDKIT_PYTHON:-python3} want have=""
  if ! "$VENV/bin/python" -c '' 2>/dev/null; then
    # Missing, or its interpreter is gone: (re)create it.
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
      die "$python is missing or older than 3.11 (set BUILDKIT_PYTHON)"
    rm -rf "$VENV"
    "$python" -m venv "$VENV" || die "$python -m venv failed (Debian: apt-get install python3-venv)"
    step python "created $VENV"
  fi
  # The install compiles buildkit/apk/_native_index.c in place: a change to it reinstalls too.
  want=$(cat "$ROOT/pyproject.toml" "$ROOT"/buildkit/apk/*.c | sha256sum | cut -d' ' -f1)
  [ -f "$VENV_STAMP" ] && have=$(cat "$VENV_STAMP")
  if [ "$want" = "$have" ]; then
    step python "ok ($VENV)"
    return
  fi
  step python "pip install -e '.[dev]' (pyproject.toml or the C parser changed)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "${ROOT}[dev]" ||
    die "pip install -e '${ROOT}[dev]' failed"
  echo "$want" >"$VENV_STAMP"
}
