"""The scanner's Python API: `scan(...)` runs the phases and returns the report."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict
from os import PathLike
from typing import TYPE_CHECKING, Any

from scanner import __version__
from scanner.config import ScanConfig, ScanError, check_public_target
from scanner.model import SEVERITIES, PhaseResult
from scanner.runner import PhaseRunner, Progress

# The analysis, the declaration and the policy are imported where they are used, so that a
# scan starts its browser before it spends time importing them.
if TYPE_CHECKING:
    from declaration.loader import Declaration
    from scanner.analyze import Analysis
    from scanner.policy import PolicyStatement

REPORT_VERSION = 1


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
            }
            for v in phase.pages
        ],
        "banner": asdict(phase.banner),
        "error": phase.error,
        "cookies_set": len(set_here),
        "by_category": {
            cat: sum(1 for c in set_here if c.classification.category == cat)
            for cat in ("necessary", "preferences", "analytics", "marketing", "unknown")
        },
        "third_party": sum(1 for c in set_here if c.party == "third"),
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
        },
        "summary": {
            "pages": sum(len(p.pages) for p in phases),
            "cookies": len(analysis.cookies),
            "storage_items": len(analysis.storage),
            "refused": len({(e.name, e.domain) for e in analysis.refused}),
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


def scan(
    config: ScanConfig,
    *,
    declaration: Declaration | None = None,
    knowledge: Any = None,
    progress: Progress | None = None,
    policy: str | PathLike[str] | PolicyStatement | None = None,
) -> dict[str, Any]:
    """Scan a site in every configured phase and return the JSON-ready report.

    `policy` (a URL, an .html/.txt path or an analysed PolicyStatement) adds the policy's
    statement as report["policy"] and its findings (see docs/policy.md).
    """
    config.validate()
    started = dt.datetime.now(dt.UTC)
    t0 = time.monotonic()
    runner = PhaseRunner(config, progress)
    # The browser starts first: it launches while the knowledge base and the policy load.
    runner.open_browser()
    try:
        if knowledge is None:
            from scanner.knowledge import KnowledgeBase

            knowledge = KnowledgeBase.load_default()
        # The policy first: an unreadable policy is a usage error, found before the long scan.
        statement = _policy_statement(config, policy, progress) if policy is not None else None
        phases = runner.run()
    finally:
        runner.close_browser()
    errors = [p.error for p in phases if p.error and not p.pages]
    if errors and len(errors) == len(phases):
        raise ScanError("; ".join(dict.fromkeys(errors)))
    if not any(v.error is None for p in phases for v in p.pages):
        # Not one page loaded (an unreachable site, a time limit shorter than the first
        # page): an empty report would read as a clean site.
        reasons = [v.error for p in phases for v in p.pages if v.error]
        reasons += [p.error for p in phases if p.error]
        raise ScanError("no page could be loaded: " + "; ".join(dict.fromkeys(reasons)))
    from scanner.analyze import Analysis
    from scanner.policy import policy_findings

    analysis = Analysis(config.url, phases, declaration, knowledge).run()
    extra = policy_findings(statement, analysis.cookies.values()) if statement else []
    return build_report(
        config,
        phases,
        analysis,
        started=started,
        elapsed=time.monotonic() - t0,
        extra_findings=extra,
        policy=statement.to_dict() if statement else None,
    )


def _policy_statement(
    config: ScanConfig,
    policy: str | PathLike[str] | PolicyStatement,
    progress: Progress | None,
) -> PolicyStatement:
    """Read the policy: a URL through the scan's own browser (script-built pages work)."""
    from scanner.policy import PolicyError, PolicyStatement, browser_fetcher, is_url, load_policy

    if isinstance(policy, PolicyStatement):
        return policy
    source = str(policy)
    fetch = None
    if is_url(source):
        if not config.allow_private:
            check_public_target(source, config.resolve)
        if progress:
            progress("page", phase="policy", url=source, done=0)
        fetch = browser_fetcher(config)
    try:
        return load_policy(source, fetch=fetch)
    except PolicyError as exc:
        raise ScanError(f"policy: {exc}") from exc


def exit_status(report: dict[str, Any], fail_on: str) -> int:
    """0 when no finding reaches `fail_on`, else 1."""
    threshold = SEVERITIES.index(fail_on)
    worst = [f for f in report["findings"] if SEVERITIES.index(f["severity"]) >= threshold]
    return 1 if worst else 0
