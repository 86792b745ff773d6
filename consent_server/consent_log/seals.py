"""Sealing the consent log: signed, chained RFC 6962 Merkle roots over unsealed receipts."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson
from flask import current_app
from sqlalchemy import bindparam, func, select, text, update

from consent_server.consent_log.keys import KeyStore
from consent_server.consent_log.merkle import (
    b64,
    canonical,
    merkle_root,
    pack_leaves,
    seal_payload,
    sha256_hex,
)
from consent_server.consent_log.models import ConsentReceipt, Seal
from consent_server.consent_log.receipts import isoformat
from consent_server.consent_log.stats import add_sealed
from consent_server.extensions import db
from consent_server.sites.models import Site
from consent_server.tx import transaction

SEAL_TYP = "consent-seal+jwt"
log = logging.getLogger(__name__)


class SealConflict(RuntimeError):
    """Another sealer sealed some of the same receipts first; nothing was written."""


class TamperedRecord(RuntimeError):
    """A stored record no longer matches its hash, so it must not be sealed."""


@dataclass(frozen=True)
class SealResult:
    """One seal written."""

    site: str
    sequence: int
    tree_size: int
    root: str


@dataclass
class SealRun:
    """What one sealing run did: the seals written, and the sites it could not seal, why."""

    results: list[SealResult] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def _lock_site_for_sealing(site_id: int) -> None:
    # Sealers serialise per site; an advisory lock (not a row lock) leaves the POST path,
    # whose foreign-key check share-locks the site row, completely unblocked.
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(72616, :id)"), {"id": site_id})
    elif dialect == "sqlite":
        # SQLite has no advisory locks, and two sealers reading the same unsealed receipts
        # would both write seal N (one fails on the unique sequence). A no-op write takes the
        # database write lock now, before anything is read: sealers then queue like every
        # SQLite writer already does, and each one reads what the one before it left.
        db.session.execute(text("UPDATE sites SET id = id WHERE id = :id"), {"id": site_id})


def seal_site(site_key: str, max_leaves: int | None = None) -> list[SealResult]:
    """Seal every receipt of the site that is not yet sealed, in batches of max_leaves."""
    limit = max_leaves or int(current_app.config["SEAL_MAX_LEAVES"])
    results = []
    while True:
        result = _seal_batch(site_key, limit)
        if result is None:
            return results
        results.append(result)


def _seal_batch(site_key: str, limit: int) -> SealResult | None:
    store: KeyStore = current_app.extensions["consent_keys"]
    with transaction() as session:
        site = session.execute(select(Site).where(Site.key == site_key)).scalar_one()
        _lock_site_for_sealing(site.id)
        rows = session.execute(
            select(
                ConsentReceipt.id,
                ConsentReceipt.receipt_id,
                ConsentReceipt.record,
                ConsentReceipt.record_hash,
                ConsentReceipt.recorded_at,
                ConsentReceipt.revision_id,
                ConsentReceipt.method,
                ConsentReceipt.decisions,
            )
            .where(ConsentReceipt.site_id == site.id, ConsentReceipt.seal_id.is_(None))
            .order_by(ConsentReceipt.id)
            .limit(limit)
        ).all()
        if not rows:
            return None
        hashes = []
        for row in rows:
            if row.record is not None:
                actual = hashlib.sha256(row.record.encode("utf-8")).hexdigest()
                if actual != row.record_hash:
                    raise TamperedRecord(f"receipt {row.receipt_id} does not match its hash")
            hashes.append(bytes.fromhex(row.record_hash))
        previous = session.execute(
            select(Seal).where(Seal.site_id == site.id).order_by(Seal.sequence.desc()).limit(1)
        ).scalar_one_or_none()
        sequence = previous.sequence + 1 if previous else 1
        root = merkle_root(hashes).hex()
        times = [r.recorded_at for r in rows]
        now = dt.datetime.now(dt.UTC)
        payload = seal_payload(
            site=site.key,
            sequence=sequence,
            tree_size=len(rows),
            root=root,
            previous=previous.seal_hash if previous else None,
            sealed_at=isoformat(now),
            first_recorded_at=isoformat(_aware(min(times))),
            last_recorded_at=isoformat(_aware(max(times))),
        )
        key = store.current()
        seal = Seal(
            site_id=site.id,
            sequence=sequence,
            tree_size=len(rows),
            root_hash=root,
            previous_hash=payload["previous"],
            seal_hash=sha256_hex(canonical(payload)),
            payload=canonical(payload).decode(),
            signature=key.sign(payload, SEAL_TYP),
            kid=key.kid,
            leaves=pack_leaves((r.receipt_id, r.record_hash) for r in rows),
            sealed_at=now,
            first_recorded_at=min(times),
            last_recorded_at=max(times),
        )
        session.add(seal)
        session.flush()
        table = ConsentReceipt.__table__
        done = session.execute(
            update(table)
            .where(table.c.id == bindparam("rid"), table.c.seal_id.is_(None))
            .values(seal_id=seal.id, leaf_index=bindparam("leaf")),
            [{"rid": r.id, "leaf": i} for i, r in enumerate(rows)],
        )
        if done.rowcount != len(rows):
            # Only possible if the lock above did not hold: the other sealer won; retry later.
            raise SealConflict(f"site {site.key}: receipts were sealed concurrently")
        # Each receipt is sealed once, so its counts are added once, with the seal (the
        # statistics lag the receipts by up to SEAL_INTERVAL; consent_log/stats.py reads both).
        add_sealed(session, site.id, rows)
    return SealResult(site.key, sequence, len(rows), root)


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; they were stored as UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def seal_all(sites: list[str] | None = None) -> SealRun:
    """Seal every site (or the ones named), each on its own: one that fails stops only itself."""
    keys = sites or list(db.session.execute(select(Site.key).order_by(Site.key)).scalars())
    db.session.rollback()
    limit = int(current_app.config["SEAL_MAX_LEAVES"])
    run = SealRun()
    for key in keys:
        try:
            while (result := _seal_batch(key, limit)) is not None:
                run.results.append(result)
        except Exception as exc:
            # A tampered record (or anything else) in one site must not leave every other
            # site's receipts unsealed; the batch that failed was rolled back.
            db.session.rollback()
            log.error("site %s not sealed: %s", key, exc)
            run.failed[key] = str(exc) or type(exc).__name__
    return run


def seal_document(seal: Seal) -> dict[str, Any]:
    """A seal as exported: signed payload, JWS and leaf list."""
    return {
        "sequence": seal.sequence,
        "payload": orjson.loads(seal.payload),
        "signature": seal.signature,
        "kid": seal.kid,
        "leaves": b64(seal.leaves),
    }


def seal_lag() -> tuple[int, float]:
    """Receipts not yet sealed, and the age in seconds of the oldest of them."""
    count, oldest = db.session.execute(
        select(func.count(), func.min(ConsentReceipt.recorded_at)).where(
            ConsentReceipt.seal_id.is_(None)
        )
    ).one()
    age = (dt.datetime.now(dt.UTC) - _aware(oldest)).total_seconds() if oldest else 0.0
    return int(count), max(age, 0.0)
