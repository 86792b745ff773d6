"""Group commit: consent receipts posted at the same moment share one transaction.

A durable commit is the most expensive step of recording a receipt (a WAL flush, a round trip
and the database's own per-transaction work). Request threads of one process therefore queue
their rows, and one of them at a time, the leader, commits everything queued in one statement;
the others wait for their row's commit. When the leader is done it passes the lead to the
first thread still waiting, so no thread commits for others more than once. With one thread
per process there is no one to wait for: each request commits its own row, with no hand-off.

A request is answered only after its own row is committed. One bad row never takes the others
down: a batch refused for its data is retried row by row; a batch that fails because the
database is down or too slow fails as a whole, at once. No one waits longer than the timeout:
a waiting thread gives up after `timeout` (its row may still be committed later, which is why
its answer names the row), and the database gives up on a batch after `statement_timeout`.

A table may declare a unique index whose duplicates are skipped rather than refused (the
index's `info={"group_commit": "skip"}`): a row equal to a stored one on those columns is not
stored, and submit() says so, so that the caller can answer with the stored row instead.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Index, Table, event, insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

log = logging.getLogger(__name__)
# Connections a forked child inherited: closing them would end the parent's sessions, and so
# would letting them be garbage-collected; they are kept here and never used again.
_inherited: list[Any] = []


class CommitTimeout(RuntimeError):
    """The commit was not confirmed in time; the row may or may not be stored."""


class _Pending:
    """One row waiting for its commit; `wake` is held until its thread is to go on."""

    __slots__ = ("abandoned", "duplicate", "error", "lead", "row", "wake")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        # A bare lock is the cheapest one-shot signal between two threads.
        self.wake = threading.Lock()
        self.wake.acquire()
        self.error: BaseException | None = None
        self.duplicate = False  # skipped: an equal row was stored before
        self.lead = False  # woken to lead rather than because its row is committed
        self.abandoned = False  # its thread gave up waiting


def _skip_index(table: Table) -> Index | None:
    """The table's unique index whose duplicates are skipped, if it declares one."""
    for index in table.indexes:
        if index.unique and index.info.get("group_commit") == "skip":
            return index
    return None


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
        statement_timeout: float | None = None,
    ) -> None:
        self._engine = engine
        self._table = table
        self._columns = list(columns)
        skip = _skip_index(table)
        self._skip = [c.name for c in skip.columns] if skip is not None else []
        # A row is told from the others of its batch by its first column (unique).
        self._key = self._columns[0]
        self._dialect = engine.dialect.name
        self._insert = insert(table)
        if self._skip and self._dialect == "sqlite":
            self._insert = sqlite_insert(table).on_conflict_do_nothing(index_elements=self._skip)
        self._pg_sql = (
            _pg_batch_insert(table, self._columns, self._skip, self._key)
            if self._dialect == "postgresql"
            else None
        )
        self.max_batch = max_batch
        self.timeout = timeout
        # How long the database may spend on one batch (locks included) before it gives up.
        self.statement_timeout = timeout if statement_timeout is None else statement_timeout
        self._mutex = threading.Lock()
        self._queue: list[_Pending] = []
        self._leading = False
        self._pool: Any = None  # a pool of its own, made like the engine's
        self._fairy: Any = None  # the pool's connection held for batches
        self._conn: Any = None  # its DB-API (psycopg) connection
        self._conn_pid: int | None = None
        self._connecting = threading.local()
        if self._pg_sql is not None:
            # The engine's own connect path (URL, connect_args such as sslmode, do_connect
            # hooks), with the writer's time limits added to its connections only.
            event.listen(engine, "do_connect", self._limit_connection)
        # Read by tests and benchmarks; written by the leader only.
        self.batches = 0
        self.rows = 0

    @property
    def engine(self) -> Engine:
        """The engine of the database the rows go to."""
        return self._engine

    def submit(self, row: dict[str, Any]) -> bool:
        """Insert `row` and return once it is committed; raise the database's error if not.

        False when the row was skipped because an equal one (on the table's skip index) is
        stored already.
        """
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
        return not item.duplicate

    def close(self) -> None:
        """Close the connection kept for batches (a later batch opens a new one)."""
        with self._mutex:
            fairy, pool, self._fairy, self._conn, self._pool = (
                self._fairy,
                self._pool,
                None,
                None,
                None,
            )
        if self._conn_pid != os.getpid():
            _inherited.append((fairy, pool))
            return
        if fairy is not None:
            with contextlib.suppress(Exception):
                fairy.invalidate()
        if pool is not None:
            with contextlib.suppress(Exception):
                pool.dispose()

    def _lead(self, me: _Pending | None) -> None:
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
                if me is not None:
                    # Only rows whose threads gave up are left. They are committed all the
                    # same (their answers named them), but not on this request's time.
                    threading.Thread(target=self._lead, args=(None,), daemon=True).start()
                    return

    def _write(self, batch: list[_Pending]) -> None:
        """Commit a batch, or each row alone if its data was refused; errors go to their rows."""
        try:
            self._commit(batch)
        except (IntegrityError, DataError) as exc:
            log.warning("a batch of %d receipts was refused: %s", len(batch), exc)
            if len(batch) == 1:
                batch[0].error = exc
                return
            for n, item in enumerate(batch):
                try:
                    self._commit([item])
                except (IntegrityError, DataError) as single:
                    item.error = single
                except Exception as down:
                    # The database itself failed: the rows left fail with it, without a try.
                    for rest in batch[n:]:
                        rest.error = down
                    return
        except Exception as exc:
            # Down, unreachable or too slow: every row of the batch fails now, none is retried.
            log.warning("a batch of %d receipts failed: %s", len(batch), exc)
            for item in batch:
                item.error = exc

    def _commit(self, batch: list[_Pending]) -> None:
        if self._pg_sql is not None:
            self._pg_insert(batch)
        else:
            self._engine_insert(batch)
        self.batches += 1
        self.rows += len(batch)

    def _engine_insert(self, batch: list[_Pending]) -> None:
        # SQLite: the engine's pooled connection, its busy timeout (how long a writer waits
        # for the database lock) cut to the writer's for this batch only.
        with self._engine.connect() as conn:
            dbapi = conn.connection.dbapi_connection
            sqlite = self._dialect == "sqlite"
            if sqlite:
                previous = dbapi.execute("PRAGMA busy_timeout").fetchone()[0]
                dbapi.execute(f"PRAGMA busy_timeout = {int(self.statement_timeout * 1000)}")
            try:
                with conn.begin():
                    if self._skip:
                        for item in batch:
                            item.duplicate = conn.execute(self._insert, item.row).rowcount == 0
                    else:
                        conn.execute(self._insert, [item.row for item in batch])
            finally:
                if sqlite:
                    with contextlib.suppress(Exception):
                        dbapi.execute(f"PRAGMA busy_timeout = {int(previous)}")

    def _limit_connection(
        self, dialect: Any, record: Any, cargs: list[Any], cparams: dict[str, Any]
    ) -> None:
        """do_connect hook: the writer's own connections get its connect and statement timeouts."""
        if not getattr(self._connecting, "active", False):
            return
        cparams["connect_timeout"] = max(2, math.ceil(self.statement_timeout))
        limit = f"-c statement_timeout={max(1, int(self.statement_timeout * 1000))}"
        cparams["options"] = f"{cparams.get('options') or ''} {limit}".strip()

    def _connect(self) -> Any:
        if self._conn is not None and self._conn_pid == os.getpid():
            return self._conn
        if self._conn is not None:
            _inherited.append((self._fairy, self._pool))  # made before a fork()
            self._fairy = self._conn = self._pool = None
        if self._pool is None:
            self._pool = self._engine.pool.recreate()
        self._connecting.active = True
        try:
            fairy = self._pool.connect()
        finally:
            self._connecting.active = False
        # One connection, used by one leader at a time: no pool checkout and no ping per
        # batch. In autocommit mode the single statement is the whole transaction: no BEGIN
        # and COMMIT round trips.
        conn = fairy.dbapi_connection
        conn.autocommit = True
        self._fairy, self._conn, self._conn_pid = fairy, conn, os.getpid()
        return conn

    def _pg_insert(self, batch: list[_Pending]) -> None:
        try:
            conn = self._connect()
            with conn.cursor() as cur:
                # The whole batch as one JSON parameter, serialised in C by orjson and parsed
                # by PostgreSQL: psycopg's array adaptation is pure Python and cost more than
                # the insert itself.
                rows = orjson.dumps([item.row for item in batch]).decode()
                cur.execute(self._pg_sql, (rows,), prepare=True)
                if self._skip:
                    stored = {key for (key,) in cur.fetchall()}
                    for item in batch:
                        item.duplicate = item.row[self._key] not in stored
        except Exception as exc:
            fairy, self._fairy, self._conn = self._fairy, None, None
            if fairy is not None:
                with contextlib.suppress(Exception):
                    fairy.invalidate()
            dbapi = self._engine.dialect.loaded_dbapi
            if isinstance(exc, dbapi.Error):
                # As SQLAlchemy would raise it (OperationalError when the database is down or
                # the statement timed out, IntegrityError for a refused row).
                raise DBAPIError.instance(self._pg_sql, None, exc, dbapi.Error) from exc
            raise


def _pg_batch_insert(table: Table, columns: list[str], skip: list[str], key: str) -> str:
    """INSERT of a whole batch in one statement, from a JSON array of row objects."""
    names = ", ".join(columns)
    sql = (
        f"INSERT INTO {table.name} ({names}) "  # noqa: S608 - names from the table definition
        f"SELECT {names} FROM json_populate_recordset(NULL::{table.name}, %s::json)"
    )
    if skip:
        sql += f" ON CONFLICT ({', '.join(skip)}) DO NOTHING RETURNING {key}"
    return sql
