"""Acknowledgements and waivers of scan findings: audited, expiring, revocable, never edited.

A site admin acknowledges ("we know, it is being fixed") or waives ("accepted, with this
reason") a finding by its fingerprint, until a date at most MAX_DAYS ahead. Every action is
a new row (a revocation too), so the history says who decided what, when and why. While a
waiver or acknowledgement is active, scans show it beside the finding and alerts leave the
finding out; once it expires or is revoked the finding alerts again.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from consent_server.clock import as_utc, now_utc
from consent_server.extensions import db
from consent_server.scans.models import FindingWaiver, Scan, ScanFinding
from consent_server.sites.service import get_site
from consent_server.tx import transaction

KINDS = ("acknowledge", "waive")
REVOKE = "revoke"
MAX_DAYS = 366  # a year, leap day included: a decision is looked at again at least yearly
MAX_REASON = 2000
MAX_USER = 100
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


class WaiverError(ValueError):
    """The waiver request is invalid (reason, expiry, kind, fingerprint)."""


class FindingNotFound(LookupError):
    """The site has no finding with that fingerprint."""


class WaiverNotFound(LookupError):
    """The site has no waiver with that id for that fingerprint."""


class WaiverNotActive(ValueError):
    """The waiver has already been revoked or has expired."""


@dataclass(frozen=True)
class WaiverState:
    """A stored waiver row with what it means at a given time."""

    row: FindingWaiver
    state: str  # active, expired, revoked; "revocation" for a revoke row
    revoked_by: int | None
    finding: ScanFinding | None = None  # the latest finding of its fingerprint, when listed

    def __getattr__(self, name: str) -> object:
        return getattr(self.row, name)


def valid_fingerprint(value: str) -> str:
    """The fingerprint in canonical form (64 lowercase hex digits), or WaiverError."""
    value = value.strip().lower() if isinstance(value, str) else ""
    if not _FINGERPRINT.fullmatch(value):
        raise WaiverError("A fingerprint is 64 hexadecimal digits (SHA-256).")
    return value


def _clean_text(value: str | None, limit: int, what: str, *, required: bool) -> str:
    text = (value or "").strip()
    if required and not text:
        raise WaiverError(f"The {what} is required.")
    if len(text) > limit:
        raise WaiverError(f"The {what} is at most {limit} characters.")
    # Stored and shown in terminals and mail: no NUL (PostgreSQL refuses it), no escapes.
    if any(not (c.isprintable() or c in "\n\t") for c in text):
        raise WaiverError(f"The {what} may not contain control characters.")
    return text


def console_actor(user: str) -> str:
    """How a console user is named in audit records: "console:<user>"."""
    return "console:" + _clean_text(user, MAX_USER, "user name", required=True)


def _site_has_finding(site_id: int, fingerprint: str) -> bool:
    return (
        db.session.execute(
            select(ScanFinding.id)
            .join(Scan, Scan.id == ScanFinding.scan_id)
            .where(Scan.site_id == site_id, ScanFinding.fingerprint == fingerprint)
            .limit(1)
        ).scalar_one_or_none()
        is not None
    )


def create_waiver(
    site_key: str,
    fingerprint: str,
    kind: str,
    reason: str,
    expires_at: dt.datetime,
    actor: str,
    *,
    token_id: int | None = None,
    now: dt.datetime | None = None,
) -> FindingWaiver:
    """Acknowledge or waive a finding of the site until `expires_at` (future, at most a year)."""
    now = now_utc(now)
    if kind not in KINDS:
        raise WaiverError(f"kind must be one of {', '.join(KINDS)}.")
    fingerprint = valid_fingerprint(fingerprint)
    reason = _clean_text(reason, MAX_REASON, "reason", required=True)
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=dt.UTC)
    expires_at = expires_at.astimezone(dt.UTC)
    if expires_at <= now:
        raise WaiverError("The expiry must be in the future.")
    if expires_at > now + dt.timedelta(days=MAX_DAYS):
        raise WaiverError(f"The expiry may be at most {MAX_DAYS} days ahead.")
    with transaction():
        site = get_site(site_key)
        if not _site_has_finding(site.id, fingerprint):
            raise FindingNotFound(fingerprint)
        row = FindingWaiver(
            site_id=site.id,
            fingerprint=fingerprint,
            action=kind,
            reason=reason,
            expires_at=expires_at,
            actor=actor[:300],
            token_id=token_id,
            created_at=now,
        )
        db.session.add(row)
    return row


def revoke_waiver(
    site_key: str,
    waiver_id: int,
    actor: str,
    *,
    fingerprint: str | None = None,
    reason: str | None = None,
    token_id: int | None = None,
    now: dt.datetime | None = None,
) -> FindingWaiver:
    """End an active waiver early: a new revoke row naming it (the waiver row stays as it was)."""
    now = now_utc(now)
    if fingerprint is not None:
        fingerprint = valid_fingerprint(fingerprint)
    reason = _clean_text(reason, MAX_REASON, "reason", required=False)
    with transaction():
        site = get_site(site_key)
        target = db.session.get(FindingWaiver, waiver_id) if 0 < waiver_id < 2**31 else None
        if (
            target is None
            or target.site_id != site.id
            or target.action not in KINDS
            or fingerprint not in (None, target.fingerprint)
        ):
            raise WaiverNotFound(waiver_id)
        state = _states([target, *_revocations(site.id, [target.id])], now)[0]
        if state.state != "active":
            raise WaiverNotActive(f"Waiver {waiver_id} is {state.state}.")
        row = FindingWaiver(
            site_id=site.id,
            fingerprint=target.fingerprint,
            action=REVOKE,
            reason=reason,
            expires_at=None,
            revokes_id=target.id,
            actor=actor[:300],
            token_id=token_id,
            created_at=now,
        )
        db.session.add(row)
    return row


def _revocations(site_id: int, ids: list[int]) -> list[FindingWaiver]:
    return list(
        db.session.execute(
            select(FindingWaiver).where(
                FindingWaiver.site_id == site_id, FindingWaiver.revokes_id.in_(ids)
            )
        ).scalars()
    )


def _states(rows: Iterable[FindingWaiver], now: dt.datetime) -> list[WaiverState]:
    """Each row's state at `now`; only revocations made by `now` count."""
    rows = list(rows)
    revoked: dict[int, int] = {}
    for r in rows:
        if r.action == REVOKE and r.revokes_id and as_utc(r.created_at) <= now:
            revoked.setdefault(r.revokes_id, r.id)
    out = []
    for r in rows:
        if r.action == REVOKE:
            out.append(WaiverState(r, "revocation", None))
        elif r.id in revoked:
            out.append(WaiverState(r, "revoked", revoked[r.id]))
        elif as_utc(r.expires_at) <= now:
            out.append(WaiverState(r, "expired", None))
        else:
            out.append(WaiverState(r, "active", None))
    return out


def _site_rows(site_id: int) -> list[FindingWaiver]:
    return list(
        db.session.execute(
            select(FindingWaiver)
            .where(FindingWaiver.site_id == site_id)
            .order_by(FindingWaiver.id.desc())
        ).scalars()
    )


def list_waivers(site_key: str, now: dt.datetime | None = None) -> list[WaiverState]:
    """The site's whole waiver history, newest first, each row with its state now."""
    return _states(_site_rows(get_site(site_key).id), now_utc(now))


def active_waivers(site_id: int, at: dt.datetime | None = None) -> dict[str, WaiverState]:
    """Fingerprint -> the latest waiver or acknowledgement active at `at` (made by then)."""
    at = now_utc(at)
    rows = [r for r in _site_rows(site_id) if as_utc(r.created_at) <= at]
    active: dict[str, WaiverState] = {}
    for state in _states(rows, at):  # newest first: the first active one per fingerprint wins
        if state.state == "active":
            active.setdefault(state.row.fingerprint, state)
    return active


def finding_summaries(site_id: int, fingerprints: Iterable[str]) -> dict[str, ScanFinding]:
    """The latest finding row of each fingerprint on the site (what the waiver is about)."""
    wanted = set(fingerprints)
    if not wanted:
        return {}
    rows = db.session.execute(
        select(ScanFinding)
        .join(Scan, Scan.id == ScanFinding.scan_id)
        .where(Scan.site_id == site_id, ScanFinding.fingerprint.in_(wanted))
        .order_by(ScanFinding.id.desc())
    ).scalars()
    found: dict[str, ScanFinding] = {}
    for row in rows:
        found.setdefault(row.fingerprint, row)
    return found


def waiver_history(site_key: str, now: dt.datetime | None = None) -> dict[str, object]:
    """The site's history (WaiverListSchema): each row with its state and what it is about."""
    site = get_site(site_key)
    states = _states(_site_rows(site.id), now_utc(now))
    about = finding_summaries(site.id, (s.row.fingerprint for s in states))
    return {
        "site": site.key,
        "waivers": [
            WaiverState(s.row, s.state, s.revoked_by, about.get(s.row.fingerprint)) for s in states
        ],
    }
