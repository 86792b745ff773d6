"""Scan reports: the JSON document (build_report, docs/scan-report.md) and an HTML page (html)."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from declaration.constants import SEVERITIES
from scanner import __version__
from scanner.model import CATEGORIES, PhaseResult

if TYPE_CHECKING:
    from scanner.analyze import Analysis
    from scanner.config import ScanConfig

REPORT_VERSION = 1


def _screenshot(phase: PhaseResult) -> dict[str, Any] | None:
    shot = phase.screenshot
    if shot is None:
        return None
    return {
        "media_type": shot.media_type,
        "width": shot.width,
        "height": shot.height,
        "page": shot.page_url,
        "bytes": len(shot.data),
        "data": base64.b64encode(shot.data).decode("ascii"),
    }


def _phase_summary(phase: PhaseResult, analysis: Analysis) -> dict[str, Any]:
    set_here = [c for c in analysis.cookies.values() if phase.phase in c.phases]
    return {
        "phase": phase.phase,
        "pages": [
            {
                "url": v.url,
                "final_url": v.final_url,
                "status": v.status,
                "error": v.error,
                "elapsed_ms": round(v.elapsed_ms, 1),
                "frames": v.frames,
                "probe_records_dropped": v.dropped_records,
            }
            for v in phase.pages
        ],
        "banner": asdict(phase.banner),
        "error": phase.error,
        "cookies_set": len(set_here),
        "by_category": {
            cat: sum(1 for c in set_here if c.classification.category == cat) for cat in CATEGORIES
        },
        "third_party": sum(1 for c in set_here if c.party == "third"),
        "screenshot": _screenshot(phase),
    }


def build_report(
    config: ScanConfig,
    phases: list[PhaseResult],
    analysis: Analysis,
    *,
    started: dt.datetime,
    elapsed: float,
    extra_findings: list[Any] | None = None,
    policy: dict[str, Any] | None = None,
    blocked: list[dict[str, Any]] | None = None,
    sandboxed: bool | None = None,
    requests: list[dict[str, Any]] | None = None,
    requests_omitted: int = 0,
) -> dict[str, Any]:
    """The JSON report (see docs/scan-report.md)."""
    findings = [asdict(f) for f in analysis.findings] + [asdict(f) for f in extra_findings or []]
    findings.sort(key=lambda f: -SEVERITIES.index(f["severity"]))
    counts = {s: sum(1 for f in findings if f["severity"] == s) for s in SEVERITIES}
    return {
        "version": REPORT_VERSION,
        "scanner": f"cookie-scan {__version__}",
        "url": config.url,
        "engine": config.engine,
        "started_at": started.isoformat(),
        "elapsed_seconds": round(elapsed, 2),
        "settings": {
            "max_pages": config.max_pages,
            "depth": config.depth,
            "phases": list(config.phases),
            "settle_ms": config.settle_ms,
            "fail_on": config.fail_on,
            "sandbox": sandboxed,
            "screenshots": config.screenshots,
        },
        "summary": {
            "pages": sum(len(p.pages) for p in phases),
            "cookies": len(analysis.cookies),
            "storage_items": len(analysis.storage),
            "refused": len({(e.name, e.domain) for e in analysis.refused}),
            "third_party_requests": len(requests or []),
            "third_party_requests_omitted": requests_omitted,
            "findings": counts,
        },
        "phases": [_phase_summary(p, analysis) for p in phases],
        "findings": findings,
        "cookies": [asdict(c) for c in analysis.cookies.values()],
        "refused_cookies": [
            {
                "name": e.name,
                "domain": e.domain,
                "phase": next((p.phase for p in phases for v in p.pages if e in v.events), None),
                "page": e.page_url,
                "source": e.source,
                "setter": e.setter or e.request_url,
                "reasons": e.refused_reasons,
                "raw": e.raw,
            }
            for e in _unique_refused(analysis.refused)
        ],
        "storage": [asdict(s) for s in analysis.storage.values()],
        # Third-party requests before consent and after a reject (scanner/trackers.py).
        "third_party_requests": list(requests or []),
        # Requests the scan's network guard refused (private, loopback... addresses).
        "blocked_requests": list(blocked or []),
        "policy": policy,
    }


def _unique_refused(events: list[Any]) -> list[Any]:
    seen, out = set(), []
    for e in events:
        key = (e.name, e.domain, tuple(e.refused_reasons))
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out
