"""Export benchmark (target 3): 1,000,000 sealed receipts exported as JSONL, against COPY.

    .venv/bin/python bench/export_bench.py [--rows 1000000] [--rounds 2] [--keep]

A fresh database (cm_bench) gets N valid receipts (bench/generate.py: the record_consent code,
bulk-loaded with COPY), sealed with `consent-server log seal`. Then, alternating rounds:

  export:   consent-server log export --site demo-shop --format jsonl -o FILE   (a child
            process; wall time, and its peak RSS from wait4)
  baseline: psql -c "COPY (SELECT <the export's rows and columns, in its order>)
            TO STDOUT (FORMAT csv)" > FILE

Target: export time <= 2x the COPY time, peak RSS of the export process < 150 MB. The audit
bundle (--bundle) is also written, timed for information, and kept for bench/verify_bench.py.
The script prints its figures and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench._common import (
    BENCH,
    CONSENT_SERVER,
    WORK_DIR,
    database_url,
    fmt_ratio,
    fresh_database,
    machine_note,
    median,
    prepare_consent_database,
    run_measured,
    say,
    server_env,
)

SITE = "demo-shop"
MAX_RSS_MB = 150.0


def baseline_query(db_url: str) -> str:
    """The export's own rows and columns, in its order, for PostgreSQL's COPY."""
    with psycopg.connect(db_url) as conn:
        site_id = conn.execute("SELECT id FROM sites WHERE key = %s", (SITE,)).fetchone()[0]
        first, last = conn.execute(
            "SELECT min(id), max(id) FROM seals WHERE site_id = %s", (site_id,)
        ).fetchone()
    # As consent_log/export.py _rows: the sealed receipts by (seal_id, leaf_index); nothing is
    # left unsealed here, so its second query (unsealed receipts) returns no row.
    return (
        "COPY (SELECT record, record_hash, receipt_id, purged_at, seal_id, leaf_index "
        f"FROM consent_receipts WHERE site_id = {int(site_id)} "
        f"AND seal_id BETWEEN {int(first)} AND {int(last)} "
        "ORDER BY seal_id, leaf_index) TO STDOUT (FORMAT csv)"
    )


def sealed_counts(db_url: str) -> tuple[int, int]:
    """(sealed receipts, seals) in the database."""
    with psycopg.connect(db_url) as conn:
        sealed, seals = conn.execute(
            "SELECT count(seal_id), count(DISTINCT seal_id) FROM consent_receipts"
        ).fetchone()
    return int(sealed), int(seals)


def build(rows: int, env: dict[str, str], db_url: str) -> dict[str, Any]:
    """Schema and demo site, `rows` receipts (bench/generate.py), sealed by the CLI."""
    prepare_consent_database(env)
    say(f"generating {rows} receipts (COPY)")
    gen = subprocess.run(
        [sys.executable, str(BENCH / "generate.py"), "--rows", str(rows)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if gen.returncode != 0:
        raise RuntimeError(f"generate.py failed:\n{gen.stdout}{gen.stderr}")
    out: dict[str, Any] = {"generate": json.loads(gen.stdout.strip().splitlines()[-1])}
    say(f"  {out['generate']}")
    say("sealing (consent-server log seal)")
    seal = run_measured([CONSENT_SERVER, "log", "seal"], env=env)
    if seal["returncode"] != 0:
        raise RuntimeError(f"log seal failed: {seal['stderr']}")
    out["seal_s"] = seal["wall_s"]
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) consent_receipts")
    out["sealed"], out["seals"] = sealed_counts(db_url)
    return out


def reused(db_url: str) -> dict[str, Any]:
    """What a database left by --keep holds."""
    sealed, seals = sealed_counts(db_url)
    return {"generate": {"rows": sealed, "reused": True}, "seal_s": None, "sealed": sealed,
            "seals": seals}  # fmt: skip


@contextlib.contextmanager
def existing_database() -> Iterator[str]:
    """The benchmark database as --keep left it."""
    url = database_url()
    try:
        with psycopg.connect(url, connect_timeout=5):
            pass
    except psycopg.OperationalError as exc:
        raise SystemExit(f"--reuse: no database {url} ({exc}); run once with --keep") from exc
    yield url


def count_lines(path: Path) -> int:
    """Lines of a file, read in blocks."""
    n = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            n += block.count(b"\n")
    return n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="timed runs of each side")
    parser.add_argument(
        "--keep", action="store_true", help="keep the database (and its keys) afterwards"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="measure again on the database --keep left"
    )
    parser.add_argument(
        "--bundle", type=Path, default=WORK_DIR / "bundle.zip", help="where the bundle goes"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not 1 <= args.rows <= 5_000_000 or not 1 <= args.rounds <= 5:
        parser.error("--rows must be 1..5000000 and --rounds 1..5")
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"machine": machine_note(), "rows": args.rows, "rounds": args.rounds}
    say(f"machine: {out['machine']}")
    export_file = WORK_DIR / "export.jsonl"
    copy_file = WORK_DIR / "copy.csv"
    with (
        tempfile.TemporaryDirectory(prefix="cm_bench_export_") as tmp,
        existing_database() if args.reuse else fresh_database(keep=args.keep) as db_url,
    ):
        # A kept database keeps its signing keys next to it: a bundle needs the seals' keys.
        keys = WORK_DIR / "keys" if args.keep or args.reuse else Path(tmp) / "keys"
        env = server_env(db_url, keys)
        if args.reuse:
            out.update(reused(db_url))
        else:
            out.update(build(args.rows, env, db_url))
        say(f"  {out['sealed']} receipts in {out['seals']} seals")

        query = baseline_query(db_url)

        out["baseline_command"] = f'psql {db_url} -c "{query}" > {copy_file}'
        psql = ["psql", db_url, "-X", "-q", "-o", str(copy_file), "-c", query]
        export = [
            CONSENT_SERVER, "log", "export", "--site", SITE, "--format", "jsonl",
            "-o", str(export_file),
        ]  # fmt: skip
        out["export_command"] = " ".join(["consent-server", *export[1:]])
        say("warm-up: one untimed run of each (the table into the page cache)")
        for cmd in (psql, export):
            res = run_measured(cmd, env=env)
            if res["returncode"] != 0:
                raise RuntimeError(f"{cmd[:3]} failed: {res['stderr']}")
        copies, exports = [], []
        for i in range(args.rounds):
            order = [("copy", psql), ("export", export)]
            for name, cmd in order if i % 2 == 0 else order[::-1]:
                res = run_measured(cmd, env=env)
                if res["returncode"] != 0:
                    raise RuntimeError(f"{name} failed: {res['stderr']}")
                (copies if name == "copy" else exports).append(res)
                say(
                    f"  round {i + 1} {name}: {res['wall_s']:.2f} s wall, "
                    f"{res['cpu_s']:.2f} s CPU, peak RSS {res['max_rss_mib']:.1f} MiB"
                )
        lines = count_lines(export_file)
        ratios = [e["wall_s"] / c["wall_s"] for e, c in zip(exports, copies, strict=True)]
        out.update(
            {
                "export_lines": lines,
                "export_bytes": export_file.stat().st_size,
                "copy_bytes": copy_file.stat().st_size,
                "copy_s": [round(c["wall_s"], 2) for c in copies],
                "export_s": [round(e["wall_s"], 2) for e in exports],
                "export_cpu_s": [round(e["cpu_s"], 2) for e in exports],
                "round_ratios": [round(r, 3) for r in ratios],
                "ratio": median(ratios),
                "copy_s_median": median([c["wall_s"] for c in copies]),
                "export_s_median": median([e["wall_s"] for e in exports]),
                "export_peak_rss_mib": max(e["max_rss_mib"] for e in exports),
            }
        )
        out["pass_time"] = out["ratio"] <= 2.0
        out["pass_rss"] = out["export_peak_rss_mib"] * 1.048576 < MAX_RSS_MB  # MiB -> MB

        say(f"bundle: consent-server log export --site {SITE} --bundle {args.bundle}")
        args.bundle.unlink(missing_ok=True)
        started = time.perf_counter()
        bundle = run_measured(
            [CONSENT_SERVER, "log", "export", "--site", SITE, "--bundle", str(args.bundle)],
            env=env,
        )
        if bundle["returncode"] != 0:
            raise RuntimeError(f"bundle export failed: {bundle['stderr']}")
        out["bundle"] = {
            "path": str(args.bundle),
            "wall_s": time.perf_counter() - started,
            "peak_rss_mib": bundle["max_rss_mib"],
            "bytes": args.bundle.stat().st_size,
        }
        if args.json:
            args.json.write_text(json.dumps(out, indent=2))
    export_file.unlink(missing_ok=True)
    copy_file.unlink(missing_ok=True)

    print(f"machine: {out['machine']}")
    if out["seal_s"] is None:
        print(f"data: {out['sealed']} receipts in {out['seals']} seals (reused database)")
    else:
        print(
            f"data: {out['generate']['rows']} receipts generated+COPY in "
            f"{out['generate']['generate_and_copy_s']:.1f} s, sealed into {out['seals']} seals "
            f"in {out['seal_s']:.1f} s"
        )
    print("target 3 - JSONL export vs PostgreSQL COPY (FORMAT csv) of the same rows/columns")
    print(f"  export:   {out['export_command']}")
    print(f"            {out['export_s_median']:.2f} s median (rounds {out['export_s']} s, "
          f"CPU {out['export_cpu_s']} s), {out['export_lines']} lines, "
          f"{out['export_bytes'] / 1e6:.0f} MB")  # fmt: skip
    print(f"  baseline: COPY ... TO STDOUT (FORMAT csv) via psql: {out['copy_s_median']:.2f} s "
          f"median (rounds {out['copy_s']} s), {out['copy_bytes'] / 1e6:.0f} MB")  # fmt: skip
    print(f"  time ratio export/COPY: {fmt_ratio(out['ratio'], '<= 2.0', out['pass_time'])}"
          f" (rounds {out['round_ratios']})")  # fmt: skip
    rss_mb = out["export_peak_rss_mib"] * 1.048576
    print(
        f"  peak RSS of the export process: {out['export_peak_rss_mib']:.1f} MiB "
        f"({rss_mb:.1f} MB; target < 150 MB): {'PASS' if out['pass_rss'] else 'FAIL'}"
    )
    b = out["bundle"]
    print(
        f"  (info) bundle: {b['wall_s']:.1f} s, peak RSS {b['peak_rss_mib']:.1f} MiB, "
        f"{b['bytes'] / 1e6:.0f} MB zip at {b['path']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
