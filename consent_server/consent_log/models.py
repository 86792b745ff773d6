"""Receipts and the seals over them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from consent_server.extensions import BigId, db


class ConsentReceipt(db.Model):
    """One consent event, append-only; `record` holds the exact canonical JSON that is hashed."""

    __tablename__ = "consent_receipts"
    __table_args__ = (
        Index("ix_consent_receipts_site_recorded", "site_id", "recorded_at"),
        Index("ix_consent_receipts_site_seal", "site_id", "seal_id", "leaf_index"),
        # A banner's retry of one consent event (same nonce) is skipped by the writer, which
        # answers with the receipt stored first (consent_log/writer.py reads the info); rows
        # without a nonce never collide (NULLs are distinct).
        Index(
            "uq_consent_receipts_site_consent_nonce",
            "site_id",
            "consent_id",
            "client_nonce",
            unique=True,
            info={"group_commit": "skip"},
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    receipt_id: Mapped[str] = mapped_column(String(36), unique=True)
    consent_id: Mapped[str | None] = mapped_column(String(36), index=True, nullable=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    revision_id: Mapped[int] = mapped_column(ForeignKey("site_revisions.id"))
    method: Mapped[str] = mapped_column(String(16))
    decisions: Mapped[dict[str, bool]] = mapped_column(JSON)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    record: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The banner's uuid4 for one consent event, the same on its retries; not in the record.
    client_nonce: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # Copies of the record's language and GPC signal, so the statistics of receipts not sealed
    # yet are grouped without parsing each record; NULL on receipts from before (read from
    # the record then). Not covered by the hash: the record stays the evidence.
    language: Mapped[str | None] = mapped_column(String(35), nullable=True)
    gpc: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    record_hash: Mapped[str] = mapped_column(String(64))
    seal_id: Mapped[int | None] = mapped_column(ForeignKey("seals.id"), nullable=True)
    leaf_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    purged_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Seal(db.Model):
    """A signed Merkle root over a batch of receipts, chained to the site's previous seal."""

    __tablename__ = "seals"
    __table_args__ = (UniqueConstraint("site_id", "sequence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    tree_size: Mapped[int] = mapped_column(Integer)
    root_hash: Mapped[str] = mapped_column(String(64))
    previous_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    seal_hash: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(Text)
    kid: Mapped[str] = mapped_column(String(64))
    leaves: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    first_recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ConsentStatsDaily(db.Model):
    """Counts of one site's receipts per UTC day, revision and language, added when sealed."""

    __tablename__ = "consent_stats_daily"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The record's language; "" when unknown (a purged record counted by `stats rebuild`).
    language: Mapped[str] = mapped_column(String(35), primary_key=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    method_accept_all: Mapped[int] = mapped_column(Integer, default=0)
    method_reject_all: Mapped[int] = mapped_column(Integer, default=0)
    method_custom: Mapped[int] = mapped_column(Integer, default=0)
    method_withdraw: Mapped[int] = mapped_column(Integer, default=0)
    method_gpc: Mapped[int] = mapped_column(Integer, default=0)
    # Receipts whose record says the browser sent Global Privacy Control (any method).
    gpc_signal: Mapped[int] = mapped_column(Integer, default=0)
    # {category: receipts granting it}
    granted: Mapped[dict[str, int]] = mapped_column(JSON)
