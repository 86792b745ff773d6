"""The scheduler: due scans on time, stale scans again, the consent log sealed on an interval.

`consent-server scheduler` runs this loop; any number of instances may run at once (every
claim is a conditional UPDATE, see scans/queue.py). Embedded (no broker) it runs the scans
itself, one at a time; with CELERY_BROKER_URL it hands them to Celery workers.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from consent_server.extensions import db

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    """What one pass of the scheduler did."""

    created: list[int] = field(default_factory=list)
    dispatched: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)
    ran: list[Any] = field(default_factory=list)  # Outcome of each scan run here
    sealed: int = 0
    purged: int = 0


def worker_name(kind: str = "scheduler") -> str:
    """Who runs a scan, as stored on it: kind@host:pid."""
    return f"{kind}@{socket.gethostname()}:{os.getpid()}"


def tick(app: Flask, *, run_scans: bool = True, limit: int | None = None) -> TickReport:
    """One pass: schedules synced, due slots claimed, stale scans requeued, scans run or sent."""
    from consent_server.scans.queue import on_workers, requeue_stale, send_to_workers
    from consent_server.scans.run import run_queued
    from consent_server.scans.schedule import claim_due, sync_schedules

    report = TickReport()
    with app.app_context():
        try:
            sync_schedules()
            report.created = claim_due()
            if on_workers():
                from consent_server.scans.tasks import time_limits

                # The broker redelivers a lost worker's message after its visibility timeout;
                # only a scan still stale after that (a lost message) is sent again from here.
                _, hard = time_limits(app)
                grace = float(
                    (app.config.get("CELERY_BROKER_TRANSPORT_OPTIONS") or {}).get(
                        "visibility_timeout", hard + 60
                    )
                )
                report.requeued = requeue_stale(grace=grace)
                report.dispatched = send_to_workers()
            else:
                report.requeued = requeue_stale()
                if run_scans:
                    report.ran = run_queued(worker_name(), limit=limit)
        finally:
            db.session.remove()
    return report


def seal(app: Flask) -> int:
    """Seal every site's pending receipts; the number of seals written (failures are logged)."""
    from consent_server.consent_log.seals import seal_all

    with app.app_context():
        try:
            # A site that cannot be sealed is logged by seal_all; the others are sealed.
            return len(seal_all().results)
        finally:
            db.session.remove()


def purge(app: Flask) -> int:
    """Apply CONSENT_SCAN_RETENTION_DAYS (0 keeps everything)."""
    from consent_server.scans.retention import purge_scans

    days = float(app.config["SCAN_RETENTION_DAYS"] or 0)
    if days <= 0:
        return 0
    with app.app_context():
        try:
            return purge_scans(days)
        finally:
            db.session.remove()


class _Every(threading.Thread):
    """Calls `job(app)` every `interval` seconds until stopped; errors are logged, not fatal."""

    def __init__(self, name: str, app: Flask, job: Any, interval: float, stop: threading.Event):
        super().__init__(name=name, daemon=True)
        self.app, self.job, self.interval, self.stop = app, job, interval, stop

    def run(self) -> None:
        while True:
            try:
                self.job(self.app)
            except Exception:
                log.exception("%s failed", self.name)
            if self.stop.wait(self.interval):
                return


def run_once(app: Flask, *, seal_log: bool = True) -> TickReport:
    """Everything that is due now, then return (`consent-server scheduler --once`)."""
    report = tick(app)
    if seal_log:
        report.sealed = seal(app)
    report.purged = purge(app)
    return report


def run_forever(
    app: Flask,
    *,
    interval: float | None = None,
    seal_interval: float | None = None,
    seal_log: bool = True,
    stop: threading.Event | None = None,
) -> None:
    """The scheduler loop; SIGTERM or SIGINT stop it after the scan in progress."""
    stop = stop or threading.Event()
    interval = float(interval or app.config["SCHEDULER_INTERVAL"])
    seal_every = float(seal_interval or app.config["SEAL_INTERVAL"])
    if threading.current_thread() is threading.main_thread():

        def _stop(signum: int, _frame: Any) -> None:
            log.info("signal %s: stopping after the current scan", signum)
            stop.set()
            signal.signal(signum, signal.SIG_DFL)  # a second signal ends it at once

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    # Sealing runs beside the scans, so a long scan never delays it.
    helpers = [_Every("purge", app, purge, 86400.0, stop)]
    if seal_log:
        helpers.append(_Every("seal", app, seal, seal_every, stop))
    for helper in helpers:
        helper.start()
    log.info("scheduler running: every %.0f s, sealing every %.0f s", interval, seal_every)
    while not stop.is_set():
        started = time.monotonic()
        try:
            report = tick(app, limit=1)
            if report.created or report.dispatched or report.requeued or report.ran:
                log.info(
                    "created %s, dispatched %s, requeued %s, ran %s",
                    report.created,
                    report.dispatched,
                    report.requeued,
                    [(o.scan_id, o.status) for o in report.ran],
                )
            if report.ran:
                continue  # more may be queued: run them before waiting
        except Exception:
            log.exception("scheduler pass failed")
        stop.wait(max(0.0, interval - (time.monotonic() - started)))
    for helper in helpers:
        helper.join(timeout=60)
