"""Scheduled scans without a browser: settings, schedules, claims, results, API, alerts, CLI.

Scan results here are stored reports of the scanner's JSON shape (docs/scan-report.md),
written through the same claim and store functions a worker uses; the browser runs in
test_scans_e2e.py.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from consent_server.clock import as_utc
from consent_server.extensions import db
from consent_server.scans.alerts import (
    SIGNATURE_HEADER,
    send_pending_alert,
    verify_signature,
    webhook_secret,
)
from consent_server.scans.models import Scan, ScanFinding, ScanItem, ScanSchedule
from consent_server.scans.proposals import iso_lifetime, propose_declaration
from consent_server.scans.queue import (
    NoScanSettings,
    Outcome,
    ScanClaim,
    claim_scan,
    create_scan,
    renew_lease,
    requeue_stale,
)
from consent_server.scans.results import (
    diff_scans,
    latest_report,
    scan_findings,
    scan_items,
    store_result,
)
from consent_server.scans.retention import purge_scans
from consent_server.scans.run import execute_scan
from consent_server.scans.schedule import claim_due, next_run, sync_schedules
from consent_server.sites.service import apply_declaration
from consent_server.sites.tokens import create_token
from declaration.loader import DeclarationError, load_declaration
from tests.conftest import EXAMPLE

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SEVERITIES = ("info", "low", "medium", "high", "critical")


# -- helpers shared with test_scans_e2e.py ---------------------------------------------------


class WebhookReceiver:
    """A real HTTP server on loopback that records POSTs; answers `statuses` in turn, then 200."""

    def __init__(self, statuses: tuple[int, ...] = ()) -> None:
        self.statuses = list(statuses)
        self.requests: queue.Queue[tuple[dict[str, str], bytes, int]] = queue.Queue()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.requests.put(
                    ({k.lower(): v for k, v in self.headers.items()}, body, status)
                )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/consent"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def next(self, timeout: float = 30) -> tuple[dict[str, str], bytes, int]:
        """The next request received (headers, body, status answered)."""
        return self.requests.get(timeout=timeout)

    def nothing_more(self) -> bool:
        """True when no further request has arrived."""
        return self.requests.empty()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MailSink:
    """A real SMTP server (aiosmtpd) on loopback collecting messages."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: queue.Queue[Any] = queue.Queue()
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                sink.messages.put((envelope.rcpt_tos, message_from_bytes(envelope.content)))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> MailSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def next(self, timeout: float = 30) -> tuple[list[str], Any]:
        return self.messages.get(timeout=timeout)


def cookie(
    name: str,
    category: str = "marketing",
    *,
    source: str = "knowledge",
    domain: str = "shop.example",
    party: str = "first",
    seconds: float | None = 86400.0,
    vendor: str | None = "Vendor",
    description: str | None = "What it does.",
) -> dict[str, Any]:
    """One cookie as the scanner reports it."""
    page = f"https://{domain}/"
    return {
        "name": name,
        "domain": domain,
        "party": party,
        "registrable_domain": domain,
        "lifetime_class": "session" if seconds is None else "persistent",
        "requested_seconds": seconds,
        "stored_seconds": seconds,
        "classification": {
            "category": category,
            "source": source,
            "vendor": vendor,
            "declared_category": category if source == "declared" else None,
            "declared_lifetime": None,
            "typical_lifetime": None,
            "description": description,
        },
        "phases": ["pre-consent"],
        "refused": False,
        "refused_reasons": [],
        "sources": ["header"],
        "setters": [page],
        "pages": [page],
        "first_seen": {"phase": "pre-consent", "page": page, "source": "header", "setter": page},
    }


def finding(
    kind: str, severity: str, name: str, phase: str | None = "pre-consent"
) -> dict[str, Any]:
    """One finding as the scanner reports it."""
    return {
        "type": kind,
        "severity": severity,
        "message": f"{name}: {kind.replace('_', ' ')}",
        "cookie": name,
        "domain": "shop.example",
        "phase": phase,
        "page": "https://shop.example/",
        "setter": None,
        "evidence": {},
    }


def fake_report(
    cookies: list[dict[str, Any]] = (),  # type: ignore[assignment]
    findings: list[dict[str, Any]] = (),  # type: ignore[assignment]
    storage: list[dict[str, Any]] = (),  # type: ignore[assignment]
    url: str = "https://shop.example/",
) -> dict[str, Any]:
    """A report of the scanner's JSON shape."""
    return {
        "version": 1,
        "scanner": "cookie-scan 0.1.0",
        "url": url,
        "engine": "playwright",
        "started_at": NOW.isoformat(),
        "elapsed_seconds": 1.0,
        "settings": {
            "max_pages": 1,
            "depth": 3,
            "phases": ["pre-consent"],
            "settle_ms": 0,
            "fail_on": "high",
        },
        "summary": {
            "pages": 1,
            "cookies": len(cookies),
            "storage_items": len(storage),
            "refused": 0,
            "findings": {s: sum(1 for f in findings if f["severity"] == s) for s in SEVERITIES},
        },
        "phases": [
            {
                "phase": "pre-consent",
                "pages": [
                    {
                        "url": url,
                        "final_url": url,
                        "status": 200,
                        "error": None,
                        "elapsed_ms": 1.0,
                        "frames": [],
                    }
                ],
                "banner": {
                    "found": False,
                    "kind": None,
                    "reject_on_first_layer": None,
                    "clicked": False,
                    "error": None,
                },
                "error": None,
                "cookies_set": len(cookies),
                "by_category": {},
                "third_party": 0,
            }
        ],
        "findings": list(findings),
        "cookies": list(cookies),
        "refused_cookies": [],
        "storage": list(storage),
        "policy": None,
    }


def declaration(site: str = "demo-shop", **scan: Any) -> dict[str, Any]:
    """The example declaration under another key, with a scan block."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["site"] = site
    data["scan"] = {"url": f"https://{site}.example/", **scan}
    return data


def apply(data: dict[str, Any]) -> None:
    apply_declaration(load_declaration(data))


def finish(site: str, report: dict[str, Any], trigger: str = "manual") -> int:
    """Queue, claim and store a scan with this report, as a worker would; its id."""
    scan = create_scan(site, trigger=trigger)
    claim = claim_scan(scan.id, "test-worker")
    assert isinstance(claim, ScanClaim)
    assert store_result(claim, report)
    return scan.id


def status_of(scan_id: int) -> str:
    db.session.expire_all()
    return db.session.get(Scan, scan_id).status


# -- settings in the declaration -------------------------------------------------------------


@pytest.mark.parametrize(
    ("scan", "path"),
    [
        ({"resolve": {"a.test, MAP * 10.0.0.1": "127.0.0.1"}}, "scan.resolve"),
        ({"resolve": {"*.test": "localhost"}}, "scan.resolve"),
        ({"schedule": "* * * * * *"}, "scan.schedule"),
        ({"schedule": "61 3 * * *"}, "scan.schedule"),
        ({"timezone": "Mars/Olympus"}, "scan.timezone"),
        ({"phases": []}, "scan.phases"),
        ({"phases": ["pre-consent", "pre-consent"]}, "scan.phases"),
        ({"phases": ["during-consent"]}, "scan.phases.0"),
        ({"max_pages": "5"}, "scan.max_pages"),
        ({"max_pages": 0}, "scan.max_pages"),
        ({"fail_on": "severe"}, "scan.fail_on"),
        ({"alerts": {"email": ["not-an-address"]}}, "scan.alerts.email.0"),
        ({"alerts": {"email": [f"dpo{i}@example.se" for i in range(21)]}}, "scan.alerts.email"),
        ({"alerts": {"webhook": "ftp://hooks.example.se/"}}, "scan.alerts.webhook"),
        ({"alerts": {"slack": "#privacy"}}, "scan.alerts.slack"),
        ({"url": "https://example.se/" + "a" * 2100}, "scan.url"),
        ({"depth": 2}, "scan.depth"),
    ],
)
def test_invalid_scan_settings_are_refused_with_their_path(scan: dict[str, Any], path: str):
    with pytest.raises(DeclarationError) as caught:
        load_declaration(declaration(**scan))
    assert any(p == path or p.startswith(path + ".") for p in caught.value.errors), (
        caught.value.errors
    )


def test_valid_scan_settings_load_with_their_defaults():
    loaded = load_declaration(
        declaration(schedule="@daily", resolve={"*.example.se": "10.0.0.5", "shop.test": "::1"})
    ).data["scan"]
    assert loaded["schedule"] == "@daily"
    assert loaded["timezone"] == "UTC"
    assert loaded["phases"] == ["pre-consent", "after-reject", "after-accept"]
    assert loaded["fail_on"] == "high" and loaded["max_pages"] == 50
    assert loaded["alerts"] == {}
    assert loaded["insecure"] is False and loaded["allow_private"] is False


# -- schedules -------------------------------------------------------------------------------


def test_cron_is_read_in_the_sites_time_zone_across_daylight_saving():
    # 03:00 in Stockholm is 02:00 UTC in winter and 01:00 UTC in summer (from 29 March 2026).
    winter = next_run("0 3 * * *", "Europe/Stockholm", dt.datetime(2026, 3, 27, 12, tzinfo=UTC))
    assert winter == dt.datetime(2026, 3, 28, 2, tzinfo=UTC)
    summer = next_run("0 3 * * *", "Europe/Stockholm", winter)
    assert summer == dt.datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert next_run("0 3 * * 1", "UTC", NOW) == dt.datetime(2026, 11, 23, 3, tzinfo=UTC)


def test_a_new_schedule_is_first_due_at_its_next_time(app: Flask):
    with app.app_context():
        apply(declaration(schedule="0 3 * * *", timezone="Europe/Stockholm"))
        sync_schedules(NOW)
        row = db.session.execute(select(ScanSchedule)).scalar_one()
        assert as_utc(row.next_run_at) == dt.datetime(2026, 11, 21, 2, tzinfo=UTC)
        assert claim_due(NOW) == []
        assert claim_due(dt.datetime(2026, 11, 21, 2, tzinfo=UTC)) != []


def test_missed_slots_run_once_when_the_scheduler_comes_back(app: Flask):
    with app.app_context():
        apply(declaration(schedule="0 * * * *"))
        sync_schedules(NOW - dt.timedelta(days=3))  # then the server was down for 3 days
        created = claim_due(NOW)
        assert len(created) == 1
        scan = db.session.get(Scan, created[0])
        assert scan.trigger == "schedule" and scan.status == "queued"
        assert as_utc(scan.scheduled_for) == NOW - dt.timedelta(days=3) + dt.timedelta(hours=1)
        row = db.session.execute(select(ScanSchedule)).scalar_one()
        assert as_utc(row.next_run_at) == NOW + dt.timedelta(hours=1)
        assert claim_due(NOW) == []
        assert db.session.execute(select(func.count()).select_from(Scan)).scalar_one() == 1


def test_a_site_with_a_scan_waiting_gets_no_second_scheduled_scan(app: Flask):
    with app.app_context():
        apply(declaration(schedule="0 * * * *"))
        sync_schedules(NOW - dt.timedelta(hours=2))
        assert len(claim_due(NOW - dt.timedelta(minutes=30))) == 1
        assert claim_due(NOW) == []  # the slot passes; the first scan still waits
        assert db.session.execute(select(func.count()).select_from(Scan)).scalar_one() == 1


def test_schedules_follow_the_declaration(app: Flask):
    with app.app_context():
        apply(declaration(schedule="0 3 * * *"))
        sync_schedules(NOW)
        apply(declaration(schedule="30 4 * * *", timezone="Europe/Stockholm"))
        sync_schedules(NOW)
        row = db.session.execute(select(ScanSchedule)).scalar_one()
        assert (row.cron, row.timezone) == ("30 4 * * *", "Europe/Stockholm")
        assert as_utc(row.next_run_at) == dt.datetime(2026, 11, 21, 3, 30, tzinfo=UTC)
        apply(declaration())  # no schedule: manual scans only
        sync_schedules(NOW)
        assert db.session.execute(select(ScanSchedule)).scalar_one_or_none() is None


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


# -- results ---------------------------------------------------------------------------------


def test_diff_names_new_and_gone_cookies_and_new_and_resolved_findings(app: Flask):
    with app.app_context():
        apply(declaration())
        first = finish(
            "demo-shop",
            fake_report(
                [cookie("_fbp"), cookie("MUID", domain="ads.example", party="third")],
                [finding("pre_consent", "high", "_fbp"), finding("pre_consent", "high", "MUID")],
            ),
        )
        second_report = fake_report(
            [cookie("_fbp"), cookie("_uetsid")],
            [
                finding("pre_consent", "high", "_fbp"),
                finding("pre_consent", "high", "_uetsid"),
                finding("undeclared", "medium", "_uetsid"),
            ],
        )
        second_report["findings"][0]["page"] = "https://shop.example/other"  # same problem
        second = finish("demo-shop", second_report)
        diff = diff_scans(db.session.get(Scan, second))
        assert diff["previous"] == first
        assert [c["name"] for c in diff["cookies"]["new"]] == ["_uetsid"]
        assert [c["name"] for c in diff["cookies"]["gone"]] == ["MUID"]
        assert sorted((f["type"], f["cookie"]) for f in diff["findings"]["new"]) == [
            ("pre_consent", "_uetsid"),
            ("undeclared", "_uetsid"),
        ]
        assert [(f["type"], f["cookie"]) for f in diff["findings"]["resolved"]] == [
            ("pre_consent", "MUID")
        ]
        assert diff_scans(db.session.get(Scan, first))["previous"] is None


def test_the_proposed_declaration_adds_what_was_undeclared_and_validates(app: Flask):
    with app.app_context():
        apply(declaration())
        scan_id = finish(
            "demo-shop",
            fake_report(
                [
                    cookie("_ga", "analytics", source="declared", seconds=63072000.0),
                    cookie(
                        "MUID",
                        domain="ads.example",
                        party="third",
                        seconds=395 * 86400.0,
                        vendor="Microsoft",
                    ),
                    cookie("_gcl_au", seconds=90 * 86400 - 0.4, vendor="Google Ads"),
                    cookie(
                        "csrf",
                        "necessary",
                        source="rule",
                        seconds=3600.0,
                        vendor=None,
                        description=None,
                    ),
                    cookie(
                        "sid",
                        "necessary",
                        source="rule",
                        seconds=None,
                        vendor=None,
                        description=None,
                    ),
                    cookie(
                        "vpref",
                        "unknown",
                        source="none",
                        domain="video.example",
                        party="third",
                        vendor=None,
                    ),
                ],
                storage=[
                    {
                        "kind": "session",
                        "origin": "https://shop.example:8443",
                        "key": "_hjSessionStorageTest",
                        "party": "first",
                        "classification": cookie("x", "analytics", vendor="Hotjar")[
                            "classification"
                        ],
                        "phases": ["pre-consent"],
                        "pages": [],
                    }
                ],
            ),
        )
        text = propose_declaration(db.session.get(Scan, scan_id))
    patch = yaml.safe_load(text)
    entries = {e["name"]: e for e in patch["cookies"]}
    assert set(entries) == {"MUID", "_gcl_au", "csrf", "sid", "_hjSessionStorageTest"}
    assert entries["MUID"] == {
        "name": "MUID",
        "domain": "ads.example",
        "provider": "Microsoft",
        "category": "marketing",
        "lifetime": "P395D",
        "purpose": {"en": "What it does."},
    }
    assert entries["_gcl_au"]["lifetime"] == "P90D" and "domain" not in entries["_gcl_au"]
    assert entries["csrf"]["lifetime"] == "PT1H" and entries["csrf"]["provider"] == "Demo Shop AB"
    assert entries["sid"]["lifetime"] == "session"
    assert entries["_hjSessionStorageTest"]["storage"] == "session"
    assert "vpref" in text and "not classified" in text  # left for the owner, commented out
    # The owner can paste the entries into the declaration as they are.
    merged = declaration()
    merged["cookies"] = merged["cookies"] + patch["cookies"]
    load_declaration(merged)


def test_hostile_names_from_a_scanned_site_are_stored(app: Flask):
    with app.app_context():
        apply(declaration())
        evil = "k\x00ey" + "x" * 600
        storage = {
            "kind": "local",
            "origin": "https://shop.example",
            "key": evil,
            "party": "first",
            "classification": cookie("x", "unknown", source="none")["classification"],
            "phases": ["pre-consent"],
            "pages": [],
        }
        scan_id = finish(
            "demo-shop",
            fake_report(storage=[storage], findings=[finding("pre_consent", "high", evil)]),
        )
        scan = db.session.get(Scan, scan_id)
        assert scan.status == "done"
        [item] = scan_items(scan)
        assert item.name.startswith("k\ufffdey") and len(item.name) == 512
        assert scan_findings(scan)[0].cookie == item.name


@pytest.mark.parametrize(
    ("seconds", "iso"),
    [
        (None, "session"),
        (30, "PT30S"),
        (1800, "PT30M"),
        (3600, "PT1H"),
        (86399.6, "P1D"),
        (63072000, "P2Y"),
        (400 * 86400, "P400D"),
    ],
)
def test_lifetimes_are_proposed_rounded_up(seconds: float | None, iso: str):
    assert iso_lifetime(seconds) == iso


def test_purge_removes_old_scans_but_keeps_each_sites_latest(app: Flask):
    with app.app_context():
        apply(declaration())
        apply(declaration("other-shop"))
        old = [
            finish("demo-shop", fake_report([cookie("a")], [finding("pre_consent", "high", "a")]))
            for _ in range(3)
        ]
        lonely = finish("other-shop", fake_report())
        db.session.execute(update(Scan).values(created_at=NOW - dt.timedelta(days=400)))
        db.session.commit()
        assert purge_scans(365, NOW, dry_run=True) == 2
        assert purge_scans(365, NOW) == 2
        left = set(db.session.execute(select(Scan.id)).scalars())
        assert left == {old[-1], lonely}
        assert set(db.session.execute(select(ScanFinding.scan_id)).scalars()) == {old[-1]}
        assert set(db.session.execute(select(ScanItem.scan_id)).scalars()) == {old[-1]}


# -- API -------------------------------------------------------------------------------------


@pytest.fixture
def scan_api(app: Flask) -> dict[str, Any]:
    """Two sites with scans; tokens of each."""
    with app.app_context():
        apply(declaration())
        apply(declaration("other-shop"))
        first = finish(
            "demo-shop", fake_report([cookie("_fbp")], [finding("pre_consent", "high", "_fbp")])
        )
        second = finish(
            "demo-shop",
            fake_report(
                [cookie("_fbp"), cookie("<img src=x onerror=alert(1)>", "unknown", source="none")],
                [
                    finding("pre_consent", "high", "_fbp"),
                    finding("undeclared", "medium", "<img src=x onerror=alert(1)>"),
                ],
            ),
        )
        other = finish("other-shop", fake_report())
        return {
            "first": first,
            "second": second,
            "other": other,
            "admin": create_token("demo-shop", "admin")[1],
            "auditor": create_token("demo-shop", "auditor")[1],
            "other_admin": create_token("other-shop", "admin")[1],
            "operator": create_token(None, "auditor")[1],
        }


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_an_admin_queues_a_scan_and_an_auditor_lists_them(
    client: FlaskClient, scan_api: dict[str, Any]
):
    resp = client.post("/api/v1/sites/demo-shop/scans", headers=_auth(scan_api["admin"]))
    assert resp.status_code == 202, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "queued" and body["trigger"] == "api" and body["site"] == "demo-shop"
    assert (
        client.post("/api/v1/sites/demo-shop/scans", headers=_auth(scan_api["auditor"])).status_code
        == 403
    )
    listed = client.get(
        "/api/v1/sites/demo-shop/scans", headers=_auth(scan_api["auditor"])
    ).get_json()
    assert [s["id"] for s in listed["scans"]] == [body["id"], scan_api["second"], scan_api["first"]]
    assert listed["scans"][1]["finding_counts"]["high"] == 1
    done = client.get(
        "/api/v1/sites/demo-shop/scans?status=done&limit=1", headers=_auth(scan_api["auditor"])
    )
    assert [s["id"] for s in done.get_json()["scans"]] == [scan_api["second"]]
    assert (
        client.get(
            "/api/v1/sites/demo-shop/scans?limit=0", headers=_auth(scan_api["auditor"])
        ).status_code
        == 422
    )


def test_scanning_a_site_without_scan_settings_is_a_conflict(
    client: FlaskClient, tokens: dict[str, str]
):
    resp = client.post("/api/v1/sites/demo-shop/scans", headers=_auth(tokens["admin"]))
    assert resp.status_code == 409
    assert "scan" in resp.get_json()["message"]


def test_a_scan_reads_as_json_html_diff_and_proposal(client: FlaskClient, scan_api: dict[str, Any]):
    auth = _auth(scan_api["auditor"])
    scan_id = scan_api["second"]
    doc = client.get(f"/api/v1/scans/{scan_id}", headers=auth).get_json()
    assert doc["status"] == "done" and doc["revision"] == 1
    assert doc["settings"]["url"] == "https://demo-shop.example/"
    assert {f["type"] for f in doc["findings"]} == {"pre_consent", "undeclared"}
    assert {i["name"] for i in doc["observed"]} == {"_fbp", "<img src=x onerror=alert(1)>"}
    assert doc["report"]["summary"]["cookies"] == 2
    html = client.get(f"/api/v1/scans/{scan_id}/report.html", headers=auth)
    assert html.status_code == 200 and html.mimetype == "text/html"
    assert "sandbox" in html.headers["Content-Security-Policy"]
    assert "<img src=x" not in html.get_data(as_text=True)  # escaped
    diff = client.get(f"/api/v1/scans/{scan_id}/diff", headers=auth).get_json()
    assert diff["previous"] == scan_api["first"]
    assert [f["type"] for f in diff["findings"]["new"]] == ["undeclared"]
    proposed = client.get(f"/api/v1/scans/{scan_id}/proposed-declaration", headers=auth)
    assert proposed.mimetype == "application/yaml"
    assert "onerror" in proposed.get_data(as_text=True)


def test_tokens_of_one_site_never_see_another_sites_scans(
    client: FlaskClient, scan_api: dict[str, Any]
):
    mine = scan_api["other_admin"]
    for path in ("", "/report.html", "/diff", "/proposed-declaration"):
        resp = client.get(f"/api/v1/scans/{scan_api['second']}{path}", headers=_auth(mine))
        assert resp.status_code == 404, path  # as if it did not exist
        assert (
            client.get(f"/api/v1/scans/{scan_api['other']}{path}", headers=_auth(mine)).status_code
            == 200
        )
        assert client.get(f"/api/v1/scans/{scan_api['second']}{path}").status_code == 401
    assert client.get("/api/v1/sites/demo-shop/scans", headers=_auth(mine)).status_code == 403
    assert client.post("/api/v1/sites/demo-shop/scans", headers=_auth(mine)).status_code == 403
    assert (
        client.get("/api/v1/scans/999999", headers=_auth(scan_api["operator"])).status_code == 404
    )
    assert (
        client.get(
            f"/api/v1/scans/{scan_api['second']}", headers=_auth(scan_api["operator"])
        ).status_code
        == 200
    )


def test_an_unfinished_scan_has_no_report_diff_or_proposal(
    client: FlaskClient, scan_api: dict[str, Any]
):
    queued = client.post(
        "/api/v1/sites/demo-shop/scans", headers=_auth(scan_api["admin"])
    ).get_json()["id"]
    for path in ("/report.html", "/diff", "/proposed-declaration"):
        assert (
            client.get(
                f"/api/v1/scans/{queued}{path}", headers=_auth(scan_api["auditor"])
            ).status_code
            == 409
        )


def test_a_signed_report_link_works_without_a_token_until_it_expires(
    app: Flask, client: FlaskClient, scan_api: dict[str, Any]
):
    from consent_server.scans.alerts import report_link

    with app.app_context():
        link = report_link(scan_api["second"])
        old = report_link(scan_api["second"], now=dt.datetime.now(UTC) - dt.timedelta(days=31))
    assert client.get(link).status_code == 200
    query = parse_qs(urlsplit(link).query)
    forged = f"/api/v1/scans/{scan_api['other']}/report.html?expires={query['expires'][0]}&signature={query['signature'][0]}"
    assert client.get(forged).status_code == 403
    assert client.get(old).status_code == 403
    assert client.get(link.replace("report.html", "diff")).status_code == 401


def test_the_openapi_document_lists_the_scan_endpoints(client: FlaskClient):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/api/v1/sites/{site}/scans",
        "/api/v1/scans/{scan_id}",
        "/api/v1/scans/{scan_id}/report.html",
        "/api/v1/scans/{scan_id}/diff",
        "/api/v1/scans/{scan_id}/proposed-declaration",
    ):
        assert path in paths


# -- alerts ----------------------------------------------------------------------------------


@pytest.fixture
def alerting(app: Flask) -> Iterator[tuple[WebhookReceiver, MailSink]]:
    with WebhookReceiver() as hook, MailSink() as mail:
        app.config.update(
            WEBHOOK_ALLOW_PRIVATE=True,
            WEBHOOK_BACKOFF=0.01,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=mail.port,
            SMTP_FROM="consent@example.se",
            PUBLIC_URL="https://consent.example.se",
        )
        with app.app_context():
            apply(
                declaration(
                    fail_on="high", alerts={"webhook": hook.url, "email": ["dpo@example.se"]}
                )
            )
        yield hook, mail


def test_alerts_tell_only_new_findings_at_or_above_fail_on(
    app: Flask, alerting: tuple[WebhookReceiver, MailSink]
):
    hook, mail = alerting
    with app.app_context():
        first = finish(
            "demo-shop",
            fake_report(
                [cookie("_fbp")],
                [finding("pre_consent", "high", "_fbp"), finding("undeclared", "medium", "x")],
            ),
        )
        result = send_pending_alert(first)
        assert result["webhook"]["ok"] and result["email"]["ok"], result
        headers, body, _ = hook.next()
        secret = webhook_secret("demo-shop")
        assert verify_signature(body, headers[SIGNATURE_HEADER.lower()], secret)
        payload = json.loads(body)
        assert payload["event"] == "scan.new_findings" and payload["site"] == "demo-shop"
        assert [(f["type"], f["cookie"]) for f in payload["new_findings"]] == [
            ("pre_consent", "_fbp")
        ]
        assert payload["report_url"].startswith(
            f"https://consent.example.se/api/v1/scans/{first}/report.html?"
        )
        rcpt, message = mail.next()
        assert rcpt == ["dpo@example.se"]
        assert "1 new finding at or above high" in message["Subject"]
        text = message.get_payload(decode=True).decode()
        assert "_fbp" in text and payload["report_url"] in text
        assert send_pending_alert(first) is None  # sent once

        # The same problems again, plus a new medium one: below fail_on, no alert.
        same = finish(
            "demo-shop",
            fake_report(
                [cookie("_fbp")],
                [
                    finding("pre_consent", "high", "_fbp"),
                    finding("lifetime_mismatch", "medium", "_fbp"),
                ],
            ),
        )
        assert db.session.get(Scan, same).alert_state is None
        assert send_pending_alert(same) is None

        # A new high one: the alert names it alone.
        third = finish(
            "demo-shop",
            fake_report(
                [cookie("_fbp"), cookie("_uetsid")],
                [
                    finding("pre_consent", "high", "_fbp"),
                    finding("after_reject", "high", "_uetsid", "after-reject"),
                ],
            ),
        )
        send_pending_alert(third)
        headers, body, _ = hook.next()
        assert [(f["type"], f["cookie"]) for f in json.loads(body)["new_findings"]] == [
            ("after_reject", "_uetsid")
        ]
        assert verify_signature(body, headers[SIGNATURE_HEADER.lower()], secret)
        mail.next()
        db.session.expire_all()
        assert db.session.get(Scan, third).alert_state == "sent"
    assert hook.nothing_more()


def test_webhooks_are_retried_with_backoff_then_given_up(app: Flask):
    from consent_server.scans.alerts import deliver_webhook

    with app.app_context():
        app.config.update(WEBHOOK_ALLOW_PRIVATE=True, WEBHOOK_BACKOFF=0.01, WEBHOOK_ATTEMPTS=4)
        with WebhookReceiver(statuses=(503, 502, 200)) as hook:
            result = deliver_webhook(hook.url, b'{"a":1}', "s3cret", "delivery-1")
            assert result == {"ok": True, "status": 200, "attempts": 3}
            deliveries = [hook.next()[0]["x-consent-delivery"] for _ in range(3)]
            assert deliveries == ["delivery-1"] * 3
        with WebhookReceiver(statuses=(400,)) as hook:
            result = deliver_webhook(hook.url, b"{}", "s3cret", "delivery-2")
            assert (result["ok"], result["attempts"], result["status"]) == (False, 1, 400)
        with WebhookReceiver(statuses=(500,) * 4) as hook:
            assert deliver_webhook(hook.url, b"{}", "s", "d")["attempts"] == 4


def test_webhooks_to_private_addresses_are_refused_unless_allowed(app: Flask):
    from consent_server.scans.alerts import deliver_webhook

    with app.app_context(), WebhookReceiver() as hook:
        result = deliver_webhook(hook.url, b"{}", "s", "d")
        assert not result["ok"] and "WEBHOOK_ALLOW_PRIVATE" in result["error"]
        assert hook.nothing_more()


def test_site_webhook_secrets_differ_and_come_from_the_server_secret(app: Flask, tmp_path: Path):
    with app.app_context():
        a, b = webhook_secret("demo-shop"), webhook_secret("other-shop")
        assert a != b and len(a) == 64
        assert (Path(app.config["KEYS_DIR"]) / "webhook.secret").stat().st_mode & 0o077 == 0
        assert webhook_secret("demo-shop") == a
        app.config["WEBHOOK_SECRET"] = "configured"
        assert webhook_secret("demo-shop") not in (a, b)


# -- command line ----------------------------------------------------------------------------


def test_scans_commands(app: Flask, scan_api: dict[str, Any], tmp_path: Path):
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["scans", "list", "demo-shop"])
    assert listed.exit_code == 0 and f"{scan_api['second']:>6} demo-shop" in listed.output
    shown = runner.invoke(
        args=["scans", "show", str(scan_api["second"]), "--html", str(tmp_path / "r.html")]
    )
    assert shown.exit_code == 0 and "[high] pre_consent" in shown.output
    assert (tmp_path / "r.html").read_text().startswith("<!doctype html>")
    as_json = json.loads(
        runner.invoke(args=["scans", "show", str(scan_api["second"]), "--json"]).output
    )
    assert as_json["id"] == scan_api["second"]
    diff = runner.invoke(args=["scans", "diff", str(scan_api["second"])])
    assert "+ finding [medium]" in diff.output
    proposed = runner.invoke(args=["scans", "propose", str(scan_api["second"])])
    assert proposed.exit_code == 0 and proposed.output.startswith("# Proposed additions")
    assert runner.invoke(args=["scans", "show", "424242"]).exit_code == 2
    secret = runner.invoke(args=["scans", "webhook-secret", "demo-shop"]).output.strip()
    with app.app_context():
        assert secret == webhook_secret("demo-shop")
    queued = runner.invoke(args=["scans", "run", "demo-shop", "--queue"])
    assert queued.exit_code == 0 and "queued" in queued.output
    assert runner.invoke(args=["scans", "run", "nope-shop"]).exit_code == 2
    with app.app_context():
        db.session.execute(update(Scan).values(created_at=NOW - dt.timedelta(days=100)))
        db.session.commit()
    purged = runner.invoke(args=["scans", "purge", "--older-than-days", "30"])
    assert purged.exit_code == 0 and "deleted 1 scans" in purged.output
    assert runner.invoke(args=["scans", "purge", "--older-than-days", "0"]).exit_code == 2


def test_scheduler_once_seals_the_consent_log(app: Flask, demo_site: str, client: FlaskClient):
    from tests.conftest import consent_body

    assert (
        client.post(f"/api/v1/sites/{demo_site}/consents", json=consent_body()).status_code == 201
    )
    result = app.test_cli_runner().invoke(args=["scheduler", "--once"])
    assert result.exit_code == 0, result.output
    assert "created 0" in result.output and "sealed 1" in result.output


def test_the_cookie_policy_includes_what_the_latest_scan_saw(app: Flask):
    with app.app_context():
        apply(declaration())
        assert latest_report("demo-shop") is None
        finish("demo-shop", fake_report([cookie("_hjSessionUser_1", "analytics", vendor="Hotjar")]))
        finish("demo-shop", fake_report([cookie("_uetvid", "marketing", vendor="Microsoft")]))
        latest = latest_report("demo-shop")
        assert [c["name"] for c in latest["cookies"]] == ["_uetvid"]
    text = app.test_client().get("/api/v1/sites/demo-shop/cookie-policy?lang=en&format=markdown")
    body = text.get_data(as_text=True)
    assert "| _uetvid | Microsoft |" in body and "_hjSessionUser_1" not in body
