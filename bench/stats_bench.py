"""Statistics benchmark: the console's 90-day report and the API's stats from the daily
aggregates, against the old scan of the receipts, with N sealed receipts on PostgreSQL.

    .venv/bin/python bench/stats_bench.py [--rows 1000000] [--rounds 5] [--json FILE]

A fresh database (cm_bench) gets N valid receipts (bench/generate.py, one every 30 s, so 1M
span about 347 days), sealed with `consent-server log seal`, which fills consent_stats_daily.
Then, in one process and alternating, each query's median over the rounds:

  console:  consent_log/stats.py console_stats(site, last 90 days)
  api:      GET /api/v1/sites/demo-shop/stats?since=&until= (90 days; Flask test client,
            auditor token), and without a range (every day)
  baseline: the scan that site_stats ran before the aggregates (GROUP BY day over the
            receipts, a SUM per method and per category), same ranges

Target: the console's report and the API's call under 200 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import fresh_database, machine_note, say, server_env
from bench.export_bench import build

SITE = "demo-shop"
TARGET_MS = 200.0


def old_scan(site_key: str, since: dt.datetime | None, until: dt.datetime | None) -> dict:
    """The statistics as site_stats computed them before the aggregates: a scan of receipts."""
    from sqlalchemy import case, func, select

    from consent_server.consent_log.models import ConsentReceipt
    from consent_server.consent_log.receipts import METHODS
    from consent_server.extensions import db
    from consent_server.sites.service import get_site_view

    site = get_site_view(site_key)
    categories = list(site.current.categories) if site.current else []
    r = ConsentReceipt
    day = func.to_char(func.timezone("UTC", r.recorded_at), "YYYY-MM-DD").label("day")
    columns = [day, func.count().label("total")]
    columns += [func.sum(case((r.method == m, 1), else_=0)).label(f"m_{m}") for m in METHODS]
    columns += [
        func.sum(case((r.decisions[c].as_boolean(), 1), else_=0)).label(f"c_{i}")
        for i, c in enumerate(categories)
    ]
    query = select(*columns).where(r.site_id == site.id).group_by(day).order_by(day)
    if since is not None:
        query = query.where(r.recorded_at >= since)
    if until is not None:
        query = query.where(r.recorded_at < until)
    return {"buckets": [dict(row) for row in db.session.execute(query).mappings()]}


def timed(fn: Callable[[], Any], rounds: int) -> tuple[float, list[float], Any]:
    """Median and every round's wall time in ms, after one untimed warm-up; the last result."""
    result = fn()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), [round(t, 1) for t in times], result


def measure(env: dict[str, str], rounds: int) -> dict[str, Any]:
    """Every query's timings, in this process, on the database in env."""
    os.environ.update(env)
    from sqlalchemy import func, select

    from consent_server.app import create_app
    from consent_server.consent_log.models import ConsentReceipt, ConsentStatsDaily
    from consent_server.consent_log.stats import console_stats
    from consent_server.extensions import db
    from consent_server.sites.tokens import create_token

    app = create_app()
    with app.app_context():
        # The generated receipts end in the past; the one recorded through the service is now.
        last = db.session.scalar(
            select(ConsentReceipt.recorded_at)
            .order_by(ConsentReceipt.recorded_at.desc())
            .offset(1)
            .limit(1)
        )
        aggregate_rows = db.session.scalar(select(func.count()).select_from(ConsentStatsDaily))
        _token, secret = create_token(SITE, "auditor", "bench")
        db.session.commit()
    until = (last + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    since = until - dt.timedelta(days=90)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    url = f"/api/v1/sites/{SITE}/stats"
    window = {"since": since.isoformat(), "until": until.isoformat()}

    def api(query: dict[str, str]) -> Callable[[], Any]:
        def call() -> Any:
            resp = client.get(url, headers=headers, query_string=query)
            assert resp.status_code == 200, resp.get_json()
            return resp.get_json()

        return call

    def in_app(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
        def call() -> Any:
            with app.app_context():
                return fn(*args)

        return call

    cases = {
        "console_90d": in_app(console_stats, SITE, since, until),
        "api_90d": api(window),
        "api_all": api({}),
        "baseline_90d": in_app(old_scan, SITE, since, until),
        "baseline_all": in_app(old_scan, SITE, None, None),
    }
    out: dict[str, Any] = {"aggregate_rows": aggregate_rows, "range": window}
    for name, fn in cases.items():
        med, rounds_ms, result = timed(fn, rounds)
        out[name] = {"median_ms": round(med, 1), "rounds_ms": rounds_ms}
        say(f"  {name}: {med:.1f} ms median ({rounds_ms})")
        if name == "api_90d":
            out["api_90d_days"] = len(result["buckets"])
            out["api_90d_receipts"] = sum(b["total"] for b in result["buckets"])
        if name == "baseline_90d":
            out["baseline_90d_receipts"] = sum(int(b["total"]) for b in result["buckets"])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5, help="timed runs of each query")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not 1 <= args.rows <= 5_000_000 or not 1 <= args.rounds <= 20:
        parser.error("--rows must be 1..5000000 and --rounds 1..20")
    out: dict[str, Any] = {"machine": machine_note(), "rows": args.rows, "rounds": args.rounds}
    say(f"machine: {out['machine']}")
    with (
        tempfile.TemporaryDirectory(prefix="cm_bench_stats_") as tmp,
        fresh_database() as db_url,
    ):
        env = server_env(db_url, Path(tmp) / "keys")
        out.update(build(args.rows, env, db_url))
        say(f"  {out['sealed']} receipts in {out['seals']} seals, sealed in {out['seal_s']:.1f} s")
        out.update(measure(env, args.rounds))
    if out["api_90d_receipts"] != out["baseline_90d_receipts"]:
        raise SystemExit("the aggregates and the scan disagree on the 90-day range")
    for name in ("console_90d", "api_90d", "api_all"):
        base = out["baseline_all" if name == "api_all" else "baseline_90d"]["median_ms"]
        out[name]["speedup"] = round(base / max(out[name]["median_ms"], 0.001), 1)
        out[name]["pass"] = out[name]["median_ms"] < TARGET_MS
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    print(f"machine: {out['machine']}")
    print(
        f"data: {out['sealed']} receipts, sealed in {out['seal_s']:.1f} s "
        f"(aggregates filled at seal time: {out['aggregate_rows']} daily rows)"
    )
    print(f"range: {out['range']['since']} .. {out['range']['until']} "
          f"({out['api_90d_days']} days, {out['api_90d_receipts']} receipts)")  # fmt: skip
    for name in ("console_90d", "api_90d", "api_all"):
        item = out[name]
        base = "baseline_all" if name == "api_all" else "baseline_90d"
        print(
            f"  {name}: {item['median_ms']:.1f} ms median (target < {TARGET_MS:.0f} ms: "
            f"{'PASS' if item['pass'] else 'FAIL'}); old scan {out[base]['median_ms']:.1f} ms, "
            f"{item['speedup']}x faster"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
