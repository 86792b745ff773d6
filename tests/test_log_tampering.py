"""Receipts altered in an exported bundle or in the database: each change is named by kind
(modified, removed, inserted, reordered) with its receipt, seal and line."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from consent_server.consent_log.merkle import canonical, sha256_hex
from consent_server.consent_log.models import ConsentReceipt
from consent_server.consent_log.verify.bundle import verify_path
from consent_server.extensions import db
from tests.support.log import (
    SealedLog,
    build_record,
    bundle_members,
    edit_line,
    export_bundle,
    kinds,
    post_receipts,
    rewrite_bundle,
    verify_cli,
)


def test_changed_record_without_new_hash_is_named_as_modified(
    sealed_log: SealedLog, runner: FlaskCliRunner
):
    target = sealed_log.ids[2][1]
    lines = sealed_log.lines
    n = sealed_log.line_of(target)

    def refuse_marketing(doc: dict[str, Any]) -> None:
        assert doc["record"]["decisions"]["marketing"] is True
        doc["record"]["decisions"]["marketing"] = False

    lines[n] = edit_line(lines[n], refuse_marketing)
    path = sealed_log.tampered(receipts=b"".join(lines))

    report = verify_path(path)
    assert kinds(report) == {"modified"}
    (problem,) = report.by_kind("modified")
    assert (problem.receipt_id, problem.seal, problem.leaf, problem.line) == (target, 2, 1, n + 1)
    assert "content no longer matches its hash" in problem.message
    out = verify_cli(runner, path, code=1)
    assert "MODIFIED: 1" in out and target in out and "FAILED" in out


def test_changed_record_with_recomputed_hash_is_named_as_modified(
    sealed_log: SealedLog, runner: FlaskCliRunner
):
    target = sealed_log.ids[1][3]
    lines = sealed_log.lines
    n = sealed_log.line_of(target)

    def forge(doc: dict[str, Any]) -> None:
        doc["record"]["decisions"]["marketing"] = False
        doc["record"]["method"] = "custom"
        doc["record_hash"] = sha256_hex(canonical(doc["record"]))

    lines[n] = edit_line(lines[n], forge)
    path = sealed_log.tampered(receipts=b"".join(lines))

    report = verify_path(path)
    assert kinds(report) == {"modified"}
    (problem,) = report.by_kind("modified")
    assert (problem.receipt_id, problem.seal, problem.leaf) == (target, 1, 3)
    assert "its stored hash was changed too" in problem.message
    assert target in verify_cli(runner, path, code=1)


def test_dropped_line_is_named_as_removed(sealed_log: SealedLog, runner: FlaskCliRunner):
    target = sealed_log.ids[3][0]
    lines = sealed_log.lines
    del lines[sealed_log.line_of(target)]
    path = sealed_log.tampered(receipts=b"".join(lines))

    report = verify_path(path)
    assert kinds(report) == {"removed"}
    (problem,) = report.by_kind("removed")
    assert (problem.receipt_id, problem.seal, problem.leaf) == (target, 3, 0)
    assert report.receipts == 11
    out = verify_cli(runner, path, code=1)
    assert f"receipt {target} (seal 3, leaf 0) was removed" in out


def forged_line(app: Flask, seal: int | None, leaf: int | None) -> tuple[str, bytes]:
    """A well-formed receipt the server never recorded, claiming a place in a seal or none."""
    record, _ = build_record(app, dt.datetime.now(dt.UTC))
    digest = sha256_hex(canonical(record))
    doc = {"seal": seal, "leaf": leaf, "record_hash": digest, "record": record}
    return record["receipt_id"], orjson.dumps(doc) + b"\n"


@pytest.mark.parametrize(("seal", "leaf"), [(2, 4), (2, 0), (1, 99)])
def test_forged_line_claiming_a_seal_is_named_as_inserted(
    app: Flask, sealed_log: SealedLog, runner: FlaskCliRunner, seal: int, leaf: int
):
    forged_id, line = forged_line(app, seal, leaf)
    lines = sealed_log.lines
    at = sealed_log.line_of(sealed_log.ids[2][3]) + 1  # right after the last leaf of seal 2
    lines.insert(at, line)
    path = sealed_log.tampered(receipts=b"".join(lines))

    report = verify_path(path)
    assert kinds(report) == {"inserted"}
    (problem,) = report.by_kind("inserted")
    assert (problem.receipt_id, problem.line) == (forged_id, at + 1)
    out = verify_cli(runner, path, code=1)
    assert f"receipt {forged_id} is in no seal (inserted)" in out


def test_forged_line_claiming_no_seal_cannot_pass_as_proven(
    app: Flask, sealed_log: SealedLog, runner: FlaskCliRunner
):
    forged_id, line = forged_line(app, None, None)
    receipts = b"".join([*sealed_log.lines, line])
    path = sealed_log.tampered(receipts=receipts)

    # Nothing but the line count of the manifest tells it from a receipt recorded after the
    # last seal; it is listed as unproven either way.
    report = verify_path(path)
    assert report.unsealed == [forged_id]
    assert [(p.kind, p.receipt_id) for p in report.problems] == [("inserted", None)]
    assert report.problems[0].message == "receipts.jsonl has 13 receipts, the manifest lists 12"
    out = verify_cli(runner, path, code=1)
    assert forged_id in out and "1 not yet sealed" in out

    # With the manifest rewritten to match, its signature no longer holds.
    manifest = orjson.loads(sealed_log.members["manifest.json"])
    manifest["counts"]["receipts"] = 13
    path = sealed_log.tampered(receipts=receipts, manifest=orjson.dumps(manifest))
    report = verify_path(path)
    assert [(p.kind, p.message) for p in report.problems] == [
        ("broken_manifest", "manifest: manifest.json differs from what the server signed")
    ]
    assert "BROKEN MANIFEST: 1" in verify_cli(runner, path, code=1)

    # Without its signature, a bundle of format 2 is caught as well.
    path = sealed_log.tampered(receipts=receipts, manifest=orjson.dumps(manifest), signature=None)
    report = verify_path(path)
    assert [(p.kind, p.message) for p in report.problems] == [
        ("broken_manifest", "manifest.jws is missing: the manifest is not signed")
    ]

    # Passed off as a bundle of format 1 (unsigned manifests), it is listed as unproven, the
    # report says the manifest is not signed, and the strict check an auditor runs fails.
    manifest["format"] = "consent-log-bundle/1"
    path = sealed_log.tampered(receipts=receipts, manifest=orjson.dumps(manifest), signature=None)
    report = verify_path(path)
    assert report.ok and report.unsealed == [forged_id] and report.manifest_kid is None
    assert "The manifest is not signed" in verify_cli(runner, path, code=0)
    assert forged_id in verify_cli(runner, path, "--strict", code=1)


def test_unsealed_copy_of_a_sealed_receipt_is_named_as_inserted(
    sealed_log: SealedLog, runner: FlaskCliRunner
):
    target = sealed_log.ids[1][0]
    lines = sealed_log.lines

    def withdraw_copy(doc: dict[str, Any]) -> None:
        doc["seal"] = doc["leaf"] = None
        doc["record"]["decisions"]["marketing"] = False
        doc["record_hash"] = sha256_hex(canonical(doc["record"]))

    copy = edit_line(lines[sealed_log.line_of(target)], withdraw_copy)
    path = sealed_log.tampered(receipts=b"".join([*lines, copy]))

    report = verify_path(path)
    assert kinds(report) == {"inserted"}
    (problem,) = report.by_kind("inserted")
    assert (problem.receipt_id, problem.line) == (target, 13)
    assert report.unsealed == []
    assert target in verify_cli(runner, path, code=1)


def test_swapped_lines_are_named_as_reordered(sealed_log: SealedLog, runner: FlaskCliRunner):
    first, last = sealed_log.ids[2][0], sealed_log.ids[2][3]
    lines = sealed_log.lines
    a, b = sealed_log.line_of(first), sealed_log.line_of(last)
    lines[a], lines[b] = lines[b], lines[a]
    path = sealed_log.tampered(receipts=b"".join(lines))

    report = verify_path(path)
    assert kinds(report) == {"reordered"}
    assert {(p.receipt_id, p.seal, p.leaf) for p in report.by_kind("reordered")} == {
        (first, 2, 0),
        (last, 2, 3),
    }
    out = verify_cli(runner, path, code=1)
    assert "REORDERED: 2" in out


def test_unsealed_receipts_cut_off_the_end_are_caught_by_the_signed_manifest(
    client: FlaskClient, sealed_log: SealedLog, runner: FlaskCliRunner
):
    """No seal covers the newest receipts yet; the signed count shows that some are missing."""
    newest = post_receipts(client, 2)
    bundle = export_bundle(runner, sealed_log.tmp / "with-unsealed.zip", "--no-seal")
    report = verify_path(bundle)
    assert report.ok and report.unsealed == newest and report.manifest_kid
    receipts = bundle_members(bundle)["receipts.jsonl"].splitlines(keepends=True)

    cut = rewrite_bundle(bundle, sealed_log.tmp / "cut.zip", receipts=b"".join(receipts[:-1]))
    report = verify_path(cut)
    assert [(p.kind, p.message) for p in report.problems] == [
        ("removed", "receipts.jsonl has 13 receipts, the manifest lists 14")
    ]
    assert report.manifest_kid  # the count comes from a manifest the server signed
    assert "REMOVED: 1" in verify_cli(runner, cut, code=1)


def test_record_changed_in_the_database_after_sealing_is_named_in_the_export(
    app: Flask, sealed_log: SealedLog, runner: FlaskCliRunner
):
    target, other = sealed_log.ids[1][2], sealed_log.ids[3][1]
    with app.app_context():
        for rid, rehash in ((target, False), (other, True)):
            row = db.session.execute(
                sa.select(ConsentReceipt).where(ConsentReceipt.receipt_id == rid)
            ).scalar_one()
            record = orjson.loads(row.record)
            record["decisions"]["analytics"] = False
            row.record = canonical(record).decode()
            if rehash:
                row.record_hash = sha256_hex(canonical(record))
        db.session.commit()
    path = export_bundle(runner, sealed_log.tmp / "after-db-edit.zip")

    report = verify_path(path)
    assert kinds(report) == {"modified"}
    assert {(p.receipt_id, p.seal) for p in report.by_kind("modified")} == {(target, 1), (other, 3)}
    verify_cli(runner, path, code=1)
