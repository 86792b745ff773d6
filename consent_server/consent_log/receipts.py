"""Recording consent receipts: validate, build the canonical record, store, sign."""

from __future__ import annotations

import datetime as dt
import ipaddress
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from consent_server.consent_log.keys import KeyStore
from consent_server.consent_log.merkle import canonical, sha256_hex
from consent_server.consent_log.models import ConsentReceipt, Seal
from consent_server.consent_log.writer import CommitTimeout, GroupCommit
from consent_server.extensions import db
from consent_server.sites.hosts import host_allowed
from consent_server.sites.models import Site
from consent_server.sites.regions import Geo, region_rule
from consent_server.sites.service import RevisionView, SiteView, get_revision

SCHEMA_VERSION = "1"
RECEIPT_TYP = "consent-receipt+jwt"
# The columns a new receipt fills in (consent_log/writer.py writes them).
RECEIPT_COLUMNS = (
    "receipt_id",
    "consent_id",
    "site_id",
    "revision_id",
    "method",
    "decisions",
    "recorded_at",
    "record",
    "record_hash",
    "client_nonce",
    "language",
    "gpc",
)
METHODS = ("accept_all", "reject_all", "custom", "withdraw", "gpc")


class ConsentRejected(ValueError):
    """A consent event that cannot be recorded; `errors` maps fields to messages."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


class ReceiptUnconfirmed(RuntimeError):
    """The receipt's commit failed or was not confirmed in time: it may be stored or not."""

    def __init__(self, receipt_id: str) -> None:
        super().__init__(f"receipt {receipt_id} was not confirmed")
        self.receipt_id = receipt_id


@dataclass(frozen=True)
class RecordedReceipt:
    """What the banner gets back."""

    receipt_id: str
    consent_id: str
    recorded_at: str
    receipt: str
    record_hash: str


@lru_cache(maxsize=4096)
def truncate_ip(address: str | None) -> str | None:
    """The client's network, never its address: IPv4 /24, IPv6 /48."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


@lru_cache(maxsize=4096)
def user_agent_family(user_agent: str | None) -> str | None:
    """The browser family only (e.g. "Chrome"), never the full user-agent string."""
    if not user_agent:
        return None
    from ua_parser import parse_user_agent

    parsed = parse_user_agent(user_agent[:1000])
    return parsed.family if parsed else "Other"


def _page_url_and_host(url: str | None) -> tuple[str | None, str | None]:
    """The page URL without credentials, query and fragment (they may carry personal data), and
    its host, from one parse."""
    if not url:
        return None, None
    parts = urlsplit(url)
    host = parts.hostname or ""
    shown_host = f"[{host}]" if ":" in host else host  # an IPv6 address keeps its brackets
    netloc = shown_host if parts.port is None else f"{shown_host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")), host or None


def check_page_url(site: SiteView, url: str | None) -> str | None:
    """The cleaned page URL, refused unless its host is one of the site's domains."""
    try:
        cleaned, host = _page_url_and_host(url)
    except ValueError as exc:  # a port out of range, a malformed IPv6 address
        raise ConsentRejected("The page URL is malformed.", {"page_url": ["Not a URL."]}) from exc
    if cleaned is not None and not host_allowed(host, site.domains):
        raise ConsentRejected(
            "The page URL is not on one of the site's domains.",
            {"page_url": ["Not on one of the site's domains."]},
        )
    return cleaned


def check_decisions(
    revision: RevisionView, decisions: dict[str, bool], method: str
) -> dict[str, bool]:
    """Complete and check decisions against the revision's categories and the method."""
    unknown = sorted(set(decisions) - set(revision.categories))
    if unknown:
        raise ConsentRejected(
            "Unknown categories for this revision.",
            {"decisions": [f"Unknown category: {k}." for k in unknown]},
        )
    for key in revision.required:
        if decisions.get(key) is False:
            raise ConsentRejected(
                f"The {key} category is always granted and cannot be refused.",
                {f"decisions.{key}": ["Cannot be false: this category is required."]},
            )
    full = {
        k: (k in revision.required) or bool(decisions.get(k, False)) for k in revision.categories
    }
    optional = [k for k in revision.categories if k not in revision.required]
    if method == "accept_all" and not all(full[k] for k in optional):
        raise ConsentRejected(
            "accept_all must grant every category.", {"method": ["Inconsistent."]}
        )
    if method in ("reject_all", "withdraw", "gpc") and any(full[k] for k in optional):
        raise ConsentRejected(
            f"{method} must refuse every category that is not required.",
            {"method": ["Inconsistent."]},
        )
    return full


def isoformat(moment: dt.datetime) -> str:
    """UTC timestamp with microseconds and a Z, as stored in records."""
    # isoformat() is several times faster than strftime() on the consent POST's path.
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def build_record(
    site: SiteView,
    revision: RevisionView,
    payload: dict[str, Any],
    *,
    receipt_id: str,
    now: dt.datetime,
    client_ip: str | None,
    user_agent: str | None,
    geo: Geo | None = None,
) -> dict[str, Any]:
    """The canonical record of one consent event (raises ConsentRejected on bad decisions).

    `geo` (region rules on) adds the visitor's country and the rule of the revision that
    applied to it; both come from the operator's header, never from the body.
    """
    method = payload["method"]
    languages = revision.content.get("languages") or []
    language = payload.get("language")
    if language not in languages:
        language = revision.content.get("default_language")
    record = {
        "schema_version": SCHEMA_VERSION,
        "receipt_id": receipt_id,
        "consent_id": payload["consent_id"],
        "site": site.key,
        "controller": site.name,
        "policy_url": revision.content.get("policy_url"),
        "revision": revision.number,
        "revision_hash": revision.content_hash,
        "decisions": check_decisions(revision, payload["decisions"], method),
        "method": method,
        "language": language,
        "gpc": bool(payload.get("gpc", False)),
        "page_url": check_page_url(site, payload.get("page_url")),
        "recorded_at": isoformat(now),
        "user_agent_family": user_agent_family(user_agent),
        "ip_truncated": truncate_ip(client_ip),
    }
    if geo is not None:
        # Only when the operator turned region rules on: older records stay as they were.
        record["country"] = geo.country
        record["region_rule"] = region_rule(revision.content, geo.country)
    return record


def record_consent(
    site: SiteView,
    payload: dict[str, Any],
    *,
    client_ip: str | None,
    user_agent: str | None,
    keys: KeyStore | None = None,
    writer: GroupCommit | None = None,
    geo: Geo | None = None,
) -> RecordedReceipt:
    """Store one consent event and return its signed receipt; acknowledged only once committed.

    `keys` and `writer` default to the current app's; the consent fast path passes its own.
    """
    try:
        revision = get_revision(site, payload["revision"])
    except LookupError as exc:
        raise ConsentRejected(
            f"Revision {payload['revision']} does not exist for site {site.key}.",
            {"revision": ["No such revision."]},
        ) from exc
    now = dt.datetime.now(dt.UTC)
    record = build_record(
        site,
        revision,
        payload,
        receipt_id=str(uuid.uuid4()),
        now=now,
        client_ip=client_ip,
        user_agent=user_agent,
        geo=geo,
    )
    receipt_id, method, decisions = record["receipt_id"], record["method"], record["decisions"]
    body = canonical(record)
    digest = sha256_hex(body)
    if keys is None:
        keys = current_app.extensions["consent_keys"]
    token = keys.current().sign_bytes(body, RECEIPT_TYP)
    # Committed by the process's writer thread together with the receipts posted at the
    # same moment (consent_log/writer.py); submit() returns once this row is committed.
    if writer is None:
        writer = current_app.extensions["receipt_writer"]
    # This request's reads are over: end their transaction and give its connection back
    # before waiting for the commit, or a few dozen waiting requests would hold every pooled
    # connection (and, on SQLite, a read lock the commit waits for).
    if has_app_context() and db.session.registry.has():
        db.session.close()
    row = {
        "receipt_id": receipt_id,
        "consent_id": payload["consent_id"],
        "site_id": site.id,
        "revision_id": revision.id,
        "method": method,
        "decisions": decisions,
        "recorded_at": now,
        "record": body.decode("utf-8"),
        "record_hash": digest,
        "client_nonce": payload.get("client_nonce"),
        "language": record.get("language") or "",
        "gpc": bool(record.get("gpc")),
    }
    try:
        stored = writer.submit(row)
    except (IntegrityError, DataError):
        raise  # refused for its data: certainly not stored
    except (CommitTimeout, DBAPIError) as exc:
        # The database may have committed the row after all: the answer names it, and a
        # retry with the same client_nonce gets it back instead of storing another.
        raise ReceiptUnconfirmed(receipt_id) from exc
    if not stored:
        return stored_receipt(writer, keys, site.id, payload["consent_id"], row["client_nonce"])
    return RecordedReceipt(receipt_id, payload["consent_id"], record["recorded_at"], token, digest)


def stored_receipt(
    writer: GroupCommit, keys: KeyStore, site_id: int, consent_id: str, nonce: str
) -> RecordedReceipt:
    """The receipt stored first for a client nonce, signed again: a retry's answer."""
    table = ConsentReceipt.__table__
    # The writer's engine: the warm fast path has no app context and no session.
    with writer.engine.connect() as conn:
        found = conn.execute(
            select(table.c.receipt_id, table.c.record, table.c.record_hash).where(
                table.c.site_id == site_id,
                table.c.consent_id == consent_id,
                table.c.client_nonce == nonce,
            )
        ).first()
    if found is None or found.record is None:
        raise ConsentRejected(
            "This client_nonce was used for a receipt whose record is no longer kept.",
            {"client_nonce": ["Already used."]},
        )
    body = found.record.encode("utf-8")
    token = keys.current().sign_bytes(body, RECEIPT_TYP)
    recorded_at = orjson.loads(body)["recorded_at"]
    return RecordedReceipt(found.receipt_id, consent_id, recorded_at, token, found.record_hash)


def consent_history(consent_id: str, calling_host: str) -> list[dict[str, Any]]:
    """A browser's own receipts, newest first, of the sites that list the calling host only."""
    rows = db.session.execute(
        select(ConsentReceipt.record, ConsentReceipt.record_hash, Seal.sequence, Site.domains)
        .join(Site, Site.id == ConsentReceipt.site_id)
        .outerjoin(Seal, Seal.id == ConsentReceipt.seal_id)
        .where(ConsentReceipt.consent_id == consent_id, ConsentReceipt.record.is_not(None))
        .order_by(ConsentReceipt.id.desc())
        .limit(200)
    ).all()
    return [
        {"record": orjson.loads(record), "record_hash": digest, "seal": sequence}
        for record, digest, sequence, domains in rows
        if host_allowed(calling_host, frozenset(domains))
    ]


def site_history(site_id: int, consent_id: str) -> list[dict[str, Any]]:
    """One site's receipts for a consent id, newest first, for an access request."""
    rows = db.session.execute(
        select(
            ConsentReceipt.receipt_id,
            ConsentReceipt.record,
            ConsentReceipt.record_hash,
            Seal.sequence,
        )
        .outerjoin(Seal, Seal.id == ConsentReceipt.seal_id)
        .where(
            ConsentReceipt.site_id == site_id,
            ConsentReceipt.consent_id == consent_id,
            ConsentReceipt.record.is_not(None),
        )
        .order_by(ConsentReceipt.id.desc())
        .limit(200)
    ).all()
    return [
        {"receipt_id": rid, "record": orjson.loads(record), "record_hash": digest, "seal": seq}
        for rid, record, digest, seq in rows
    ]
