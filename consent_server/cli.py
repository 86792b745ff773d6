"""The consent-server command: sites, tokens, keys and the consent log."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
import orjson
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from scanner.declaration import DeclarationError, parse_duration, read_declaration


def _create_app() -> Flask:
    from consent_server import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False)
def cli() -> None:
    """Self-hosted consent manager: declarations, receipts, audit exports."""


def main() -> None:
    """Entry point of the consent-server console script."""
    cli(prog_name="consent-server")


def _fail(message: str, code: int = 2) -> None:
    click.secho(message, fg="red", err=True)
    sys.exit(code)


def _parse_time(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        _fail(f"Not an ISO-8601 date or time: {value!r}.")
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# -- sites -----------------------------------------------------------------------------------


@click.group()
def sites() -> None:
    """Sites and their declarations."""


@sites.command("apply")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@with_appcontext
def sites_apply(files: tuple[str, ...]) -> None:
    """Validate declaration FILES (site.yaml) and create or update their sites."""
    from consent_server.services.sites import apply_declaration

    decls = []
    for path in files:
        try:
            decls.append(read_declaration(path))
        except DeclarationError as exc:
            _fail(str(exc))
    for decl in decls:
        res = apply_declaration(decl)
        if res.created:
            what = f"created, revision {res.revision}"
        elif res.new_revision:
            what = f"updated, new revision {res.revision} (visitors will be asked again)"
        elif res.changed:
            what = f"updated (domains or scan settings), revision {res.revision} unchanged"
        else:
            what = f"unchanged, revision {res.revision}"
        click.echo(f"{res.site}: {what}")


@sites.command("list")
@with_appcontext
def sites_list() -> None:
    """List sites with their current revision."""
    from consent_server.services.sites import list_sites

    rows = list_sites()
    if not rows:
        click.echo("No sites yet: consent-server sites apply site.yaml")
    for site in rows:
        rev = site.current_revision.number if site.current_revision else "-"
        click.echo(f"{site.key:<24} rev {rev:<4} {site.name}  [{', '.join(site.domains)}]")


@sites.command("show")
@click.argument("site")
@with_appcontext
def sites_show(site: str) -> None:
    """Show a site and its current declaration as JSON."""
    from consent_server.services.sites import SiteNotFound, describe_site, get_site

    try:
        row = get_site(site)
    except SiteNotFound:
        _fail(f"Unknown site {site!r}.")
    click.echo(orjson.dumps(describe_site(row), option=orjson.OPT_INDENT_2).decode())


@sites.command("policy")
@click.argument("site")
@click.option("--lang", type=click.Choice(["sv", "en"]), default=None, help="Default: the site's.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "html"]), default="markdown")
@click.option(
    "--scan",
    "scan_file",
    type=click.Path(exists=True, dir_okay=False),
    help="A cookie-scan JSON report to use instead of the latest stored scan.",
)
@with_appcontext
def sites_policy(site: str, lang: str | None, fmt: str, scan_file: str | None) -> None:
    """Write the cookie section of SITE's privacy policy (Markdown or HTML)."""
    from consent_server.services.cookie_policy import cookie_policy, latest_scan_report
    from consent_server.services.sites import SiteNotFound, get_site

    try:
        row = get_site(site)
    except SiteNotFound:
        _fail(f"Unknown site {site!r}.")
    if row.current_revision is None:
        _fail(f"Site {site!r} has no declaration yet.")
    content = row.current_revision.content
    report = orjson.loads(Path(scan_file).read_bytes()) if scan_file else latest_scan_report(site)
    language = lang or (
        content.get("default_language") if content.get("default_language") in ("sv", "en") else "en"
    )
    click.echo(cookie_policy(content, language, fmt, report), nl=False)


# -- tokens ----------------------------------------------------------------------------------


@click.group()
def tokens() -> None:
    """Admin API tokens."""


@tokens.command("create")
@click.option("--site", help="The site the token is limited to.")
@click.option("--operator", is_flag=True, help="A token for every site.")
@click.option("--role", type=click.Choice(["auditor", "admin"]), required=True)
@click.option("--label", default="", help="A note on who holds the token.")
@with_appcontext
def tokens_create(site: str | None, operator: bool, role: str, label: str) -> None:
    """Create a token; it is printed once and only its hash is kept."""
    from consent_server.services.sites import SiteNotFound
    from consent_server.services.tokens import create_token

    if bool(site) == operator:
        _fail("Give exactly one of --site SITE or --operator.")
    try:
        token, secret = create_token(site, role, label)
    except SiteNotFound:
        _fail(f"Unknown site {site!r}.")
    except ValueError as exc:
        _fail(f"Invalid --label: {exc}.")
    click.echo(secret)
    scope = f"site {site}" if site else "all sites"
    click.echo(f"token {token.id} ({token.prefix}...): {role} of {scope}; shown only now", err=True)


@tokens.command("revoke")
@click.argument("token")
@with_appcontext
def tokens_revoke(token: str) -> None:
    """Revoke a token by id or by the prefix printed at creation."""
    from consent_server.services.tokens import revoke_token

    count = revoke_token(token)
    if not count:
        _fail(f"No live token matches {token!r}.", 1)
    click.echo(f"revoked {count} token(s)")


@tokens.command("list")
@with_appcontext
def tokens_list() -> None:
    """List tokens (never their secrets)."""
    from consent_server.services.tokens import list_tokens

    for t in list_tokens():
        state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "live"
        scope = t.site.key if t.site else "*"
        click.echo(f"{t.id:>4} {t.prefix}... {t.role:<8} {scope:<24} {state} {t.label}")


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
@with_appcontext
def keys_list() -> None:
    """List the public keys (current first)."""
    from flask import current_app

    for i, jwk in enumerate(current_app.extensions["consent_keys"].jwks()["keys"]):
        click.echo(f"{jwk['kid']}{'  (current)' if i == 0 else ''}")


# -- log -------------------------------------------------------------------------------------


@click.group()
def log() -> None:
    """The consent log: seal, export, verify, purge."""


@log.command("seal")
@click.option("--site", help="Seal one site only.")
@with_appcontext
def log_seal(site: str | None) -> None:
    """Seal every receipt not yet sealed into signed, chained Merkle roots."""
    from consent_server.services.seals import seal_all, seal_site

    results = seal_site(site) if site else seal_all()
    for r in results:
        click.echo(f"{r.site}: seal {r.sequence} over {r.tree_size} receipts, root {r.root[:16]}")
    if not results:
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
    from consent_server.services import export
    from consent_server.services.seals import seal_site
    from consent_server.services.sites import SiteNotFound, get_site

    try:
        get_site(site)
    except SiteNotFound:
        _fail(f"Unknown site {site!r}.")
    if not no_seal:
        seal_site(site)
    scope = export.export_scope(site, _parse_time(since), _parse_time(until))
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


@log.command("verify")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--seals", type=click.Path(exists=True, dir_okay=False), help="Seals (JSONL).")
@click.option("--jwks", type=click.Path(exists=True, dir_okay=False), help="Trusted keys.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--strict",
    is_flag=True,
    help="Also fail when some receipts are not sealed or a bundle's manifest is not signed.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    help="Worker processes (default: one per core, at most 4, for an export over 16 MB; 1: none).",
)
def log_verify(
    path: str, seals: str | None, jwks: str | None, as_json: bool, strict: bool, jobs: int | None
) -> None:
    """Verify an export offline; exit 1 when anything was modified, removed, inserted or reordered."""
    from consent_server.verify import verify_path

    try:
        report = verify_path(path, seals=seals, jwks=jwks, jobs=jobs)
    except (ValueError, KeyError, OSError) as exc:
        _fail(f"Cannot verify {path}: {exc}")
    if as_json:
        click.echo(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(report.summary())
    unproven = report.unsealed or (report.bundle and not report.manifest_kid)
    if not report.ok or (strict and unproven):
        sys.exit(1)


@log.command("purge")
@click.option("--older-than", required=True, help="ISO-8601 duration, e.g. P36M.")
@click.option("--site", help="One site only.")
@click.option("--dry-run", is_flag=True, help="Only count.")
@with_appcontext
def log_purge(older_than: str, site: str | None, dry_run: bool) -> None:
    """Remove personal content of sealed receipts older than a duration; hashes stay."""
    from consent_server.services.retention import purge_receipts

    try:
        age = parse_duration(older_than)
    except ValueError as exc:
        _fail(str(exc))
    count = purge_receipts(age, site, dry_run=dry_run)
    click.echo(f"{'would purge' if dry_run else 'purged'} {count} receipts older than {older_than}")


# -- scans -----------------------------------------------------------------------------------


@click.group()
def scans() -> None:
    """Scans of sites: run, list, show, diff, propose, purge."""


def _scan_or_fail(scan_id: int):  # type: ignore[no-untyped-def]
    from consent_server.services.scans import ScanNotFound, get_scan

    try:
        return get_scan(scan_id)
    except ScanNotFound:
        _fail(f"No scan {scan_id}.")


def _scan_line(s: dict) -> str:
    counts = s["finding_counts"] or {}
    found = " ".join(f"{k} {v}" for k, v in counts.items() if v) or "-"
    when = s["finished_at"] or s["started_at"] or s["created_at"]
    return (
        f"{s['id']:>6} {s['site']:<20} {s['status']:<8} {s['trigger']:<8} "
        f"{when:%Y-%m-%d %H:%M} {s['pages'] if s['pages'] is not None else '-':>5} pages  "
        f"{found}" + (f"  ({s['error'][:60]})" if s["error"] else "")
    )


@scans.command("run")
@click.argument("site")
@click.option(
    "--queue", "queue_only", is_flag=True, help="Only queue it (for the scheduler or workers)."
)
@with_appcontext
def scans_run(site: str, queue_only: bool) -> None:
    """Scan SITE now with its declared settings; exit 1 on findings at or above fail_on."""
    from flask import current_app

    from consent_server.scheduler import worker_name
    from consent_server.services import scans as svc
    from consent_server.services.sites import SiteNotFound
    from consent_server.tasks import celery_enabled, dispatch_scan

    try:
        scan = svc.create_scan(site, trigger="manual")
    except SiteNotFound:
        _fail(f"Unknown site {site!r}.")
    except svc.NoScanSettings:
        _fail(f"Site {site!r} has no scan settings: add a `scan:` block to its declaration.")
    scan_id = scan.id
    if celery_enabled(current_app):
        app = current_app._get_current_object()
        sent = svc.dispatch_pending(lambda i: dispatch_scan(app, i), only=scan_id)
        click.echo(f"scan {scan_id} queued" + ("" if sent else " (the scheduler will send it)"))
        return
    if queue_only:
        click.echo(f"scan {scan_id} queued; `consent-server scheduler` runs it")
        return
    click.echo(f"scan {scan_id}: scanning {scan.settings['url']} ...", err=True)
    outcome = svc.execute_scan(scan_id, worker_name("cli"))
    row = svc.get_scan(scan_id)
    summary = svc.scan_summary(row)
    click.echo(_scan_line(summary))
    if outcome.status != svc.DONE:
        _fail(f"scan {scan_id} {outcome.status}: {row.error or outcome.error}", 2)
    threshold = (row.settings or {}).get("fail_on", "high")
    from scanner.api import exit_status

    sys.exit(exit_status(row.report, threshold))


@scans.command("list")
@click.argument("site", required=False)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10000))
@with_appcontext
def scans_list(site: str | None, limit: int) -> None:
    """List scans, newest first (of SITE, or of every site) and the scan schedules."""
    from consent_server.services import scans as svc
    from consent_server.services.sites import SiteNotFound

    try:
        rows = svc.list_scans(site, limit=limit)
    except SiteNotFound:
        _fail(f"Unknown site {site!r}.")
    if not rows:
        click.echo("No scans yet: consent-server scans run SITE")
    for row in rows:
        click.echo(_scan_line(svc.scan_summary(row)))
    for key, sched in svc.schedules():
        if site in (None, key):
            due = svc.as_utc(sched.next_run_at)
            click.echo(
                f"schedule {key}: {sched.cron!r} ({sched.timezone}), next {due:%Y-%m-%d %H:%M} UTC"
            )


@scans.command("show")
@click.argument("scan_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Everything as JSON, report included.")
@click.option("--html", type=click.Path(dir_okay=False), help="Write the HTML report here.")
@with_appcontext
def scans_show(scan_id: int, as_json: bool, html: str | None) -> None:
    """Show a scan: state, timing and findings."""
    from consent_server.services import scans as svc

    scan = _scan_or_fail(scan_id)
    doc = svc.scan_document(scan)
    if html:
        if not scan.report:
            _fail(f"Scan {scan_id} is {scan.status}: it has no report.")
        from scanner.report.html import render_html

        with open(html, "w", encoding="utf-8") as fh:
            fh.write(render_html(scan.report))
        click.echo(f"{html}: HTML report", err=True)
    if as_json:
        click.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2, default=str).decode())
        return
    click.echo(_scan_line(doc))
    click.echo(f"  url {doc['url']}  attempts {doc['attempts']}  worker {doc['worker'] or '-'}")
    if doc["alert"]:
        click.echo(
            f"  alert {doc['alert']['state']}: {orjson.dumps(doc['alert']['result']).decode()}"
        )
    for f in doc["findings"]:
        click.echo(f"  [{f['severity']}] {f['type']}: {f['message']}")


@scans.command("diff")
@click.argument("scan_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def scans_diff(scan_id: int, as_json: bool) -> None:
    """What changed since the site's previous scan: cookies and findings."""
    from consent_server.services import scans as svc

    try:
        diff = svc.diff_scans(_scan_or_fail(scan_id))
    except svc.ScanNotFinished:
        _fail(f"Scan {scan_id} has no result.")
    if as_json:
        click.echo(orjson.dumps(diff, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(f"scan {scan_id} against {diff['previous'] or 'nothing (first scan)'}")
    for label, items in (
        ("+ cookie", diff["cookies"]["new"]),
        ("- cookie", diff["cookies"]["gone"]),
    ):
        for i in items:
            click.echo(f"{label} {i['name']} ({i['kind']}, {i['domain']}, {i['category']})")
    for label, items in (
        ("+ finding", diff["findings"]["new"]),
        ("- finding", diff["findings"]["resolved"]),
    ):
        for f in items:
            click.echo(f"{label} [{f['severity']}] {f['message']}")


@scans.command("propose")
@click.argument("scan_id", type=int)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="File (default stdout).")
@with_appcontext
def scans_propose(scan_id: int, output: str | None) -> None:
    """A YAML patch adding the undeclared cookies the scan saw, for the owner to review."""
    from consent_server.services import scans as svc

    try:
        text = svc.propose_declaration(_scan_or_fail(scan_id))
    except svc.ScanNotFinished:
        _fail(f"Scan {scan_id} has no result.")
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        click.echo(text, nl=False)


@scans.command("purge")
@click.option(
    "--older-than-days",
    type=click.FloatRange(min=0, min_open=True),
    help="Default: CONSENT_SCAN_RETENTION_DAYS.",
)
@click.option("--dry-run", is_flag=True, help="Only count.")
@with_appcontext
def scans_purge(older_than_days: float | None, dry_run: bool) -> None:
    """Delete finished scans older than the retention period (each site's latest stays)."""
    from flask import current_app

    from consent_server.services.scans import purge_scans

    days = older_than_days or float(current_app.config["SCAN_RETENTION_DAYS"] or 0)
    if days <= 0:
        _fail("No retention period: pass --older-than-days or set CONSENT_SCAN_RETENTION_DAYS.")
    count = purge_scans(days, dry_run=dry_run)
    click.echo(f"{'would delete' if dry_run else 'deleted'} {count} scans older than {days:g} days")


@scans.command("webhook-secret")
@click.argument("site")
@with_appcontext
def scans_webhook_secret(site: str) -> None:
    """Print the secret SITE's webhook receiver checks X-Consent-Signature with."""
    from consent_server.services.alerts import webhook_secret
    from consent_server.services.sites import SiteNotFound, get_site

    try:
        get_site(site)
    except SiteNotFound:
        _fail(f"Unknown site {site!r}.")
    click.echo(webhook_secret(site))


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Run what is due now, then exit.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    help="Seconds between passes (CONSENT_SCHEDULER_INTERVAL).",
)
@click.option(
    "--seal-interval",
    type=click.FloatRange(min=1),
    help="Seconds between seals (CONSENT_SEAL_INTERVAL).",
)
@click.option("--no-seal", is_flag=True, help="Do not seal the consent log.")
@with_appcontext
def scheduler(
    once: bool, interval: float | None, seal_interval: float | None, no_seal: bool
) -> None:
    """Run scheduled scans on time (here, or on Celery workers) and seal the consent log."""
    import logging

    from flask import current_app

    from consent_server import scheduler as sched

    app = current_app._get_current_object()
    if once:
        report = sched.run_once(app, seal_log=not no_seal)
        click.echo(
            f"created {len(report.created)}, dispatched {len(report.dispatched)}, "
            f"requeued {len(report.requeued)}, sealed {report.sealed}, purged {report.purged}"
        )
        for outcome in report.ran:
            click.echo(
                f"scan {outcome.scan_id}: {outcome.status}"
                + (f" ({outcome.error})" if outcome.error else "")
            )
        return
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    sched.run_forever(app, interval=interval, seal_interval=seal_interval, seal_log=not no_seal)


def register_commands(app: Flask) -> None:
    """Attach the command groups to the app's CLI."""
    for group in (sites, tokens, keys, log, scans, scheduler):
        app.cli.add_command(group)


# Registered on the console script itself too, so `consent-server log verify` (which needs no
# database) runs without building the app first; FlaskGroup only loads the app for commands
# it does not know.
for _group in (sites, tokens, keys, log, scans, scheduler):
    cli.add_command(_group)
