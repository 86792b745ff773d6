"""Streaming exports of the consent log (JSONL, CSV) and self-verifying audit bundles."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
from flask import Response, current_app, request
from sqlalchemy import Connection, Select, and_, func, or_, select
from sqlalchemy.orm import defer
from werkzeug.wsgi import wrap_file

from consent_server.consent_log.keys import KeyStore
from consent_server.consent_log.merkle import canonical
from consent_server.consent_log.models import ConsentReceipt, Seal
from consent_server.consent_log.seals import seal_document
from consent_server.extensions import db
from consent_server.sites.models import Site

BATCH_ROWS = 5000
CHUNK_BYTES = 256 * 1024
CSV_COLUMNS = (
    "receipt_id",
    "consent_id",
    "recorded_at",
    "site",
    "revision",
    "method",
    "decisions",
    "language",
    "gpc",
    "page_url",
    "user_agent_family",
    "ip_truncated",
    # Only in receipts recorded with region rules on (GEO_COUNTRY_HEADER); empty otherwise.
    "country",
    "region_rule",
    "record_hash",
    "seal",
    "leaf",
)
# A CSV cell starting with one of these is read as a formula by spreadsheets.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
BUNDLE_FORMAT = "consent-log-bundle/2"
# A bundle's manifest is signed (manifest.jws) since format 2.
MANIFEST_TYP = "consent-log-manifest+jwt"

VERIFY_TEXT = """How to verify this consent-log export
=====================================

This bundle holds:
  receipts.jsonl  one receipt a line, in log order: {{"seal", "leaf", "record_hash", "record"}}
  seals.jsonl     the signed seals covering those receipts, with their leaf lists
  jwks.json       the public keys of the server that signed the seals ({server_hint})
  manifest.json   what was exported, when, and how many lines each file has
  manifest.jws    the manifest signed by the server (JWS, EdDSA), so that nothing can be
                  cut off the end of the export unnoticed

Each record's hash is the SHA-256 of its canonical JSON (keys sorted, no whitespace,
UTF-8). Each seal is an Ed25519-signed (JWS, EdDSA) Merkle root in the manner of RFC 6962
over the record hashes of its receipts, and names the hash of the site's previous seal.

Verify offline, without the server:

    consent-server log verify {name}
    consent-server log verify {name} --jwks jwks-from-the-server.json --strict

The first form checks the signatures with the keys inside this bundle, and says so: that
shows the bundle is consistent, not that the server signed it. The second form pins the
public keys you fetched yourself from the server's /.well-known/jwks.json over TLS (or
took from your own records), so a bundle whose keys were replaced is caught too; --strict
fails unless the keys were pinned, every receipt is sealed and the manifest is signed.
The command names every receipt that was modified, removed, inserted or reordered and
every seal that is broken, and exits with status 1 when anything is wrong.
"""


@dataclass(frozen=True)
class ExportScope:
    """The seals and unsealed receipts an export covers."""

    site: Site
    seals: list[Seal]
    since: dt.datetime | None
    until: dt.datetime | None


def export_scope(
    site_key: str, since: dt.datetime | None, until: dt.datetime | None
) -> ExportScope:
    """Whole seals that hold a receipt in [since, until), so every exported seal can be checked."""
    # SQLite keeps timestamps as UTC text without an offset: compare in UTC on every database.
    since = since.astimezone(dt.UTC) if since is not None else None
    until = until.astimezone(dt.UTC) if until is not None else None
    site = db.session.execute(select(Site).where(Site.key == site_key)).scalar_one()
    overlapping = select(func.min(Seal.sequence), func.max(Seal.sequence)).where(
        Seal.site_id == site.id
    )
    if since is not None:
        overlapping = overlapping.where(Seal.last_recorded_at >= since)
    if until is not None:
        overlapping = overlapping.where(Seal.first_recorded_at < until)
    first, last = db.session.execute(overlapping).one()
    # Every seal between the first and the last that overlap: a late-committed receipt can
    # make a later seal overlap the range while the seals before it do not, and leaving those
    # out would break the chain the auditor checks.
    seals = []
    if first is not None:
        query = (
            select(Seal)
            # The leaf lists (48 bytes a receipt) are only read for a bundle, seal by seal:
            # loading them all here cost 100 MB of memory for a million receipts.
            .options(defer(Seal.leaves))
            .where(Seal.site_id == site.id, Seal.sequence.between(first, last))
            .order_by(Seal.sequence)
        )
        seals = list(db.session.execute(query).scalars())
    return ExportScope(site, seals, since, until)


def _stream(conn: Connection, query: Select[Any]) -> Iterator[Any]:
    """The query's rows in order, fetched in batches of BATCH_ROWS, never all at once."""
    if conn.dialect.driver == "psycopg":
        import psycopg

        caps = getattr(psycopg, "capabilities", None)
        if caps is not None and caps.has_stream_chunked():
            # libpq's chunked-rows mode: the server keeps sending while rows become lines,
            # where a server-side cursor sits idle between FETCHes; the rows are the same.
            compiled = query.compile(
                dialect=conn.dialect, compile_kwargs={"render_postcompile": True}
            )
            with conn.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
                yield from cursor.stream(str(compiled), compiled.params, size=BATCH_ROWS)
            return
    yield from conn.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(query)


def _rows(scope: ExportScope) -> Iterator[tuple[Any, ...]]:
    """(record, record_hash, receipt_id, purged_at, seal sequence, leaf) in log order."""
    r = ConsentReceipt
    cols = (r.record, r.record_hash, r.receipt_id, r.purged_at, r.seal_id, r.leaf_index)
    sequences = {s.id: s.sequence for s in scope.seals}
    with db.engine.connect() as conn:
        if scope.seals:
            # Seal ids grow with their sequence, so one index range scan gives log order.
            sealed = (
                select(*cols)
                .where(
                    r.site_id == scope.site.id,
                    r.seal_id.between(scope.seals[0].id, scope.seals[-1].id),
                )
                .order_by(r.seal_id, r.leaf_index)
            )
            for row in _stream(conn, sealed):
                sequence = sequences.get(row[4])
                if sequence is not None:
                    yield (*row[:4], sequence, row[5])
        # Then every receipt of the range in no exported seal: unsealed ones, and those a seal
        # made since the scope was read took (asking only for unsealed ones lost them). No
        # older seal holds a receipt of the range, or it would overlap and be exported.
        conds = [r.site_id == scope.site.id]
        if scope.seals:
            conds.append(or_(r.seal_id.is_(None), r.seal_id > scope.seals[-1].id))
        if scope.since is not None:
            conds.append(r.recorded_at >= scope.since)
        if scope.until is not None:
            conds.append(r.recorded_at < scope.until)
        for row in _stream(conn, select(*cols).where(and_(*conds)).order_by(r.id)):
            yield (*row[:4], None, None)


def _jsonl_line(row: tuple[Any, ...]) -> bytes:
    record, digest, receipt_id, _purged_at, sequence, leaf = row
    seal = "null" if sequence is None else sequence
    leaf = "null" if leaf is None else leaf
    head = f'{{"seal":{seal},"leaf":{leaf},"record_hash":"{digest}"'
    if record is None:
        return f'{head},"record":null,"receipt_id":"{receipt_id}","purged":true}}\n'.encode()
    # The stored record already is canonical JSON: it is written out byte for byte.
    return f'{head},"record":{record}}}\n'.encode()


def _chunked(lines: Iterator[bytes]) -> Iterator[bytes]:
    buf: list[bytes] = []
    size = 0
    for line in lines:
        buf.append(line)
        size += len(line)
        if size >= CHUNK_BYTES:
            yield b"".join(buf)
            buf, size = [], 0
    if buf:
        yield b"".join(buf)


def iter_jsonl(scope: ExportScope) -> Iterator[bytes]:
    """The export as JSON Lines, in chunks, with constant memory."""
    return _chunked(_jsonl_line(row) for row in _rows(scope))


def csv_cell(value: Any) -> Any:
    """A CSV cell: None empty, and text a spreadsheet would take for a formula quoted."""
    if value is None:
        return ""
    # OWASP's CSV injection advice: a leading ' makes Excel, LibreOffice and Sheets show the
    # text instead of running it. Only the CSV is changed; receipts and JSONL stay as signed.
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


def iter_csv(scope: ExportScope) -> Iterator[bytes]:
    """The export as CSV (one column per field; decisions as JSON), in chunks."""

    def lines() -> Iterator[bytes]:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for record, digest, receipt_id, _purged, sequence, leaf in _rows(scope):
            rec = orjson.loads(record) if record is not None else {"receipt_id": receipt_id}
            rec["decisions"] = orjson.dumps(rec["decisions"]).decode() if "decisions" in rec else ""
            rec.update(record_hash=digest, seal=sequence, leaf=leaf)
            writer.writerow([csv_cell(rec.get(c)) for c in CSV_COLUMNS])
            if out.tell() >= CHUNK_BYTES:
                yield out.getvalue().encode("utf-8")
                out.seek(0)
                out.truncate()
        yield out.getvalue().encode("utf-8")

    return (chunk for chunk in lines() if chunk)


def iter_seals(scope: ExportScope) -> Iterator[bytes]:
    """The covered seals, one JSON document a line."""
    for seal in scope.seals:
        yield orjson.dumps(seal_document(seal)) + b"\n"


def write_export(scope: ExportScope, fmt: str, out: IO[bytes]) -> int:
    """Write a JSONL or CSV export to a binary stream; return the bytes written."""
    written = 0
    for chunk in iter_jsonl(scope) if fmt == "jsonl" else iter_csv(scope):
        out.write(chunk)
        written += len(chunk)
    return written


def write_bundle(scope: ExportScope, path: str | Path, server_hint: str = "") -> dict[str, Any]:
    """Write a zip an auditor verifies offline: receipts, seals, public keys, instructions."""
    store: KeyStore = current_app.extensions["consent_keys"]
    counts = {"receipts": 0, "seals": len(scope.seals)}
    path = Path(path)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        with zf.open("receipts.jsonl", "w", force_zip64=True) as fh:
            for chunk in iter_jsonl(scope):
                counts["receipts"] += chunk.count(b"\n")
                fh.write(chunk)
        with zf.open("seals.jsonl", "w", force_zip64=True) as fh:
            for line in iter_seals(scope):
                fh.write(line)
        zf.writestr("jwks.json", orjson.dumps(store.jwks(), option=orjson.OPT_INDENT_2))
        manifest = {
            "format": BUNDLE_FORMAT,
            "site": scope.site.key,
            "exported_at": dt.datetime.now(dt.UTC).isoformat(),
            "since": scope.since.isoformat() if scope.since else None,
            "until": scope.until.isoformat() if scope.until else None,
            "first_seal": scope.seals[0].sequence if scope.seals else None,
            "last_seal": scope.seals[-1].sequence if scope.seals else None,
            "counts": counts,
        }
        zf.writestr("manifest.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        # Seals prove what they cover, not where the export ends: the signed counts and seal
        # range show that no seal and no unsealed receipt was cut off its end.
        zf.writestr("manifest.jws", store.current().sign_bytes(canonical(manifest), MANIFEST_TYP))
        hint = server_hint or "its /.well-known/jwks.json"
        zf.writestr("VERIFY.txt", VERIFY_TEXT.format(name=path.name, server_hint=hint))
    return manifest


def bundle_file(scope: ExportScope, name: str, server_hint: str = "") -> IO[bytes]:
    """The bundle `name` written to a temporary file, open for reading and already unlinked."""
    with tempfile.TemporaryDirectory(prefix="consent-bundle-") as tmp:
        path = Path(tmp) / name
        write_bundle(scope, path, server_hint)
        out = path.open("rb")
    # The directory is gone, file and all, before a byte is sent: the open handle still reads
    # it (POSIX), and its space is freed when the response closes it, whether the download
    # finished or the client went away, on every database (the rows were all read above).
    return out


def bundle_download(scope: ExportScope) -> Response:
    """The scope's bundle as a zip attachment, for the admin API and the console alike."""
    name = f"{scope.site.key}-audit-bundle.zip"
    hint = f"{request.host_url}.well-known/jwks.json"
    out = bundle_file(scope, name, server_hint=hint)
    # The WSGI server closes the wrapped file when the response ends or is abandoned.
    response = Response(
        wrap_file(request.environ, out), mimetype="application/zip", direct_passthrough=True
    )
    response.content_length = os.fstat(out.fileno()).st_size
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
