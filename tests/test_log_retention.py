"""Retention of the consent log: old sealed receipts are blanked, their hashes kept, and the
export still verifies."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from consent_server.consent_log.models import ConsentReceipt
from consent_server.consent_log.verify.bundle import verify_path
from consent_server.extensions import db
from tests.support.consent import DEMO_PAGE
from tests.support.log import (
    SITE,
    bundle_members,
    cli,
    export_bundle,
    jsonl,
    post_receipts,
    receipt_rows,
    verify_cli,
)


def test_purge_blanks_old_sealed_receipts_and_the_export_still_verifies(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, demo_site: str, tmp_path: Path
):
    ids = post_receipts(client, 4)
    cli(runner, "log", "seal")
    assert cli(runner, "log", "purge", "--older-than", "P36M").output == (
        "purged 0 receipts older than P36M\n"
    )
    old, unsealed_old = ids[:2], post_receipts(client, 1)
    four_years_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=4 * 365)
    with app.app_context():
        db.session.execute(
            sa.update(ConsentReceipt)
            .where(ConsentReceipt.receipt_id.in_([*old, *unsealed_old]))
            .values(recorded_at=four_years_ago)
        )
        db.session.commit()
    before = {r.receipt_id: r.record_hash for r in receipt_rows(app)}
    consent_of = {r.receipt_id: r.consent_id for r in receipt_rows(app)}
    assert (
        len(
            client.get(f"/api/v1/consents/{consent_of[old[0]]}", headers=DEMO_PAGE).get_json()[
                "receipts"
            ]
        )
        == 1
    )

    out = cli(runner, "log", "purge", "--older-than", "P36M", "--dry-run").output
    assert out == "would purge 2 receipts older than P36M\n"
    out = cli(runner, "log", "purge", "--older-than", "P36M", "--site", SITE).output
    assert out == "purged 2 receipts older than P36M\n"
    assert cli(runner, "log", "purge", "--older-than", "P36M").output.startswith("purged 0 ")

    rows = {r.receipt_id: r for r in receipt_rows(app)}
    for rid in old:
        assert (rows[rid].record, rows[rid].consent_id) == (None, None)
        assert rows[rid].purged_at is not None
    for rid in [*ids[2:], *unsealed_old]:  # recent, or old but not yet provable: kept
        assert rows[rid].record is not None and rows[rid].consent_id is not None
        assert rows[rid].purged_at is None
    assert {rid: r.record_hash for rid, r in rows.items()} == before

    path = export_bundle(runner, tmp_path / "purged.zip")
    report = verify_path(path)
    assert report.ok, report.summary()
    assert (report.receipts, report.purged, report.seals) == (5, 2, 2)
    lines = jsonl(bundle_members(path)["receipts.jsonl"])
    purged = [x for x in lines if x["record"] is None]
    assert [(x["receipt_id"], x["purged"], x["record_hash"]) for x in purged] == [
        (rid, True, before[rid]) for rid in old
    ]
    assert "5 receipts (2 purged) under 2 seals" in verify_cli(runner, path, code=0)
    # A purged receipt is no longer in its visitor's history either.
    for rid in old:
        assert (
            client.get(f"/api/v1/consents/{consent_of[rid]}", headers=DEMO_PAGE).get_json()[
                "receipts"
            ]
            == []
        )
    kept = client.get(f"/api/v1/consents/{consent_of[ids[2]]}", headers=DEMO_PAGE).get_json()[
        "receipts"
    ]
    assert [x["record"]["receipt_id"] for x in kept] == [ids[2]]
