"""Group commit: consent receipts posted at the same moment share one transaction.

A durable commit is the most expensive step of recording a receipt (a WAL flush, a round trip
and the database's own per-transaction work). Request threads of one process therefore queue
their rows, and one of them at a time, the leader, commits everything queued in one statement;
the others wait for their row's commit. When the leader is done it passes the lead to the
first thread still waiting, so no thread commits for others more than once. With one thread
per process there is no one to wait for: each request commits its own row, with no hand-off.

A request is answered only after its own row is committed, and one bad row never takes the
others down: a failed batch is retried row by row.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Table, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)


class CommitTimeout(RuntimeError):
    """The commit was not confirmed in time; the row may or may not be stored."""


class _Pending:
    """One row waiting for its commit; `wake` is held until its thread is to go on."""

    __slots__ = ("abandoned", "error", "lead", "row", "wake")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        # A bare lock is the cheapest one-shot signal between two threads.
        self.wake = threading.Lock()
        self.wake.acquire()
        self.error: BaseException | None = None
        self.lead = False  # woken to lead rather than because its row is committed
        self.abandoned = False  # its thread gave up waiting


class GroupCommit:
    """Batches the rows of one table that the threads of a process insert at the same time."""

    def __init__(
        self,
        engine: Engine,
        table: Table,
        columns: Sequence[str],
        *,
        max_batch: int = 256,
        timeout: float = 30.0,
    ) -> None:
        self._engine = engine
        self._columns = list(columns)
        self._insert = insert(table)
        self._pg_sql = (
            _pg_batch_insert(table, self._columns) if engine.dialect.name == "postgresql" else None
        )
        self.max_batch = max_batch
        self.timeout = timeout
        self._mutex = threading.Lock()
        self._queue: list[_Pending] = []
        self._leading = False
        self._conn: Any = None  # a DB-API (psycopg) connection
        self._conn_pid: int | None = None
        # Read by tests and benchmarks; written by the leader only.
        self.batches = 0
        self.rows = 0

    def submit(self, row: dict[str, Any]) -> None:
        """Insert `row` and return once it is committed; raise the database's error if not."""
        item = _Pending(row)
        with self._mutex:
            self._queue.append(item)
            lead = not self._leading
            self._leading = True
        if not lead and not item.wake.acquire(timeout=self.timeout):
            with self._mutex:
                if not item.lead:
                    item.abandoned = True  # a later leader still commits it
                    raise CommitTimeout("The database did not confirm the commit in time.")
            # Made leader just as the wait ran out: the queue depends on this thread now.
        if lead or item.lead:
            self._lead(item)
        if item.error is not None:
            raise item.error

    def close(self) -> None:
        """Close the connection kept for batches (a later batch opens a new one)."""
        with self._mutex:
            conn, self._conn = self._conn, None
        if conn is not None and self._conn_pid == os.getpid():
            with contextlib.suppress(Exception):
                conn.close()

    def _lead(self, me: _Pending) -> None:
        """Commit one batch (with `me` in it), then pass the lead on or end it."""
        while True:
            with self._mutex:
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
            self._write(batch)
            for item in batch:
                if item is not me:
                    item.wake.release()
            with self._mutex:
                waiting = next((i for i in self._queue if not i.abandoned), None)
                if waiting is not None:
                    waiting.lead = True
                    waiting.wake.release()
                    return
                if not self._queue:
                    self._leading = False
                    return
            # Only rows whose threads gave up are left: commit them here.

    def _write(self, batch: list[_Pending]) -> None:
        """Commit a batch, or each row alone if the batch fails; errors go to their rows."""
        try:
            self._commit([item.row for item in batch])
        except Exception as exc:
            log.warning("a batch of %d receipts failed: %s", len(batch), exc)
            if len(batch) == 1:
                batch[0].error = exc
                return
            for item in batch:
                try:
                    self._commit([item.row])
                except Exception as single:
                    item.error = single

    def _commit(self, rows: list[dict[str, Any]]) -> None:
        if self._pg_sql is None:
            with self._engine.begin() as conn:
                conn.execute(self._insert, rows)
        else:
            self._pg_insert(rows)
        self.batches += 1
        self.rows += len(rows)

    def _pg_insert(self, rows: list[dict[str, Any]]) -> None:
        # A connection of its own, outside the pool, used by one leader at a time: no pool
        # checkout and no ping per batch. In autocommit mode the single statement is the
        # whole transaction: no BEGIN and COMMIT round trips.
        if self._conn is None or self._conn_pid != os.getpid():
            dialect = self._engine.dialect
            cargs, cparams = dialect.create_connect_args(self._engine.url)
            self._conn = dialect.loaded_dbapi.connect(*cargs, **cparams)
            self._conn.autocommit = True
            self._conn_pid = os.getpid()
        try:
            with self._conn.cursor() as cur:
                # The whole batch as one JSON parameter, serialised in C by orjson and parsed
                # by PostgreSQL: psycopg's array adaptation is pure Python and cost more than
                # the insert itself.
                cur.execute(self._pg_sql, (orjson.dumps(rows).decode(),), prepare=True)
        except Exception as exc:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                conn.close()
            dbapi = self._engine.dialect.loaded_dbapi
            if isinstance(exc, dbapi.Error):
                # As SQLAlchemy would raise it (OperationalError when the database is down).
                raise DBAPIError.instance(self._pg_sql, None, exc, dbapi.Error) from exc
            raise


def _pg_batch_insert(table: Table, columns: list[str]) -> str:
    """INSERT of a whole batch in one statement, from a JSON array of row objects."""
    names = ", ".join(columns)
    return (
        f"INSERT INTO {table.name} ({names}) "  # noqa: S608 - names from the table definition
        f"SELECT {names} FROM json_populate_recordset(NULL::{table.name}, %s::json)"
    )
