"""`consent-server log` and `keys`: sealing, export, verification, retention, keys."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from consent_server.cli.common import fail, json_option, parse_time, to_stdout, write_json
from consent_server.cli.verify import verify_command
from declaration.durations import parse_duration

# -- keys ------------------------------------------------------------------------------------


@click.group()
def keys() -> None:
    """Signing keys of receipts and seals."""


@keys.command("rotate")
@with_appcontext
def keys_rotate() -> None:
    """Start signing with a new key; old public keys stay published."""
    from flask import current_app

    kid = current_app.extensions["consent_keys"].rotate()
    click.echo(f"new signing key {kid}")


@keys.command("list")
@json_option("the public keys as a JSON array of JWKs")
@with_appcontext
def keys_list(json_target: str | None) -> None:
    """List the public keys (current first)."""
    from flask import current_app

    jwks = current_app.extensions["consent_keys"].jwks()["keys"]
    if json_target:
        write_json(
            [{"kid": jwk["kid"], "current": i == 0, **jwk} for i, jwk in enumerate(jwks)],
            json_target,
        )
        if to_stdout(json_target):
            return
    for i, jwk in enumerate(jwks):
        click.echo(f"{jwk['kid']}{'  (current)' if i == 0 else ''}")


# -- log -------------------------------------------------------------------------------------


@click.group()
def log() -> None:
    """The consent log: seal, export, verify, purge."""


log.add_command(verify_command)


@log.command("seal")
@click.option("--site", help="Seal one site only.")
@with_appcontext
def log_seal(site: str | None) -> None:
    """Seal every receipt not yet sealed into signed, chained Merkle roots.

    Each site is sealed on its own: a site that cannot be sealed (a record that no longer
    matches its hash) is reported and the exit status is 1, the other sites are still sealed.
    """
    from consent_server.consent_log.seals import seal_all
    from consent_server.sites.service import SiteNotFound, get_site

    if site:
        try:
            get_site(site)
        except SiteNotFound:
            fail(f"Unknown site {site!r}.")
    run = seal_all([site] if site else None)
    for r in run.results:
        click.echo(f"{r.site}: seal {r.sequence} over {r.tree_size} receipts, root {r.root[:16]}")
    for key, reason in run.failed.items():
        click.secho(f"{key}: not sealed: {reason}", fg="red", err=True)
    if run.failed:
        sys.exit(1)
    if not run.results:
        click.echo("nothing to seal")


@log.command("export")
@click.option("--site", required=True)
@click.option("--since", help="ISO-8601 date or time (UTC when no offset).")
@click.option("--until", help="ISO-8601 date or time, exclusive.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl")
@click.option("--bundle", type=click.Path(dir_okay=False), help="Write a verifiable zip here.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="File (default stdout).")
@click.option("--no-seal", is_flag=True, help="Do not seal pending receipts first.")
@with_appcontext
def log_export(
    site: str,
    since: str | None,
    until: str | None,
    fmt: str,
    bundle: str | None,
    output: str | None,
    no_seal: bool,
) -> None:
    """Export a site's receipts as JSONL or CSV, or as an audit bundle (--bundle)."""
    from consent_server.consent_log import export
    from consent_server.consent_log.seals import seal_site
    from consent_server.sites.service import SiteNotFound, get_site

    try:
        get_site(site)
    except SiteNotFound:
        fail(f"Unknown site {site!r}.")
    if not no_seal:
        seal_site(site)
    scope = export.export_scope(site, parse_time(since), parse_time(until))
    if bundle:
        manifest = export.write_bundle(scope, bundle)
        counts = manifest["counts"]
        click.echo(f"{bundle}: {counts['receipts']} receipts, {counts['seals']} seals", err=True)
        return
    if output:
        with open(output, "wb") as fh:
            size = export.write_export(scope, fmt, fh)
        click.echo(f"{output}: {size} bytes", err=True)
    else:
        export.write_export(scope, fmt, sys.stdout.buffer)


@log.command("purge")
@click.option("--older-than", required=True, help="ISO-8601 duration, e.g. P36M.")
@click.option("--site", help="One site only.")
@click.option("--dry-run", is_flag=True, help="Only count.")
@with_appcontext
def log_purge(older_than: str, site: str | None, dry_run: bool) -> None:
    """Remove personal content of sealed receipts older than a duration; hashes stay."""
    from consent_server.consent_log.retention import purge_receipts

    try:
        age = parse_duration(older_than)
    except ValueError as exc:
        fail(str(exc))
    count = purge_receipts(age, site, dry_run=dry_run)
    click.echo(f"{'would purge' if dry_run else 'purged'} {count} receipts older than {older_than}")


# -- stats -----------------------------------------------------------------------------------


class _StatsGroup(click.Group):
    """`stats SITE ...` shows a site's statistics; `stats rebuild` recomputes them."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_StatsGroup)
def stats() -> None:
    """Consent statistics: `stats SITE [--since] [--until] [--json [FILE]]`, `stats rebuild`."""


@stats.command("show")
@click.argument("site")
@click.option("--since", help="ISO-8601 date or time (UTC when no offset).")
@click.option("--until", help="ISO-8601 date or time, exclusive.")
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False), help="Also write CSV here.")
@json_option("the statistics")
@with_appcontext
def stats_show(
    site: str, since: str | None, until: str | None, csv_file: str | None, json_target: str | None
) -> None:
    """A site's statistics: totals, shares, opt-in rates, per day, revision and language."""
    from consent_server.consent_log.stats import console_csv, console_stats
    from consent_server.sites.service import SiteNotFound, get_site

    try:
        get_site(site)
    except SiteNotFound:
        fail(f"Unknown site {site!r}.")
    start, end = parse_time(since), parse_time(until)
    if start is not None and end is not None and start >= end:
        fail("--since must be before --until.")
    report = console_stats(site, start, end)
    if csv_file:
        try:
            with open(csv_file, "w", encoding="utf-8", newline="") as fh:
                fh.write(console_csv(report))
        except OSError as exc:
            fail(f"Cannot write {csv_file}: {exc.strerror or exc}.")
    if json_target and write_json(report, json_target):
        return  # stdout carries the JSON alone
    totals = report["totals"]
    click.echo(f"{site}: {totals['total']} receipts")
    if not totals["total"]:
        return
    shares = ", ".join(f"{m} {v:.1%}" for m, v in totals["shares"].items() if v)
    click.echo(f"  methods: {shares}; GPC {totals['gpc_share']:.1%}")
    rates = ", ".join(f"{c} {v:.1%}" for c, v in totals["opt_in_rate"].items())
    click.echo(f"  opt-in: {rates}")
    for day in report["days"]:
        click.echo(
            f"  {day['date']}  {day['total']:>8}  accept {day['shares']['accept_all']:.1%}"
            f"  reject {day['shares']['reject_all']:.1%}  custom {day['shares']['custom']:.1%}"
        )


@stats.command("rebuild")
@click.option("--site", help="One site only (default: every site).")
@with_appcontext
def stats_rebuild(site: str | None) -> None:
    """Recompute the daily statistics from the sealed receipts (backfill)."""
    from sqlalchemy import select

    from consent_server.consent_log.stats import rebuild_stats
    from consent_server.extensions import db
    from consent_server.sites.models import Site
    from consent_server.sites.service import SiteNotFound, get_site

    if site:
        try:
            get_site(site)
        except SiteNotFound:
            fail(f"Unknown site {site!r}.")
    keys = [site] if site else list(db.session.scalars(select(Site.key).order_by(Site.key)))
    db.session.rollback()
    for key in keys:
        click.echo(f"{key}: {rebuild_stats(key)} daily rows")
