"""Verification benchmark (target 4): receipts verified per second in a 1,000,000-receipt bundle.

    .venv/bin/python bench/verify_bench.py [--bundle /tmp/cm_bench/bundle.zip] [--rounds 2]

Uses the audit bundle that bench/export_bench.py leaves behind (it runs that first when the
bundle is missing). Each round times, as a child process, the command an auditor runs:

    consent-server log verify BUNDLE

(wall time, CPU time and peak RSS from wait4, worker processes included; it includes the
interpreter's start), the same with `--jobs 1` (no worker processes), and then
consent_server.consent_log.verify.verify_path(BUNDLE) alone in a fresh interpreter. The rate is receipts
per wall-clock second; the target, >= 100,000 receipts/s, is absolute, so the figures are
printed next to the machine note. The script prints its figures and exits 0.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    BENCH,
    CONSENT_SERVER,
    ROOT,
    WORK_DIR,
    machine_note,
    median,
    run_measured,
    say,
)

TARGET_RATE = 100_000

IN_PROCESS = """
import json, sys, time
t0 = time.perf_counter(); c0 = time.process_time()
from consent_server.consent_log.verify.bundle import verify_path
t1 = time.perf_counter()
report = verify_path(sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "verify_s": t2 - t1, "cpu_s": time.process_time() - c0,
                  "ok": report.ok, "receipts": report.receipts, "seals": report.seals,
                  "problems": len(report.problems), "unsealed": len(report.unsealed)}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=WORK_DIR / "bundle.zip")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000, help="if the bundle is built")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 5:
        parser.error("--rounds must be 1..5")
    if not args.bundle.exists():
        say(f"{args.bundle} is missing: building it with bench/export_bench.py")
        subprocess.run(
            [sys.executable, str(BENCH / "export_bench.py"), "--rows", str(args.rows),
             "--rounds", "1", "--bundle", str(args.bundle)],
            check=True, timeout=1800, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    out: dict[str, Any] = {"machine": machine_note(), "bundle": str(args.bundle)}
    say(f"machine: {out['machine']}")
    cli = [CONSENT_SERVER, "log", "verify", str(args.bundle), "--json"]
    out["command"] = f"consent-server log verify {args.bundle}"
    cli_runs, single_runs, lib_runs = [], [], []
    for i in range(args.rounds):
        with (WORK_DIR / "verify_report.json").open("wb") as fh:
            proc = run_measured(cli, stdout=fh)
        report = json.loads((WORK_DIR / "verify_report.json").read_bytes())
        proc["report"] = {k: report[k] for k in ("ok", "receipts", "seals")}
        proc["problems"] = len(report["problems"])
        cli_runs.append(proc)
        say(
            f"  round {i + 1} CLI: {proc['wall_s']:.2f} s wall, {proc['cpu_s']:.2f} s CPU, "
            f"peak RSS {proc['max_rss_mib']:.0f} MiB, ok={report['ok']}, "
            f"receipts={report['receipts']}"
        )
        single = run_measured([*cli, "--jobs", "1"], stdout=subprocess.DEVNULL)
        single_runs.append(single)
        say(
            f"  round {i + 1} CLI --jobs 1: {single['wall_s']:.2f} s wall, "
            f"{single['cpu_s']:.2f} s CPU, peak RSS {single['max_rss_mib']:.0f} MiB"
        )
        res = subprocess.run(
            [sys.executable, "-c", IN_PROCESS, str(args.bundle)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if res.returncode != 0:
            raise RuntimeError(f"verify_path failed: {res.stderr}")
        lib = json.loads(res.stdout.strip().splitlines()[-1])
        lib_runs.append(lib)
        say(f"  round {i + 1} verify_path: {lib['verify_s']:.2f} s, CPU {lib['cpu_s']:.2f} s")
    receipts = cli_runs[0]["report"]["receipts"]
    cli_s = median([r["wall_s"] for r in cli_runs])
    lib_s = median([r["verify_s"] for r in lib_runs])
    single_s = median([r["wall_s"] for r in single_runs])
    out.update(
        {
            "receipts": receipts,
            "seals": cli_runs[0]["report"]["seals"],
            "ok": all(r["report"]["ok"] for r in cli_runs) and all(r["ok"] for r in lib_runs),
            "cli_s": [round(r["wall_s"], 2) for r in cli_runs],
            "cli_cpu_s": [round(r["cpu_s"], 2) for r in cli_runs],
            "cli_peak_rss_mib": max(r["max_rss_mib"] for r in cli_runs),
            "verify_path_s": [round(r["verify_s"], 2) for r in lib_runs],
            "single_process_s": [round(r["wall_s"], 2) for r in single_runs],
            "single_process_peak_rss_mib": max(r["max_rss_mib"] for r in single_runs),
            "cli_rate": receipts / cli_s,
            "verify_path_rate": receipts / lib_s,
            "single_process_rate": receipts / single_s,
        }
    )
    out["pass"] = out["cli_rate"] >= TARGET_RATE and out["ok"]
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))

    print(f"machine: {out['machine']}")
    print("target 4 - offline verification of the bundle")
    print(f"  bundle:  {out['bundle']} ({receipts} receipts, {out['seals']} seals), "
          f"report ok: {out['ok']}")  # fmt: skip
    print(f"  command: {out['command']}: {cli_s:.2f} s median (rounds {out['cli_s']} s, "
          f"CPU {out['cli_cpu_s']} s), peak RSS {out['cli_peak_rss_mib']:.0f} MiB")  # fmt: skip
    print(
        f"  rate:    {out['cli_rate']:,.0f} receipts/s (target >= {TARGET_RATE:,}): "
        f"{'PASS' if out['pass'] else 'FAIL'}"
    )
    print(f"  (info) verify_path alone: {lib_s:.2f} s, {out['verify_path_rate']:,.0f} receipts/s")
    print(
        f"  (info) one process (--jobs 1): {single_s:.2f} s, "
        f"{out['single_process_rate']:,.0f} receipts/s, "
        f"peak RSS {out['single_process_peak_rss_mib']:.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
