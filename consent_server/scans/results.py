"""Scan results: findings, items, diffs and summaries."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from sqlalchemy import select, update

from consent_server.clock import as_utc, now_utc
from consent_server.extensions import db
from consent_server.scans.models import Scan, ScanFinding, ScanItem
from consent_server.scans.queue import (
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    ScanClaim,
    ScanNotFound,
    _max_attempts,
)
from consent_server.scans.schemas import (
    ScanDiffSchema,
    ScanFindingSchema,
    ScanSchema,
    ScanSummarySchema,
)
from consent_server.scans.waivers import WaiverState, active_waivers
from consent_server.sites.cookie_policy import refresh_cookie_policies
from consent_server.sites.models import Site, SiteRevision
from consent_server.sites.service import get_site
from consent_server.tx import transaction
from declaration.constants import SEVERITIES

log = logging.getLogger(__name__)


class ScanNotFinished(ValueError):
    """The scan has no result (yet)."""


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
    now = now_utc(now)
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
        if (alerts.get("webhook") or alerts.get("email")) and alert_findings(scan, now)[0]:
            scan.alert_state = "pending"
    # The public cookie-policy page says what the latest scan saw: written now, not per request.
    refresh_cookie_policies(site_key_of(claim.scan_id))
    return True


def store_failure(
    claim: ScanClaim, error: str, *, final: bool, now: dt.datetime | None = None
) -> str:
    """Record a failed attempt: failed when final or out of attempts, else queued again."""
    now = now_utc(now)
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


def scan_changes(scan: Scan, previous: Scan | None = None) -> dict[str, Any]:
    """New and gone items, new and resolved findings against the site's previous scan (rows)."""
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
            "new": [i for k, i in items.items() if k not in before_items],
            "gone": [i for k, i in before_items.items() if k not in items],
        },
        "findings": {
            "new": [f for k, f in findings.items() if k not in before],
            "resolved": [f for k, f in before.items() if k not in findings],
        },
    }


def diff_scans(scan: Scan, previous: Scan | None = None) -> dict[str, Any]:
    """scan_changes as JSON-ready data (ScanDiffSchema)."""
    return ScanDiffSchema().dump(scan_changes(scan, previous))


def alert_findings(
    scan: Scan, now: dt.datetime | None = None
) -> tuple[list[dict[str, Any]], int | None]:
    """The findings at or above fail_on an alert tells, JSON-ready, and the previous scan's id.

    A finding is told when the previous scan did not have it, or had it under a waiver that
    has since ended (else an expired waiver would silence it for good); never while a waiver
    or acknowledgement is active.
    """
    now = now_utc(now)
    threshold = (scan.settings or {}).get("fail_on", "high")
    previous = previous_scan(scan)
    waived_now = active_waivers(scan.site_id, now)
    if previous is not None:
        before = {f.fingerprint for f in scan_findings(previous)}
        waived_before = active_waivers(scan.site_id, as_utc(previous.finished_at) or now)
    else:
        before, waived_before = set(), {}
    told: dict[str, ScanFinding] = {}
    for f in scan_findings(scan):
        if not _at_or_above(f.severity, threshold) or f.fingerprint in waived_now:
            continue
        if f.fingerprint not in before or f.fingerprint in waived_before:
            told.setdefault(f.fingerprint, f)
    return ScanFindingSchema(many=True).dump(told.values()), previous.id if previous else None


@dataclass(frozen=True)
class WaivedFinding:
    """A finding with the waiver or acknowledgement active for its fingerprint (or None)."""

    finding: ScanFinding
    waiver: WaiverState | None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.finding, name)


@dataclass(frozen=True)
class ScanDetails:
    """A scan with what ScanSchema adds to its summary: revision, findings, observed items."""

    scan: Scan
    revision: int | None
    findings: list[WaivedFinding]
    observed: list[ScanItem]

    @property
    def waived(self) -> int:
        """How many of the findings have an active waiver or acknowledgement."""
        return sum(1 for f in self.findings if f.waiver is not None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.scan, name)


def scan_details(scan: Scan, now: dt.datetime | None = None) -> ScanDetails:
    """Everything ScanSchema shows about a scan, loaded; waivers as they stand at `now`."""
    rev = db.session.get(SiteRevision, scan.revision_id) if scan.revision_id else None
    waivers = active_waivers(scan.site_id, now)
    findings = [WaivedFinding(f, waivers.get(f.fingerprint)) for f in scan_findings(scan)]
    return ScanDetails(scan, rev.number if rev else None, findings, scan_items(scan))


def scan_summary(scan: Scan) -> dict[str, Any]:
    """A JSON-ready summary of a scan (as listed), through its schema."""
    return ScanSummarySchema().dump(scan)


def scan_document(scan: Scan, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything about a scan as JSON-ready data: summary, settings, findings, items, report."""
    return ScanSchema().dump(scan_details(scan, now))


def site_key_of(scan_id: int) -> str:
    """The key of the scan's site (raises ScanNotFound)."""
    key = db.session.execute(
        select(Site.key).join(Scan, Scan.site_id == Site.id).where(Scan.id == scan_id)
    ).scalar_one_or_none()
    if key is None:
        raise ScanNotFound(scan_id)
    return key
