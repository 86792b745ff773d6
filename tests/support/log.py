"""The consent log in tests: receipts posted over the API, the log commands, bundles taken
apart and put together again, records built as the server builds them, the stored rows."""

from __future__ import annotations

import datetime as dt
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from consent_server.consent_log import receipts
from consent_server.consent_log.merkle import canonical, sha256_hex, unpack_leaves
from consent_server.consent_log.models import ConsentReceipt, Seal
from consent_server.consent_log.verify.report import VerifyReport
from consent_server.extensions import db
from consent_server.sites.service import get_revision, get_site_view
from tests.support.consent import post_consent

SITE = "demo-shop"
CONSENTS = f"/api/v1/sites/{SITE}/consents"
SEALS = f"/api/v1/sites/{SITE}/seals"
JWKS = "/.well-known/jwks.json"


def post_receipts(client: FlaskClient, count: int, **changes: Any) -> list[str]:
    """Record `count` consents over the public API; return their receipt ids in order."""
    return [post_consent(client, **changes)["receipt_id"] for _ in range(count)]


def cli(runner: FlaskCliRunner, *args: str | Path, code: int = 0) -> Result:
    """Run a consent-server command through Flask's runner; check its exit status and return
    the result (`.output`, `.stdout`, `.stderr`)."""
    result = runner.invoke(args=[str(a) for a in args])
    assert result.exit_code == code, (result.output, result.exception)
    return result


def export_bundle(runner: FlaskCliRunner, path: Path, *options: str) -> Path:
    """`log export --site demo-shop --bundle path [options]`."""
    cli(runner, "log", "export", "--site", SITE, "--bundle", str(path), *options)
    return path


def verify_cli(runner: FlaskCliRunner, path: Path, *options: str, code: int) -> str:
    """`log verify` with an expected exit status."""
    return cli(runner, "log", "verify", str(path), *options, code=code).output


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


def edit_line(line: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    """A line of receipts.jsonl after `change` edited its document."""
    doc = orjson.loads(line)
    change(doc)
    return orjson.dumps(doc) + b"\n"


def kinds(report: VerifyReport) -> set[str]:
    """The kinds of problem a report holds."""
    return {p.kind for p in report.problems}


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


class ReceiptsLock:
    """Another connection holding the receipts table's write lock, so commits queue behind it."""

    def __init__(self, app: Flask) -> None:
        self.engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
        self.conn = self.engine.connect()
        if self.engine.dialect.name == "sqlite":
            self.conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            self.conn.begin()
            self.conn.exec_driver_sql("LOCK TABLE consent_receipts IN EXCLUSIVE MODE")

    def release(self) -> None:
        """Let the commits through."""
        if self.engine.dialect.name == "sqlite":
            self.conn.exec_driver_sql("ROLLBACK")
        else:
            self.conn.rollback()
        self.conn.close()
        self.engine.dispose()
