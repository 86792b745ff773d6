"""Durability under faults: consents posted at load through gunicorn and PostgreSQL while a
worker is killed (SIGKILL) and PostgreSQL is stopped hard and started again.

Every receipt answered 201 is in the database, no consent event (consent id and client nonce)
is stored twice however often it was posted again, and the server answers 201 again within
5 s of the database coming back. The test runs a PostgreSQL server of its own (initdb and
pg_ctl from the PostgreSQL packages) so that it can stop it.
"""

from __future__ import annotations

import contextlib
import glob
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from consent_server.sites.service import apply_declaration
from declaration.loader import read_declaration
from tests.support.apps import EXAMPLE, ROOT, make_app, missing, release, reset_database
from tests.support.consent import CONSENTS, consent_body

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

THREADS = 8
RECOVERY_LIMIT = 5.0


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll a condition until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        pause.wait(0.02)


class PostgresServer:
    """A throw-away PostgreSQL cluster on a free loopback port, stopped and started at will."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found:
            missing("the PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.bin = Path(found[-1]).parent
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="cm-durability-pg-"))
        self.data = self.dir / "data"
        # initdb refuses to run as root: then the cluster belongs to the postgres user.
        self.user = None
        if os.geteuid() == 0:
            self.user = pwd.getpwnam("postgres")
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/consent"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user.pw_name, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (command, done.stdout, done.stderr)

    def init(self) -> None:
        """Create the cluster and the database."""
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")
        self.start()
        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE consent")

    def start(self) -> None:
        """Start the server and return once it accepts connections."""
        # fsync off: the test stops the server process, not the machine, and what PostgreSQL
        # has written survives in the page cache; commits are still acknowledged only once
        # written to the WAL (synchronous_commit stays on).
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-o", options, "-w",
            "-t", "30", "start",
        )  # fmt: skip

    def crash(self) -> None:
        """Stop the server at once, as a crash would: no checkpoint, clients cut off."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        """Stop the server if it runs, and delete the cluster."""
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server this test owns."""
    server = PostgresServer()
    try:
        server.init()
        yield server
    finally:
        server.remove()


class Gunicorn:
    """The server as deployed: gunicorn with gunicorn.conf.py, two gthread workers."""

    def __init__(self, database_url: str, keys: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "CONSENT_KEYS_DIR": str(keys),
            "CONSENT_RATELIMIT_ENABLED": "false",
            "CONSENT_COMMIT_TIMEOUT": "2",
            "GUNICORN_WORKERS": "2",
            "GUNICORN_THREADS": str(THREADS),
            "GUNICORN_HOST": "127.0.0.1",
            "PORT": str(self.port),
            "GUNICORN_GRACEFUL_TIMEOUT": "3",
        }
        gunicorn = Path(sys.executable).parent / "gunicorn"
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [str(gunicorn), "-c", "gunicorn.conf.py"], cwd=ROOT, env=env, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

    def workers(self) -> set[int]:
        """The worker processes' ids."""
        pid = self.process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return set()
        return {int(child) for child in children}

    def healthy(self) -> bool:
        """Whether the server answers its health check."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def stop(self) -> None:
        """Stop gunicorn and its workers."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def tail(self) -> str:
        """The end of gunicorn's log, shown when the test fails."""
        return self.log.read_text(errors="replace")[-4000:]


@dataclass
class Load:
    """Consent events posted from threads; each is posted again (same nonce) until it gets 201."""

    port: int
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    posted: int = 0
    statuses: Counter = field(default_factory=Counter)
    # (consent_id, client_nonce) -> the receipt ids answered 201 for it
    answered: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    created_at: list[float] = field(default_factory=list)

    def created(self) -> int:
        """201 answers so far."""
        with self.lock:
            return len(self.created_at)

    def created_since(self, moment: float) -> float | None:
        """When the first 201 after `moment` arrived, if one has."""
        with self.lock:
            return next((t for t in self.created_at if t >= moment), None)

    def failures(self) -> int:
        """Answers other than 201 and requests that got no answer, so far."""
        with self.lock:
            return sum(n for status, n in self.statuses.items() if status != 201)

    def run(self) -> None:
        """One client: a keep-alive connection, reopened after any error."""
        conn: http.client.HTTPConnection | None = None
        while not self.stop.is_set():
            body = consent_body(client_nonce=str(uuid.uuid4()))
            key = (body["consent_id"], body["client_nonce"])
            data = json.dumps(body)
            while not self.stop.is_set():
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                try:
                    conn.request("POST", CONSENTS, data, {"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    status, out = resp.status, json.loads(resp.read())
                except (OSError, http.client.HTTPException, ValueError):
                    status, out = "no answer", None
                    conn.close()
                    conn = None
                with self.lock:
                    self.posted += 1
                    self.statuses[status] += 1
                    if status == 201:
                        self.answered.setdefault(key, []).append(out["receipt_id"])
                        self.created_at.append(time.monotonic())
                if status == 201:
                    break
                self.stop.wait(0.02)  # the same event again, a moment later
        if conn is not None:
            conn.close()


def test_every_receipt_answered_201_survives_a_killed_worker_and_a_database_crash(
    postgres_server: PostgresServer, tmp_path: Path
):
    # The schema and the demo site, made the way the tests make them; the key made here is
    # the one the workers sign with.
    app = make_app(tmp_path, postgres_server.url)
    reset_database(app)
    with app.app_context():
        apply_declaration(read_declaration(EXAMPLE))
    release(app)

    server = Gunicorn(postgres_server.url, tmp_path / "keys", tmp_path / "gunicorn.log")
    load = Load(server.port)
    threads = [threading.Thread(target=load.run, daemon=True) for _ in range(THREADS)]
    try:
        wait_for(lambda: len(server.workers()) == 2 and server.healthy(), 30, "gunicorn")
        for thread in threads:
            thread.start()
        wait_for(lambda: load.created() >= 100, 20, "the first receipts")

        # (a) a worker killed mid-load: its in-flight requests get no answer and are posted
        # again; a new worker takes its place.
        before = server.workers()
        os.kill(min(before), signal.SIGKILL)
        wait_for(
            lambda: len(server.workers()) == 2 and server.workers() != before, 30, "a new worker"
        )
        mark = load.created()
        wait_for(lambda: load.created() >= mark + 100, 20, "receipts after the kill")

        # (b) PostgreSQL stopped hard while consents are being committed, then started again.
        failed = load.failures()
        postgres_server.crash()
        wait_for(lambda: load.failures() > failed, 20, "refusals while the database is down")
        postgres_server.start()
        back = time.monotonic()
        wait_for(lambda: load.created_since(back) is not None, 15, "a 201 after the restart")
        recovered = load.created_since(back) - back
        mark = load.created()
        wait_for(lambda: load.created() >= mark + 100, 20, "receipts after the restart")
    except AssertionError:
        print(server.tail())
        raise
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(20)
        server.stop()

    with psycopg.connect(postgres_server.url) as conn:
        rows = conn.execute(
            "SELECT receipt_id, consent_id, client_nonce FROM consent_receipts"
        ).fetchall()
    stored: dict[tuple[str, str], list[str]] = {}
    for receipt_id, consent_id, nonce in rows:
        stored.setdefault((consent_id, nonce), []).append(receipt_id)
    receipt_ids = Counter(receipt_id for receipt_id, _, _ in rows)
    duplicates = sum(len(ids) - 1 for ids in stored.values()) + sum(
        n - 1 for n in receipt_ids.values()
    )
    created = sum(len(ids) for ids in load.answered.values())
    other = {str(status): n for status, n in load.statuses.items() if status != 201}
    print(
        f"\nposted {load.posted}, 201 {created}, other {other}, stored {len(rows)}, "
        f"duplicates {duplicates}, seconds to recover {recovered:.2f}"
    )
    lost = [key for key, ids in load.answered.items() if stored.get(key) != ids[:1]]
    assert not lost, f"{len(lost)} events answered 201 are not stored as answered: {lost[:3]}"
    # An event answered 201 more than once got the same receipt each time.
    assert all(len(set(ids)) == 1 for ids in load.answered.values())
    assert duplicates == 0
    assert sum(n for s, n in load.statuses.items() if s != 201) > 0, "no fault was seen"
    assert recovered < RECOVERY_LIMIT, f"{recovered:.1f} s to answer 201 again"
