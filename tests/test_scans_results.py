"""Stored scan results: the diff with the previous scan, the proposed declaration, hostile
names, retention, and the cookie policy built from the latest scan."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from flask import Flask
from sqlalchemy import select, update

from consent_server.extensions import db
from consent_server.scans.models import Scan, ScanFinding, ScanItem
from consent_server.scans.proposals import iso_lifetime, propose_declaration
from consent_server.scans.results import diff_scans, latest_report, scan_findings, scan_items
from consent_server.scans.retention import purge_scans
from declaration.loader import load_declaration
from tests.support.scans import NOW, apply, cookie, declaration, fake_report, finding, finish


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
                    cookie("zq_view", "unknown", source="none", seconds=None, vendor=None)
                    | {"classification": {"category": "unknown", "guess": "preferences"}},
                    # Only in the jar: persistent, its request never seen.
                    cookie("sw_uid", seconds=None)
                    | {"lifetime_class": "persistent", "stored_seconds": 86000.0},
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
    assert set(entries) == {"MUID", "_gcl_au", "csrf", "sid", "_hjSessionStorageTest", "sw_uid"}
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
    assert entries["sw_uid"]["lifetime"] == "PT24H"  # what the jar held, rounded up
    assert entries["_hjSessionStorageTest"]["storage"] == "session"
    assert "vpref" in text and "not classified" in text  # left for the owner, commented out
    # A best guess is said beside the entry, never proposed as its category.
    assert "zq_view" not in entries
    assert "zq_view" in text and "not classified (best guess: preferences)" in text
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
    assert "| \\_uetvid | Microsoft |" in body and "hjSessionUser" not in body
