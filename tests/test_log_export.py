"""Exports of the consent log: a signed bundle or JSON Lines with the seals and keys from the
API, receipts not yet sealed, time ranges that cover whole seals, and receipts sealed while an
export runs; each export verifies."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import jwt
import orjson
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from consent_server.consent_log.export import export_scope, iter_jsonl, iter_seals
from consent_server.consent_log.merkle import canonical, sha256_hex
from consent_server.consent_log.models import ConsentReceipt
from consent_server.consent_log.receipts import isoformat
from consent_server.consent_log.seals import seal_site
from consent_server.consent_log.verify.bundle import verify_path
from consent_server.extensions import db
from tests.support.log import (
    CONSENTS,
    JWKS,
    SEALS,
    SITE,
    build_record,
    bundle_members,
    cli,
    dump_jsonl,
    export_bundle,
    jsonl,
    post_receipts,
    seal_rows,
    utc,
    verify_cli,
)


def test_recorded_receipts_are_sealed_exported_as_a_bundle_and_verify(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, demo_site: str, tmp_path: Path
):
    ids = post_receipts(client, 5)
    out = cli(runner, "log", "seal").output
    assert out.startswith("demo-shop: seal 1 over 5 receipts, root ")
    assert cli(runner, "log", "seal").output == "nothing to seal\n"

    bundle = export_bundle(runner, tmp_path / "audit.zip")
    members = bundle_members(bundle)
    assert set(members) == {
        "receipts.jsonl",
        "seals.jsonl",
        "jwks.json",
        "manifest.json",
        "manifest.jws",
        "VERIFY.txt",
    }
    lines = jsonl(members["receipts.jsonl"])
    assert [line["record"]["receipt_id"] for line in lines] == ids
    assert [(line["seal"], line["leaf"]) for line in lines] == [(1, i) for i in range(5)]
    assert all(sha256_hex(canonical(x["record"])) == x["record_hash"] for x in lines)
    manifest = orjson.loads(members["manifest.json"])
    assert manifest["counts"] == {"receipts": 5, "seals": 1}
    assert (manifest["site"], manifest["first_seal"], manifest["last_seal"]) == (SITE, 1, 1)
    assert manifest["format"] == "consent-log-bundle/2"
    # manifest.jws: the server's JWS over the manifest, with the kid of a published key.
    token = members["manifest.jws"].decode()
    kid = jwt.get_unverified_header(token)["kid"]
    assert kid in {k["kid"] for k in orjson.loads(members["jwks.json"])["keys"]}
    signed = jwt.decode(token, options={"verify_signature": False})
    assert signed == manifest
    assert b"consent-server log verify audit.zip" in members["VERIFY.txt"]

    out = verify_cli(runner, bundle, code=0)
    assert "5 receipts (0 purged) under 1 seals; 0 not yet sealed." in out
    assert f"The manifest is signed (key {kid}, exported {manifest['exported_at']})" in out
    assert "OK: the export is intact." in out
    # Strict also wants the keys pinned, not taken from the bundle.
    verify_cli(runner, bundle, "--strict", code=1)
    pinned = tmp_path / "jwks.json"
    pinned.write_bytes(client.get(JWKS).data)
    verify_cli(runner, bundle, "--strict", "--jwks", str(pinned), code=0)
    as_json = orjson.loads(verify_cli(runner, bundle, "--json", code=0))
    assert as_json == {
        "ok": True,
        "receipts": 5,
        "purged": 0,
        "seals": 1,
        "unsealed": [],
        "manifest_signed_by": kid,
        "exported_at": manifest["exported_at"],
        "keys": "bundle",
        "key_ids": [kid],
        "problems": [],
    }


def test_jsonl_export_verifies_with_seals_and_jwks_fetched_from_the_api(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    tokens: dict[str, str],
    tmp_path: Path,
):
    ids = post_receipts(client, 3)
    cli(runner, "log", "seal")
    auth = {"Authorization": f"Bearer {tokens['auditor']}"}

    resp = client.get(CONSENTS + "?format=jsonl", headers=auth)
    assert resp.status_code == 200
    assert resp.mimetype == "application/x-ndjson"
    export_file = tmp_path / "consents.jsonl"
    export_file.write_bytes(resp.data)
    seals = client.get(SEALS, headers=auth).get_json()
    assert seals["site"] == SITE
    assert [s["sequence"] for s in seals["seals"]] == [1]
    seals_file = tmp_path / "seals.jsonl"
    seals_file.write_bytes(dump_jsonl(seals["seals"]))
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_bytes(client.get(JWKS).data)

    report = verify_path(export_file, seals=seals_file, jwks=jwks_file)
    assert report.ok, report.summary()
    assert (report.receipts, report.seals, report.unsealed) == (3, 1, [])
    out = verify_cli(
        runner, export_file, "--seals", str(seals_file), "--jwks", str(jwks_file), code=0
    )
    assert "3 receipts (0 purged) under 1 seals" in out
    assert "OK: the export is intact." in out

    # The same through the command line export, written to a file.
    cli_file = tmp_path / "cli.jsonl"
    cli(runner, "log", "export", "--site", SITE, "-o", str(cli_file))
    assert cli_file.read_bytes() == export_file.read_bytes()
    assert [x["record"]["receipt_id"] for x in jsonl(cli_file.read_bytes())] == ids
    # A bare JSONL file cannot be checked without its seals and keys.
    out = verify_cli(runner, export_file, code=2)
    assert "needs --seals" in out
    out = verify_cli(runner, export_file, "--seals", str(seals_file), code=2)
    assert "needs --jwks" in out


def test_unsealed_receipts_are_listed_and_fail_only_in_strict_mode(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, demo_site: str, tmp_path: Path
):
    sealed = post_receipts(client, 2)
    cli(runner, "log", "seal")
    pending = post_receipts(client, 2)
    bundle = export_bundle(runner, tmp_path / "a.zip", "--no-seal")

    report = verify_path(bundle)
    assert report.ok
    assert report.unsealed == pending
    assert report.receipts == 4
    lines = jsonl(bundle_members(bundle)["receipts.jsonl"])
    assert [x["record"]["receipt_id"] for x in lines] == sealed + pending
    assert [x["seal"] for x in lines] == [1, 1, None, None]
    out = verify_cli(runner, bundle, code=0)
    assert "2 not yet sealed" in out and pending[0] in out
    assert "OK: every sealed receipt is intact; 2 not yet sealed cannot be proven." in out
    verify_cli(runner, bundle, "--strict", code=1)


def test_export_by_time_range_covers_whole_seals_and_verifies(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, demo_site: str, tmp_path: Path
):
    first = post_receipts(client, 3)
    cli(runner, "log", "seal")
    second = post_receipts(client, 2)
    cli(runner, "log", "seal")
    seal1, seal2 = seal_rows(app)
    start_2 = isoformat(utc(seal2.first_recorded_at))

    only_second = export_bundle(runner, tmp_path / "second.zip", "--since", start_2)
    report = verify_path(only_second)
    assert report.ok and (report.receipts, report.seals) == (2, 1)
    ids = [x["record"]["receipt_id"] for x in jsonl(bundle_members(only_second)["receipts.jsonl"])]
    assert ids == second
    manifest = orjson.loads(bundle_members(only_second)["manifest.json"])
    assert (manifest["first_seal"], manifest["last_seal"]) == (2, 2)

    only_first = export_bundle(runner, tmp_path / "first.zip", "--until", start_2)
    report = verify_path(only_first)
    assert report.ok and (report.receipts, report.seals) == (3, 1)
    ids = [x["record"]["receipt_id"] for x in jsonl(bundle_members(only_first)["receipts.jsonl"])]
    assert ids == first

    # A range inside seal 1 still exports all of seal 1: a seal is only checkable whole.
    mid = isoformat(utc(seal1.first_recorded_at) + dt.timedelta(microseconds=1))
    report = verify_path(
        export_bundle(runner, tmp_path / "mid.zip", "--since", mid, "--until", mid)
    )
    assert report.ok and (report.receipts, report.seals) == (3, 1)

    # An offset other than UTC means the same instant on every database.
    local = (utc(seal2.first_recorded_at)).astimezone(dt.timezone(dt.timedelta(hours=2)))
    report = verify_path(
        export_bundle(runner, tmp_path / "offset.zip", "--since", local.isoformat())
    )
    assert report.ok and (report.receipts, report.seals) == (2, 1)


def test_export_range_hit_by_a_late_receipt_keeps_the_seal_chain_whole(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, demo_site: str, tmp_path: Path
):
    post_receipts(client, 2)
    cli(runner, "log", "seal")
    post_receipts(client, 2)
    cli(runner, "log", "seal")
    seal1 = seal_rows(app)[0]
    # A receipt stamped before seal 1's receipts whose transaction committed only now.
    start = utc(seal1.first_recorded_at)
    _, late = build_record(app, start - dt.timedelta(seconds=1))
    with app.app_context():
        db.session.execute(sa.insert(ConsentReceipt), late)
        db.session.commit()
    post_receipts(client, 1)
    assert "seal 3 over 2 receipts" in cli(runner, "log", "seal").output

    until = isoformat(utc(seal1.last_recorded_at) + dt.timedelta(microseconds=1))
    path = export_bundle(
        runner, tmp_path / "range.zip", "--since", isoformat(start), "--until", until
    )
    report = verify_path(path)
    assert report.ok, report.summary()
    # Seals 1 and 3 hold receipts of the range; seal 2 comes along so that the chain is whole.
    assert (report.receipts, report.seals) == (6, 3)


def test_receipts_sealed_while_an_export_runs_are_still_exported(
    app: Flask, client: FlaskClient, demo_site: str, tmp_path: Path
):
    sealed = post_receipts(client, 2)
    with app.app_context():
        seal_site(SITE)
    pending = post_receipts(client, 3)
    with app.app_context():
        scope = export_scope(SITE, None, None)  # what the export covers is read first ...
        (racing,) = seal_site(SITE)  # ... the seal job runs before the rows are read
        assert (racing.sequence, racing.tree_size) == (2, 3)
        body = b"".join(iter_jsonl(scope))
        seals = b"".join(iter_seals(scope))
    lines = jsonl(body)
    assert [x["record"]["receipt_id"] for x in lines] == sealed + pending
    assert [x["seal"] for x in lines] == [1, 1, None, None, None]
    (tmp_path / "r.jsonl").write_bytes(body)
    (tmp_path / "s.jsonl").write_bytes(seals)
    (tmp_path / "k.jsonl").write_bytes(client.get(JWKS).data)
    report = verify_path(
        tmp_path / "r.jsonl", seals=tmp_path / "s.jsonl", jwks=tmp_path / "k.jsonl"
    )
    assert report.ok and report.unsealed == pending
