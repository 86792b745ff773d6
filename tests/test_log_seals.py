"""Seals of the consent log: successive seals chain, batches hold at most max_leaves, a receipt
committed after a seal lands in the next one, a record changed before sealing is refused, and
a rotated key signs new receipts and seals while old bundles still verify."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import jwt
import orjson
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from consent_server.consent_log.merkle import canonical, sha256_hex
from consent_server.consent_log.models import ConsentReceipt
from consent_server.consent_log.seals import TamperedRecord, seal_site
from consent_server.consent_log.verify.bundle import verify_path
from consent_server.extensions import db
from tests.support.apps import ONLY_POSTGRES
from tests.support.consent import consent_body
from tests.support.log import (
    CONSENTS,
    JWKS,
    SEALS,
    SITE,
    build_record,
    bundle_members,
    cli,
    export_bundle,
    leaves_by_seal,
    post_receipts,
    receipt_rows,
    seal_rows,
    verify_cli,
)


def test_successive_seals_chain_and_verify_together(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    tokens: dict[str, str],
    tmp_path: Path,
):
    first = post_receipts(client, 3)
    assert "seal 1 over 3 receipts" in cli(runner, "log", "seal").output
    second = post_receipts(client, 2, method="reject_all", decisions={"necessary": True})
    assert "seal 2 over 2 receipts" in cli(runner, "log", "seal", "--site", SITE).output

    auth = {"Authorization": f"Bearer {tokens['auditor']}"}
    seals = client.get(SEALS, headers=auth).get_json()["seals"]
    assert [s["sequence"] for s in seals] == [1, 2]
    assert [s["payload"]["tree_size"] for s in seals] == [3, 2]
    assert seals[0]["payload"]["previous"] is None
    assert seals[1]["payload"]["previous"] == sha256_hex(canonical(seals[0]["payload"]))
    for seal in seals:
        assert jwt.decode(seal["signature"], options={"verify_signature": False}) == seal["payload"]
    assert leaves_by_seal(app) == {1: first, 2: second}
    rows = {r.receipt_id: (r.seal_id, r.leaf_index) for r in receipt_rows(app)}
    seal_ids = {s.sequence: s.id for s in seal_rows(app)}
    assert rows == {
        **{rid: (seal_ids[1], i) for i, rid in enumerate(first)},
        **{rid: (seal_ids[2], i) for i, rid in enumerate(second)},
    }

    report = verify_path(export_bundle(runner, tmp_path / "all.zip"))
    assert report.ok and (report.receipts, report.seals) == (5, 2)


def test_sealing_in_batches_gives_chained_seals_of_at_most_max_leaves(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, demo_site: str, tmp_path: Path
):
    ids = post_receipts(client, 7)
    with app.app_context():
        results = seal_site(SITE, max_leaves=3)
    assert [(r.sequence, r.tree_size) for r in results] == [(1, 3), (2, 3), (3, 1)]
    assert leaves_by_seal(app) == {1: ids[:3], 2: ids[3:6], 3: ids[6:]}
    seals = seal_rows(app)
    assert [s.previous_hash for s in seals] == [None, seals[0].seal_hash, seals[1].seal_hash]
    report = verify_path(export_bundle(runner, tmp_path / "batches.zip"))
    assert report.ok and (report.receipts, report.seals) == (7, 3)


@ONLY_POSTGRES
def test_receipt_committed_after_a_seal_lands_in_the_next_seal_only(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, demo_site: str, tmp_path: Path
):
    record, late = build_record(app, dt.datetime.now(dt.UTC))
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as conn:
            tx = conn.begin()
            conn.execute(sa.insert(ConsentReceipt), late)  # takes its id now, commits later
            on_time = post_receipts(client, 3)
            assert "seal 1 over 3 receipts" in cli(runner, "log", "seal").output
            tx.commit()
    finally:
        engine.dispose()
    assert "seal 2 over 1 receipts" in cli(runner, "log", "seal").output
    assert cli(runner, "log", "seal").output == "nothing to seal\n"

    rows = receipt_rows(app)
    assert [r.receipt_id for r in rows] == [record["receipt_id"], *on_time]
    seals = {s.id: s.sequence for s in seal_rows(app)}
    assert {r.receipt_id: (seals[r.seal_id], r.leaf_index) for r in rows} == {
        record["receipt_id"]: (2, 0),
        **{rid: (1, i) for i, rid in enumerate(on_time)},
    }
    assert leaves_by_seal(app) == {1: on_time, 2: [record["receipt_id"]]}

    report = verify_path(export_bundle(runner, tmp_path / "late.zip"))
    assert report.ok, report.summary()
    assert (report.receipts, report.seals, report.unsealed) == (4, 2, [])


def test_sealing_refuses_a_record_that_no_longer_matches_its_hash(
    app: Flask, client: FlaskClient, demo_site: str
):
    ids = post_receipts(client, 3)
    with app.app_context():
        row = db.session.execute(
            sa.select(ConsentReceipt).where(ConsentReceipt.receipt_id == ids[1])
        ).scalar_one()
        row.record = row.record.replace('"method":"accept_all"', '"method":"custom"')
        db.session.commit()
        with pytest.raises(TamperedRecord, match=ids[1]):
            seal_site(SITE)
    assert seal_rows(app) == []
    assert all(r.seal_id is None for r in receipt_rows(app))


def test_rotated_key_signs_new_receipts_and_seals_while_old_bundles_still_verify(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, demo_site: str, tmp_path: Path
):
    old_kid = client.get(JWKS).get_json()["keys"][0]["kid"]
    resp = client.post(CONSENTS, json=consent_body())
    assert jwt.get_unverified_header(resp.get_json()["receipt"])["kid"] == old_kid
    cli(runner, "log", "seal")
    old_bundle = export_bundle(runner, tmp_path / "before.zip")

    out = cli(runner, "keys", "rotate").output
    new_kid = out.removeprefix("new signing key ").strip()
    assert new_kid and new_kid != old_kid
    listed = cli(runner, "keys", "list").output.splitlines()
    assert listed == [f"{new_kid}  (current)", old_kid]
    jwks = client.get(JWKS).get_json()
    assert [k["kid"] for k in jwks["keys"]] == [new_kid, old_kid]

    resp = client.post(CONSENTS, json=consent_body())
    receipt = resp.get_json()["receipt"]
    assert jwt.get_unverified_header(receipt)["kid"] == new_kid
    new_public = jwt.PyJWK(jwks["keys"][0]).key
    decoded = jwt.decode(receipt, new_public, algorithms=["EdDSA"])
    assert decoded["receipt_id"] == resp.get_json()["receipt_id"]
    cli(runner, "log", "seal")
    assert [s.kid for s in seal_rows(app)] == [old_kid, new_kid]

    old_report = verify_path(old_bundle)
    assert old_report.ok and (old_report.receipts, old_report.seals) == (1, 1)
    new_bundle = export_bundle(runner, tmp_path / "after.zip")
    bundled = orjson.loads(bundle_members(new_bundle)["jwks.json"])
    assert [k["kid"] for k in bundled["keys"]] == [new_kid, old_kid]
    new_report = verify_path(new_bundle)
    assert new_report.ok and (new_report.receipts, new_report.seals) == (2, 2)
    pinned = tmp_path / "jwks.json"
    pinned.write_bytes(client.get(JWKS).data)
    assert verify_path(old_bundle, jwks=pinned).ok
    assert verify_path(new_bundle, jwks=pinned).ok
    verify_cli(runner, new_bundle, "--jwks", str(pinned), code=0)
    # A verifier that only trusts the new key cannot accept the old seal.
    only_new = tmp_path / "only-new.json"
    only_new.write_bytes(orjson.dumps({"keys": [jwks["keys"][0]]}))
    report = verify_path(new_bundle, jwks=only_new)
    assert [(p.kind, p.seal) for p in report.problems] == [("broken_seal", 1)]
