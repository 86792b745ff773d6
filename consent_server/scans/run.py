"""Running a claimed scan in the browser and storing what it found."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

from consent_server.extensions import db
from consent_server.scans.models import Scan
from consent_server.scans.queue import (
    DONE,
    Outcome,
    ScanClaim,
    claim_scan,
    queued_scan_ids,
    renew_lease,
)
from consent_server.scans.results import store_failure, store_result
from consent_server.sites.models import SiteRevision
from declaration.loader import Declaration

log = logging.getLogger(__name__)


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


def scan_network(site_key: str | None) -> dict[str, Any]:
    """The operator's network settings for a site: the global ones, then the site's own."""
    from scanner import ScanError

    conf = current_app.config
    site = dict((conf.get("SCAN_SITE_NETWORK") or {}).get(site_key or "", {}) or {})
    unknown = set(site) - {"resolve", "insecure", "allow_private"}
    if unknown:
        raise ScanError(f"SCAN_SITE_NETWORK[{site_key!r}]: unknown keys {sorted(unknown)}")
    allow = site.get("allow_private", conf.get("SCAN_ALLOW_PRIVATE", False))
    return {
        "resolve": {**(conf.get("SCAN_RESOLVE") or {}), **(site.get("resolve") or {})},
        "insecure": bool(site.get("insecure", conf.get("SCAN_INSECURE", False))),
        "allow_private": allow is True,
        "private_hosts": tuple(allow) if isinstance(allow, list | tuple) else (),
    }


def scan_config(settings: dict[str, Any], site_key: str | None = None) -> Any:
    """The scanner's ScanConfig for a site's `scan:` settings and the server's scan options.

    Where the scan may connect (resolve, insecure, allow_private) comes from the server's
    configuration alone; a declaration cannot set it (declaration/schema.py).
    """
    from scanner import ScanConfig

    conf = current_app.config
    config = ScanConfig(
        url=settings["url"],
        engine=conf["SCAN_ENGINE"],
        remote=conf.get("SCAN_SELENIUM_REMOTE") or None,
        max_pages=int(settings.get("max_pages", 50)),
        phases=tuple(settings.get("phases") or ()) or ScanConfig.phases,
        fail_on=settings.get("fail_on", "high"),
        settle_ms=int(conf["SCAN_SETTLE_MS"]),
        page_timeout=float(conf["SCAN_PAGE_TIMEOUT"]),
        total_timeout=float(conf["SCAN_TOTAL_TIMEOUT"]),
        concurrency=int(conf["SCAN_CONCURRENCY"]),
        proxy_host=conf.get("SCAN_PROXY_HOST") or "127.0.0.1",
        sandbox=conf.get("SCAN_CHROMIUM_SANDBOX"),
        **scan_network(site_key),
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
    config = scan_config(settings, scan.site.key)
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
    from consent_server.scans.alerts import send_pending_alert
    from scanner import ScanError

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
