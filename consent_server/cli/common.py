"""What every command group of `consent-server` shares: failing with a message, times, JSON."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
import orjson
from click.core import ParameterSource

F = TypeVar("F", bound=Callable[..., Any])

STDOUT = "-"


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


# -- --json [FILE] ---------------------------------------------------------------------------


class JsonOption(click.Option):
    """`--json [FILE]`, the same as cookie-scan's: JSON to FILE, or to stdout without a value.

    A value that the command needs as its required argument is that argument, so that
    `log verify --json audit.zip` and `scans show --json 5` print JSON as they always did.
    """

    def consume_value(
        self, ctx: click.Context, opts: MutableMapping[str, Any]
    ) -> tuple[Any, ParameterSource]:
        value, source = super().consume_value(ctx, opts)
        if source is ParameterSource.COMMANDLINE and isinstance(value, str) and value != STDOUT:
            missing = [
                p
                for p in ctx.command.params
                if isinstance(p, click.Argument)
                and p.required
                and p.nargs == 1
                and not isinstance(opts.get(p.name or ""), str)
            ]
            if len(missing) == 1 and missing[0].name:
                # Arguments are processed after the options given before them.
                opts[missing[0].name] = value
                return STDOUT, source
        return value, source


def json_option(what: str = "JSON") -> Callable[[F], F]:
    """The `--json [FILE]` option, passed to the command as `json_target` (None: text only)."""
    return click.option(
        "--json",
        "json_target",
        cls=JsonOption,
        is_flag=False,
        flag_value=STDOUT,
        default=None,
        metavar="[FILE]",
        help=f"Write {what} to FILE, or to stdout (and nothing else there) without FILE or with '-'.",
    )


def to_stdout(target: str | None) -> bool:
    """Whether JSON goes to stdout, which then carries nothing else."""
    return target == STDOUT


def write_json(data: Any, target: str) -> bool:
    """Write `data` as indented JSON to a file, or to stdout for '-'; True when it went to stdout.

    A command returns then: stdout carries the JSON alone.
    """
    text = orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str) + b"\n"
    if target == STDOUT:
        click.echo(text.decode(), nl=False)
        return True
    try:
        Path(target).write_bytes(text)
    except OSError as exc:
        fail(f"Cannot write {target}: {exc.strerror or exc}.")
    return False
