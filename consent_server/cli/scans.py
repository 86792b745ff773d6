"""`consent-server scans` and `scheduler`."""

from __future__ import annotations

import datetime as dt
import sys

import click
import orjson
from flask.cli import with_appcontext

from consent_server.cli.common import fail, json_option, write_json
from declaration.durations import parse_duration

# -- scans -----------------------------------------------------------------------------------


@click.group()
def scans() -> None:
    """Scans of sites: run, list, show, diff, propose, waive, purge."""


def _scan_or_fail(scan_id: int):  # type: ignore[no-untyped-def]
    from consent_server.scans.queue import ScanNotFound
    from consent_server.scans.results import get_scan

    try:
        return get_scan(scan_id)
    except ScanNotFound:
        fail(f"No scan {scan_id}.")


def _scan_line(s: dict) -> str:
    """One line of a scan summary (ScanSummarySchema's JSON: times are ISO-8601 text)."""
    counts = s["finding_counts"] or {}
    found = " ".join(f"{k} {v}" for k, v in counts.items() if v) or "-"
    when = dt.datetime.fromisoformat(s["finished_at"] or s["started_at"] or s["created_at"])
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

    from consent_server.scans.queue import DONE, NoScanSettings, enqueue_scan
    from consent_server.scans.results import get_scan, scan_summary
    from consent_server.scans.run import execute_scan
    from consent_server.scans.scheduler import worker_name
    from consent_server.sites.service import SiteNotFound

    try:
        queued = enqueue_scan(site, trigger="manual")
    except SiteNotFound:
        fail(f"Unknown site {site!r}.")
    except NoScanSettings:
        fail(f"Site {site!r} has no scan settings: add a `scan:` block to its declaration.")
    scan_id = queued.scan_id
    if queued.on_workers:
        click.echo(
            f"scan {scan_id} queued" + ("" if queued.sent else " (the scheduler will send it)")
        )
        return
    if queue_only:
        click.echo(f"scan {scan_id} queued; `consent-server scheduler` runs it")
        return
    click.echo(f"scan {scan_id}: scanning {get_scan(scan_id).settings['url']} ...", err=True)
    outcome = execute_scan(scan_id, worker_name("cli"))
    row = get_scan(scan_id)
    summary = scan_summary(row)
    click.echo(_scan_line(summary))
    if outcome.status != DONE:
        fail(f"scan {scan_id} {outcome.status}: {row.error or outcome.error}", 2)
    threshold = (row.settings or {}).get("fail_on", "high")
    from scanner import exit_status

    sys.exit(exit_status(row.report, threshold))


@scans.command("list")
@click.argument("site", required=False)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10000))
@json_option("the scans as a JSON array (schedules are in `sites list --json`)")
@with_appcontext
def scans_list(site: str | None, limit: int, json_target: str | None) -> None:
    """List scans, newest first (of SITE, or of every site) and the scan schedules."""
    from consent_server.clock import as_utc
    from consent_server.scans.results import list_scans, scan_summary
    from consent_server.scans.schedule import schedules
    from consent_server.sites.service import SiteNotFound

    try:
        rows = list_scans(site, limit=limit)
    except SiteNotFound:
        fail(f"Unknown site {site!r}.")
    summaries = [scan_summary(row) for row in rows]
    if json_target and write_json(summaries, json_target):
        return  # stdout carries the JSON alone
    if not rows:
        click.echo("No scans yet: consent-server scans run SITE")
    for summary in summaries:
        click.echo(_scan_line(summary))
    for key, sched in schedules():
        if site in (None, key):
            due = as_utc(sched.next_run_at)
            click.echo(
                f"schedule {key}: {sched.cron!r} ({sched.timezone}), next {due:%Y-%m-%d %H:%M} UTC"
            )


@scans.command("show")
@click.argument("scan_id", type=int)
@json_option("everything as JSON, report included,")
@click.option("--html", type=click.Path(dir_okay=False), help="Write the HTML report here.")
@with_appcontext
def scans_show(scan_id: int, json_target: str | None, html: str | None) -> None:
    """Show a scan: state, timing and findings."""
    from consent_server.scans.results import scan_document

    scan = _scan_or_fail(scan_id)
    doc = scan_document(scan)
    if html:
        if not scan.report:
            fail(f"Scan {scan_id} is {scan.status}: it has no report.")
        from scanner import render_html

        with open(html, "w", encoding="utf-8") as fh:
            fh.write(render_html(scan.report))
        click.echo(f"{html}: HTML report", err=True)
    if json_target and write_json(doc, json_target):
        return  # stdout carries the JSON alone
    click.echo(_scan_line(doc))
    click.echo(f"  url {doc['url']}  attempts {doc['attempts']}  worker {doc['worker'] or '-'}")
    if doc["alert"]:
        click.echo(
            f"  alert {doc['alert']['state']}: {orjson.dumps(doc['alert']['result']).decode()}"
        )
    for f in doc["findings"]:
        click.echo(f"  [{f['severity']}] {f['type']}: {f['message']}" + _waiver_note(f["waiver"]))


def _waiver_note(waiver: dict | None) -> str:
    """How `scans show` marks a finding with an active waiver or acknowledgement."""
    if not waiver:
        return ""
    what = "waived" if waiver["kind"] == "waive" else "acknowledged"
    until = dt.datetime.fromisoformat(waiver["expires_at"])
    reason = " ".join(waiver["reason"].split())[:80]
    return f"  ({what} until {until:%Y-%m-%d %H:%M} UTC by {waiver['by']}: {reason})"


@scans.command("diff")
@click.argument("scan_id", type=int)
@json_option("the differences as JSON")
@with_appcontext
def scans_diff(scan_id: int, json_target: str | None) -> None:
    """What changed since the site's previous scan: cookies and findings."""
    from consent_server.scans.results import ScanNotFinished, diff_scans

    try:
        diff = diff_scans(_scan_or_fail(scan_id))
    except ScanNotFinished:
        fail(f"Scan {scan_id} has no result.")
    if json_target and write_json(diff, json_target):
        return  # stdout carries the JSON alone
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


@scans.command("waive")
@click.argument("site")
@click.argument("fingerprint")
@click.option("--reason", required=True, help="Why (kept in the audit history).")
@click.option(
    "--until",
    "until",
    required=True,
    metavar="DATE",
    help="ISO-8601 date or time it ends (UTC unless given), at most a year ahead.",
)
@click.option(
    "--acknowledge", is_flag=True, help="Acknowledge (being fixed) instead of waive (accepted)."
)
@with_appcontext
def scans_waive(site: str, fingerprint: str, reason: str, until: str, acknowledge: bool) -> None:
    """Waive (or acknowledge) SITE's finding FINGERPRINT: shown in scans, left out of alerts."""
    from consent_server.cli.common import parse_time
    from consent_server.scans import waivers
    from consent_server.sites.service import SiteNotFound

    try:
        row = waivers.create_waiver(
            site,
            fingerprint,
            "acknowledge" if acknowledge else "waive",
            reason,
            parse_time(until),  # type: ignore[arg-type]
            "cli",
        )
    except SiteNotFound:
        fail(f"Unknown site {site!r}.")
    except waivers.WaiverError as exc:
        fail(str(exc))
    except waivers.FindingNotFound:
        fail(f"Site {site!r} has no finding {fingerprint}.")
    until_utc = row.expires_at.astimezone(dt.UTC)
    click.echo(
        f"waiver {row.id}: {row.action} {row.fingerprint} until {until_utc:%Y-%m-%d %H:%M} UTC"
    )


@scans.command("unwaive")
@click.argument("site")
@click.argument("waiver_id", type=click.IntRange(1))
@click.option("--reason", default="", help="Why it ends early.")
@with_appcontext
def scans_unwaive(site: str, waiver_id: int, reason: str) -> None:
    """Revoke SITE's waiver WAIVER_ID (a revocation is recorded; the history stays)."""
    from consent_server.scans import waivers
    from consent_server.sites.service import SiteNotFound

    try:
        row = waivers.revoke_waiver(site, waiver_id, "cli", reason=reason)
    except SiteNotFound:
        fail(f"Unknown site {site!r}.")
    except waivers.WaiverError as exc:
        fail(str(exc))
    except waivers.WaiverNotFound:
        fail(f"Site {site!r} has no waiver {waiver_id}.")
    except waivers.WaiverNotActive as exc:
        fail(str(exc), 1)
    click.echo(f"waiver {waiver_id} revoked ({row.id})")


@scans.command("waivers")
@click.argument("site")
@json_option("the history as a JSON array")
@with_appcontext
def scans_waivers(site: str, json_target: str | None) -> None:
    """SITE's waivers, acknowledgements and revocations, newest first, with their state."""
    from consent_server.scans.schemas import WaiverListSchema
    from consent_server.scans.waivers import waiver_history
    from consent_server.sites.service import SiteNotFound

    try:
        history = WaiverListSchema().dump(waiver_history(site))["waivers"]
    except SiteNotFound:
        fail(f"Unknown site {site!r}.")
    if json_target and write_json(history, json_target):
        return  # stdout carries the JSON alone
    if not history:
        click.echo(f"No waivers for {site}: consent-server scans waive SITE FINGERPRINT ...")
    for w in history:
        when = dt.datetime.fromisoformat(w["created_at"])
        if w["kind"] == "revoke":
            what = f"revokes {w['revokes']}"
        else:
            until = dt.datetime.fromisoformat(w["expires_at"])
            what = f"{w['kind']:<11} {w['state']:<8} until {until:%Y-%m-%d %H:%M}"
        about = f"  [{w['finding']['severity']}] {w['finding']['type']}" if w["finding"] else ""
        click.echo(
            f"{w['id']:>5} {when:%Y-%m-%d %H:%M} {what} {w['fingerprint'][:12]} by {w['by']}{about}"
        )
        if w["reason"]:
            click.echo(f"      {' '.join(w['reason'].split())[:200]}")


@scans.command("propose")
@click.argument("scan_id", type=int)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="File (default stdout).")
@with_appcontext
def scans_propose(scan_id: int, output: str | None) -> None:
    """A YAML patch adding the undeclared cookies the scan saw, for the owner to review."""
    from consent_server.scans.proposals import propose_declaration
    from consent_server.scans.results import ScanNotFinished

    try:
        text = propose_declaration(_scan_or_fail(scan_id))
    except ScanNotFinished:
        fail(f"Scan {scan_id} has no result.")
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        click.echo(text, nl=False)


@scans.command("purge")
@click.option(
    "--older-than",
    metavar="DURATION",
    help="ISO-8601 duration, e.g. P12M or P90D (default: CONSENT_SCAN_RETENTION_DAYS).",
)
@click.option(  # deprecated spelling, before `log purge` and `scans purge` shared one syntax
    "--older-than-days", type=click.FloatRange(min=0, min_open=True), hidden=True
)
@click.option("--dry-run", is_flag=True, help="Only count.")
@with_appcontext
def scans_purge(older_than: str | None, older_than_days: float | None, dry_run: bool) -> None:
    """Delete finished scans older than a duration (each site's latest stays)."""
    from flask import current_app

    from consent_server.scans.retention import purge_scans

    if older_than is not None and older_than_days is not None:
        fail("Give --older-than only (--older-than-days is its deprecated form).")
    if older_than is not None:
        try:
            age = parse_duration(older_than)
        except ValueError as exc:
            fail(str(exc))
        label = older_than
    else:
        if older_than_days is not None:
            whole = older_than_days.is_integer()
            instead = f"P{older_than_days:.0f}D" if whole else "DURATION (ISO-8601)"
            click.echo(f"--older-than-days is deprecated: use --older-than {instead}", err=True)
        days = older_than_days or float(current_app.config["SCAN_RETENTION_DAYS"] or 0)
        if days <= 0:
            fail("No retention period: pass --older-than or set CONSENT_SCAN_RETENTION_DAYS.")
        age, label = dt.timedelta(days=days), f"{days:g} days"
    count = purge_scans(age / dt.timedelta(days=1), dry_run=dry_run)
    click.echo(f"{'would delete' if dry_run else 'deleted'} {count} scans older than {label}")


@scans.command("webhook-secret")
@click.argument("site")
@with_appcontext
def scans_webhook_secret(site: str) -> None:
    """Print the secret SITE's webhook receiver checks `webhook-signature` with."""
    from consent_server.scans.alerts import webhook_secret
    from consent_server.sites.service import SiteNotFound, get_site

    try:
        get_site(site)
    except SiteNotFound:
        fail(f"Unknown site {site!r}.")
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

    from consent_server.scans import scheduler as sched

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
