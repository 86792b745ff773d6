"""`consent-server log verify`: the auditor's offline check, which needs neither Flask nor a database."""

from __future__ import annotations

import sys

import click

from consent_server.cli.common import fail, json_option, to_stdout, write_json


@click.command("verify")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--seals", type=click.Path(exists=True, dir_okay=False), help="Seals (JSONL).")
@click.option("--jwks", type=click.Path(exists=True, dir_okay=False), help="Trusted keys.")
@json_option("the report as JSON")
@click.option(
    "--strict",
    is_flag=True,
    help="Also fail when some receipts are not sealed, a bundle's manifest is not signed, "
    "or the keys were not pinned with --jwks.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    help="Worker processes (default: one per core, at most 4, for an export over 16 MB; 1: none).",
)
def verify_command(
    path: str,
    seals: str | None,
    jwks: str | None,
    json_target: str | None,
    strict: bool,
    jobs: int | None,
) -> None:
    """Verify an export offline; exit 1 when anything was modified, removed, inserted or reordered."""
    from consent_server.consent_log.verify.bundle import verify_path

    try:
        report = verify_path(path, seals=seals, jwks=jwks, jobs=jobs)
    except (ValueError, KeyError, OSError) as exc:
        fail(f"Cannot verify {path}: {exc}")
    if json_target:
        write_json(report.as_dict(), json_target)
    if not to_stdout(json_target):
        click.echo(report.summary())
    unproven = report.unsealed or (report.bundle and not report.manifest_kid)
    if strict and report.keys != "pinned":
        # On stderr, so that `--json` keeps stdout for the JSON alone.
        click.echo(
            "--strict: the signatures were checked with the keys inside the bundle, which "
            "whoever rewrote it could have replaced. Fetch the server's /.well-known/jwks.json "
            "yourself over TLS (or take the keys from your own records) and pass it with --jwks.",
            err=True,
        )
        unproven = True
    if not report.ok or (strict and unproven):
        sys.exit(1)
