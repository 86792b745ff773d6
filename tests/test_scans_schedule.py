"""Scan settings in the declaration, and the schedules made from them: cron in the site's time
zone, missed slots run once, one waiting scan per site, schedules that follow the declaration."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from consent_server.clock import as_utc
from consent_server.extensions import db
from consent_server.scans.models import Scan, ScanSchedule
from consent_server.scans.schedule import claim_due, next_run, sync_schedules
from declaration.loader import DeclarationError, load_declaration
from tests.support.scans import NOW, UTC, apply, declaration


@pytest.mark.parametrize(
    ("scan", "path"),
    [
        # Network settings are the operator's (SCAN_SITE_NETWORK), never a declaration's.
        ({"resolve": {"*.example.se": "93.184.215.14"}}, "scan.resolve"),
        ({"insecure": True}, "scan.insecure"),
        ({"allow_private": False}, "scan.allow_private"),
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
    loaded = load_declaration(declaration(schedule="@daily")).data["scan"]
    assert loaded["schedule"] == "@daily"
    assert loaded["timezone"] == "UTC"
    assert loaded["phases"] == ["pre-consent", "after-reject", "after-accept"]
    assert loaded["fail_on"] == "high" and loaded["max_pages"] == 50
    assert loaded["alerts"] == {}
    assert not {"resolve", "insecure", "allow_private"} & set(loaded)


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
