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

# The store tests need a real PostgreSQL: $SHAPESTOKEN_TEST_DATABASE_URL, else the
# server at 127.0.0.1:5432 as `postgres` (trust auth). When none answers, install
# Debian's, start it and make a password role for the tests; never skip them.
pg_answers() {
  "$VENV/bin/python" - "$1" <<'PY' >/dev/null 2>&1
import asyncio, sys
import asyncpg
async def main():
    connection = await asyncpg.connect(sys.argv[1], timeout=5)
    await connection.close()
asyncio.run(main())
PY
}

ensure_postgres() {
  [ -n "${SHAPESTOKEN_TEST_DATABASE_URL:-}" ] && return
  pg_answers "postgresql://postgres@127.0.0.1:5432/postgres" && return
  local role_url="postgresql://shapestoken_test:shapestoken_test@127.0.0.1:5432/postgres"
  if ! pg_answers "$role_url"; then
    step "PostgreSQL for the store tests (Debian's, started here)"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    [ -n "$version" ] || { echo "no PostgreSQL cluster under /etc/postgresql" >&2; exit 1; }
    $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
    local tries=0
    until $sudo runuser -u postgres -- psql -qAtc 'SELECT 1' >/dev/null 2>&1; do
      tries=$((tries + 1))
      [ "$tries" -lt 30 ] || { echo "PostgreSQL did not start" >&2; exit 1; }
      sleep 1
    done
    $sudo runuser -u postgres -- psql -qc "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'shapestoken_test') THEN
        CREATE ROLE shapestoken_test LOGIN CREATEDB PASSWORD 'shapestoken_test';
      END IF; END \$\$;"
    pg_answers "$role_url" || { echo "cannot connect to PostgreSQL as shapestoken_test" >&2; exit 1; }
  fi
  export SHAPESTOKEN_TEST_DATABASE_URL="$role_url"
}
