#!/usr/bin/env bash
# Set everything up on a fresh machine, then run the demo or the whole test suite.
#   bash scripts/dev.sh demo   # SQLite in instance/, the demo site, server on 127.0.0.1:5000
#   bash scripts/dev.sh test   # the full test suite (SQLite, PostgreSQL, Chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "cannot run '$*' without root"; return 1; fi
}

setup_python() {
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.installed" want
  want=$(cat setup.cfg pyproject.toml | sha256sum | cut -c1-16)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "installing Python packages"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -e ".[server,scanner,celery,redis,test,bench]"
    echo "$want" >"$stamp"
  fi
}

setup_browser() {
  if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then return; fi
  if command -v apt-get >/dev/null; then
    say "installing Chromium and ChromeDriver (apt)"
    need_root apt-get update -qq
    need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    say "Chromium is missing and apt-get is not available: install chromium and chromedriver"
  fi
}

setup_node() {
  # Only the banner's build (esbuild) needs Node.js; the banner itself has no dependency.
  if ! command -v npm >/dev/null && command -v apt-get >/dev/null; then
    say "installing Node.js (apt)"
    need_root apt-get update -qq
    need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  fi
  if command -v npm >/dev/null && [ ! -x static/banner/node_modules/.bin/esbuild ]; then
    say "installing the banner's build tools (npm ci)"
    (cd static/banner && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

setup_redis() {
  # The Celery tests need Redis on 127.0.0.1:6379; start a local one when none answers.
  if (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then return; fi
  if ! command -v redis-server >/dev/null && command -v apt-get >/dev/null; then
    say "installing Redis (apt)"
    need_root apt-get update -qq
    need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
  if command -v redis-server >/dev/null; then
    say "starting Redis on 127.0.0.1:6379"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  fi
}

case "${1:-}" in
  demo)
    setup_python
    export FLASK_APP=consent_server
    "$VENV/bin/consent-server" db upgrade
    "$VENV/bin/consent-server" sites apply examples/site.yaml
    say "demo: http://127.0.0.1:${PORT:-5000}/demo  (Ctrl-C stops)"
    exec "$VENV/bin/consent-server" run --host 127.0.0.1 --port "${PORT:-5000}"
    ;;
  test)
    setup_python
    setup_browser
    setup_node
    setup_redis
    shift
    "$VENV/bin/ruff" check .
    "$VENV/bin/ruff" format --check .
    set +e
    "$VENV/bin/python" -m pytest "$@"
    code=$?
    set -e
    # pytest exits 5 when it collected no test: that is a failure, not a pass.
    if [ "$code" = 5 ]; then say "no tests were collected"; exit 1; fi
    exit "$code"
    ;;
  setup)
    setup_python
    setup_browser
    setup_node
    ;;
  *)
    echo "usage: bash scripts/dev.sh demo|test|setup [pytest args]" >&2
    exit 2
    ;;
esac
