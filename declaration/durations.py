"""ISO-8601 durations as the declaration file writes them."""

from __future__ import annotations

import datetime as dt
import re

import isodate


def parse_duration(value: str) -> dt.timedelta:
    """Parse an ISO-8601 duration such as P12M, P2Y, P90D or PT30M into a timedelta."""
    # fullmatch: no whitespace or trailing newline, which isodate's `$` would let through.
    if not isinstance(value, str) or not re.fullmatch(r"P[0-9YMWDTHS.,]+", value):
        raise ValueError(f"not an ISO-8601 duration: {value!r}")
    try:
        parsed = isodate.parse_duration(value)
        if isinstance(parsed, isodate.Duration):
            # Months and years have no fixed length; use the Gregorian averages for comparisons.
            days = float(parsed.years) * 365.2425 + float(parsed.months) * 30.436875
            parsed = parsed.tdelta + dt.timedelta(days=days)
    except OverflowError as exc:
        raise ValueError(f"duration out of range: {value!r}") from exc
    except isodate.ISO8601Error as exc:
        raise ValueError(f"not an ISO-8601 duration: {value!r}") from exc
    if parsed <= dt.timedelta(0):
        raise ValueError(f"duration must be positive: {value!r}")
    return parsed
