"""Purging old scans."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select

from consent_server.clock import now_utc
from consent_server.extensions import db
from consent_server.scans.models import Scan, ScanFinding, ScanItem
from consent_server.scans.queue import DONE, FAILED
from consent_server.tx import transaction

# -- retention -------------------------------------------------------------------------------


def purge_scans(
    older_than_days: float, now: dt.datetime | None = None, *, dry_run: bool = False
) -> int:
    """Delete finished scans older than the given age; each site's latest finished scan stays."""
    now = now_utc(now)
    cutoff = now - dt.timedelta(days=older_than_days)
    latest = (
        select(func.max(Scan.id))
        .where(Scan.status == DONE)
        .group_by(Scan.site_id)
        .scalar_subquery()
    )
    ids = (
        db.session.execute(
            select(Scan.id).where(
                Scan.created_at < cutoff,
                Scan.status.in_((DONE, FAILED)),
                Scan.id.not_in(latest),
            )
        )
        .scalars()
        .all()
    )
    db.session.rollback()
    if dry_run or not ids:
        return len(ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        with transaction():
            # Children first: SQLite does not enforce ON DELETE CASCADE unless told to.
            db.session.execute(delete(ScanFinding).where(ScanFinding.scan_id.in_(chunk)))
            db.session.execute(delete(ScanItem).where(ScanItem.scan_id.in_(chunk)))
            db.session.execute(delete(Scan).where(Scan.id.in_(chunk)))
    return len(ids)
