"""Offline verification of a bundle: worker processes give the same report as one process,
large exports use them by default, and damaged or hostile bundles are reported, not fatal."""

from __future__ import annotations

import os
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from flask.testing import FlaskClient, FlaskCliRunner

from consent_server.consent_log.merkle import canonical, sha256_hex
from consent_server.consent_log.verify.bundle import verify_path
from tests.support.log import (
    JWKS,
    SealedLog,
    bundle_members,
    cli,
    dump_jsonl,
    edit_line,
    export_bundle,
    jsonl,
    kinds,
    post_receipts,
    rewrite_bundle,
    verify_cli,
)


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
    assert (
        "Invalid value for '--jobs'"
        in cli(runner, "log", "verify", str(sealed_log.bundle), "--jobs", "0", code=2).output
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


def test_report_names_whose_keys_it_trusted_and_strict_needs_pinned_keys(
    sealed_log: SealedLog, client: FlaskClient, runner: FlaskCliRunner
):
    bundle = sealed_log.bundle
    kids = [k["kid"] for k in orjson.loads(sealed_log.members["jwks.json"])["keys"]]
    assert kids

    # Without --jwks the bundle's own keys checked its signatures, and the report says so.
    report = verify_path(bundle)
    assert report.ok
    assert (report.keys, report.key_ids) == ("bundle", kids)
    assert (report.as_dict()["keys"], report.as_dict()["key_ids"]) == ("bundle", kids)
    line = f"Signatures were checked with the keys inside the bundle ({', '.join(kids)})"
    assert line in report.summary()
    assert line in verify_cli(runner, bundle, code=0)
    # ... which a strict check does not accept: it says why on stderr, JSON alone on stdout.
    strict = cli(runner, "log", "verify", str(bundle), "--strict", code=1)
    assert "--jwks" in strict.stderr and line in strict.stdout
    as_json = cli(runner, "log", "verify", str(bundle), "--strict", "--json", code=1)
    assert orjson.loads(as_json.stdout)["keys"] == "bundle"
    assert "--jwks" in as_json.stderr

    # Keys fetched from the server and pinned: the strict check passes.
    pinned = sealed_log.tmp / "server-jwks.json"
    pinned.write_bytes(client.get(JWKS).data)
    report = verify_path(bundle, jwks=pinned)
    assert (report.ok, report.keys, report.key_ids) == (True, "pinned", kids)
    out = verify_cli(runner, bundle, "--jwks", str(pinned), "--strict", code=0)
    assert f"Signatures were checked with the pinned keys (--jwks: {', '.join(kids)})" in out
    as_json = orjson.loads(verify_cli(runner, bundle, "--jwks", str(pinned), "--json", code=0))
    assert (as_json["keys"], as_json["key_ids"]) == ("pinned", kids)

    # A JSONL export is always checked with pinned keys.
    receipts_file, seals_file = sealed_log.tmp / "r.jsonl", sealed_log.tmp / "s.jsonl"
    receipts_file.write_bytes(sealed_log.members["receipts.jsonl"])
    seals_file.write_bytes(sealed_log.members["seals.jsonl"])
    report = verify_path(receipts_file, seals=seals_file, jwks=pinned)
    assert (report.ok, report.keys, report.key_ids) == (True, "pinned", kids)

    # Pinned keys that hold none of the signers' are pinned all the same: never the bundle's.
    for content in (b"{}", b"null", b'{"keys": []}'):
        pinned.write_bytes(content)
        report = verify_path(bundle, jwks=pinned)
        assert (report.keys, report.key_ids) == ("pinned", [])
        assert kinds(report) == {"broken_seal", "broken_manifest"}, content
