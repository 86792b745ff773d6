"""The `consent-server` command: one command group per area, registered once on the app."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from consent_server.version import __version__

if TYPE_CHECKING:
    from flask import Flask


def register_commands(app: Flask) -> None:
    """Attach every area's command group to the app's CLI (called by create_app)."""
    from consent_server.cli.consent_log import keys, log, stats
    from consent_server.cli.scans import scans, scheduler
    from consent_server.cli.sites import sites, tokens

    for group in (sites, tokens, keys, log, stats, scans, scheduler):
        app.cli.add_command(group)


def _server_cli() -> click.Group:
    """The full command: Flask's group, which builds the app and finds its commands."""
    from flask.cli import FlaskGroup

    def create() -> Flask:
        from consent_server.app import create_app

        return create_app()

    @click.group(cls=FlaskGroup, create_app=create, add_version_option=False)
    @click.version_option(__version__, prog_name="consent-server")
    def cli() -> None:
        """Self-hosted consent manager: declarations, receipts, scans, audit exports."""

    return cli


def main(argv: list[str] | None = None) -> None:
    """Entry point of the consent-server console script."""
    args = sys.argv[1:] if argv is None else argv
    if args[:2] == ["log", "verify"]:
        # An auditor's offline check: no Flask, no database (`pip install consent-manager[verify]`).
        from consent_server.cli.verify import verify_command

        verify_command.main(args[2:], prog_name="consent-server log verify")
        return
    if args[:1] == ["--version"]:
        click.echo(f"consent-server, version {__version__}")
        return
    try:
        cli = _server_cli()
    except ImportError as exc:
        click.secho(
            f"consent-server needs the server's packages ({exc.name} is missing): "
            "pip install 'consent-manager[server]'. Only `log verify` works without them.",
            fg="red",
            err=True,
        )
        sys.exit(2)
    cli.main(args, prog_name="consent-server")
