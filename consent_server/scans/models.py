"""Scan schedules, scans, and what they found."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent_server.clock import utcnow
from consent_server.extensions import BigId, db
from consent_server.sites.models import Site


class ScanSchedule(db.Model):
    """When a site's next scheduled scan is due; claimed atomically by whichever scheduler.

    A scheduler owns a due slot only if its `UPDATE ... WHERE next_run_at = :seen` changes the
    row, so any number of scheduler instances run each slot exactly once.
    """

    __tablename__ = "scan_schedules"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    cron: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64))
    next_run_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_run_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Scan(db.Model):
    """One scan of a site: settings, state, timing, summary and the full JSON report."""

    __tablename__ = "scans"
    __table_args__ = (
        # A scheduled slot gives at most one scan, whatever races the claim may have lost.
        UniqueConstraint("site_id", "scheduled_for"),
        Index("ix_scans_site_created", "site_id", "created_at"),
        Index("ix_scans_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    revision_id: Mapped[int | None] = mapped_column(ForeignKey("site_revisions.id"), nullable=True)
    trigger: Mapped[str] = mapped_column(String(16))  # schedule, manual, api
    status: Mapped[str] = mapped_column(String(16))  # queued, running, done, failed
    scheduled_for: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    elapsed_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    pages: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cookie_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    storage_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    finding_counts: Mapped[dict[str, int] | None] = mapped_column(JSON, nullable=True)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    alert_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    alert_result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    site: Mapped[Site] = relationship()


class ScanItem(db.Model):
    """A cookie or storage key a scan observed."""

    __tablename__ = "scan_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # cookie, local, session, indexeddb
    name: Mapped[str] = mapped_column(String(512))
    domain: Mapped[str] = mapped_column(String(255))
    party: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(32))
    classified_by: Mapped[str] = mapped_column(String(16))
    lifetime_class: Mapped[str | None] = mapped_column(String(16), nullable=True)
    requested_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    phases: Mapped[list[str]] = mapped_column(JSON)


class ScanFinding(db.Model):
    """A finding of a scan; `fingerprint` identifies the same problem across scans."""

    __tablename__ = "scan_findings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(48))
    severity: Mapped[str] = mapped_column(String(16))
    cookie: Mapped[str | None] = mapped_column(String(512), nullable=True)
    domain: Mapped[str | None] = mapped_column(String(255), nullable=True)
    phase: Mapped[str | None] = mapped_column(String(16), nullable=True)
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class FindingWaiver(db.Model):
    """One audited action on a finding: acknowledge, waive, or revoke an earlier one.

    Rows are only ever added: a revocation is a new row naming the row it ends, so the
    history of who decided what, when and why stays whole.
    """

    __tablename__ = "finding_waivers"
    __table_args__ = (Index("ix_finding_waivers_site_fingerprint", "site_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    fingerprint: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # acknowledge, waive, revoke
    reason: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revokes_id: Mapped[int | None] = mapped_column(ForeignKey("finding_waivers.id"), nullable=True)
    actor: Mapped[str] = mapped_column(String(300))  # token:<prefix> <label>, cli, console:<user>
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
