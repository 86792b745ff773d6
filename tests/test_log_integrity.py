"""The tamper-evident consent log: Merkle trees, seals, exports, offline verification."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from consent_server.consent_log import receipts
from consent_server.consent_log.export import export_scope, iter_jsonl, iter_seals
from consent_server.consent_log.keys import SigningKey, public_jwk
from consent_server.consent_log.merkle import (
    canonical,
    merkle_root,
    pack_leaves,
    sha256_hex,
    unpack_leaves,
)
from consent_server.consent_log.models import ConsentReceipt, Seal
from consent_server.consent_log.receipts import isoformat
from consent_server.consent_log.seals import SEAL_TYP, TamperedRecord, seal_site
from consent_server.consent_log.verify.bundle import verify_path
from consent_server.consent_log.verify.report import VerifyReport
from consent_server.extensions import db
from consent_server.sites.service import apply_declaration, get_revision, get_site_view
from declaration.loader import read_declaration
from tests.conftest import EXAMPLE, consent_body

SITE = "demo-shop"
CONSENTS = f"/api/v1/sites/{SITE}/consents"
SEALS = f"/api/v1/sites/{SITE}/seals"
JWKS = "/.well-known/jwks.json"

ONLY_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


# -- helpers -----------------------------------------------------------------------------------


def post_receipts(client: FlaskClient, count: int, **changes: Any) -> list[str]:
    """Record `count` consents over the public API; return their receipt ids in order."""
    ids = []
    for _ in range(count):
        resp = client.post(CONSENTS, json=consent_body(**changes))
        assert resp.status_code == 201, resp.get_json()
        ids.append(resp.get_json()["receipt_id"])
    return ids


def cli(runner: FlaskCliRunner, *args: str, code: int = 0) -> str:
    """Run a consent-server command; check its exit status and return what it printed."""
    result = runner.invoke(args=list(args))
    assert result.exit_code == code, (result.output, result.exception)
    return result.output


def export_bundle(runner: FlaskCliRunner, path: Path, *options: str) -> Path:
    """`log export --site demo-shop --bundle path [options]`."""
    cli(runner, "log", "export", "--site", SITE, "--bundle", str(path), *options)
    return path


def bundle_members(path: Path) -> dict[str, bytes]:
    """Every member of a bundle zip."""
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def jsonl(data: bytes) -> list[dict[str, Any]]:
    """Parse JSON Lines."""
    return [orjson.loads(line) for line in data.splitlines() if line.strip()]


def dump_jsonl(docs: list[dict[str, Any]]) -> bytes:
    """Write JSON Lines."""
    return b"".join(orjson.dumps(doc) + b"\n" for doc in docs)


def rewrite_bundle(src: Path, dst: Path, **members: bytes | None) -> Path:
    """A copy of a bundle with some members replaced or, given None, left out (receipts=,
    seals=, jwks=, manifest=, signature=)."""
    names = {
        "receipts": "receipts.jsonl",
        "seals": "seals.jsonl",
        "jwks": "jwks.json",
        "manifest": "manifest.json",
        "signature": "manifest.jws",
    }
    content = bundle_members(src)
    for key, data in members.items():
        if data is None:
            del content[names[key]]
        else:
            content[names[key]] = data
    with zipfile.ZipFile(dst, "w") as zf:
        for name, data in content.items():
            zf.writestr(name, data)
    return dst


def verify_cli(runner: FlaskCliRunner, path: Path, *options: str, code: int) -> str:
    """`log verify` with an expected exit status."""
    return cli(runner, "log", "verify", str(path), *options, code=code)


def kinds(report: VerifyReport) -> set[str]:
    """The kinds of problem a report holds."""
    return {p.kind for p in report.problems}


def build_record(app: Flask, recorded_at: dt.datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """A reject_all receipt built exactly as record_consent builds it: (record, row values)."""
    with app.app_context():
        site = get_site_view(SITE)
        revision = get_revision(site, 1)
    decisions = {k: k in revision.required for k in revision.categories}
    receipt_id = str(uuid.uuid4())
    consent_id = str(uuid.uuid4())
    payload = {
        "consent_id": consent_id,
        "decisions": decisions,
        "method": "reject_all",
        "language": "sv",
        "page_url": "https://demo.example.se/kassa",
    }
    record = receipts.build_record(
        site,
        revision,
        payload,
        receipt_id=receipt_id,
        now=recorded_at,
        client_ip="192.0.2.7",
        user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    )
    assert record["user_agent_family"] == "Firefox"
    assert record["ip_truncated"] == "192.0.2.0/24"
    body = canonical(record)
    row = {
        "receipt_id": receipt_id,
        "consent_id": consent_id,
        "site_id": site.id,
        "revision_id": revision.id,
        "method": "reject_all",
        "decisions": decisions,
        "recorded_at": recorded_at,
        "record": body.decode("utf-8"),
        "record_hash": sha256_hex(body),
    }
    return record, row


def utc(moment: dt.datetime) -> dt.datetime:
    """A stored timestamp as aware UTC (SQLite gives naive UTC, PostgreSQL the session zone)."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def receipt_rows(app: Flask) -> list[ConsentReceipt]:
    """Every stored receipt, in insertion order."""
    with app.app_context():
        rows = list(
            db.session.execute(sa.select(ConsentReceipt).order_by(ConsentReceipt.id)).scalars()
        )
        db.session.expunge_all()
        return rows


def seal_rows(app: Flask) -> list[Seal]:
    """Every seal, in sequence order."""
    with app.app_context():
        rows = list(db.session.execute(sa.select(Seal).order_by(Seal.sequence)).scalars())
        db.session.expunge_all()
        return rows


def leaves_by_seal(app: Flask) -> dict[int, list[str]]:
    """Receipt ids in each seal's signed leaf list, by sequence."""
    return {s.sequence: [rid for rid, _ in unpack_leaves(s.leaves)] for s in seal_rows(app)}


# -- Merkle trees ------------------------------------------------------------------------------


def rfc6962_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, literally: split at the largest power of two smaller than n."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    left, right = rfc6962_root(leaves[:k]), rfc6962_root(leaves[k:])
    return hashlib.sha256(b"\x01" + left + right).digest()


@pytest.mark.parametrize("size", range(1, 18))
def test_merkle_root_equals_the_recursive_rfc6962_definition(size: int):
    leaves = [hashlib.sha256(f"receipt {i}".encode()).digest() for i in range(size)]
    assert merkle_root(leaves) == rfc6962_root(leaves)
    assert merkle_root(iter(leaves)) == rfc6962_root(leaves)


def test_merkle_root_matches_the_certificate_transparency_test_vectors():
    # The reference vectors of the certificate-transparency project's Merkle tree tests.
    data = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657"]
    data.append("606162636465666768696a6b6c6d6e6f")
    roots = {
        1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    }
    leaves = [bytes.fromhex(d) for d in data]
    for size, root in roots.items():
        assert merkle_root(leaves[:size]).hex() == root
    assert merkle_root([]) == hashlib.sha256(b"").digest()


def test_merkle_root_changes_with_any_leaf_and_with_leaf_order():
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(5)]
    root = merkle_root(leaves)
    assert merkle_root([*leaves[:2], hashlib.sha256(b"x").digest(), *leaves[3:]]) != root
    assert merkle_root([leaves[1], leaves[0], *leaves[2:]]) != root
    assert merkle_root(leaves[:4]) != root


# -- record, seal, export, verify ----------------------------------------------------------------


def test_recorded_receipts_are_sealed_exported_as_a_bundle_and_verify(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, demo_site: str, tmp_path: Path
):
    ids = post_receipts(client, 5)
    out = cli(runner, "log", "seal")
    assert out.startswith("demo-shop: seal 1 over 5 receipts, root ")
    assert cli(runner, "log", "seal") == "nothing to seal\n"

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
    verify_cli(runner, bundle, "--strict", code=0)
    as_json = orjson.loads(verify_cli(runner, bundle, "--json", code=0))
    assert as_json == {
        "ok": True,
        "receipts": 5,
        "purged": 0,
        "seals": 1,
        "unsealed": [],
        "manifest_signed_by": kid,
        "exported_at": manifest["exported_at"],
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


# -- tampering -------------------------------------------------------------------------------


@dataclass
class SealedLog:
    """A bundle of three seals of four receipts each, and what it holds."""

    bundle: Path
    ids: dict[int, list[str]]
    tmp: Path

    @property
    def members(self) -> dict[str, bytes]:
        return bundle_members(self.bundle)

    @property
    def lines(self) -> list[bytes]:
        return self.members["receipts.jsonl"].splitlines(keepends=True)

    @property
    def seal_lines(self) -> list[bytes]:
        return self.members["seals.jsonl"].splitlines(keepends=True)

    def line_of(self, receipt_id: str) -> int:
        """0-based line of a receipt in receipts.jsonl."""
        for i, line in enumerate(self.lines):
            if orjson.loads(line)["record"]["receipt_id"] == receipt_id:
                return i
        raise LookupError(receipt_id)

    def tampered(self, **members: bytes | None) -> Path:
        return rewrite_bundle(
            self.bundle, self.tmp / f"tampered-{uuid.uuid4().hex[:8]}.zip", **members
        )


@pytest.fixture
def sealed_log(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, demo_site: str, tmp_path: Path
) -> SealedLog:
    """Three seals over 4 receipts each, exported as an intact bundle."""
    ids = {}
    for sequence in (1, 2, 3):
        ids[sequence] = post_receipts(client, 4)
        assert f"seal {sequence} over 4 receipts" in cli(runner, "log", "seal")
    bundle = export_bundle(runner, tmp_path / "intact.zip")
    report = verify_path(bundle)
    assert report.ok and (report.receipts, report.seals) == (12, 3)
    return SealedLog(bundle, ids, tmp_path)


def edit_line(line: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    doc = orjson.loads(line)
    change(doc)
    return orjson.dumps(doc) + b"\n"


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


def test_altered_seal_root_breaks_only_that_seal(sealed_log: SealedLog, runner: FlaskCliRunner):
    seals = jsonl(sealed_log.members["seals.jsonl"])
    assert [s["sequence"] for s in seals] == [1, 2, 3]
    seals[1]["payload"]["root"] = hashlib.sha256(b"forged").hexdigest()
    path = sealed_log.tampered(seals=dump_jsonl(seals))

    report = verify_path(path)
    assert kinds(report) == {"broken_seal"}
    (problem,) = report.by_kind("broken_seal")
    assert problem.seal == 2
    assert "seal content differs from what was signed" in problem.message
    assert "leaf list does not give the signed Merkle root" in problem.message
    out = verify_cli(runner, path, code=1)
    assert "BROKEN SEAL: 1" in out and "seal 2:" in out


def test_altered_seal_leaf_list_breaks_that_seal(sealed_log: SealedLog, runner: FlaskCliRunner):
    seals = jsonl(sealed_log.members["seals.jsonl"])
    leaves = unpack_leaves(base64.b64decode(seals[0]["leaves"]))
    leaves[1], leaves[2] = leaves[2], leaves[1]
    seals[0]["leaves"] = base64.b64encode(pack_leaves((r, h.hex()) for r, h in leaves)).decode()
    path = sealed_log.tampered(seals=dump_jsonl(seals))

    report = verify_path(path)
    assert [(p.kind, p.seal) for p in report.problems] == [("broken_seal", 1)]
    assert "leaf list does not give the signed Merkle root" in report.problems[0].message
    verify_cli(runner, path, code=1)


def test_dropped_middle_seal_is_named_missing(sealed_log: SealedLog, runner: FlaskCliRunner):
    seal_lines = sealed_log.seal_lines
    del seal_lines[1]
    path = sealed_log.tampered(seals=b"".join(seal_lines))

    report = verify_path(path)
    assert kinds(report) == {"broken_seal"}
    missing = [p for p in report.by_kind("broken_seal") if p.receipt_id is None]
    assert [(p.seal, p.message) for p in missing] == [(2, "seal 2 is missing from the chain")]
    orphaned = {p.receipt_id for p in report.by_kind("broken_seal") if p.receipt_id}
    assert orphaned == set(sealed_log.ids[2])
    assert all(p.seal == 2 for p in report.problems)
    out = verify_cli(runner, path, code=1)
    assert "seal 2 is missing from the chain" in out


def test_dropped_last_seal_is_named_missing(sealed_log: SealedLog, runner: FlaskCliRunner):
    seal_lines = sealed_log.seal_lines
    del seal_lines[2]
    path = sealed_log.tampered(seals=b"".join(seal_lines))

    report = verify_path(path)
    assert kinds(report) == {"broken_seal"}
    assert all(p.seal == 3 for p in report.problems)
    orphaned = {p.receipt_id for p in report.problems if p.receipt_id}
    assert orphaned == set(sealed_log.ids[3])
    assert [p.message for p in report.problems if not p.receipt_id] == [
        "seal 3 is missing (the manifest lists seals 1 to 3)"
    ]
    out = verify_cli(runner, path, code=1)
    assert "names seal 3, which is missing" in out


def test_dropped_last_seal_with_its_receipts_is_caught_by_the_manifest(
    sealed_log: SealedLog, runner: FlaskCliRunner
):
    keep = [ln for ln in sealed_log.lines if orjson.loads(ln)["seal"] != 3]
    path = sealed_log.tampered(seals=b"".join(sealed_log.seal_lines[:2]), receipts=b"".join(keep))

    report = verify_path(path)
    assert [(p.kind, p.seal, p.message) for p in report.problems] == [
        ("broken_seal", 3, "seal 3 is missing (the manifest lists seals 1 to 3)"),
        ("removed", None, "receipts.jsonl has 8 receipts, the manifest lists 12"),
    ]
    out = verify_cli(runner, path, code=1)
    assert "seal 3 is missing" in out


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


def test_signed_manifest_of_another_export_is_named(
    app: Flask, sealed_log: SealedLog, runner: FlaskCliRunner
):
    """A manifest and its signature from another site's bundle do not pass for this one."""
    other = other_site(app, sealed_log.tmp)
    theirs = sealed_log.tmp / "theirs.zip"
    cli(runner, "log", "export", "--site", other, "--bundle", str(theirs))
    members = bundle_members(theirs)
    path = sealed_log.tampered(manifest=members["manifest.json"], signature=members["manifest.jws"])
    report = verify_path(path)
    assert ("broken_manifest", "the manifest is of site 'other-shop', the seals are not") in [
        (p.kind, p.message) for p in report.problems
    ]
    verify_cli(runner, path, code=1)


def test_replaced_jwks_breaks_every_seal(sealed_log: SealedLog, runner: FlaskCliRunner):
    other = public_jwk(Ed25519PrivateKey.generate().public_key())
    path = sealed_log.tampered(jwks=orjson.dumps({"keys": [other]}))

    report = verify_path(path)
    assert kinds(report) == {"broken_seal", "broken_manifest"}
    assert [p.seal for p in report.by_kind("broken_seal")] == [1, 2, 3]
    assert all("not among the trusted public keys" in p.message for p in report.problems)
    out = verify_cli(runner, path, code=1)
    assert "BROKEN SEAL: 3" in out and "BROKEN MANIFEST: 1" in out


def reseal(
    seal_docs: list[dict[str, Any]], lines: list[bytes], key: SigningKey
) -> list[dict[str, Any]]:
    """What a forger with their own key does: rebuild every leaf list, root, chain and signature."""
    by_seal: dict[int, list[tuple[str, str]]] = {}
    for line in lines:
        doc = orjson.loads(line)
        by_seal.setdefault(doc["seal"], []).append(
            (doc["record"]["receipt_id"], doc["record_hash"])
        )
    out, previous = [], None
    for doc in seal_docs:
        leaves = by_seal[doc["sequence"]]
        payload = dict(doc["payload"])
        payload["root"] = merkle_root(bytes.fromhex(h) for _, h in leaves).hex()
        payload["previous"] = previous
        previous = sha256_hex(canonical(payload))
        out.append(
            {
                "sequence": doc["sequence"],
                "payload": payload,
                "signature": key.sign(payload, SEAL_TYP),
                "kid": key.kid,
                "leaves": base64.b64encode(pack_leaves(leaves)).decode(),
            }
        )
    return out


@pytest.mark.parametrize("impersonate_kid", [False, True])
def test_pinned_jwks_catches_a_bundle_resigned_with_another_key(
    app: Flask,
    client: FlaskClient,
    sealed_log: SealedLog,
    runner: FlaskCliRunner,
    impersonate_kid: bool,
):
    target = sealed_log.ids[2][2]
    lines = sealed_log.lines
    n = sealed_log.line_of(target)

    def forge(doc: dict[str, Any]) -> None:
        doc["record"]["decisions"]["marketing"] = False
        doc["record_hash"] = sha256_hex(canonical(doc["record"]))

    lines[n] = edit_line(lines[n], forge)
    forger = Ed25519PrivateKey.generate()
    forged_jwk = public_jwk(forger.public_key())
    real_jwks = orjson.loads(sealed_log.members["jwks.json"])
    if impersonate_kid:
        forged_jwk["kid"] = real_jwks["keys"][0]["kid"]
    seals = reseal(
        jsonl(sealed_log.members["seals.jsonl"]), lines, SigningKey(forged_jwk["kid"], forger)
    )
    forged = {"receipts": b"".join(lines), "seals": dump_jsonl(seals)}
    forged["jwks"] = orjson.dumps({"keys": [forged_jwk]})

    # The server's signature of the manifest does not verify with the forger's key ...
    report = verify_path(sealed_log.tampered(**forged))
    assert [p.kind for p in report.problems] == ["broken_manifest"]

    # ... so the forger signs it too. Self-consistent: without a pinned key nothing in the
    # bundle can reveal the forgery ...
    manifest = orjson.loads(sealed_log.members["manifest.json"])
    forged["signature"] = (
        SigningKey(forged_jwk["kid"], forger)
        .sign_bytes(canonical(manifest), "consent-log-manifest+jwt")
        .encode()
    )
    path = sealed_log.tampered(**forged)
    assert verify_path(path).ok
    # ... but the key the auditor fetched from the server can.
    pinned = sealed_log.tmp / "server-jwks.json"
    pinned.write_bytes(client.get(JWKS).data)
    report = verify_path(path, jwks=pinned)
    assert kinds(report) == {"broken_seal", "broken_manifest"}
    assert [p.seal for p in report.by_kind("broken_seal")] == [1, 2, 3]
    expected = (
        "signature does not verify" if impersonate_kid else "not among the trusted public keys"
    )
    assert all(expected in p.message for p in report.problems)
    verify_cli(runner, path, "--jwks", str(pinned), code=1)
    # The intact bundle passes with the same pin.
    assert verify_path(sealed_log.bundle, jwks=pinned).ok


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


# -- several seals and ranges ------------------------------------------------------------------


def test_successive_seals_chain_and_verify_together(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    tokens: dict[str, str],
    tmp_path: Path,
):
    first = post_receipts(client, 3)
    assert "seal 1 over 3 receipts" in cli(runner, "log", "seal")
    second = post_receipts(client, 2, method="reject_all", decisions={"necessary": True})
    assert "seal 2 over 2 receipts" in cli(runner, "log", "seal", "--site", SITE)

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
    assert "seal 3 over 2 receipts" in cli(runner, "log", "seal")

    until = isoformat(utc(seal1.last_recorded_at) + dt.timedelta(microseconds=1))
    path = export_bundle(
        runner, tmp_path / "range.zip", "--since", isoformat(start), "--until", until
    )
    report = verify_path(path)
    assert report.ok, report.summary()
    # Seals 1 and 3 hold receipts of the range; seal 2 comes along so that the chain is whole.
    assert (report.receipts, report.seals) == (6, 3)


# -- late commits ------------------------------------------------------------------------------


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
            assert "seal 1 over 3 receipts" in cli(runner, "log", "seal")
            tx.commit()
    finally:
        engine.dispose()
    assert "seal 2 over 1 receipts" in cli(runner, "log", "seal")
    assert cli(runner, "log", "seal") == "nothing to seal\n"

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


# -- retention ---------------------------------------------------------------------------------


def test_purge_blanks_old_sealed_receipts_and_the_export_still_verifies(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, demo_site: str, tmp_path: Path
):
    ids = post_receipts(client, 4)
    cli(runner, "log", "seal")
    assert cli(runner, "log", "purge", "--older-than", "P36M") == (
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
    assert len(client.get(f"/api/v1/consents/{consent_of[old[0]]}").get_json()["receipts"]) == 1

    out = cli(runner, "log", "purge", "--older-than", "P36M", "--dry-run")
    assert out == "would purge 2 receipts older than P36M\n"
    out = cli(runner, "log", "purge", "--older-than", "P36M", "--site", SITE)
    assert out == "purged 2 receipts older than P36M\n"
    assert cli(runner, "log", "purge", "--older-than", "P36M").startswith("purged 0 ")

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
        assert client.get(f"/api/v1/consents/{consent_of[rid]}").get_json()["receipts"] == []
    kept = client.get(f"/api/v1/consents/{consent_of[ids[2]]}").get_json()["receipts"]
    assert [x["record"]["receipt_id"] for x in kept] == [ids[2]]


# -- key rotation --------------------------------------------------------------------------------


def test_rotated_key_signs_new_receipts_and_seals_while_old_bundles_still_verify(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, demo_site: str, tmp_path: Path
):
    old_kid = client.get(JWKS).get_json()["keys"][0]["kid"]
    resp = client.post(CONSENTS, json=consent_body())
    assert jwt.get_unverified_header(resp.get_json()["receipt"])["kid"] == old_kid
    cli(runner, "log", "seal")
    old_bundle = export_bundle(runner, tmp_path / "before.zip")

    out = cli(runner, "keys", "rotate")
    new_kid = out.removeprefix("new signing key ").strip()
    assert new_kid and new_kid != old_kid
    listed = cli(runner, "keys", "list").splitlines()
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


# -- seals of another site ---------------------------------------------------------------------


def other_site(app: Flask, tmp_path: Path) -> str:
    """A second site on the same server (same signing key); returns its key."""
    text = EXAMPLE.read_text().replace("site: demo-shop", "site: other-shop", 1)
    path = tmp_path / "other.yaml"
    path.write_text(text)
    with app.app_context():
        return apply_declaration(read_declaration(path)).site


def test_seal_of_another_site_spliced_in_is_named(
    app: Flask, client: FlaskClient, sealed_log: SealedLog, runner: FlaskCliRunner
):
    other = other_site(app, sealed_log.tmp)
    for _ in range(3):
        resp = client.post(f"/api/v1/sites/{other}/consents", json=consent_body())
        assert resp.status_code == 201
        cli(runner, "log", "seal", "--site", other)
    cli(runner, "log", "export", "--site", other, "--bundle", str(sealed_log.tmp / "other.zip"))
    theirs = bundle_members(sealed_log.tmp / "other.zip")
    their_seal_3 = theirs["seals.jsonl"].splitlines(keepends=True)[2]
    their_lines = [ln for ln in theirs["receipts.jsonl"].splitlines(keepends=True)]
    assert orjson.loads(their_seal_3)["payload"]["site"] == other

    # Swap our last seal's receipts for theirs and add their seal 3 after ours: both signed
    # by the same server key.
    ours = [ln for ln in sealed_log.lines if orjson.loads(ln)["seal"] != 3]
    path = sealed_log.tampered(
        receipts=b"".join([*ours, their_lines[2]]),
        seals=b"".join([*sealed_log.seal_lines, their_seal_3]),
        manifest=orjson.dumps({"counts": {"receipts": 9}}),
    )
    report = verify_path(path)
    assert not report.ok
    broken = report.by_kind("broken_seal")
    assert [p.seal for p in broken] == [3]
    assert "other-shop" in broken[0].message
    removed = {p.receipt_id for p in report.by_kind("removed")}
    modified = {p.receipt_id for p in report.by_kind("modified")}
    assert removed | modified == set(sealed_log.ids[3])
    verify_cli(runner, path, code=1)

    # In place of our seal 3 it is named too (and breaks the chain).
    path = sealed_log.tampered(
        receipts=b"".join([*ours, their_lines[2]]),
        seals=b"".join([*sealed_log.seal_lines[:2], their_seal_3]),
        manifest=orjson.dumps({"counts": {"receipts": 9}}),
    )
    report = verify_path(path)
    assert [(p.kind, p.seal) for p in report.problems] == [
        ("broken_seal", 3),
        ("broken_manifest", None),  # the manifest was rewritten too
    ]
    assert "belongs to site 'other-shop', not 'demo-shop'" in report.problems[0].message
    assert "does not chain to seal 2" in report.problems[0].message


def test_lines_of_the_seals_file_that_are_no_seals_are_reported_not_fatal(
    sealed_log: SealedLog, runner: FlaskCliRunner
):
    seal_lines = sealed_log.seal_lines
    seal_lines[1] = b'{"sequence": "2", "payload": {}}\n'
    path = sealed_log.tampered(
        seals=b"".join([*seal_lines, b"[1, 2]\n"]), manifest=orjson.dumps(["not", "a", "dict"])
    )

    report = verify_path(path)
    assert Counter((p.kind, p.seal) for p in report.problems if p.receipt_id is None) == {
        ("malformed", None): 3,  # two seal lines and the manifest
        ("broken_seal", 2): 1,  # seal 2 missing from the chain
    }
    assert {p.receipt_id for p in report.problems if p.receipt_id} == set(sealed_log.ids[2])
    assert "MALFORMED: 3" in verify_cli(runner, path, code=1)


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


# -- worker processes ------------------------------------------------------------------------


def _variants(log: SealedLog) -> dict[str, Path]:
    """Bundles altered in every way a verification must name, and the intact one."""
    lines = log.lines
    first = orjson.loads(lines[0])

    def changed(n: int, *, rehash: bool = False, **fields: Any) -> bytes:
        doc = orjson.loads(lines[n])
        doc["record"]["ip_truncated"] = "203.0.113.0/24"
        if rehash:
            doc["record_hash"] = sha256_hex(canonical(doc["record"]))
        doc.update(fields)
        return orjson.dumps(doc) + b"\n"

    def forge_in_seal_9(doc: dict[str, Any]) -> None:
        doc["seal"] = 9
        doc["record"]["receipt_id"] = str(uuid.uuid4())

    def forge_unhashable(doc: dict[str, Any]) -> None:
        doc["leaf"] = [0]
        doc["record"]["receipt_id"] = ["not", "an", "id"]

    odd_purged = {"record": None, "record_hash": "ab", "receipt_id": "x", "seal": 1, "leaf": 0}
    edits: dict[str, list[bytes]] = {
        "intact": lines,
        "modified": [*lines[:5], changed(5), *lines[6:]],
        "modified, hash recomputed": [*lines[:5], changed(5, rehash=True), *lines[6:]],
        "modified, unhashable position": [*lines[:5], changed(5, leaf=[5]), *lines[6:]],
        "dropped": [*lines[:3], *lines[4:]],
        "copied": [*lines, lines[2]],
        "copied as unsealed": [*lines, edit_line(lines[2], lambda d: d.update(seal=None))],
        "swapped": [lines[1], lines[0], *lines[2:]],
        "malformed and blank": [*lines[:7], b"not json\n", b"\n", b"  \n", *lines[7:]],
        "purged with an odd hash": [*lines, orjson.dumps(odd_purged) + b"\n"],
        "claims a missing seal": [*lines, edit_line(lines[0], forge_in_seal_9)],
        "forged with unhashable fields": [*lines, edit_line(lines[0], forge_unhashable)],
    }
    assert first["seal"] == 1
    return {name: log.tampered(receipts=b"".join(body)) for name, body in edits.items()}


def test_worker_processes_give_the_same_report_as_one_process(
    sealed_log: SealedLog, client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
):
    post_receipts(client, 2)  # not sealed: the tail of a live site's export
    tail = export_bundle(runner, tmp_path / "tail.zip", "--no-seal")
    variants = _variants(sealed_log)
    variants["unsealed tail"] = tail
    variants["unsealed tail without a line end"] = rewrite_bundle(
        tail, tmp_path / "no-end.zip", receipts=bundle_members(tail)["receipts.jsonl"].rstrip()
    )

    expected = {
        "intact": set(),
        "modified": {"modified"},
        "modified, hash recomputed": {"modified"},
        "modified, unhashable position": {"modified"},
        "dropped": {"removed"},
        "copied": {"inserted"},
        "copied as unsealed": {"inserted"},
        "swapped": {"reordered"},
        "malformed and blank": {"malformed", "inserted"},  # the manifest counts 12
        "purged with an odd hash": {"inserted"},
        "claims a missing seal": {"broken_seal", "inserted"},  # and the manifest counts 12
        "forged with unhashable fields": {"inserted"},
        "unsealed tail": set(),
        "unsealed tail without a line end": set(),
    }
    for name, path in variants.items():
        alone = verify_path(path, jobs=1)
        # Blocks smaller than one line, and of a few lines: every way a line meets a block end.
        for block_size in (200, 1500):
            parallel = verify_path(path, jobs=2, block_size=block_size)
            assert (parallel.workers, alone.workers) == (2, 0)
            assert parallel.as_dict() == alone.as_dict(), (name, block_size)
        assert kinds(alone) == expected[name], (name, alone.summary())
        assert len(alone.unsealed) == (2 if name.startswith("unsealed tail") else 0)


def test_large_export_uses_worker_processes_by_default(
    sealed_log: SealedLog, runner: FlaskCliRunner
):
    from consent_server.consent_log.verify.blocks import (
        MAX_DEFAULT_JOBS,
        PARALLEL_MIN_BYTES,
        choose_jobs,
    )

    assert choose_jobs(None, PARALLEL_MIN_BYTES - 1) == 1
    cores = os.cpu_count() or 1
    assert choose_jobs(None, PARALLEL_MIN_BYTES) == min(cores, MAX_DEFAULT_JOBS)
    assert choose_jobs(3, 10) == 3
    out = verify_cli(runner, sealed_log.bundle, "--jobs", "2", code=0)
    assert "OK: the export is intact." in out
    assert "Invalid value for '--jobs'" in cli(
        runner, "log", "verify", str(sealed_log.bundle), "--jobs", "0", code=2
    )


def test_damaged_bundle_is_a_clear_error(sealed_log: SealedLog, runner: FlaskCliRunner):
    data = bytearray(sealed_log.bundle.read_bytes())
    with zipfile.ZipFile(sealed_log.bundle) as zf:
        info = zf.getinfo("receipts.jsonl")
    # The member's data starts after its local header (30 bytes), name and extra field.
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF
    damaged = sealed_log.tmp / "damaged.zip"
    damaged.write_bytes(bytes(data))

    with pytest.raises(ValueError, match="the bundle is damaged"):
        verify_path(damaged)
    result = runner.invoke(args=["log", "verify", str(damaged)])
    assert result.exit_code == 2, result.output
    assert "Cannot verify" in result.output and "the bundle is damaged" in result.output


@pytest.mark.parametrize(
    ("member", "change"),
    [
        ("seals", lambda seal: seal.update(payload="not an object")),
        ("seals", lambda seal: seal.update(leaves=5)),
        ("seals", lambda seal: seal["payload"].update(site={"a": 1})),
        ("seals", lambda seal: seal.update(sequence=[2])),
        ("seals", lambda seal: seal.update(sequence=2**62)),  # a gap no list could hold
        ("jwks", lambda jwks: jwks.update(keys=5)),
        ("jwks", lambda jwks: jwks.update(keys=[1.5, "x", None])),
        ("manifest", lambda manifest: manifest.update(site=["demo-shop"])),
        ("manifest", lambda manifest: manifest.update(last_seal=2**62)),
    ],
)
def test_hostile_values_in_a_bundle_are_reported_not_fatal(
    sealed_log: SealedLog, runner: FlaskCliRunner, member: str, change: Callable[[Any], None]
):
    members = sealed_log.members
    if member == "seals":
        docs = jsonl(members["seals.jsonl"])
        change(docs[1])
        data = dump_jsonl(docs)
    else:
        doc = orjson.loads(members[f"{member}.json"])
        change(doc)
        data = orjson.dumps(doc)
    path = sealed_log.tampered(**{member: data})

    report = verify_path(path)
    assert not report.ok
    assert len(report.problems) < 50, report.summary()  # a huge range is one problem
    assert "FAILED: the export was altered." in verify_cli(runner, path, code=1)
