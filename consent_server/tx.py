"""The one way services open and finish a transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from consent_server.extensions import db


@contextmanager
def transaction() -> Iterator[Session]:
    """Commit on success, roll back on any error; earlier reads of the request join in."""
    session = db.session
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
