"""Console benchmark: every /admin page over HTTP with N receipts on PostgreSQL, against the
sign-in page in the same run.

    .venv/bin/python bench/console_bench.py [--receipts 1000000] [--requests 40] [--reuse]

Fill (skipped with --reuse when the cached database holds the same fill):

  a database of its own (console_bench, dropped afterwards unless --reuse keeps it) gets the
  schema (`consent-server db upgrade`), four sites (demo-shop, revision 1 then 2, and three
  others), N receipts over 400 days ending yesterday, built as record_consent builds them
  (bench/generate.py's build_record, checked byte for byte against one receipt recorded through
  record_consent) and bulk-loaded with COPY, about one in five a change of mind of an earlier
  consent id, and one consent id with six receipts for the lookup page (six more among the
  unsealed receipts below). They are sealed with
  `consent-server log seal`, the production path, which also fills consent_stats_daily. Then
  --unsealed receipts of the last two hours are loaded and left unsealed (the statistics read
  them from the receipts), and --scans scans per site are stored as a worker stores them
  (store_result), each with cookies and findings.

Measure: the real app under gunicorn on loopback; an auditor token for every site signs in
through the form (CSRF token from the form, CONSENT_CONSOLE_SECURE_COOKIE=false). Each round
GETs every page once, in a rotating order, over one keep-alive connection; the baseline is the
sign-in form of a signed-out client (a template, no database work). Per page: median and p95
in ms, the median's ratio to the baseline's, the CPU time per request in gunicorn and the
app's PostgreSQL backends, and PASS when both median and p95 are < 200 ms.
Pages whose routes do not exist in this checkout (app.url_map) are skipped with a note.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import json
import os
import random
import re
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil
import psycopg
import requests

from bench._common import (
    CONSENT_SERVER,
    PG_ADMIN_URL,
    WORK_DIR,
    consent_server,
    database_url,
    gunicorn,
    machine_note,
    run_measured,
    say,
    server_env,
)
from bench.http_bench import server_cpu

DB = os.environ.get("BENCH_CONSOLE_DB", "console_bench")
STATE = WORK_DIR / "console"
FILL_FILE = STATE / f"{DB}.json"
TARGET_MS = 200.0
DAYS = 400
DEMO = "demo-shop"
# Share of the receipts per site: the demo site and three smaller ones.
SITES = {DEMO: 0.7, "nordic-books": 0.15, "fjall-travel": 0.1, "kafe-logg": 0.05}
# The lookup page's consent id: six receipts of demo-shop spread over the whole log.
LOOKUP_ID = str(uuid.UUID(int=0x5EED_C0DE_0000_4000_8000_0000_0000_0001, version=4))
LOOKUP_RECEIPTS = 6
# A visitor changing their mind reuses a consent id seen recently on the same site.
REPEAT_SHARE = 0.2
FILL_VERSION = 2  # 2: receipts carry the language and gpc columns


# -- filling -----------------------------------------------------------------------------------


def _recreate() -> None:
    """Drop the benchmark database (whatever it held) and create it empty."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DB}"')


@contextlib.contextmanager
def database(reuse: bool) -> Iterator[tuple[str, bool]]:
    """The benchmark database and whether it existed already; dropped afterwards unless reused."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", DB):
        raise ValueError(f"unsafe database name {DB!r}")
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB,)).fetchone()
    if not (reuse and exists):
        _recreate()
    try:
        yield database_url(DB), bool(reuse and exists)
    finally:
        if not reuse:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')


def cached_fill(db_url: str, args: argparse.Namespace) -> dict[str, Any] | None:
    """The fill recorded for the cached database, if it is the one asked for and still there."""
    try:
        fill = json.loads(FILL_FILE.read_text())
    except (OSError, ValueError):
        return None
    wanted = {"version": FILL_VERSION, "receipts": args.receipts, "unsealed": args.unsealed,
              "scans_per_site": args.scans}  # fmt: skip
    if any(fill.get(k) != v for k, v in wanted.items()):
        return None
    with psycopg.connect(db_url) as conn:
        try:
            count = conn.execute("SELECT count(*) FROM consent_receipts").fetchone()[0]
        except psycopg.errors.UndefinedTable:
            return None
    return fill if count == fill["rows"] else None


def apply_sites(app: Any) -> None:
    """The four sites with a scan block; demo-shop gets a second revision."""
    from tests.support.scans import apply, declaration

    with app.app_context():
        for key in SITES:
            # The example's domains: bench/generate.py's page URLs are on them.
            apply(declaration(key))
        changed = declaration(DEMO)
        changed["name"] = changed["name"] + " (2026)"
        apply(changed)


def copy_receipts(app: Any, db_url: str, rows: int, start: dt.datetime, span: dt.timedelta,
                  seed: int) -> float:  # fmt: skip
    """COPY `rows` receipts recorded evenly over [start, start + span); returns seconds."""
    from bench.generate import (
        COPY_COLUMNS,
        USER_AGENTS,
        _payload,
        _uuid4,
        build_record,
        copy_line,
    )
    from consent_server.sites.service import get_revision, get_site_view

    rand = random.Random(seed)
    with app.app_context():
        views = {key: get_site_view(key) for key in SITES}
        revisions = {
            key: [get_revision(view, n) for n in range(1, view.current.number + 1)]
            for key, view in views.items()
        }
    keys, weights = list(SITES), list(SITES.values())
    recent: dict[str, collections.deque[str]] = {k: collections.deque(maxlen=2000) for k in keys}
    lookups = {rows * (i + 1) // (LOOKUP_RECEIPTS + 1) for i in range(LOOKUP_RECEIPTS)}
    ips = [f"{rand.randrange(1, 224)}.{rand.randrange(256)}.{i % 256}.{i % 7}" for i in range(512)]
    ips += [f"2001:db8:{i:x}::{i + 1:x}" for i in range(64)]
    step = span / max(rows, 1)
    started = time.perf_counter()
    with app.app_context(), psycopg.connect(db_url) as conn:
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY consent_receipts ({COPY_COLUMNS}) FROM STDIN") as copy,
        ):
            lines: list[str] = []
            for n in range(rows):
                key = DEMO if n in lookups else rand.choices(keys, weights)[0]
                site, revs = views[key], revisions[key]
                # Revision 1 for the first half of the log, the site's latest after that.
                revision = revs[0] if n < rows // 2 else revs[-1]
                payload = _payload(rand, revision)
                if n in lookups:
                    payload["consent_id"] = LOOKUP_ID
                elif recent[key] and rand.random() < REPEAT_SHARE:
                    payload["consent_id"] = rand.choice(recent[key])
                else:
                    recent[key].append(payload["consent_id"])
                now = start + step * n + dt.timedelta(microseconds=rand.randrange(10**6))
                receipt_id = _uuid4(rand)
                record, decisions = build_record(
                    site,
                    revision,
                    payload,
                    receipt_id=receipt_id,
                    now=now,
                    client_ip=rand.choice(ips),
                    user_agent=rand.choice(USER_AGENTS),
                )
                lines.append(copy_line(site.id, revision.id, record, decisions))
                if len(lines) >= 20_000:
                    copy.write("".join(lines).encode("utf-8"))
                    lines.clear()
            if lines:
                copy.write("".join(lines).encode("utf-8"))
        conn.commit()
    return time.perf_counter() - started


def store_scans(app: Any, per_site: int) -> dict[str, list[int]]:
    """`per_site` finished scans per site, stored by store_result, with cookies and findings."""
    from tests.support.scans import SEVERITIES, cookie, fake_report, finding, finish

    kinds = ("pre_consent", "after_reject", "undeclared", "lifetime_mismatch", "unclassified")
    ids: dict[str, list[int]] = {}
    with app.app_context():
        for key in SITES:
            host = f"www.{key}.example"
            for n in range(per_site):
                cookies = [
                    cookie(f"_bench_{key}_{i}", ("analytics", "marketing", "necessary")[i % 3],
                           domain=host, seconds=86400.0 * (1 + i))
                    for i in range(40 + n % 5)
                ]  # fmt: skip
                findings = [
                    finding(kinds[i % len(kinds)], SEVERITIES[i % len(SEVERITIES)],
                            f"_bench_{key}_{i}", domain=host)
                    for i in range(12 + n % 7)
                ]  # fmt: skip
                report = fake_report(cookies, findings, url=f"https://{host}/")
                ids.setdefault(key, []).append(finish(key, report))
    return ids


def fill(db_url: str, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """Schema, sites, receipts (sealed, then unsealed), scans; returns what was done."""
    from bench.generate import check_against_service
    from consent_server.app import create_app
    from consent_server.sites.service import get_revision, get_site_view

    os.environ.update(env)  # the app built in this process uses the benchmark database
    out: dict[str, Any] = {"version": FILL_VERSION, "receipts": args.receipts,
                           "unsealed": args.unsealed, "scans_per_site": args.scans}  # fmt: skip
    consent_server(["db", "upgrade"], env)
    consent_server(["keys", "list"], env)  # the first signing key, before anything signs
    app = create_app()
    apply_sites(app)
    with app.app_context():
        site = get_site_view(DEMO)
        check_against_service(app, site, get_revision(site, site.current.number))
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    say(f"COPY {args.receipts} receipts over {DAYS} days")
    out["copy_s"] = copy_receipts(
        app, db_url, args.receipts, today - dt.timedelta(days=DAYS), dt.timedelta(days=DAYS), 1
    )
    say(f"  {out['copy_s']:.1f} s; sealing (consent-server log seal)")
    seal = run_measured([CONSENT_SERVER, "log", "seal"], env=env)
    if seal["returncode"] != 0:
        raise RuntimeError(f"log seal failed: {seal['stderr']}")
    out["seal_s"] = seal["wall_s"]
    out["seal_max_rss_mib"] = seal["max_rss_mib"]
    say(f"  sealed in {out['seal_s']:.1f} s; {args.unsealed} unsealed receipts of the last 2 h")
    now = dt.datetime.now(dt.UTC)
    copy_receipts(app, db_url, args.unsealed, now - dt.timedelta(hours=2), dt.timedelta(hours=2), 2)
    say(f"storing {args.scans} scans per site")
    started = time.perf_counter()
    out["scans"] = store_scans(app, args.scans)
    out["scans_s"] = time.perf_counter() - started
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        out["rows"], out["sealed"], out["seals"] = conn.execute(
            "SELECT count(*), count(seal_id), count(DISTINCT seal_id) FROM consent_receipts"
        ).fetchone()
        (out["aggregate_rows"],) = conn.execute(
            "SELECT count(*) FROM consent_stats_daily"
        ).fetchone()
        out["lookup_receipts"] = conn.execute(
            "SELECT count(*) FROM consent_receipts WHERE consent_id = %s", (LOOKUP_ID,)
        ).fetchone()[0]
    return out


# -- measuring ---------------------------------------------------------------------------------


def console_routes(env: dict[str, str]) -> set[str]:
    """The console's URL rules in this checkout (other pages may be added meanwhile)."""
    from consent_server.app import create_app

    os.environ.update(env)
    app = create_app()
    return {re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"<\1>", r.rule) for r in app.url_map.iter_rules()}


def pages(routes: set[str], fill_info: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Page name -> path of every page to time, and notes on the pages skipped."""
    today = dt.datetime.now(dt.UTC).date()
    year = f"since={(today - dt.timedelta(days=364)).isoformat()}&until={today.isoformat()}"
    site = f"/admin/sites/{DEMO}"
    scan_id = fill_info["scans"][DEMO][-1]
    wanted = {
        "site list": ("/admin/", "/admin/"),
        "stats 30 days": (f"{site}/stats", "/admin/sites/<key>/stats"),
        "stats 365 days": (f"{site}/stats?{year}", "/admin/sites/<key>/stats"),
        "stats.csv 365 days": (f"{site}/stats.csv?{year}", "/admin/sites/<key>/stats.csv"),
        "receipts lookup": (f"{site}/receipts?consent_id={LOOKUP_ID}", "/admin/sites/<key>/receipts"),
        "scans of a site": (f"{site}/scans", "/admin/sites/<key>/scans"),
        "scan details": (f"/admin/scans/{scan_id}", "/admin/scans/<scan_id>"),
        "declaration": (f"{site}/declaration", "/admin/sites/<key>/declaration"),
    }  # fmt: skip
    out, notes = {}, []
    for name, (path, rule) in wanted.items():
        if rule in routes:
            out[name] = path
        else:
            notes.append(f"skipped {name}: no route {rule} in this checkout")
    return out, notes


def sign_in(base: str, token: str) -> requests.Session:
    """A session signed in through the console's form."""
    client = requests.Session()
    form = client.get(f"{base}/admin/signin", timeout=30)
    form.raise_for_status()
    match = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if match is None:
        raise RuntimeError("no CSRF token in the sign-in form")
    resp = client.post(
        f"{base}/admin/signin",
        data={"token": token, "csrf_token": match.group(1)},
        allow_redirects=False,
        timeout=30,
    )
    if resp.status_code != 302 or not resp.headers.get("Location", "").endswith("/admin/"):
        raise RuntimeError(f"sign-in refused: {resp.status_code} {resp.text[:300]}")
    return client


def check(name: str, resp: requests.Response) -> None:
    """Each page answers 200 with what it is for (a fast error page would be no figure)."""
    if resp.status_code != 200:
        raise RuntimeError(f"{name}: {resp.status_code} {resp.text[:300]}")
    if name == "receipts lookup" and resp.text.count(LOOKUP_ID) < 1:
        raise RuntimeError("receipts lookup: the consent id's receipts are not on the page")
    if name.startswith("stats.csv") and not resp.text.startswith("scope,"):
        raise RuntimeError("stats.csv: not the statistics CSV")
    if name == "baseline" and 'name="csrf_token"' not in resp.text:
        raise RuntimeError("baseline: not the sign-in form")


def p95(values: list[float]) -> float:
    """The 95th percentile (inclusive method)."""
    return float(statistics.quantiles(values, n=20, method="inclusive")[18])


def backend_pids(monitor: psycopg.Connection) -> list[int]:
    """The PostgreSQL backends the app has open on the benchmark database (not the monitor)."""
    rows = monitor.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (DB,)
    ).fetchall()
    return [int(r[0]) for r in rows]


def process_cpu(pids: list[int]) -> float:
    """CPU seconds used so far by these processes (PostgreSQL backends)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
    return total


def measure(
    base: str, token: str, paths: dict[str, str], requests_n: int, server_pid: int, db_url: str
) -> dict[str, Any]:
    """Every page `requests_n` times (after two warm-ups), rotating the order each round.

    Besides the wall time, each request's CPU time in gunicorn (master and workers) and in the
    app's PostgreSQL backends is read before and after it: requests are sent one at a time, so
    the difference is that request's, and it moves less with the neighbours' load than the wall
    time does. /proc counts in clock ticks (10 ms): the mean over all requests is what is given.
    """
    console = sign_in(base, token)
    anonymous = requests.Session()
    targets = [
        ("baseline", anonymous, "/admin/signin"),
        *((n, console, p) for n, p in paths.items()),
    ]
    times: dict[str, list[float]] = {name: [] for name, _, _ in targets}
    cpu: dict[str, float] = dict.fromkeys(times, 0.0)
    sizes: dict[str, int] = {}
    for name, client, path in targets:
        for _ in range(2):
            resp = client.get(base + path, allow_redirects=False, timeout=60)
            check(name, resp)
            sizes[name] = len(resp.content)
    with psycopg.connect(db_url, autocommit=True) as monitor:
        for r in range(requests_n):
            pids = backend_pids(monitor)
            shift = r % len(targets)
            for name, client, path in targets[shift:] + targets[:shift]:
                before = server_cpu(server_pid) + process_cpu(pids)
                started = time.perf_counter()
                resp = client.get(base + path, allow_redirects=False, timeout=60)
                _ = resp.content
                elapsed = (time.perf_counter() - started) * 1000
                cpu[name] += server_cpu(server_pid) + process_cpu(pids) - before
                check(name, resp)
                times[name].append(elapsed)
    base_median = statistics.median(times["baseline"])
    out = {}
    for name, _, path in targets:
        med, high = statistics.median(times[name]), p95(times[name])
        out[name] = {
            "path": path,
            "median_ms": round(med, 1),
            "p95_ms": round(high, 1),
            "ratio": round(med / base_median, 1),
            "server_cpu_ms": round(cpu[name] * 1000 / requests_n, 1),
            "bytes": sizes[name],
            "pass": med < TARGET_MS and high < TARGET_MS,
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--receipts", type=int, default=1_000_000)
    parser.add_argument("--unsealed", type=int, default=5_000, help="receipts left unsealed")
    parser.add_argument("--scans", type=int, default=20, help="stored scans per site")
    parser.add_argument("--requests", type=int, default=40, help="timed GETs of each page")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--reuse", action="store_true",
                        help=f"keep the filled database ({DB}) and use it again when it matches")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not 1_000 <= args.receipts <= 5_000_000 or not 0 <= args.unsealed <= 100_000:
        parser.error("--receipts must be 1000..5000000 and --unsealed 0..100000")
    if not 1 <= args.scans <= 200 or not 5 <= args.requests <= 1000:
        parser.error("--scans must be 1..200 and --requests 5..1000")
    out: dict[str, Any] = {"machine": machine_note(), "requests": args.requests}
    say(f"machine: {out['machine']}")
    STATE.mkdir(parents=True, exist_ok=True)
    with database(args.reuse) as (db_url, existed):
        env = server_env(db_url, STATE / f"{DB}-keys", CONSENT_CONSOLE_SECURE_COOKIE="false")
        info = cached_fill(db_url, args) if existed else None
        if info is None:
            if existed:
                say(f"the cached {DB} does not match; filling it again")
                _recreate()
            FILL_FILE.unlink(missing_ok=True)
            info = fill(db_url, env, args)
            if args.reuse:
                FILL_FILE.write_text(json.dumps(info))
        else:
            say(f"reusing {DB}: {info['rows']} receipts (filled earlier)")
            info = {**info, "reused": True}
        out["fill"] = info
        say(f"  {info['rows']} receipts, {info['sealed']} sealed in {info['seals']} seals, "
            f"{info['aggregate_rows']} daily aggregate rows")  # fmt: skip
        paths, notes = pages(console_routes(env), info)
        out["skipped"] = notes
        for note in notes:
            say(note)
        consent_server(["db", "upgrade"], env)  # a migration added since the fill
        token = consent_server(
            ["tokens", "create", "--operator", "--role", "auditor", "--label", "bench"], env
        )
        secret = token_secret(token)
        settings = ["--worker-class", "gthread", "--workers", str(args.workers),
                    "--threads", "4", "--log-level", "warning"]  # fmt: skip
        with gunicorn("consent_server.app:create_app()", settings, env, STATE / "gunicorn.log") as (
            port,
            proc,
        ):
            say(f"timing {len(paths)} pages and the baseline, {args.requests} GETs each")
            out["pages"] = measure(
                f"http://127.0.0.1:{port}", secret, paths, args.requests, proc.pid, db_url
            )
    report(out)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


def token_secret(output: str) -> str:
    """The secret in the output of `consent-server tokens create`."""
    match = re.search(r"\bcm_[A-Za-z0-9_\-]+", output)
    if match is None:
        raise RuntimeError(f"no token in: {output}")
    return match.group(0)


def report(out: dict[str, Any]) -> None:
    """The figures on stdout."""
    info = out["fill"]
    print(f"machine: {out['machine']}")
    print(
        f"data: {info['rows']:,} receipts ({info['sealed']:,} sealed in {info['seals']} seals, "
        f"{info['rows'] - info['sealed']:,} unsealed), {info['aggregate_rows']:,} daily "
        f"aggregate rows, {sum(len(v) for v in info['scans'].values())} scans"
        + (
            ""
            if info.get("reused")
            else f"; COPY {info['copy_s']:.0f} s, seal {info['seal_s']:.0f} s"
        )
    )
    base = out["pages"]["baseline"]
    print(f"baseline (sign-in form, signed out): median {base['median_ms']:.1f} ms, "
          f"p95 {base['p95_ms']:.1f} ms; {out['requests']} GETs per page")  # fmt: skip
    print(f"baseline server CPU {base['server_cpu_ms']:.1f} ms/request (gunicorn + PostgreSQL)")
    print(
        f"{'page':<20} {'median ms':>10} {'p95 ms':>8} {'x baseline':>11} {'CPU ms':>7} "
        f"{'bytes':>8}  result"
    )
    for name, item in out["pages"].items():
        if name == "baseline":
            continue
        verdict = "PASS" if item["pass"] else "FAIL"
        print(f"{name:<20} {item['median_ms']:>10.1f} {item['p95_ms']:>8.1f} "
              f"{item['ratio']:>11.1f} {item['server_cpu_ms']:>7.1f} {item['bytes']:>8}  "
              f"{verdict} (< {TARGET_MS:.0f} ms)")  # fmt: skip
    for note in out["skipped"]:
        print(note)


if __name__ == "__main__":
    sys.exit(main())
