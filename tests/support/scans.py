"""Scans without a browser: cookies, findings and reports of the scanner's JSON shape
(docs/scan-report.md), declarations with a scan block, and scans stored as a worker stores them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from consent_server.extensions import db
from consent_server.scans.models import Scan
from consent_server.scans.queue import ScanClaim, claim_scan, create_scan
from consent_server.scans.results import store_result
from consent_server.sites.service import apply_declaration
from declaration.loader import load_declaration
from tests.support.apps import example_data

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SEVERITIES = ("info", "low", "medium", "high", "critical")


def cookie(
    name: str,
    category: str = "marketing",
    *,
    source: str = "knowledge",
    domain: str = "shop.example",
    party: str = "first",
    seconds: float | None = 86400.0,
    vendor: str | None = "Vendor",
    description: str | None = "What it does.",
) -> dict[str, Any]:
    """One cookie as the scanner reports it."""
    page = f"https://{domain}/"
    return {
        "name": name,
        "domain": domain,
        "party": party,
        "registrable_domain": domain,
        "lifetime_class": "session" if seconds is None else "persistent",
        "requested_seconds": seconds,
        "stored_seconds": seconds,
        "classification": {
            "category": category,
            "source": source,
            "vendor": vendor,
            "declared_category": category if source == "declared" else None,
            "declared_lifetime": None,
            "typical_lifetime": None,
            "description": description,
        },
        "phases": ["pre-consent"],
        "refused": False,
        "refused_reasons": [],
        "sources": ["header"],
        "setters": [page],
        "pages": [page],
        "first_seen": {"phase": "pre-consent", "page": page, "source": "header", "setter": page},
    }


def finding(
    kind: str,
    severity: str,
    name: str,
    phase: str | None = "pre-consent",
    *,
    domain: str = "shop.example",
) -> dict[str, Any]:
    """One finding as the scanner reports it."""
    return {
        "type": kind,
        "severity": severity,
        "message": f"{name}: {kind.replace('_', ' ')}",
        "cookie": name,
        "domain": domain,
        "phase": phase,
        "page": f"https://{domain}/",
        "setter": None,
        "evidence": {},
    }


def fake_report(
    cookies: list[dict[str, Any]] = (),  # type: ignore[assignment]
    findings: list[dict[str, Any]] = (),  # type: ignore[assignment]
    storage: list[dict[str, Any]] = (),  # type: ignore[assignment]
    url: str = "https://shop.example/",
) -> dict[str, Any]:
    """A report of the scanner's JSON shape."""
    return {
        "version": 1,
        "scanner": "cookie-scan 0.1.0",
        "url": url,
        "engine": "playwright",
        "started_at": NOW.isoformat(),
        "elapsed_seconds": 1.0,
        "settings": {
            "max_pages": 1,
            "depth": 3,
            "phases": ["pre-consent"],
            "settle_ms": 0,
            "fail_on": "high",
        },
        "summary": {
            "pages": 1,
            "cookies": len(cookies),
            "storage_items": len(storage),
            "refused": 0,
            "findings": {s: sum(1 for f in findings if f["severity"] == s) for s in SEVERITIES},
        },
        "phases": [
            {
                "phase": "pre-consent",
                "pages": [
                    {
                        "url": url,
                        "final_url": url,
                        "status": 200,
                        "error": None,
                        "elapsed_ms": 1.0,
                        "frames": [],
                    }
                ],
                "banner": {
                    "found": False,
                    "kind": None,
                    "reject_on_first_layer": None,
                    "clicked": False,
                    "error": None,
                },
                "error": None,
                "cookies_set": len(cookies),
                "by_category": {},
                "third_party": 0,
            }
        ],
        "findings": list(findings),
        "cookies": list(cookies),
        "refused_cookies": [],
        "storage": list(storage),
        "policy": None,
    }


def declaration(
    site: str = "demo-shop", *, domains: list[str] | None = None, **scan: Any
) -> dict[str, Any]:
    """The example declaration under another key (with other domains, if given), with a scan
    block."""
    data = example_data(site=site, scan={"url": f"https://{site}.example/", **scan})
    if domains is not None:
        data["domains"] = domains
    return data


def apply(data: dict[str, Any]) -> None:
    """Validate and apply a declaration (inside an app context)."""
    apply_declaration(load_declaration(data))


def finish(site: str, report: dict[str, Any], trigger: str = "manual") -> int:
    """Queue, claim and store a scan with this report, as a worker would; its id."""
    scan = create_scan(site, trigger=trigger)
    claim = claim_scan(scan.id, "test-worker")
    assert isinstance(claim, ScanClaim)
    assert store_result(claim, report)
    return scan.id


def status_of(scan_id: int) -> str:
    """A scan's status as stored now."""
    db.session.expire_all()
    return db.session.get(Scan, scan_id).status
