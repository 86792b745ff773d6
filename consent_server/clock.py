"""Times as aware UTC, whatever the database gives back."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def as_utc(moment: dt.datetime | None) -> dt.datetime | None:
    """A stored time as aware UTC (SQLite gives back naive UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def now_utc(now: dt.datetime | None) -> dt.datetime:
    """`now` as aware UTC, or the current time when it is None (tests pass a time)."""
    return as_utc(now) if now is not None else utcnow()  # type: ignore[return-value]
