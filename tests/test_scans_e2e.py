"""Scheduled scans end to end in Chromium against the fixture shop (tests/support/site.py).

Embedded: `consent-server scheduler --once` runs a due scan in its own process, stores its
findings, alerts a real webhook receiver and SMTP server, and after the shop changes the next
scan's diff and alert name exactly what changed. Celery: the same on a real worker subprocess
on the machine's Redis, and a worker SIGKILLed in the middle of a scan, whose scan a second
worker runs again and stores once.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from sqlalchemy import func, select, update

from consent_server.extensions import db
from consent_server.scans.alerts import SIGNATURE_HEADER, verify_signature, webhook_secret
from consent_server.scans.models import Scan, ScanFinding, ScanSchedule
from consent_server.scans.schedule import sync_schedules
from consent_server.sites.service import apply_declaration
from consent_server.sites.tokens import create_token
from declaration.loader import load_declaration
from tests.support.apps import ROOT, bearer, make_app, missing, reset_database
from tests.support.apps import redis_url as redis_db
from tests.support.sinks import MailSink, WebhookReceiver
from tests.support.site import ADS, APP_JS, DECLARATION, GIF, RESOLVE, SITE, ScannerSite

pytestmark = pytest.mark.browser

REDIS_URL = redis_db(13)  # its own database, apart from test_fastpath.py
CELERY = str(Path(sys.executable).with_name("celery"))
# The default wait (1.5 s): the fixture's banner script writes _fbp 1 s after load, and a
# shorter wait would see it only when the page happens to settle late.
# The fixture's hosts are all on loopback: the operator maps them and allows those hosts (only)
# on internal addresses; a declaration may not (declaration/schema.py).
SCAN_OPTIONS = {
    "SCAN_SETTLE_MS": 1500,
    "SCAN_PAGE_TIMEOUT": 20,
    "SCAN_TOTAL_TIMEOUT": 120,
    "SCAN_RESOLVE": dict(RESOLVE),
    "SCAN_INSECURE": True,
    "SCAN_ALLOW_PRIVATE": sorted(RESOLVE),
}


def _declare(app: Flask, site: ScannerSite, key: str, webhook: str, **scan: Any) -> None:
    data = yaml.safe_load(DECLARATION)
    data["site"] = key
    data["scan"] = {
        "url": site.url("/"),
        "schedule": "0 3 * * *",
        "timezone": "Europe/Stockholm",
        "max_pages": 1,
        "fail_on": "high",
        "alerts": {"webhook": webhook},
        **scan,
    }
    with app.app_context():
        apply_declaration(load_declaration(data))


def _slot_passed(app: Flask) -> None:
    """Every schedule's slot is due now (as after the time passed, or the server was down)."""
    with app.app_context():
        now = dt.datetime.now(dt.UTC)
        if not db.session.execute(select(ScanSchedule)).first():
            sync_schedules(now - dt.timedelta(days=1))
        db.session.execute(update(ScanSchedule).values(next_run_at=now - dt.timedelta(minutes=1)))
        db.session.commit()


def _checked(hook: WebhookReceiver, key: str, app: Flask, timeout: float = 120) -> dict[str, Any]:
    headers, body, _ = hook.next(timeout)
    with app.app_context():
        secret = webhook_secret(key)
    assert verify_signature(body, headers[SIGNATURE_HEADER.lower()], secret)
    return json.loads(body)


def _new(payload: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["type"], f["cookie"]) for f in payload["new_findings"]}


# -- embedded --------------------------------------------------------------------------------


def test_the_embedded_scheduler_scans_on_time_and_alerts_on_what_is_new(
    tmp_path: Path, chromium_path: str
) -> None:
    with (
        ScannerSite(tmp_path) as site,
        WebhookReceiver() as hook,
        MailSink() as mail,
    ):
        app = make_app(
            tmp_path,
            f"sqlite:///{tmp_path / 'embedded.sqlite3'}",
            SCAN_CHROMIUM=chromium_path,
            WEBHOOK_ALLOW_PRIVATE=True,
            PUBLIC_URL="https://consent.example.se",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=mail.port,
            SMTP_FROM="consent@example.se",
            **SCAN_OPTIONS,
        )
        reset_database(app)
        _declare(
            app,
            site,
            "fixture-shop",
            hook.url,
            alerts={"webhook": hook.url, "email": ["dpo@shop.test"]},
        )
        runner = app.test_cli_runner()
        client = app.test_client()
        with app.app_context():
            auditor = create_token("fixture-shop", "auditor")[1]
        auth = bearer(auditor)

        # Nothing is due before the schedule's time.
        assert "created 0" in runner.invoke(args=["scheduler", "--once", "--no-seal"]).output
        _slot_passed(app)
        first = runner.invoke(args=["scheduler", "--once"])
        assert first.exit_code == 0, first.output
        assert "created 1" in first.output and "scan 1: done" in first.output, first.output

        doc = client.get("/api/v1/scans/1", headers=auth).get_json()
        assert (doc["status"], doc["trigger"], doc["attempts"]) == ("done", "schedule", 1)
        assert doc["worker"].startswith("scheduler@") and doc["pages"] >= 3
        found = {(f["type"], f["cookie"]) for f in doc["findings"]}
        assert {("pre_consent", "_fbp"), ("pre_consent", "MUID"), ("undeclared", "MUID")} <= found
        assert {("cookie", "MUID", "ads.test"), ("session", "_hjSessionStorageTest", SITE)} <= {
            (i["kind"], i["name"], i["domain"]) for i in doc["observed"]
        }
        payload = _checked(hook, "fixture-shop", app)
        assert ("pre_consent", "MUID") in _new(payload)
        assert all(f["severity"] in ("high", "critical") for f in payload["new_findings"])
        _, message = mail.next()
        assert "fixture-shop" in message["Subject"] and "/api/v1/scans/1/report.html?" in str(
            message
        )
        report = client.get(payload["report_url"].removeprefix("https://consent.example.se"))
        assert report.status_code == 200 and "Cookie scan of" in report.get_data(as_text=True)

        # The shop changes: the ad pixel stops setting MUID, a new Bing tag sets _uetsid.
        site.routes[(ADS, "/pixel.gif")] = lambda h, c: h._send(200, "image/gif", GIF)
        site.routes[(SITE, "/static/app.js")] = site._js(
            APP_JS + "document.cookie = '_uetsid=abc123; Max-Age=86400; Path=/; SameSite=Lax';"
        )
        _slot_passed(app)
        second = runner.invoke(args=["scheduler", "--once", "--no-seal"])
        assert "scan 2: done" in second.output, second.output

        diff = client.get("/api/v1/scans/2/diff", headers=auth).get_json()
        assert diff["previous"] == 1
        assert [c["name"] for c in diff["cookies"]["new"]] == ["_uetsid"]
        assert [c["name"] for c in diff["cookies"]["gone"]] == ["MUID"]
        assert {("pre_consent", "_uetsid"), ("undeclared", "_uetsid")} <= {
            (f["type"], f["cookie"]) for f in diff["findings"]["new"]
        }
        assert {("pre_consent", "MUID"), ("undeclared", "MUID")} <= {
            (f["type"], f["cookie"]) for f in diff["findings"]["resolved"]
        }
        # The alert names only what is new at or above fail_on (the undeclared one is medium).
        assert _new(_checked(hook, "fixture-shop", app)) == {("pre_consent", "_uetsid")}
        mail.next()
        proposal = client.get("/api/v1/scans/2/proposed-declaration", headers=auth)
        entries = {e["name"]: e for e in yaml.safe_load(proposal.get_data(as_text=True))["cookies"]}
        assert (
            entries["_uetsid"]["category"] == "marketing"
            and entries["_uetsid"]["lifetime"] == "P1D"
        )
        listed = runner.invoke(args=["scans", "list", "fixture-shop"])
        assert "schedule fixture-shop: '0 3 * * *' (Europe/Stockholm)" in listed.output
    assert hook.nothing_more()


# -- Celery ----------------------------------------------------------------------------------


@pytest.fixture
def redis_url() -> str:
    """The machine's Redis, or a loud failure under CI."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        missing(f"Redis is not reachable at {REDIS_URL}: {exc}")
    return REDIS_URL


class Worker:
    """`celery -A consent_server.scans.tasks worker --pool=solo` as a subprocess in its own group."""

    def __init__(self, name: str, env: dict[str, str], queue: str, log: Path) -> None:
        self.name = f"{name}@scans-test"
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    CELERY,
                    "-A",
                    "consent_server.scans.tasks",
                    "worker",
                    "--pool=solo",
                    "-c",
                    "1",
                    "-Q",
                    queue,
                    "-n",
                    self.name,
                    "--without-gossip",
                    "--without-mingle",
                    "--loglevel=INFO",
                ],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the group holds its browsers too
            )

    def wait_ready(self, control: Any, timeout: float = 60) -> None:
        """Until the worker answers a control ping."""
        deadline = dt.datetime.now() + dt.timedelta(seconds=timeout)
        while dt.datetime.now() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"worker {self.name} exited:\n{self.log.read_text()[-3000:]}")
            if control.ping(destination=[self.name], timeout=0.5):
                return
        pytest.fail(f"worker {self.name} not ready:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the worker and everything it started."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


@pytest.fixture
def celery_setup(
    tmp_path: Path, postgres_url: str, redis_url: str, chromium_path: str
) -> Iterator[tuple[Flask, Callable[[str], Worker]]]:
    """An app on PostgreSQL sending scans to a dedicated queue, and a worker factory."""
    import redis

    queue = f"scans-test-{uuid.uuid4().hex[:8]}"
    transport = {
        "visibility_timeout": 5,
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
    settings = {
        "CELERY_BROKER_URL": redis_url,
        "CELERY_QUEUE": queue,
        "CELERY_BROKER_TRANSPORT_OPTIONS": transport,
        "SCAN_CHROMIUM": chromium_path,
        "SCAN_LEASE_SECONDS": 2,
        "WEBHOOK_ALLOW_PRIVATE": True,
        "PUBLIC_URL": "https://consent.example.se",
        **SCAN_OPTIONS,
    }
    app = make_app(tmp_path, postgres_url, **settings)
    reset_database(app)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSENT_", "CELERY_"))}
    env.update(
        {f"CONSENT_{k}": v if isinstance(v, str) else json.dumps(v) for k, v in settings.items()}
    )
    env.update(DATABASE_URL=postgres_url, CONSENT_KEYS_DIR=app.config["KEYS_DIR"])
    workers: list[Worker] = []

    def start(name: str) -> Worker:
        worker = Worker(name, env, queue, tmp_path / f"{name}.log")
        workers.append(worker)
        with app.app_context():
            from consent_server.scans.tasks import get_celery

            worker.wait_ready(get_celery(app).control)
        return worker

    yield app, start
    for worker in workers:
        worker.stop()
    # The queue and kombu's routing keys for it; nothing else in that Redis database is ours.
    redis.Redis.from_url(redis_url).delete(
        queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"
    )
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.mark.postgres
def test_a_scheduled_scan_runs_on_a_celery_worker(
    tmp_path: Path, celery_setup: tuple[Flask, Callable[[str], Worker]]
) -> None:
    app, start = celery_setup
    with ScannerSite(tmp_path) as site, WebhookReceiver() as hook:
        _declare(app, site, "fixture-shop", hook.url)
        start("worker-a")
        _slot_passed(app)
        result = app.test_cli_runner().invoke(args=["scheduler", "--once", "--no-seal"])
        assert "created 1, dispatched 1" in result.output, result.output
        payload = _checked(hook, "fixture-shop", app)  # sent once the result is stored
        assert ("pre_consent", "MUID") in _new(payload)
        with app.app_context():
            scan = db.session.get(Scan, payload["scan"]["id"])
            assert (scan.status, scan.trigger, scan.attempts) == ("done", "schedule", 1)
            assert scan.worker == "worker-a@scans-test"
            stored = db.session.execute(
                select(func.count()).select_from(ScanFinding).where(ScanFinding.scan_id == scan.id)
            ).scalar_one()
            assert stored == len(scan.report["findings"]) > 0


@pytest.mark.postgres
def test_a_worker_killed_mid_scan_is_replaced_and_the_scan_stored_once(
    tmp_path: Path, celery_setup: tuple[Flask, Callable[[str], Worker]]
) -> None:
    app, start = celery_setup
    entered, release = threading.Event(), threading.Event()

    def hold(handler: Any, cookies: dict[str, str]) -> None:
        entered.set()
        release.wait(60)  # the first worker dies while its browser waits here
        handler._send(
            200,
            "text/html; charset=utf-8",
            b"<!doctype html><title>Kassa</title><p>Kassan",
            ["_fbp=fb.1.1.1; Max-Age=7776000; Path=/; Secure; SameSite=Lax"],
        )

    with ScannerSite(tmp_path) as site, WebhookReceiver() as hook:
        site.routes[(SITE, "/hold")] = hold
        _declare(app, site, "hold-shop", hook.url, url=site.url("/hold"), phases=["pre-consent"])
        with app.app_context():
            admin = create_token("hold-shop", "admin")[1]
        first = start("worker-a")
        resp = app.test_client().post("/api/v1/sites/hold-shop/scans", headers=bearer(admin))
        assert resp.status_code == 202, resp.get_json()
        scan_id = resp.get_json()["id"]
        assert entered.wait(60), "the scan never reached the page"
        with app.app_context():
            scan = db.session.get(Scan, scan_id)
            assert (scan.status, scan.worker, scan.attempts) == ("running", first.name, 1)
        first.kill()
        release.set()
        second = start("worker-b")
        payload = _checked(hook, "hold-shop", app)
        assert payload["scan"]["id"] == scan_id
        assert _new(payload) == {("pre_consent", "_fbp")}
        with app.app_context():
            rows = db.session.execute(select(Scan).join(Scan.site)).scalars().all()
            assert [(s.id, s.status) for s in rows if s.site.key == "hold-shop"] == [
                (scan_id, "done")
            ]
            scan = db.session.get(Scan, scan_id)
            assert (scan.worker, scan.attempts) == (second.name, 2)
            stored = db.session.execute(
                select(ScanFinding.type, ScanFinding.cookie).where(ScanFinding.scan_id == scan_id)
            ).all()
            assert len(stored) == len(scan.report["findings"])
            assert len(set(stored)) == len(stored)  # one result, not two
    assert hook.nothing_more()
