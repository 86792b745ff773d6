"""The scanner's Python API: `scan(...)` runs the phases and returns the report."""

from __future__ import annotations

import datetime as dt
import time
from os import PathLike
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from declaration.constants import SEVERITIES
from scanner.config import ScanConfig, ScanError, check_public_target
from scanner.netguard import NetGuard
from scanner.report import build_report
from scanner.runner import PhaseRunner, Progress

# The analysis, the declaration and the policy are imported where they are used, so that a
# scan starts its browser before it spends time importing them.
if TYPE_CHECKING:
    from declaration.loader import Declaration
    from scanner.policy import PolicyStatement


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
    # Every request of the scan's browsers goes through this guard (scanner/netguard.py).
    guard = NetGuard(config)
    runner = PhaseRunner(config, progress, guard)
    try:
        # The browser starts first: it launches while the knowledge base and the policy load.
        runner.open_browser()
        try:
            if knowledge is None:
                from scanner.knowledge import KnowledgeBase

                knowledge = KnowledgeBase.load_default()
            # The policy first: an unreadable policy is a usage error, found before the scan.
            statement = (
                _policy_statement(config, policy, progress, guard) if policy is not None else None
            )
            phases = runner.run()
        finally:
            runner.close_browser()
    finally:
        guard.close()
    sandboxed = runner.sandboxed
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
    from scanner.trackers import request_findings, third_party_requests

    analysis = Analysis(config.url, phases, declaration, knowledge).run()
    extra = policy_findings(statement, analysis.cookies.values()) if statement else []
    requests, omitted = third_party_requests(config.url, phases, knowledge)
    extra += request_findings(requests)
    return build_report(
        config,
        phases,
        analysis,
        started=started,
        elapsed=time.monotonic() - t0,
        extra_findings=extra,
        policy=statement.to_dict() if statement else None,
        blocked=guard.blocked,
        sandboxed=sandboxed,
        requests=requests,
        requests_omitted=omitted,
    )


def _policy_statement(
    config: ScanConfig,
    policy: str | PathLike[str] | PolicyStatement,
    progress: Progress | None,
    guard: NetGuard,
) -> PolicyStatement:
    """Read the policy: a URL through the scan's own browser (script-built pages work)."""
    from scanner.policy import PolicyError, PolicyStatement, browser_fetcher, is_url, load_policy

    if isinstance(policy, PolicyStatement):
        return policy
    source = str(policy)
    fetch = None
    if is_url(source):
        parts = urlsplit(source)
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        if not config.private_allowed(parts.hostname or "", port):
            check_public_target(source, config.resolve)
        if progress:
            progress("page", phase="policy", url=source, done=0)
        fetch = browser_fetcher(config, guard)
    try:
        return load_policy(source, fetch=fetch)
    except PolicyError as exc:
        raise ScanError(f"policy: {exc}") from exc


def exit_status(report: dict[str, Any], fail_on: str) -> int:
    """0 when no finding reaches `fail_on`, else 1."""
    threshold = SEVERITIES.index(fail_on)
    worst = [f for f in report["findings"] if SEVERITIES.index(f["severity"]) >= threshold]
    return 1 if worst else 0
