"""Celery tasks: scans on workers, when CELERY_BROKER_URL is set.

    celery -A consent_server.scans.tasks worker --pool=prefork --concurrency=2 -Q scans

The worker builds the Flask app from the environment (DATABASE_URL, CONSENT_*), exactly as
`consent-server` does. A task message is acknowledged only after the scan's result is stored
(acks_late); a worker process that dies mid-scan gives its message back (reject_on_worker_lost,
and Redis' visibility timeout when the whole worker is gone), and the database claim in
scans/queue.py makes sure the scan is run again by one worker and stored once.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from flask import Flask

log = logging.getLogger(__name__)

RUN_SCAN = "consent_server.run_scan"
EXTENSION = "consent_celery"


def time_limits(flask_app: Flask) -> tuple[float, float]:
    """(soft, hard) task time limits: the scanner's own limit plus room to store the result."""
    soft = float(flask_app.config["SCAN_TOTAL_TIMEOUT"]) + 120
    return soft, soft + 60


def retry_delay(attempt: int) -> float:
    """Seconds before trying a failed scan again: 30 s, 60 s, 120 s, ... at most 15 minutes."""
    return float(min(900, 30 * 2 ** max(0, attempt - 1)))


def make_celery(flask_app: Flask) -> Celery:
    """A Celery app bound to this Flask app's configuration, with the scan task."""
    conf = flask_app.config
    soft, hard = time_limits(flask_app)
    transport = {
        # Redelivery of an unacknowledged message must not start while its worker may still
        # be running it: beyond the hard time limit.
        "visibility_timeout": int(hard + 60),
        **(conf.get("CELERY_BROKER_TRANSPORT_OPTIONS") or {}),
    }
    celery = Celery("consent_server", broker=conf["CELERY_BROKER_URL"], set_as_current=False)
    celery.conf.update(
        task_default_queue=conf["CELERY_QUEUE"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_soft_time_limit=soft,
        task_time_limit=hard,
        worker_prefetch_multiplier=1,  # a worker never holds scans it cannot start yet
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_serializer="json",
        accept_content=["json"],
    )
    celery.flask_app = flask_app  # type: ignore[attr-defined]

    @celery.task(
        name=RUN_SCAN,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        max_retries=None,  # the database counts attempts (SCAN_MAX_ATTEMPTS)
    )
    def run_scan(self: Task, scan_id: int) -> str:
        """Run one scan and store its result; retried while the database says so."""
        from consent_server.extensions import db
        from consent_server.scans.run import execute_scan

        with flask_app.app_context():
            try:
                outcome = execute_scan(
                    scan_id,
                    worker=self.request.hostname or "celery",
                    fatal=(SoftTimeLimitExceeded,),
                )
            finally:
                db.session.remove()
        if outcome.status == "busy":
            # Another worker holds a live lease (a redelivered message): look again once its
            # lease would have run out; if that worker finished, this is a no-op then.
            raise self.retry(countdown=outcome.wait)
        if outcome.status == "requeued":
            raise self.retry(countdown=retry_delay(outcome.attempts))
        log.info("scan %s: %s", scan_id, outcome.status)
        return outcome.status

    return celery


def get_celery(flask_app: Flask) -> Celery:
    """The Flask app's Celery app, made once."""
    celery = flask_app.extensions.get(EXTENSION)
    if celery is None:
        celery = flask_app.extensions[EXTENSION] = make_celery(flask_app)
    return celery


def dispatch_scan(flask_app: Flask, scan_id: int) -> None:
    """Send a scan to the workers."""
    get_celery(flask_app).send_task(
        RUN_SCAN, args=[scan_id], queue=flask_app.config["CELERY_QUEUE"]
    )


_worker_app: Celery | None = None


def _worker_celery() -> Celery:
    global _worker_app
    if _worker_app is None:
        from consent_server.app import create_app
        from consent_server.scans.queue import on_workers

        flask_app = create_app()
        if not on_workers(flask_app):
            raise RuntimeError("Set CELERY_BROKER_URL (or CONSENT_CELERY_BROKER_URL) for workers.")
        _worker_app = get_celery(flask_app)
    return _worker_app


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    # A forked pool process must not share the parent's database connections.
    if _worker_app is not None:
        from consent_server.extensions import db

        with _worker_app.flask_app.app_context():  # type: ignore[attr-defined]
            db.engine.dispose(close=False)


def __getattr__(name: str) -> Any:
    # `celery -A consent_server.scans.tasks` looks up `app` (then `celery`) on this module: the
    # Flask app is built from the environment only then, never on a plain import.
    if name in ("app", "celery"):
        return _worker_celery()
    raise AttributeError(name)
