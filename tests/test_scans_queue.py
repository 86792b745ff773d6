"""The scan queue: schedulers and workers claiming at once, leases lost and taken over, stale
scans queued again, errors that fail a scan and errors that retry it."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from consent_server.extensions import db
from consent_server.scans.models import Scan, ScanFinding, ScanItem
from consent_server.scans.queue import (
    NoScanSettings,
    Outcome,
    ScanClaim,
    claim_scan,
    create_scan,
    renew_lease,
    requeue_stale,
)
from consent_server.scans.results import store_result
from consent_server.scans.run import execute_scan
from consent_server.scans.schedule import claim_due, sync_schedules
from tests.support.scans import NOW, apply, cookie, declaration, fake_report, finding, status_of


def _in_threads(app: Flask, count: int, job: Any) -> list[Any]:
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        with app.app_context():
            try:
                barrier.wait()
                results[i] = job()
            except BaseException as exc:
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_two_schedulers_at_once_never_create_or_run_a_slot_twice(app: Flask):
    keys = [f"shop-{i}" for i in range(6)]
    with app.app_context():
        for key in keys:
            apply(declaration(key, schedule="*/5 * * * *"))
        sync_schedules(NOW - dt.timedelta(hours=1))
    # Four schedulers claim the same due slots at the same moment.
    created = _in_threads(app, 4, lambda: claim_due(NOW))
    ids = [i for batch in created for i in batch]
    assert len(ids) == len(set(ids)) == len(keys)
    with app.app_context():
        per_site = db.session.execute(
            select(Scan.site_id, func.count()).group_by(Scan.site_id)
        ).all()
        assert sorted(n for _, n in per_site) == [1] * len(keys)
        # Four workers take the same queued scan at once: one of them gets it.
        target = ids[0]
    claims = _in_threads(app, 4, lambda: claim_scan(target, f"w{threading.get_ident()}", NOW))
    won = [c for c in claims if isinstance(c, ScanClaim)]
    assert len(won) == 1
    assert sorted(c.status for c in claims if isinstance(c, Outcome)) == ["busy"] * 3


def test_a_lost_workers_scan_is_taken_over_and_stored_once(app: Flask):
    with app.app_context():
        app.config.update(SCAN_LEASE_SECONDS=60, SCAN_MAX_ATTEMPTS=2)
        apply(declaration())
        scan_id = create_scan("demo-shop").id
        first = claim_scan(scan_id, "worker-a", NOW)
        assert isinstance(first, ScanClaim) and first.attempt == 1
        assert claim_scan(scan_id, "worker-b", NOW + dt.timedelta(seconds=30)).status == "busy"
        assert renew_lease(first, NOW + dt.timedelta(seconds=50))
        # worker-a stops renewing (it died); after its lease worker-b takes over.
        later = NOW + dt.timedelta(seconds=111)
        second = claim_scan(scan_id, "worker-b", later)
        assert isinstance(second, ScanClaim) and second.attempt == 2
        report = fake_report([cookie("_fbp")], [finding("pre_consent", "high", "_fbp")])
        assert not store_result(first, report)  # a late result of the lost worker
        assert not renew_lease(first)
        assert store_result(second, report)
        assert not store_result(second, report)  # and never twice
        db.session.expire_all()
        scan = db.session.get(Scan, scan_id)
        assert (scan.status, scan.worker, scan.attempts) == ("done", "worker-b", 2)
        assert db.session.execute(select(func.count()).select_from(ScanFinding)).scalar_one() == 1
        assert db.session.execute(select(func.count()).select_from(ScanItem)).scalar_one() == 1
        # A scan lost as often as SCAN_MAX_ATTEMPTS allows is failed, not run forever.
        other = create_scan("demo-shop").id
        for n, worker in enumerate(("a", "b")):
            assert isinstance(claim_scan(other, worker, NOW + dt.timedelta(hours=n)), ScanClaim)
        outcome = claim_scan(other, "c", NOW + dt.timedelta(hours=5))
        assert outcome.status == "finished"
        assert status_of(other) == "failed"
        assert "lost" in db.session.get(Scan, other).error


def test_stale_scans_are_queued_again_by_the_scheduler(app: Flask):
    with app.app_context():
        app.config.update(SCAN_LEASE_SECONDS=60, SCAN_MAX_ATTEMPTS=2)
        apply(declaration())
        scan_id = create_scan("demo-shop").id
        claim_scan(scan_id, "worker-a", NOW)
        assert requeue_stale(NOW + dt.timedelta(seconds=30)) == []
        assert requeue_stale(NOW + dt.timedelta(seconds=61)) == [scan_id]
        assert status_of(scan_id) == "queued"
        claim_scan(scan_id, "worker-b", NOW + dt.timedelta(seconds=62))
        assert requeue_stale(NOW + dt.timedelta(seconds=200)) == [scan_id]
        assert status_of(scan_id) == "failed"


def test_a_scan_error_fails_the_scan_and_other_errors_retry_it(app: Flask):
    from scanner.config import ScanError

    def unreachable(claim: ScanClaim) -> dict[str, Any]:
        raise ScanError("no page could be loaded: net::ERR_NAME_NOT_RESOLVED")

    def crash(claim: ScanClaim) -> dict[str, Any]:
        raise RuntimeError("browser crashed")

    with app.app_context():
        app.config.update(SCAN_MAX_ATTEMPTS=2)
        apply(declaration())
        a = create_scan("demo-shop").id
        outcome = execute_scan(a, "w", run=unreachable)
        assert (outcome.status, status_of(a)) == ("failed", "failed")
        assert "ERR_NAME_NOT_RESOLVED" in db.session.get(Scan, a).error
        b = create_scan("demo-shop").id
        assert execute_scan(b, "w", run=crash).status == "requeued"
        assert status_of(b) == "queued"
        assert execute_scan(b, "w", run=crash).status == "failed"
        assert status_of(b) == "failed"
        assert execute_scan(b, "w", run=crash).status == "finished"


def test_a_site_without_scan_settings_cannot_be_scanned(app: Flask, demo_site: str):
    with app.app_context(), pytest.raises(NoScanSettings):
        create_scan(demo_site)
