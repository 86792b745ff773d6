"""Shared helpers of the benchmark scripts: databases, servers, wrk, child processes.

Nothing here is a test. Every server listens on 127.0.0.1 only and every loop is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_BIN = Path(sys.executable).parent
CONSENT_SERVER = str(VENV_BIN / "consent-server")
GUNICORN = str(VENV_BIN / "gunicorn")
WRK = os.environ.get("WRK", "/usr/bin/wrk")
PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
DB_NAME = os.environ.get("BENCH_DB", "cm_bench")
WORK_DIR = Path(os.environ.get("BENCH_WORK_DIR", "/tmp/cm_bench"))


def say(message: str) -> None:
    """Progress on stderr, so stdout holds only the figures."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine_note() -> str:
    """CPU count, model and load: the figures only mean something next to this."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs ({model or 'unknown model'}), load average {load}"


def database_url(name: str = DB_NAME) -> str:
    """The URL of a database on the benchmark's PostgreSQL server."""
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


@contextlib.contextmanager
def fresh_database(name: str = DB_NAME, keep: bool = False) -> Iterator[str]:
    """Create an empty database (dropping a leftover one) and drop it afterwards."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"unsafe database name {name!r}")
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(name)
    finally:
        if not keep:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_env(db_url: str, keys_dir: Path, **extra: str) -> dict[str, str]:
    """Environment of the consent server: the benchmark database and its own keys."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": db_url,
            "CONSENT_KEYS_DIR": str(keys_dir),
            "FLASK_APP": "consent_server",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra)
    return env


def consent_server(args: Sequence[str], env: dict[str, str], **kw: Any) -> str:
    """Run the consent-server command; return its stdout, fail loudly on error."""
    res = subprocess.run(
        [CONSENT_SERVER, *args], env=env, cwd=ROOT, capture_output=True, text=True, **kw
    )
    if res.returncode != 0:
        raise RuntimeError(f"consent-server {' '.join(args)} failed:\n{res.stdout}{res.stderr}")
    return res.stdout


def prepare_consent_database(env: dict[str, str]) -> None:
    """Schema, the demo site (revision 1) and a signing key."""
    consent_server(["db", "upgrade"], env)
    consent_server(["sites", "apply", str(ROOT / "examples" / "site.yaml")], env)
    consent_server(["keys", "list"], env)  # creates the first signing key before any worker


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@contextlib.contextmanager
def gunicorn(
    app: str, settings: Sequence[str], env: dict[str, str], log: Path
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """Serve a WSGI app with gunicorn on a free loopback port; stop it afterwards."""
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [GUNICORN, app, "--bind", f"127.0.0.1:{port}", *settings],
            env=env,
            cwd=ROOT,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(port, proc)
            yield port, proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def run_wrk(
    url: str,
    script: Path,
    *,
    connections: int,
    seconds: int,
    threads: int = 2,
    script_args: Sequence[str] = (),
    timeout_s: int = 10,
) -> dict[str, Any]:
    """Run wrk once; the Lua script prints a BENCH_JSON line with counts and percentiles."""
    cmd = [
        WRK,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(script),
        url,
    ]
    if script_args:
        cmd += ["--", *script_args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if res.returncode != 0:
        raise RuntimeError(f"wrk failed ({res.returncode}): {res.stderr}")
    line = next((x for x in res.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no BENCH_JSON line:\n{res.stdout}\n{res.stderr}")
    out = json.loads(line[len("BENCH_JSON ") :])
    out["rps"] = out["requests"] / (out["duration_us"] / 1e6)
    out["errors"] = sum(
        out[k] for k in ("errors_connect", "errors_read", "errors_write", "errors_timeout")
    ) + int(out["unexpected_status"])
    if res.stderr.strip():
        out["stderr"] = res.stderr.strip()[:500]
    return out


def median(values: Sequence[float]) -> float:
    """The median."""
    return float(statistics.median(values))


def run_measured(
    cmd: Sequence[str], env: dict[str, str] | None = None, **kw: Any
) -> dict[str, Any]:
    """Run a child process; return wall seconds, CPU seconds and peak RSS (MiB) of that child.

    The child's own rusage comes from wait4, so other processes on the machine do not count.
    """
    stdout = kw.pop("stdout", subprocess.DEVNULL)
    with tempfile.TemporaryFile() as errfile:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), env=env, cwd=ROOT, stdout=stdout, stderr=errfile)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        errfile.seek(0)
        err = errfile.read().decode(errors="replace")
    return {
        "returncode": proc.returncode,
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "max_rss_mib": usage.ru_maxrss / 1024,  # Linux reports KiB
        "stderr": err,
    }


def fmt_ratio(ratio: float, target: str, passed: bool) -> str:
    """One line: ratio, target and verdict."""
    return f"{ratio:.3f} (target {target}): {'PASS' if passed else 'FAIL'}"
