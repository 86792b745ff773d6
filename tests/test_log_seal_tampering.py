"""Seals, manifests and keys altered in an exported bundle: broken or missing seals, a
manifest or seal of another site, replaced keys, and a bundle re-signed with a forger's key
that only a pinned key set reveals."""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from consent_server.consent_log.keys import SigningKey, public_jwk
from consent_server.consent_log.merkle import (
    canonical,
    merkle_root,
    pack_leaves,
    sha256_hex,
    unpack_leaves,
)
from consent_server.consent_log.seals import SEAL_TYP
from consent_server.consent_log.verify.bundle import verify_path
from tests.support.apps import apply_data, example_data
from tests.support.consent import consent_body
from tests.support.log import (
    JWKS,
    SealedLog,
    bundle_members,
    cli,
    dump_jsonl,
    edit_line,
    jsonl,
    kinds,
    verify_cli,
)


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


def other_site(app: Flask) -> str:
    """A second site on the same server (same signing key); returns its key."""
    return apply_data(app, example_data(site="other-shop")).site


def test_signed_manifest_of_another_export_is_named(
    app: Flask, sealed_log: SealedLog, runner: FlaskCliRunner
):
    """A manifest and its signature from another site's bundle do not pass for this one."""
    other = other_site(app)
    theirs = sealed_log.tmp / "theirs.zip"
    cli(runner, "log", "export", "--site", other, "--bundle", str(theirs))
    members = bundle_members(theirs)
    path = sealed_log.tampered(manifest=members["manifest.json"], signature=members["manifest.jws"])
    report = verify_path(path)
    assert ("broken_manifest", "the manifest is of site 'other-shop', the seals are not") in [
        (p.kind, p.message) for p in report.problems
    ]
    verify_cli(runner, path, code=1)


def test_seal_of_another_site_spliced_in_is_named(
    app: Flask, client: FlaskClient, sealed_log: SealedLog, runner: FlaskCliRunner
):
    other = other_site(app)
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
