"""Requests to third parties before consent and after a reject: the list and its findings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from scanner.classify import party
from scanner.model import Finding, PhaseResult
from scanner.observe import host_of

# Phases whose third-party requests are listed: after an accept they are what was agreed to.
REPORTED_PHASES = ("pre-consent", "after-reject")
# A URL is data the scanned site chose: bounded before it goes into a report (query strings
# carry identifiers and can be any length).
MAX_QUERY = 100
MAX_URL = 300
MAX_LISTED = 300
TRACKING = ("marketing", "analytics")
RANK = {"marketing": 3, "analytics": 2, "preferences": 1, "necessary": 0}
FINDING_TYPES = {"pre-consent": "pre_consent_request", "after-reject": "after_reject_request"}
WHEN = {"pre-consent": "before any consent", "after-reject": "after the visitor rejected"}
URLS_IN_EVIDENCE = 5


def cut_url(url: str) -> str:
    """The URL without user info and fragment, its query and its whole length bounded."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url[:MAX_URL] + ("…" if len(url) > MAX_URL else "")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    query = parts.query
    if len(query) > MAX_QUERY:
        query = query[:MAX_QUERY] + "…"
    out = f"{parts.scheme}://{host}{f':{port}' if port else ''}{parts.path}"
    out += f"?{query}" if query else ""
    return out if len(out) <= MAX_URL else out[:MAX_URL] + "…"


class DomainVendors:
    """Vendor and category of a registrable domain, from the knowledge base's domain limits."""

    def __init__(self, knowledge: Any) -> None:
        entries = getattr(knowledge, "entries", None) or []
        self.entries = [e for e in entries if e.domains]
        self.cache: dict[str, tuple[str, str] | None] = {}

    def __call__(self, registrable: str) -> tuple[str, str] | None:
        """(vendor, category) of the domain's most tracking entry, None when unknown."""
        if registrable not in self.cache:
            best = None
            for entry in self.entries:
                if entry.applies_to(registrable) and (
                    best is None or RANK.get(entry.category, 0) > RANK.get(best.category, 0)
                ):
                    best = entry
            self.cache[registrable] = (best.vendor, best.category) if best else None
        return self.cache[registrable]


def third_party_requests(
    site_url: str, phases: Iterable[PhaseResult], knowledge: Any
) -> tuple[list[dict[str, Any]], int]:
    """The distinct third-party requests of the reported phases, and how many were left out."""
    site_host = host_of(site_url)
    vendors = DomainVendors(knowledge)
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for phase in phases:
        if phase.phase not in REPORTED_PHASES:
            continue
        for index, visit in enumerate(phase.pages):
            for request in visit.requests:
                # The start page before the click of a later phase repeats the pre-consent one.
                if index == 0 and phase.action_at is not None and request.at < phase.action_at:
                    continue
                host = host_of(request.url)
                if not host:
                    continue
                which, registrable = party(host, site_host)
                if which == "first":
                    continue
                url = cut_url(request.url)
                key = (phase.phase, url, request.type)
                if key in rows:
                    rows[key]["count"] += 1
                    continue
                known = vendors(registrable)
                rows[key] = {
                    "phase": phase.phase,
                    "url": url,
                    "type": request.type,
                    "party": which,
                    "host": host,
                    "domain": registrable,
                    "vendor": known[0] if known else None,
                    "category": known[1] if known else None,
                    "page": cut_url(visit.final_url),
                    "frame": cut_url(request.frame_url),
                    "count": 1,
                }
    listed = list(rows.values())
    return listed[:MAX_LISTED], max(0, len(listed) - MAX_LISTED)


def request_findings(requests: list[dict[str, Any]]) -> list[Finding]:
    """One finding per phase and known tracking domain that the pages sent requests to."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in requests:
        if row["category"] in TRACKING:
            grouped.setdefault((row["phase"], row["domain"]), []).append(row)
    findings = []
    for (phase, domain), rows in grouped.items():
        first = rows[0]
        count = sum(r["count"] for r in rows)
        findings.append(
            Finding(
                FINDING_TYPES[phase],
                # A request alone stores nothing on the device; what it sends still goes to
                # a tracker without consent.
                "medium",
                f"{count} request{'s' if count != 1 else ''} to {domain} ({first['vendor']}, "
                f"{first['category']}) {WHEN[phase]}",
                domain=domain,
                phase=phase,
                page=first["page"],
                setter=first["url"],
                evidence={
                    "vendor": first["vendor"],
                    "category": first["category"],
                    "requests": count,
                    "types": sorted({r["type"] for r in rows}),
                    "urls": [r["url"] for r in rows[:URLS_IN_EVIDENCE]],
                },
            )
        )
    return findings
