#!/usr/bin/env bash
# Run every benchmark of docs/benchmarks.md in turn; each prints its figures and exits 0.
#   bash bench/run_all.sh            (about 10-15 minutes on 2 cores)
# Needs: PostgreSQL at 127.0.0.1:5432 (trust auth, admin database `test`; BENCH_POSTGRES_URL
# overrides), wrk (/usr/bin/wrk; installed with apt when missing), psql, and the venv with gunicorn and psutil
# (pip install -e ".[bench]"). It creates and drops the database cm_bench, serves on
# 127.0.0.1 only, and leaves its files (JSON figures, the bundle) in $BENCH_WORK_DIR.
# None of this is a test: nothing here is collected by pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export BENCH_WORK_DIR=${BENCH_WORK_DIR:-/tmp/cm_bench}
mkdir -p "$BENCH_WORK_DIR"
if ! command -v "${WRK:-wrk}" >/dev/null && command -v apt-get >/dev/null; then
  echo "installing wrk (apt)" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get install -y -qq wrk >/dev/null || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null; }
fi
for tool in "${WRK:-/usr/bin/wrk}" psql; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done

echo "== targets 1 and 2: HTTP (bench/http_bench.py)"
"$PY" bench/http_bench.py --json "$BENCH_WORK_DIR/http.json"
echo
echo "== target 3: export of 1,000,000 receipts (bench/export_bench.py)"
"$PY" bench/export_bench.py --json "$BENCH_WORK_DIR/export.json" --bundle "$BENCH_WORK_DIR/bundle.zip"
echo
echo "== target 4: verification of that export (bench/verify_bench.py)"
"$PY" bench/verify_bench.py --json "$BENCH_WORK_DIR/verify.json" --bundle "$BENCH_WORK_DIR/bundle.zip"
