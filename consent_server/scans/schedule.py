"""Scan schedules: cron slots claimed by one scheduler each."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from consent_server.clock import as_utc, now_utc
from consent_server.extensions import db
from consent_server.scans.models import Scan, ScanSchedule
from consent_server.scans.queue import QUEUED, RUNNING, _new_scan
from consent_server.sites.models import Site
from consent_server.tx import transaction

# -- schedules -------------------------------------------------------------------------------


log = logging.getLogger(__name__)


def next_run(cron: str, timezone: str, after: dt.datetime) -> dt.datetime:
    """The first time after `after` that `cron` names, read in `timezone`, as UTC."""
    local = now_utc(after).astimezone(ZoneInfo(timezone))
    return croniter(cron, local).get_next(dt.datetime).astimezone(dt.UTC)


def _schedule_of(settings: dict[str, Any] | None) -> tuple[str, str] | None:
    if not settings or not settings.get("schedule"):
        return None
    return settings["schedule"], settings.get("timezone") or "UTC"


def sync_schedules(now: dt.datetime | None = None) -> None:
    """Make `scan_schedules` follow the sites' `scan.schedule` and `scan.timezone`.

    A new or changed schedule is first due at its next time after now; a removed one is
    dropped. Safe to run from several schedulers at once (every change is conditional).
    """
    now = now_utc(now)
    sites = db.session.execute(select(Site.id, Site.scan)).all()
    rows = {r.site_id: r for r in db.session.execute(select(ScanSchedule)).scalars()}
    db.session.rollback()  # end the read; every change below is its own transaction
    for site_id, settings in sites:
        wanted = _schedule_of(settings)
        row = rows.get(site_id)
        if wanted is None:
            if row is not None:
                with transaction():
                    db.session.execute(
                        delete(ScanSchedule).where(
                            ScanSchedule.site_id == site_id, ScanSchedule.cron == row.cron
                        )
                    )
            continue
        cron, timezone = wanted
        if row is None:
            try:
                with transaction():
                    db.session.add(
                        ScanSchedule(
                            site_id=site_id,
                            cron=cron,
                            timezone=timezone,
                            next_run_at=next_run(cron, timezone, now),
                            updated_at=now,
                        )
                    )
            except IntegrityError:
                pass  # another scheduler created it first
        elif (row.cron, row.timezone) != wanted:
            with transaction():
                db.session.execute(
                    update(ScanSchedule)
                    .where(
                        ScanSchedule.site_id == site_id,
                        ScanSchedule.cron == row.cron,
                        ScanSchedule.timezone == row.timezone,
                    )
                    .values(
                        cron=cron,
                        timezone=timezone,
                        next_run_at=next_run(cron, timezone, now),
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )


def claim_due(now: dt.datetime | None = None) -> list[int]:
    """Create one queued scan per due schedule slot this caller wins; return their ids.

    The next slot is computed from now, not from the slot that was due: a scheduler that was
    down across several slots runs the site once when it comes back, not once per slot.
    A site with a scan still queued or running gets no second one (the slot is skipped).
    """
    now = now_utc(now)
    due = db.session.execute(
        select(
            ScanSchedule.site_id, ScanSchedule.cron, ScanSchedule.timezone, ScanSchedule.next_run_at
        )
        .where(ScanSchedule.next_run_at <= now)
        .order_by(ScanSchedule.next_run_at)
    ).all()
    db.session.rollback()
    created = []
    for site_id, cron, timezone, seen in due:
        following = next_run(cron, timezone, now)
        with transaction():
            won = db.session.execute(
                update(ScanSchedule)
                .where(ScanSchedule.site_id == site_id, ScanSchedule.next_run_at == seen)
                .values(next_run_at=following, last_run_at=seen, updated_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
            if won != 1:
                continue  # another scheduler claimed this slot
            site = db.session.get(Site, site_id)
            if site is None or not site.scan:
                continue
            busy = db.session.execute(
                select(func.count())
                .select_from(Scan)
                .where(Scan.site_id == site_id, Scan.status.in_((QUEUED, RUNNING)))
            ).scalar_one()
            if busy:
                log.warning(
                    "site %s: a scan is still queued or running; slot %s skipped", site.key, seen
                )
                continue
            scan = _new_scan(site, "schedule", as_utc(seen), now)
            db.session.flush()
            created.append(scan.id)
    return created


def schedules() -> list[tuple[str, ScanSchedule]]:
    """Every schedule with its site key."""
    rows = db.session.execute(
        select(Site.key, ScanSchedule)
        .join(Site, Site.id == ScanSchedule.site_id)
        .order_by(Site.key)
    ).all()
    return [(key, row) for key, row in rows]
