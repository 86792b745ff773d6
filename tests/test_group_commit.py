"""Group commit: receipts posted at once share a commit, and each is answered after its own."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from flask import Flask

from consent_server.consent_log.models import ConsentReceipt
from consent_server.consent_log.receipts import RECEIPT_COLUMNS
from consent_server.consent_log.writer import CommitTimeout, GroupCommit
from consent_server.extensions import db
from consent_server.sites.models import SiteRevision
from tests.support.log import ReceiptsLock


@pytest.fixture
def writer(app: Flask, demo_site: str) -> Iterator[GroupCommit]:
    """The app's group commit on the test database (SQLite and PostgreSQL)."""
    gc: GroupCommit = app.extensions["receipt_writer"]
    yield gc
    gc.close()


def _row(app: Flask, **changes: Any) -> dict[str, Any]:
    with app.app_context():
        revision = db.session.execute(sa.select(SiteRevision)).scalars().first()
        site_id, revision_id = revision.site_id, revision.id
    row = {
        "receipt_id": str(uuid.uuid4()),
        "consent_id": str(uuid.uuid4()),
        "site_id": site_id,
        "revision_id": revision_id,
        "method": "custom",
        "decisions": {"necessary": True, "analytics": False},
        "recorded_at": dt.datetime.now(dt.UTC),
        "record": '{"x":1}',
        "record_hash": "ab" * 32,
    }
    row.update(changes)
    return row


def _submit_in_threads(
    writer: GroupCommit, rows: list[dict[str, Any]], queued_before: int = 0
) -> tuple[list[threading.Thread], dict[str, BaseException | None]]:
    """Submit each row from its own thread; return once all but the leader's are queued."""
    outcome: dict[str, BaseException | None] = {}
    lock = threading.Lock()

    def submit(row: dict[str, Any]) -> None:
        try:
            writer.submit(row)
            error = None
        except BaseException as exc:
            error = exc
        with lock:
            outcome[row["receipt_id"]] = error

    threads = [threading.Thread(target=submit, args=(row,)) for row in rows]
    for thread in threads:
        thread.start()
    # The first thread leads and is stuck on the lock; the others queue behind it.
    wait_until(lambda: len(writer._queue) >= queued_before + len(rows) - 1)
    return threads, outcome


def wait_until(condition: Any, timeout: float = 20.0) -> None:
    """Wait for a condition that another thread makes true."""
    done = threading.Event()
    deadline = dt.datetime.now() + dt.timedelta(seconds=timeout)
    while not condition():
        if dt.datetime.now() > deadline:
            raise AssertionError("condition not met in time")
        done.wait(0.005)


def stored(app: Flask) -> set[str]:
    with app.app_context():
        return set(db.session.execute(sa.select(ConsentReceipt.receipt_id)).scalars())


def test_rows_queued_behind_a_commit_share_the_next_one(app: Flask, writer: GroupCommit):
    rows = [_row(app) for _ in range(12)]
    blocker = ReceiptsLock(app)
    threads, outcome = _submit_in_threads(writer, rows)
    before = writer.batches
    assert not outcome, "nothing may be acknowledged while its commit is blocked"
    blocker.release()
    for thread in threads:
        thread.join(30)
    assert outcome == {row["receipt_id"]: None for row in rows}
    assert stored(app) == {row["receipt_id"] for row in rows}
    # The leader's own row, then the rows that queued behind it in a single commit.
    assert writer.batches - before <= 2
    with app.app_context():
        got = db.session.execute(
            sa.select(ConsentReceipt.decisions, ConsentReceipt.recorded_at).where(
                ConsentReceipt.receipt_id == rows[3]["receipt_id"]
            )
        ).one()
    assert got.decisions == {"necessary": True, "analytics": False}
    recorded = got.recorded_at.replace(tzinfo=got.recorded_at.tzinfo or dt.UTC)
    assert recorded == rows[3]["recorded_at"]


def test_a_bad_row_fails_alone_and_the_rest_of_its_batch_is_stored(app: Flask, writer: GroupCommit):
    good = [_row(app) for _ in range(5)]
    duplicate = _row(app, receipt_id=good[2]["receipt_id"])  # receipt ids are unique
    blocker = ReceiptsLock(app)
    threads, outcome = _submit_in_threads(writer, [*good[:1], duplicate, *good[1:]])
    blocker.release()
    for thread in threads:
        thread.join(30)
    errors = [e for e in outcome.values() if e is not None]
    # Both rows with that id reached the same batch; the one written second is refused.
    assert len(errors) == 1 and isinstance(errors[0], sa.exc.IntegrityError)
    assert stored(app) == {row["receipt_id"] for row in good}


def test_a_wait_that_runs_out_is_a_timeout_and_the_row_is_still_committed_once(
    app: Flask, writer: GroupCommit
):
    writer.timeout = 0.3
    rows = [_row(app) for _ in range(3)]
    blocker = ReceiptsLock(app)
    threads, outcome = _submit_in_threads(writer, rows)
    for thread in threads[1:]:
        thread.join(30)
    # The two waiting behind the blocked leader gave up: not acknowledged...
    assert sorted(type(outcome[r["receipt_id"]]).__name__ for r in rows[1:]) == [
        "CommitTimeout",
        "CommitTimeout",
    ]
    assert issubclass(CommitTimeout, RuntimeError)
    blocker.release()
    threads[0].join(30)
    assert outcome[rows[0]["receipt_id"]] is None
    # ...but stored by the leader, which commits rows whose threads left before handing over.
    wait_until(lambda: not writer._leading)
    assert stored(app) == {row["receipt_id"] for row in rows}


def test_one_thread_at_a_time_commits_its_own_row_directly(app: Flask, writer: GroupCommit):
    before = writer.batches
    rows = [_row(app) for _ in range(3)]
    for row in rows:
        writer.submit(row)
    assert writer.batches - before == 3
    assert stored(app) == {row["receipt_id"] for row in rows}


def test_a_lost_database_connection_is_replaced(app: Flask, writer: GroupCommit):
    writer.submit(_row(app))
    if writer._conn is not None:
        with psycopg_admin(app) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND datname = current_database() "
                "AND query LIKE 'INSERT INTO consent_receipts%'"
            )
        with pytest.raises(sa.exc.OperationalError):
            writer.submit(_row(app))
    row = _row(app)
    writer.submit(row)
    assert row["receipt_id"] in stored(app)


def psycopg_admin(app: Flask) -> psycopg.Connection:
    """A plain psycopg connection to the app's PostgreSQL database."""
    url = sa.make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def test_the_receipt_columns_are_the_models_columns():
    names = {c.name for c in ConsentReceipt.__table__.columns}
    assert set(RECEIPT_COLUMNS) <= names
