"""Retention: purge the personal content of old receipts while keeping their hashes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update

from consent_server.consent_log.models import ConsentReceipt
from consent_server.sites.models import Site
from consent_server.tx import transaction


def purge_receipts(
    older_than: dt.timedelta, site_key: str | None = None, *, dry_run: bool = False
) -> int:
    """Blank the record and consent id of sealed receipts older than the cutoff; keep the hash."""
    cutoff = dt.datetime.now(dt.UTC) - older_than
    r = ConsentReceipt
    # Only sealed receipts: an unsealed one whose content is gone could never be proven.
    conds = [r.recorded_at < cutoff, r.purged_at.is_(None), r.seal_id.is_not(None)]
    with transaction() as session:
        if site_key is not None:
            site_id = session.execute(select(Site.id).where(Site.key == site_key)).scalar_one()
            conds.append(r.site_id == site_id)
        if dry_run:
            return int(session.execute(select(func.count()).where(*conds)).scalar_one())
        result = session.execute(
            update(r.__table__)
            .where(*[c for c in conds])
            .values(record=None, consent_id=None, purged_at=dt.datetime.now(dt.UTC))
        )
        return int(result.rowcount or 0)
