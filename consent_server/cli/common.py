"""What every command group of `consent-server` shares: failing with a message, times."""

from __future__ import annotations

import datetime as dt
import sys
from typing import NoReturn

import click


def fail(message: str, code: int = 2) -> NoReturn:
    """Print the message in red on stderr and exit with `code` (2: usage or input error)."""
    click.secho(message, fg="red", err=True)
    sys.exit(code)


def parse_time(value: str | None) -> dt.datetime | None:
    """An ISO-8601 date or time from the command line, as aware UTC (naive means UTC)."""
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        fail(f"Not an ISO-8601 date or time: {value!r}.")
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
