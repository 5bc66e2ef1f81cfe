# Shared by scripts/serve and scripts/test.
VENV=${VENV:-.venv}
export DEBIAN_FRONTEND=noninteractive

step() { printf '\n== %s\n' "$*"; }

apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "$@"
}

ensure_venv() {
  [ -x "$VENV/bin/python" ] && return
  step "Python virtual environment in $VENV"
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    # Debian's python3 ships venv separately.
    rm -rf "$VENV"
    apt_install python3-venv
    python3 -m venv "$VENV"
  fi
}
