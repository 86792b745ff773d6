"""Scans started over the API: one at a time per site (409 while one is queued or running) and
at most SCAN_API_QUOTA per site in a sliding window (429 with Retry-After), counted from the
scans table so that every process agrees; the scheduler's slots keep their own rule."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text, update

from consent_server.extensions import db
from consent_server.scans.models import Scan
from consent_server.scans.queue import claim_scan, create_scan
from consent_server.scans.schedule import claim_due, sync_schedules
from consent_server.sites.tokens import create_token
from tests.support.apps import ONLY_POSTGRES, bearer, make_app, release
from tests.support.scans import NOW, apply, declaration, fake_report, finish

SCANS = "/api/v1/sites/demo-shop/scans"


def _end(app: Flask, scan_id: int) -> None:
    """Mark a scan failed, as a worker giving up would: the site is free again."""
    with app.app_context():
        db.session.execute(update(Scan).where(Scan.id == scan_id).values(status="failed"))
        db.session.commit()


def _age(app: Flask, scan_id: int, by: dt.timedelta) -> None:
    """Move a scan's creation back in time."""
    with app.app_context():
        scan = db.session.get(Scan, scan_id)
        db.session.execute(
            update(Scan).where(Scan.id == scan_id).values(created_at=scan.created_at - by)
        )
        db.session.commit()


@pytest.fixture
def admins(app: Flask) -> dict[str, str]:
    """Two sites with scan settings, an admin token of each."""
    with app.app_context():
        apply(declaration())
        apply(declaration("other-shop"))
        return {
            "demo": create_token("demo-shop", "admin")[1],
            "other": create_token("other-shop", "admin")[1],
        }


def test_an_api_scan_is_refused_while_the_site_has_one_queued_or_running(
    app: Flask, client: FlaskClient, admins: dict[str, str]
):
    first = client.post(SCANS, headers=bearer(admins["demo"]))
    assert first.status_code == 202, first.get_json()
    scan_id = first.get_json()["id"]
    again = client.post(SCANS, headers=bearer(admins["demo"]))
    assert again.status_code == 409
    assert f"scan {scan_id}" in again.get_json()["message"]
    with app.app_context():
        claim_scan(scan_id, "test-worker")
    assert client.post(SCANS, headers=bearer(admins["demo"])).status_code == 409  # running
    other = client.post("/api/v1/sites/other-shop/scans", headers=bearer(admins["other"]))
    assert other.status_code == 202  # another site is not held up
    _end(app, scan_id)
    assert client.post(SCANS, headers=bearer(admins["demo"])).status_code == 202
    with app.app_context():
        assert db.session.query(Scan).filter_by(trigger="api").count() == 3


def test_a_scheduled_scan_in_the_queue_also_holds_api_scans_back(
    app: Flask, client: FlaskClient, admins: dict[str, str]
):
    with app.app_context():
        scheduled = create_scan("demo-shop", trigger="schedule")
        scheduled_id = scheduled.id
    resp = client.post(SCANS, headers=bearer(admins["demo"]))
    assert resp.status_code == 409 and f"scan {scheduled_id}" in resp.get_json()["message"]


def test_the_schedulers_slot_of_a_busy_site_is_still_skipped(
    app: Flask, client: FlaskClient, admins: dict[str, str]
):
    with app.app_context():
        apply(declaration(schedule="0 3 * * *"))
        sync_schedules(NOW)
    assert client.post(SCANS, headers=bearer(admins["demo"])).status_code == 202
    with app.app_context():
        assert claim_due(NOW + dt.timedelta(days=1)) == []  # the slot passes, skipped
        assert db.session.query(Scan).filter_by(trigger="schedule").count() == 0


def test_api_scans_have_a_quota_per_site_with_retry_after(
    app: Flask, client: FlaskClient, admins: dict[str, str]
):
    app.config["SCAN_API_QUOTA"] = "2 per hour"
    started = []
    for _ in range(2):
        resp = client.post(SCANS, headers=bearer(admins["demo"]))
        assert resp.status_code == 202, resp.get_json()
        started.append(resp.get_json()["id"])
        _end(app, started[-1])
    with app.app_context():
        finish("demo-shop", fake_report())  # a manual scan does not count
    refused = client.post(SCANS, headers=bearer(admins["demo"]))
    assert refused.status_code == 429
    assert "2 per hour" in refused.get_json()["message"]
    assert 3500 < int(refused.headers["Retry-After"]) <= 3600
    # Another site has a quota of its own.
    assert (
        client.post("/api/v1/sites/other-shop/scans", headers=bearer(admins["other"])).status_code
        == 202
    )
    # The window slides: when the older scan is 59 minutes old, a minute is left to wait.
    _age(app, started[0], dt.timedelta(minutes=59))
    refused = client.post(SCANS, headers=bearer(admins["demo"]))
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    _age(app, started[0], dt.timedelta(minutes=2))
    assert client.post(SCANS, headers=bearer(admins["demo"])).status_code == 202


def test_the_quota_holds_across_processes_sharing_the_database(
    app: Flask, client: FlaskClient, admins: dict[str, str], tmp_path: Path
):
    app.config["SCAN_API_QUOTA"] = "1 per day"
    resp = client.post(SCANS, headers=bearer(admins["demo"]))
    assert resp.status_code == 202
    _end(app, resp.get_json()["id"])
    # A second app on the same database stands for another worker process.
    other = make_app(
        tmp_path / "second",
        app.config["SQLALCHEMY_DATABASE_URI"],
        SCAN_API_QUOTA="1 per day",
    )
    try:
        refused = other.test_client().post(SCANS, headers=bearer(admins["demo"]))
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 86000
    finally:
        release(other)


def test_no_quota_when_the_setting_is_empty(
    app: Flask, client: FlaskClient, admins: dict[str, str]
):
    app.config["SCAN_API_QUOTA"] = ""
    for _ in range(12):
        resp = client.post(SCANS, headers=bearer(admins["demo"]))
        assert resp.status_code == 202
        _end(app, resp.get_json()["id"])


@ONLY_POSTGRES
def test_concurrent_requests_queue_one_scan_not_two(
    app: Flask, admins: dict[str, str], tmp_path: Path
):
    """A request that checks while another transaction is queueing waits for it, then sees it."""
    outcome: dict[str, Any] = {}
    with app.app_context():
        site_id = db.session.execute(
            text("SELECT id FROM sites WHERE key = 'demo-shop'")
        ).scalar_one()
        revision = db.session.execute(
            text("SELECT current_revision_id FROM sites WHERE id = :id"), {"id": site_id}
        ).scalar_one()
        db.session.rollback()
        # Another process's request, caught between its check and its commit: it holds the
        # site's row and has inserted its queued scan, not yet visible to anyone.
        holder = db.engine.connect()
        tx = holder.begin()
        holder.execute(text("UPDATE sites SET name = name WHERE id = :id"), {"id": site_id})
        holder.execute(
            text(
                "INSERT INTO scans (site_id, revision_id, trigger, status, settings, "
                "created_at, attempts) VALUES (:site, :rev, 'api', 'queued', '{}', now(), 0)"
            ),
            {"site": site_id, "rev": revision},
        )

    def post() -> None:
        resp = app.test_client().post(SCANS, headers=bearer(admins["demo"]))
        outcome["status"] = resp.status_code

    thread = threading.Thread(target=post)
    thread.start()
    try:
        # Wait until the request blocks on the site's row lock (it cannot go on before).
        with app.app_context(), db.engine.connect() as watcher:
            waiting = 0
            while not waiting and thread.is_alive():
                waiting = watcher.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND datname = current_database()"
                    )
                ).scalar_one()
                watcher.rollback()
        assert waiting, outcome
    finally:
        tx.commit()
        holder.close()
        thread.join(30)
    assert outcome["status"] == 409
    with app.app_context():
        assert db.session.query(Scan).filter_by(trigger="api").count() == 1
