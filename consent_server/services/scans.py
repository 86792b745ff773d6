"""Scans of sites: schedules, claims, running, results, diffs, proposals and retention.

Every state change is a conditional UPDATE, so any number of schedulers and workers can run
at once against one database:

- a due schedule slot belongs to whoever moves `scan_schedules.next_run_at` on from the value
  it read (and `scans` is unique on (site, scheduled_for) besides);
- a queued scan belongs to whoever sets it `running` with a fresh `claim_token`; the owner
  renews `lease_until` while the browser works, and only the holder of the token may store a
  result, so a scan whose worker died is run again once (or failed after SCAN_MAX_ATTEMPTS),
  and a late result of a worker that lost its lease is thrown away, never stored twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import orjson
import yaml
from croniter import croniter
from flask import Flask, current_app
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from consent_server.extensions import db
from consent_server.models import (
    Scan,
    ScanFinding,
    ScanItem,
    ScanSchedule,
    Site,
    SiteRevision,
    utcnow,
)
from consent_server.services.sites import SiteNotFound, get_site
from consent_server.services.tx import transaction
from scanner.declaration import SEVERITIES, Declaration

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATUSES = (QUEUED, RUNNING, DONE, FAILED)
TRIGGERS = ("schedule", "manual", "api")


class ScanNotFound(LookupError):
    """No scan with that id."""


class NoScanSettings(ValueError):
    """The site's declaration has no `scan:` block."""


class ScanNotFinished(ValueError):
    """The scan has no result (yet)."""


def as_utc(moment: dt.datetime | None) -> dt.datetime | None:
    """A stored time as aware UTC (SQLite gives back naive UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _now(now: dt.datetime | None) -> dt.datetime:
    return as_utc(now) if now is not None else utcnow()  # type: ignore[return-value]


# -- schedules -------------------------------------------------------------------------------


def next_run(cron: str, timezone: str, after: dt.datetime) -> dt.datetime:
    """The first time after `after` that `cron` names, read in `timezone`, as UTC."""
    local = _now(after).astimezone(ZoneInfo(timezone))
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
    now = _now(now)
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
    now = _now(now)
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


def create_scan(site_key: str, trigger: str = "manual", now: dt.datetime | None = None) -> Scan:
    """Queue a scan of the site with its declared `scan:` settings."""
    if trigger not in TRIGGERS:
        raise ValueError(f"trigger must be one of {', '.join(TRIGGERS)}")
    with transaction():
        site = get_site(site_key)
        if not site.scan:
            raise NoScanSettings(site_key)
        scan = _new_scan(site, trigger, None, _now(now))
        db.session.flush()
    return scan


def schedules() -> list[tuple[str, ScanSchedule]]:
    """Every schedule with its site key."""
    rows = db.session.execute(
        select(Site.key, ScanSchedule)
        .join(Site, Site.id == ScanSchedule.site_id)
        .order_by(Site.key)
    ).all()
    return [(key, row) for key, row in rows]


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
    now = _now(now)
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
    now = _now(now)
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
    now = _now(now)
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
    now = _now(now)
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


class _Heartbeat(threading.Thread):
    """Renews a claim's lease while the browser works, from its own app context."""

    def __init__(self, app: Flask, claim: ScanClaim, interval: float) -> None:
        super().__init__(name=f"scan-{claim.scan_id}-lease", daemon=True)
        self.app = app
        self.claim = claim
        self.interval = interval
        self.done = threading.Event()
        self.lost = False

    def run(self) -> None:
        while not self.done.wait(self.interval):
            with self.app.app_context():
                try:
                    if not renew_lease(self.claim):
                        self.lost = True
                        return
                except Exception:
                    log.exception("scan %s: lease renewal failed", self.claim.scan_id)
                finally:
                    db.session.remove()


def scan_config(settings: dict[str, Any]) -> Any:
    """The scanner's ScanConfig for a site's `scan:` settings and the server's scan options."""
    from scanner.config import ScanConfig

    conf = current_app.config
    config = ScanConfig(
        url=settings["url"],
        engine=conf["SCAN_ENGINE"],
        remote=conf.get("SCAN_SELENIUM_REMOTE") or None,
        max_pages=int(settings.get("max_pages", 50)),
        phases=tuple(settings.get("phases") or ()) or ScanConfig.phases,
        resolve=dict(settings.get("resolve") or {}),
        insecure=bool(settings.get("insecure")),
        allow_private=bool(settings.get("allow_private")),
        fail_on=settings.get("fail_on", "high"),
        settle_ms=int(conf["SCAN_SETTLE_MS"]),
        page_timeout=float(conf["SCAN_PAGE_TIMEOUT"]),
        total_timeout=float(conf["SCAN_TOTAL_TIMEOUT"]),
        concurrency=int(conf["SCAN_CONCURRENCY"]),
    )
    if conf.get("SCAN_CHROMIUM"):
        config.chromium = conf["SCAN_CHROMIUM"]
    return config


def _declaration(scan: Scan) -> Declaration | None:
    if scan.revision_id is None:
        return None
    rev = db.session.get(SiteRevision, scan.revision_id)
    site = scan.site
    return Declaration(
        {**rev.content, "site": site.key, "domains": site.domains, "scan": site.scan}
    )


def _run_browser(claim: ScanClaim) -> dict[str, Any]:
    """Run the scanner for a claimed scan, renewing the lease meanwhile."""
    import scanner

    scan = db.session.get(Scan, claim.scan_id)
    settings = dict(scan.settings)
    config = scan_config(settings)
    declaration = _declaration(scan)
    db.session.rollback()  # no transaction stays open across a long scan
    beat = _Heartbeat(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        claim,
        max(0.2, float(current_app.config["SCAN_LEASE_SECONDS"]) / 4),
    )
    beat.start()
    try:
        return scanner.scan(config, declaration=declaration, policy=settings.get("policy_url"))
    finally:
        beat.done.set()
        beat.join()


def execute_scan(
    scan_id: int,
    worker: str,
    *,
    fatal: tuple[type[BaseException], ...] = (),
    run: Callable[[ScanClaim], dict[str, Any]] | None = None,
) -> Outcome:
    """Claim a scan, run it, store its result and send its alerts.

    A ScanError (the site cannot be scanned) or an exception in `fatal` fails the scan;
    any other error queues it again until SCAN_MAX_ATTEMPTS attempts were made.
    """
    from consent_server.services.alerts import send_pending_alert
    from scanner.config import ScanError

    claim = claim_scan(scan_id, worker)
    if isinstance(claim, Outcome):
        if claim.status == "finished":
            send_pending_alert(scan_id)  # a worker lost between storing and alerting
        return claim
    log.info("scan %s: attempt %s on %s", scan_id, claim.attempt, worker)
    try:
        report = (run or _run_browser)(claim)
    except (ScanError, *fatal) as exc:
        message = str(exc) or type(exc).__name__
        status = store_failure(claim, message, final=True)
        return Outcome(status, scan_id, claim.attempt, error=message)
    except Exception as exc:
        log.exception("scan %s: attempt %s failed", scan_id, claim.attempt)
        message = f"{type(exc).__name__}: {exc}"
        status = store_failure(claim, message, final=False)
        return Outcome(status, scan_id, claim.attempt, error=message)
    try:
        stored = store_result(claim, report)
    except Exception as exc:
        log.exception("scan %s: could not store the result", scan_id)
        message = f"Could not store the result: {type(exc).__name__}: {exc}"
        return Outcome(
            store_failure(claim, message, final=False), scan_id, claim.attempt, error=message
        )
    if not stored:
        log.warning("scan %s: lease lost to another worker; result dropped", scan_id)
        return Outcome("lost", scan_id, claim.attempt)
    send_pending_alert(scan_id)
    return Outcome(DONE, scan_id, claim.attempt)


def run_queued(worker: str, limit: int | None = None) -> list[Outcome]:
    """Run queued scans one at a time in this process (the embedded mode)."""
    outcomes: list[Outcome] = []
    tried: set[int] = set()
    while limit is None or len(outcomes) < limit:
        ids = [i for i in queued_scan_ids() if i not in tried]
        if not ids:
            break
        tried.add(ids[0])
        outcome = execute_scan(ids[0], worker)
        if outcome.status != "busy":
            outcomes.append(outcome)
        db.session.remove()
    return outcomes


# -- results ---------------------------------------------------------------------------------


def finding_key(finding: dict[str, Any]) -> list[str]:
    """What makes two findings of two scans the same problem (page and wording may differ)."""
    evidence = finding.get("evidence") or {}
    if finding["type"].startswith("policy_"):
        return [
            finding["type"],
            str(evidence.get("category") or ""),
            str(evidence.get("lifetime") or ""),
        ]
    return [
        finding["type"],
        finding.get("cookie") or "",
        (finding.get("domain") or "").lower(),
        finding.get("phase") or "",
        str(evidence.get("storage") or "cookie"),
    ]


def fingerprint(finding: dict[str, Any]) -> str:
    """SHA-256 of the finding's identity."""
    return hashlib.sha256(orjson.dumps(finding_key(finding))).hexdigest()


def _text(value: str | None, limit: int) -> str | None:
    """A scanned site's string made storable: PostgreSQL text cannot hold NUL."""
    if value is None:
        return None
    return value.replace("\x00", "\ufffd")[:limit]


def _host(origin: str) -> str:
    try:
        return (urlsplit(origin).hostname or origin).lower()
    except ValueError:
        return origin


def _items(report: dict[str, Any]) -> Iterable[dict[str, Any]]:
    for c in report.get("cookies") or []:
        cls = c.get("classification") or {}
        yield {
            "kind": "cookie",
            "name": _text(c["name"], 512),
            "domain": _text(c.get("domain") or "", 255),
            "party": c.get("party") or "",
            "category": cls.get("category") or "unknown",
            "classified_by": cls.get("source") or "none",
            "lifetime_class": c.get("lifetime_class"),
            "requested_seconds": c.get("requested_seconds"),
            "phases": list(c.get("phases") or []),
        }
    for s in report.get("storage") or []:
        cls = s.get("classification") or {}
        yield {
            "kind": s["kind"],
            "name": _text(s["key"], 512),
            "domain": _text(_host(s.get("origin") or ""), 255),
            "party": s.get("party") or "",
            "category": cls.get("category") or "unknown",
            "classified_by": cls.get("source") or "none",
            "lifetime_class": None,
            "requested_seconds": None,
            "phases": list(s.get("phases") or []),
        }


def _at_or_above(severity: str, threshold: str) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(threshold)


def store_result(claim: ScanClaim, report: dict[str, Any], now: dt.datetime | None = None) -> bool:
    """Store a finished scan; False (and nothing stored) when the claim is no longer valid."""
    now = _now(now)
    summary = report.get("summary") or {}
    findings = report.get("findings") or []
    with transaction():
        scan = db.session.get(Scan, claim.scan_id)
        started = as_utc(scan.started_at) or now
        won = db.session.execute(
            update(Scan)
            .where(
                Scan.id == claim.scan_id, Scan.claim_token == claim.token, Scan.status == RUNNING
            )
            .values(
                status=DONE,
                finished_at=now,
                elapsed_seconds=round((now - started).total_seconds(), 2),
                lease_until=None,
                error=None,
                pages=summary.get("pages"),
                cookie_count=summary.get("cookies"),
                storage_count=summary.get("storage_items"),
                finding_counts=summary.get("findings"),
                report=report,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        if won != 1:
            db.session.rollback()
            return False
        db.session.add_all(ScanItem(scan_id=claim.scan_id, **item) for item in _items(report))
        db.session.add_all(
            ScanFinding(
                scan_id=claim.scan_id,
                fingerprint=fingerprint(f),
                type=f["type"][:48],
                severity=f["severity"],
                cookie=_text(f.get("cookie") or None, 512),
                domain=_text(f.get("domain") or None, 255),
                phase=f.get("phase"),
                message=_text(f.get("message") or "", 100_000),
                data=f,
            )
            for f in findings
        )
        db.session.flush()
        db.session.expire(scan)
        settings = scan.settings or {}
        alerts = settings.get("alerts") or {}
        if alerts.get("webhook") or alerts.get("email"):
            threshold = settings.get("fail_on", "high")
            new = diff_scans(scan)["findings"]["new"]
            if any(_at_or_above(f["severity"], threshold) for f in new):
                scan.alert_state = "pending"
    return True


def store_failure(
    claim: ScanClaim, error: str, *, final: bool, now: dt.datetime | None = None
) -> str:
    """Record a failed attempt: failed when final or out of attempts, else queued again."""
    now = _now(now)
    give_up = final or claim.attempt >= _max_attempts()
    with transaction():
        won = db.session.execute(
            update(Scan)
            .where(
                Scan.id == claim.scan_id, Scan.claim_token == claim.token, Scan.status == RUNNING
            )
            .values(
                status=FAILED if give_up else QUEUED,
                finished_at=now if give_up else None,
                lease_until=None,
                claim_token=None,
                error=_text(error, 4000),
            )
            .execution_options(synchronize_session=False)
        ).rowcount
    if not won:
        return "lost"
    return FAILED if give_up else "requeued"


def get_scan(scan_id: int) -> Scan:
    """A scan by id."""
    scan = db.session.get(Scan, scan_id) if 0 < scan_id < 2**31 else None
    if scan is None:
        raise ScanNotFound(scan_id)
    return scan


def list_scans(
    site_key: str | None = None, limit: int = 50, status: str | None = None
) -> list[Scan]:
    """Scans, newest first, of one site or of all."""
    query = select(Scan).order_by(Scan.id.desc()).limit(limit)
    if site_key is not None:
        query = query.where(Scan.site_id == get_site(site_key).id)
    if status is not None:
        query = query.where(Scan.status == status)
    return list(db.session.execute(query).scalars())


def latest_report(site_key: str) -> dict[str, Any] | None:
    """The JSON report of the site's latest finished scan, or None."""
    return db.session.execute(
        select(Scan.report)
        .join(Site, Site.id == Scan.site_id)
        .where(Site.key == site_key, Scan.status == "done", Scan.report.is_not(None))
        .order_by(Scan.finished_at.desc(), Scan.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def previous_scan(scan: Scan) -> Scan | None:
    """The site's latest finished scan before this one."""
    return db.session.execute(
        select(Scan)
        .where(Scan.site_id == scan.site_id, Scan.status == DONE, Scan.id < scan.id)
        .order_by(Scan.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def _finding_out(f: ScanFinding) -> dict[str, Any]:
    return {
        "type": f.type,
        "severity": f.severity,
        "message": f.message,
        "cookie": f.cookie,
        "domain": f.domain,
        "phase": f.phase,
        "page": f.data.get("page"),
        "fingerprint": f.fingerprint,
    }


def _item_out(i: ScanItem) -> dict[str, Any]:
    return {
        "kind": i.kind,
        "name": i.name,
        "domain": i.domain,
        "party": i.party,
        "category": i.category,
        "classified_by": i.classified_by,
        "lifetime_class": i.lifetime_class,
        "requested_seconds": i.requested_seconds,
        "phases": i.phases,
    }


def scan_findings(scan: Scan) -> list[ScanFinding]:
    """The scan's findings, most severe first."""
    rows = db.session.execute(
        select(ScanFinding).where(ScanFinding.scan_id == scan.id).order_by(ScanFinding.id)
    ).scalars()
    return sorted(rows, key=lambda f: -SEVERITIES.index(f.severity))


def scan_items(scan: Scan) -> list[ScanItem]:
    """The cookies and storage keys the scan observed."""
    return list(
        db.session.execute(
            select(ScanItem)
            .where(ScanItem.scan_id == scan.id)
            .order_by(ScanItem.kind, ScanItem.name, ScanItem.domain)
        ).scalars()
    )


def diff_scans(scan: Scan, previous: Scan | None = None) -> dict[str, Any]:
    """New and gone cookies, new and resolved findings, against the site's previous scan."""
    if scan.status != DONE:
        raise ScanNotFinished(scan.id)
    previous = previous if previous is not None else previous_scan(scan)
    items = {(i.kind, i.name, i.domain): i for i in scan_items(scan)}
    findings = {f.fingerprint: f for f in scan_findings(scan)}
    before_items = {(i.kind, i.name, i.domain): i for i in scan_items(previous)} if previous else {}
    before = {f.fingerprint: f for f in scan_findings(previous)} if previous else {}
    return {
        "site": scan.site.key,
        "scan": scan.id,
        "previous": previous.id if previous else None,
        "cookies": {
            "new": [_item_out(i) for k, i in items.items() if k not in before_items],
            "gone": [_item_out(i) for k, i in before_items.items() if k not in items],
        },
        "findings": {
            "new": [_finding_out(f) for k, f in findings.items() if k not in before],
            "resolved": [_finding_out(f) for k, f in before.items() if k not in findings],
        },
    }


def scan_summary(scan: Scan) -> dict[str, Any]:
    """A JSON-ready summary of a scan (as listed)."""
    return {
        "id": scan.id,
        "site": scan.site.key,
        "status": scan.status,
        "trigger": scan.trigger,
        "scheduled_for": as_utc(scan.scheduled_for),
        "created_at": as_utc(scan.created_at),
        "started_at": as_utc(scan.started_at),
        "finished_at": as_utc(scan.finished_at),
        "elapsed_seconds": scan.elapsed_seconds,
        "attempts": scan.attempts,
        "worker": scan.worker,
        "error": scan.error,
        "url": (scan.settings or {}).get("url"),
        "pages": scan.pages,
        "cookies": scan.cookie_count,
        "storage_items": scan.storage_count,
        "finding_counts": scan.finding_counts,
        "alert": {"state": scan.alert_state, "result": scan.alert_result}
        if scan.alert_state
        else None,
    }


def scan_document(scan: Scan) -> dict[str, Any]:
    """Everything about a scan: summary, settings, findings, observed items and the report."""
    rev = db.session.get(SiteRevision, scan.revision_id) if scan.revision_id else None
    doc = scan_summary(scan)
    doc.update(
        {
            "settings": scan.settings,
            "revision": rev.number if rev else None,
            "findings": [_finding_out(f) for f in scan_findings(scan)],
            "observed": [_item_out(i) for i in scan_items(scan)],
            "report": scan.report,
        }
    )
    return doc


# -- proposed declaration --------------------------------------------------------------------


def iso_lifetime(seconds: float | None) -> str:
    """A requested lifetime as the declaration writes it (rounded up): session, PT30M, P90D, P2Y."""
    if seconds is None:
        return "session"
    total = max(1, math.ceil(seconds - 1e-6))
    if total >= 86400:
        days = math.ceil(total / 86400 - 1e-9)
        return f"P{days // 365}Y" if days % 365 == 0 else f"P{days}D"
    if total >= 3600:
        return f"PT{math.ceil(total / 3600)}H"
    if total >= 60:
        return f"PT{math.ceil(total / 60)}M"
    return f"PT{total}S"


@dataclass
class _Proposal:
    entries: list[dict[str, Any]] = field(default_factory=list)
    unsure: list[tuple[dict[str, Any], str]] = field(default_factory=list)


def propose_declaration(scan: Scan) -> str:
    """A YAML patch for the owner to review: the undeclared cookies and storage keys the scan saw.

    Each becomes a `cookies:` entry with its observed category and requested lifetime;
    those the scanner could not put in one of the site's categories are left commented out.
    """
    if scan.status != DONE or not scan.report:
        raise ScanNotFinished(scan.id)
    report = scan.report
    rev = db.session.get(SiteRevision, scan.revision_id) if scan.revision_id else None
    categories = [c["key"] for c in (rev.content["categories"] if rev else [])] or [
        "necessary",
        "preferences",
        "analytics",
        "marketing",
    ]
    site = scan.site
    proposal = _Proposal()

    def add(entry: dict[str, Any], category: str, cls: dict[str, Any]) -> None:
        if cls.get("description"):
            entry["purpose"] = {"en": cls["description"]}
        if category in categories:
            entry["category"] = category
            entry = _ordered(entry)
            proposal.entries.append(entry)
        else:
            why = (
                "not classified"
                if category == "unknown"
                else f"category {category} is not declared"
            )
            proposal.unsure.append((_ordered(entry), why))

    for c in report.get("cookies") or []:
        cls = c.get("classification") or {}
        if cls.get("source") == "declared":
            continue
        entry: dict[str, Any] = {"name": c["name"]}
        if c.get("party") == "third":
            entry["domain"] = c["domain"]
        entry["provider"] = cls.get("vendor") or (
            site.name if c.get("party") == "first" else c.get("registrable_domain") or c["domain"]
        )
        entry["lifetime"] = iso_lifetime(c.get("requested_seconds"))
        add(entry, cls.get("category") or "unknown", cls)
    for s in report.get("storage") or []:
        cls = s.get("classification") or {}
        if cls.get("source") == "declared":
            continue
        entry = {"name": s["key"], "storage": s["kind"]}
        host = _host(s.get("origin") or "")
        if s.get("party") == "third" and host:
            entry["domain"] = host
        entry["provider"] = cls.get("vendor") or (site.name if s.get("party") == "first" else host)
        # sessionStorage ends with the tab; localStorage keeps until removed: say how long.
        entry["lifetime"] = (
            "session" if s["kind"] == "session" else (cls.get("typical_lifetime") or "P1Y")
        )
        add(entry, cls.get("category") or "unknown", cls)

    when = as_utc(scan.finished_at)
    lines = [
        f"# Proposed additions to the declaration of {site.key}, from scan {scan.id}"
        + (f" ({when:%Y-%m-%d %H:%M} UTC)" if when else "")
        + ".",
        "# Review every entry before adding it to the `cookies:` list of site.yaml: categories",
        "# come from the scanner's knowledge base or its rules, lifetimes are what the site asked",
        "# for (rounded up), purposes are the knowledge base's English descriptions.",
    ]
    if not proposal.entries and not proposal.unsure:
        lines.append("# Nothing to add: every cookie and storage key the scan saw is declared.")
        lines.append("cookies: []")
        return "\n".join(lines) + "\n"
    body = yaml.safe_dump(
        {"cookies": proposal.entries}, sort_keys=False, allow_unicode=True, width=100
    )
    lines.append(body.rstrip("\n") if proposal.entries else "cookies: []")
    if proposal.unsure:
        lines.append("# Choose a category for these, then move them into the list above:")
        for entry, why in proposal.unsure:
            flow = yaml.safe_dump(
                [entry], sort_keys=False, allow_unicode=True, default_flow_style=True, width=10_000
            ).strip()
            lines.append(f"#   {flow[1:-1]}  # {why}")
    return "\n".join(lines) + "\n"


def _ordered(entry: dict[str, Any]) -> dict[str, Any]:
    order = ("name", "storage", "domain", "provider", "category", "lifetime", "purpose")
    return {k: entry[k] for k in order if k in entry}


# -- retention -------------------------------------------------------------------------------


def purge_scans(
    older_than_days: float, now: dt.datetime | None = None, *, dry_run: bool = False
) -> int:
    """Delete finished scans older than the given age; each site's latest finished scan stays."""
    now = _now(now)
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


def site_key_of(scan_id: int) -> str:
    """The key of the scan's site (raises ScanNotFound)."""
    key = db.session.execute(
        select(Site.key).join(Scan, Scan.site_id == Site.id).where(Scan.id == scan_id)
    ).scalar_one_or_none()
    if key is None:
        raise ScanNotFound(scan_id)
    return key


__all__ = [
    "NoScanSettings",
    "ScanNotFinished",
    "ScanNotFound",
    "SiteNotFound",
    "claim_due",
    "create_scan",
    "diff_scans",
    "execute_scan",
    "propose_declaration",
    "purge_scans",
    "sync_schedules",
]
