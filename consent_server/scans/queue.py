"""The scan queue: creating, claiming and leasing scans."""

from __future__ import annotations

import datetime as dt
import logging
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy import or_, select, update

from consent_server.clock import as_utc, now_utc
from consent_server.extensions import db
from consent_server.scans.models import Scan
from consent_server.sites.models import Site
from consent_server.sites.service import get_site
from consent_server.tx import transaction

log = logging.getLogger(__name__)


QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATUSES = (QUEUED, RUNNING, DONE, FAILED)
TRIGGERS = ("schedule", "manual", "api")


class ScanNotFound(LookupError):
    """No scan with that id."""


class NoScanSettings(ValueError):
    """The site's declaration has no `scan:` block."""


class ScanBusy(RuntimeError):
    """The site already has a scan queued or running (API scans wait for it to finish)."""

    def __init__(self, site_key: str, scan_id: int) -> None:
        super().__init__(f"site {site_key} has scan {scan_id} queued or running")
        self.scan_id = scan_id


class ScanQuotaExceeded(RuntimeError):
    """The site has started SCAN_API_QUOTA scans over the API within the quota's window."""

    def __init__(self, site_key: str, quota: str, retry_after: int) -> None:
        super().__init__(f"site {site_key} has used its API scan quota of {quota}")
        self.quota = quota
        self.retry_after = retry_after


def _new_scan(
    site: Site, trigger: str, scheduled_for: dt.datetime | None, now: dt.datetime
) -> Scan:
    scan = Scan(
        site_id=site.id,
        revision_id=site.current_revision_id,
        trigger=trigger,
        status=QUEUED,
        scheduled_for=scheduled_for,
        settings=dict(site.scan or {}),
        created_at=now,
        attempts=0,
    )
    db.session.add(scan)
    return scan


def _api_quota() -> tuple[str, int, dt.timedelta] | None:
    """SCAN_API_QUOTA as (text, scans, window), or None when it is not set."""
    text = str(current_app.config.get("SCAN_API_QUOTA") or "").strip()
    if not text:
        return None
    from limits import parse

    item = parse(text)
    return text, item.amount, dt.timedelta(seconds=item.get_expiry())


def _check_api_scan(site: Site, now: dt.datetime) -> None:
    """Refuse an API scan while the site has one queued or running, or past its quota."""
    # A no-op write takes the site's row lock (SQLite: the database's write lock) before
    # counting: concurrent requests, from any process, count and insert one after the other.
    db.session.execute(
        update(Site)
        .where(Site.id == site.id)
        .values(name=Site.name)
        .execution_options(synchronize_session=False)
    )
    busy = db.session.execute(
        select(Scan.id)
        .where(Scan.site_id == site.id, Scan.status.in_((QUEUED, RUNNING)))
        .order_by(Scan.id)
        .limit(1)
    ).scalar_one_or_none()
    if busy is not None:
        raise ScanBusy(site.key, busy)
    quota = _api_quota()
    if quota is None:
        return
    text, amount, window = quota
    recent = (
        db.session.execute(
            select(Scan.created_at)
            .where(Scan.site_id == site.id, Scan.trigger == "api", Scan.created_at > now - window)
            .order_by(Scan.created_at.desc())
            .limit(amount)
        )
        .scalars()
        .all()
    )
    if len(recent) >= amount:
        # When the oldest of the last `amount` scans leaves the window, one more may start.
        frees_at = as_utc(recent[amount - 1]) + window
        retry_after = max(1, math.ceil((frees_at - now).total_seconds()))
        raise ScanQuotaExceeded(site.key, text, retry_after)


def create_scan(site_key: str, trigger: str = "manual", now: dt.datetime | None = None) -> Scan:
    """Queue a scan of the site with its declared `scan:` settings.

    An API scan (trigger "api") raises ScanBusy while the site has a scan queued or running,
    and ScanQuotaExceeded past SCAN_API_QUOTA; manual (CLI) scans are the operator's own.
    """
    if trigger not in TRIGGERS:
        raise ValueError(f"trigger must be one of {', '.join(TRIGGERS)}")
    now = now_utc(now)
    with transaction():
        site = get_site(site_key)
        if not site.scan:
            raise NoScanSettings(site_key)
        if trigger == "api":
            _check_api_scan(site, now)
        scan = _new_scan(site, trigger, None, now)
        db.session.flush()
    return scan


def on_workers(app: Flask | None = None) -> bool:
    """Whether scans run on Celery workers (a broker is configured) rather than here."""
    return bool((app or current_app).config.get("CELERY_BROKER_URL"))


def send_to_workers(only: int | None = None) -> list[int]:
    """Hand queued scans (or only that one) to the Celery workers; the ids sent."""
    from consent_server.scans.tasks import dispatch_scan

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return dispatch_pending(lambda scan_id: dispatch_scan(app, scan_id), only=only)


@dataclass(frozen=True)
class Enqueued:
    """A scan just queued: whether it runs on workers, and whether it was sent to them yet."""

    scan_id: int
    on_workers: bool
    sent: bool


def enqueue_scan(site_key: str, trigger: str, now: dt.datetime | None = None) -> Enqueued:
    """Queue a scan of the site; with a Celery broker, send it to the workers at once.

    When the broker is down the scan stays queued and the scheduler sends it on its next pass;
    without a broker, the scheduler (or the caller, with execute_scan) runs it here.
    """
    scan = create_scan(site_key, trigger, now)
    if not on_workers():
        return Enqueued(scan.id, False, False)
    return Enqueued(scan.id, True, bool(send_to_workers(only=scan.id)))


# -- claiming and running --------------------------------------------------------------------


@dataclass(frozen=True)
class ScanClaim:
    """The right to run one attempt of a scan, proven by `token`."""

    scan_id: int
    token: str
    worker: str
    attempt: int


@dataclass(frozen=True)
class Outcome:
    """What became of a request to run a scan.

    status: done, failed, requeued (an error; it will be tried again), busy (another live
    worker holds it; `wait` seconds until its lease ends), finished (already done or failed),
    lost (this worker's lease was taken over; its result was dropped), missing.
    """

    status: str
    scan_id: int
    attempts: int = 0
    wait: float = 0.0
    error: str | None = None


def _lease() -> dt.timedelta:
    return dt.timedelta(seconds=float(current_app.config["SCAN_LEASE_SECONDS"]))


def _max_attempts() -> int:
    return max(1, int(current_app.config["SCAN_MAX_ATTEMPTS"]))


def claim_scan(scan_id: int, worker: str, now: dt.datetime | None = None) -> ScanClaim | Outcome:
    """Take a queued scan (or one whose worker's lease ran out) for this worker."""
    now = now_utc(now)
    token = uuid.uuid4().hex
    with transaction():
        won = db.session.execute(
            update(Scan)
            .where(
                Scan.id == scan_id,
                Scan.attempts < _max_attempts(),
                or_(
                    Scan.status == QUEUED,
                    (Scan.status == RUNNING) & (Scan.lease_until < now),
                ),
            )
            .values(
                status=RUNNING,
                claim_token=token,
                worker=worker[:200],
                attempts=Scan.attempts + 1,
                started_at=now,
                finished_at=None,
                lease_until=now + _lease(),
                error=None,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
    if won == 1:
        attempts = db.session.execute(select(Scan.attempts).where(Scan.id == scan_id)).scalar_one()
        db.session.rollback()
        return ScanClaim(scan_id, token, worker, attempts)
    row = db.session.execute(
        select(Scan.status, Scan.lease_until, Scan.attempts).where(Scan.id == scan_id)
    ).one_or_none()
    db.session.rollback()
    if row is None:
        return Outcome("missing", scan_id)
    status, lease_until, attempts = row
    if status in (DONE, FAILED):
        return Outcome("finished", scan_id, attempts)
    lease_until = as_utc(lease_until)
    if status == RUNNING and lease_until is not None and lease_until >= now:
        return Outcome("busy", scan_id, attempts, wait=(lease_until - now).total_seconds() + 1)
    # Queued or abandoned, but out of attempts: every worker that took it was lost.
    with transaction():
        db.session.execute(
            update(Scan)
            .where(
                Scan.id == scan_id,
                Scan.status.in_((QUEUED, RUNNING)),
                Scan.attempts >= _max_attempts(),
            )
            .values(
                status=FAILED,
                finished_at=now,
                lease_until=None,
                claim_token=None,
                error=f"Gave up after {attempts} attempts: the worker running it was lost.",
            )
            .execution_options(synchronize_session=False)
        )
    return Outcome("finished", scan_id, attempts)


def renew_lease(claim: ScanClaim, now: dt.datetime | None = None) -> bool:
    """Extend the lease; False when the scan is no longer this claim's."""
    now = now_utc(now)
    with transaction():
        return (
            db.session.execute(
                update(Scan)
                .where(
                    Scan.id == claim.scan_id,
                    Scan.claim_token == claim.token,
                    Scan.status == RUNNING,
                )
                .values(lease_until=now + _lease())
                .execution_options(synchronize_session=False)
            ).rowcount
            == 1
        )


def requeue_stale(now: dt.datetime | None = None, grace: float = 0.0) -> list[int]:
    """Scans whose worker stopped renewing its lease: queue them again, or fail them."""
    now = now_utc(now)
    limit = now - dt.timedelta(seconds=grace)
    rows = db.session.execute(
        select(Scan.id, Scan.attempts).where(Scan.status == RUNNING, Scan.lease_until < limit)
    ).all()
    db.session.rollback()
    changed = []
    for scan_id, attempts in rows:
        final = attempts >= _max_attempts()
        with transaction():
            n = db.session.execute(
                update(Scan)
                .where(Scan.id == scan_id, Scan.status == RUNNING, Scan.lease_until < limit)
                .values(
                    status=FAILED if final else QUEUED,
                    finished_at=now if final else None,
                    dispatched_at=None,
                    claim_token=None,
                    lease_until=None,
                    error=(
                        f"Gave up after {attempts} attempts: the worker running it was lost."
                        if final
                        else "The worker running it was lost; queued again."
                    ),
                )
                .execution_options(synchronize_session=False)
            ).rowcount
        if n:
            log.warning(
                "scan %s: worker lost after attempt %s; %s",
                scan_id,
                attempts,
                "failed" if final else "requeued",
            )
            changed.append(scan_id)
    return changed


def dispatch_pending(
    send: Callable[[int], None], now: dt.datetime | None = None, only: int | None = None
) -> list[int]:
    """Hand every queued scan not yet handed out (or only that one) to `send` (to Celery)."""
    now = now_utc(now)
    query = select(Scan.id).where(Scan.status == QUEUED, Scan.dispatched_at.is_(None))
    if only is not None:
        query = query.where(Scan.id == only)
    ids = db.session.execute(query.order_by(Scan.id)).scalars().all()
    db.session.rollback()
    sent = []
    for scan_id in ids:
        with transaction():
            won = db.session.execute(
                update(Scan)
                .where(Scan.id == scan_id, Scan.status == QUEUED, Scan.dispatched_at.is_(None))
                .values(dispatched_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
        if not won:
            continue
        try:
            send(scan_id)
        except Exception:
            log.exception("scan %s: could not dispatch; will try again", scan_id)
            with transaction():
                db.session.execute(
                    update(Scan)
                    .where(Scan.id == scan_id, Scan.status == QUEUED)
                    .values(dispatched_at=None)
                    .execution_options(synchronize_session=False)
                )
            break  # the broker is down: the rest waits for the next tick
        sent.append(scan_id)
    return sent


def queued_scan_ids() -> list[int]:
    """Queued scans, oldest first."""
    ids = (
        db.session.execute(select(Scan.id).where(Scan.status == QUEUED).order_by(Scan.id))
        .scalars()
        .all()
    )
    db.session.rollback()
    return list(ids)
