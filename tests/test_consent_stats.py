"""Consent statistics kept at seal time: equal to the receipts, once each, through purges."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import delete, func, select
from sqlalchemy import update as sa_update

from consent_server.consent_log.models import ConsentReceipt, ConsentStatsDaily
from consent_server.consent_log.retention import purge_receipts
from consent_server.consent_log.seals import seal_site
from consent_server.consent_log.stats import (
    aggregate_counts,
    console_csv,
    console_stats,
    rebuild_stats,
    receipt_counts,
)
from consent_server.extensions import db
from consent_server.sites.models import Site
from tests.support.consent import CONSENTS, consent_body, post_consent
from tests.support.log import cli

SITE = "demo-shop"
OFF = {"necessary": True, "preferences": False, "analytics": False, "marketing": False}


def _post_mix(client: FlaskClient) -> None:
    """Every method, both languages, with and without the GPC signal."""
    post_consent(client)
    post_consent(client, language="en")
    post_consent(client, method="reject_all", decisions=OFF)
    post_consent(client, method="custom", decisions={**OFF, "analytics": True}, language="en")
    post_consent(client, method="withdraw", decisions=OFF)
    post_consent(client, method="gpc", decisions=OFF, gpc=True)
    post_consent(client, method="reject_all", decisions=OFF, gpc=True, language="en")


def _site_id(app: Flask) -> int:
    with app.app_context():
        return db.session.scalars(select(Site.id).where(Site.key == SITE)).one()


def _aggregates(app: Flask) -> dict:
    with app.app_context():
        return aggregate_counts(_site_id(app))


def _recomputed(app: Flask) -> dict:
    with app.app_context():
        return receipt_counts(_site_id(app))


def _seal(app: Flask) -> None:
    with app.app_context():
        seal_site(SITE)


def _api_stats(client: FlaskClient, headers: dict[str, str], **query: str) -> dict[str, Any]:
    resp = client.get(f"/api/v1/sites/{SITE}/stats", headers=headers, query_string=query)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def _auditor(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['auditor']}"}


def test_aggregates_equal_the_receipts_after_posts_and_seals(
    app: Flask, client: FlaskClient, demo_site
):
    _post_mix(client)
    assert _aggregates(app) == {}  # nothing sealed yet
    _seal(app)
    first = _aggregates(app)
    assert first == _recomputed(app)
    assert sum(c.total for c in first.values()) == 7
    assert {lang for _day, _rev, lang in first} == {"sv", "en"}
    assert sum(c.gpc for c in first.values()) == 2
    _post_mix(client)
    _seal(app)
    again = _aggregates(app)
    assert again == _recomputed(app)
    assert sum(c.total for c in again.values()) == 14
    _seal(app)  # nothing new to seal: nothing added
    assert _aggregates(app) == again


def test_small_seal_batches_count_each_receipt_once(app: Flask, client: FlaskClient, demo_site):
    _post_mix(client)
    with app.app_context():
        results = seal_site(SITE, max_leaves=3)
    assert [r.tree_size for r in results] == [3, 3, 1]
    assert _aggregates(app) == _recomputed(app)


def test_a_retried_nonce_is_counted_once(app: Flask, client: FlaskClient, demo_site):
    body = consent_body(client_nonce=str(uuid.uuid4()))
    first = client.post(CONSENTS, json=body)
    retry = client.post(CONSENTS, json=body)
    assert first.status_code == 201 and retry.status_code in (200, 201)
    assert retry.get_json()["receipt_id"] == first.get_json()["receipt_id"]
    _seal(app)
    counts = _aggregates(app)
    assert sum(c.total for c in counts.values()) == 1
    assert counts == _recomputed(app)


def test_api_stats_are_the_same_before_and_after_sealing(
    app: Flask, client: FlaskClient, tokens: dict[str, str]
):
    h = _auditor(tokens)
    _post_mix(client)
    _seal(app)
    _post_mix(client)  # half sealed, half pending
    mixed = _api_stats(client, h)
    assert sum(b["total"] for b in mixed["buckets"]) == 14
    _seal(app)
    assert _api_stats(client, h) == mixed
    # A range whose first and last day are partial is counted from their receipts.
    now = dt.datetime.now(dt.UTC)
    window = {
        "since": (now - dt.timedelta(hours=1)).isoformat(),
        "until": (now + dt.timedelta(hours=1)).isoformat(),
    }
    assert _api_stats(client, h, **window) == mixed
    days = {
        "since": (now - dt.timedelta(days=3)).date().isoformat(),
        "until": (now + dt.timedelta(days=2)).date().isoformat(),
    }
    assert _api_stats(client, h, **days) == mixed
    later = {"since": (now + dt.timedelta(days=1)).date().isoformat()}
    assert _api_stats(client, h, **later)["buckets"] == []


def test_purging_changes_no_statistics(app: Flask, client: FlaskClient, tokens: dict[str, str]):
    h = _auditor(tokens)
    _post_mix(client)
    _seal(app)
    before, api_before = _aggregates(app), _api_stats(client, h)
    with app.app_context():
        assert purge_receipts(dt.timedelta(0), SITE) == 7
    assert _aggregates(app) == before
    assert _api_stats(client, h) == api_before
    # The rebuild keeps a purged day's counts: its records no longer name the language.
    with app.app_context():
        rebuild_stats(SITE)
    assert _aggregates(app) == before
    # With nothing kept, the purged receipts are counted again, their language unknown.
    with app.app_context():
        db.session.execute(delete(ConsentStatsDaily))
        db.session.commit()
        rebuild_stats(SITE)
    rebuilt = _aggregates(app)
    assert {lang for _day, _rev, lang in rebuilt} == {""}
    assert sum(c.total for c in rebuilt.values()) == 7
    assert _api_stats(client, h) == api_before


def test_rebuild_backfills_what_sealing_kept(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, demo_site
):
    _post_mix(client)
    _seal(app)
    _post_mix(client)  # not sealed: not in the aggregates, nor in the backfill
    kept = _aggregates(app)
    with app.app_context():
        db.session.execute(delete(ConsentStatsDaily))
        db.session.commit()
    assert _aggregates(app) == {}
    assert "demo-shop: 2 daily rows" in cli(runner, "stats", "rebuild", "--site", SITE).output
    assert _aggregates(app) == kept
    cli(runner, "stats", "rebuild")  # every site, again: the same
    assert _aggregates(app) == kept
    _seal(app)
    assert _aggregates(app) == _recomputed(app)
    assert "Unknown site" in cli(runner, "stats", "rebuild", "--site", "nope", code=2).output


def test_cli_json_and_csv(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, demo_site, tmp_path: Path
):
    _post_mix(client)
    _seal(app)
    post_consent(client, method="custom", decisions={**OFF, "marketing": True})  # pending
    out = cli(runner, "stats", SITE, "--json")
    report = json.loads(out.stdout)
    totals = report["totals"]
    assert totals["total"] == 8
    assert totals["methods"] == {
        "accept_all": 2, "reject_all": 2, "custom": 2, "withdraw": 1, "gpc": 1,
    }  # fmt: skip
    assert totals["shares"]["accept_all"] == 0.25 and totals["gpc"] == 2
    assert totals["gpc_share"] == 0.25
    assert totals["opt_in_rate"] == {
        "necessary": 1.0, "preferences": 0.25, "analytics": 0.375, "marketing": 0.375,
    }  # fmt: skip
    assert {r["language"]: r["total"] for r in report["languages"]} == {"sv": 5, "en": 3}
    assert [(r["revision"], r["total"]) for r in report["revisions"]] == [(1, 8)]
    assert sum(d["total"] for d in report["days"]) == 8
    # The JSON to a file, the CSV beside it, and text on stdout.
    target, table = tmp_path / "stats.json", tmp_path / "stats.csv"
    text = cli(runner, "stats", SITE, "--json", target, "--csv", table).output
    assert "demo-shop: 8 receipts" in text
    assert json.loads(target.read_text())["totals"] == totals
    rows = list(csv.DictReader(io.StringIO(table.read_text())))
    assert rows[0]["scope"] == "range" and rows[0]["total"] == "8"
    assert rows[0]["opt_in_rate_marketing"] == "0.375"
    assert {r["scope"] for r in rows} == {"range", "day", "revision", "language"}
    today = dt.datetime.now(dt.UTC).date()
    future = cli(
        runner, "stats", SITE, "--since", (today + dt.timedelta(days=2)).isoformat(), "--json"
    )
    assert json.loads(future.stdout)["totals"]["total"] == 0
    assert "Unknown site" in cli(runner, "stats", "nope", code=2).output
    assert "ISO-8601" in cli(runner, "stats", SITE, "--since", "yesterday", code=2).output
    bad_range = cli(runner, "stats", SITE, "--since", "2026-02-02", "--until", "2026-02-01", code=2)
    assert "before" in bad_range.output


def test_console_report_and_csv_agree(app: Flask, client: FlaskClient, demo_site):
    _post_mix(client)
    _seal(app)
    with app.app_context():
        report = console_stats(SITE, None, None)
        table = console_csv(report)
        count = db.session.scalar(select(func.count()).select_from(ConsentReceipt))
    assert report["totals"]["total"] == count == 7
    lines = table.strip().splitlines()
    assert len(lines) == 1 + 1 + len(report["days"]) + 1 + 2


def test_unsealed_receipts_are_grouped_by_their_columns_and_older_ones_by_their_record(
    app: Flask, client: FlaskClient, demo_site
):
    """The writer copies language and GPC into columns; receipts from before the columns
    existed (NULL) are still grouped right, from their records."""
    _post_mix(client)
    with app.app_context():
        rows = db.session.execute(
            select(ConsentReceipt.language, ConsentReceipt.gpc, ConsentReceipt.record)
        ).all()
        assert all(
            (lang, gpc) == (json.loads(rec)["language"], bool(json.loads(rec).get("gpc")))
            for lang, gpc, rec in rows
        )
        before = console_stats(SITE, None, None)
        db.session.execute(sa_update(ConsentReceipt).values(language=None, gpc=None))
        db.session.commit()
        older = console_stats(SITE, None, None)
    assert before == older
    assert {x["language"]: x["total"] for x in before["languages"]} == {"sv": 4, "en": 3}
    assert before["totals"]["gpc"] == 2
