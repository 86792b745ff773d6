"""`consent-server sites` and `tokens`: declarations and API tokens."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson
from flask.cli import with_appcontext

from consent_server.cli.common import fail, json_option, to_stdout, write_json
from declaration.loader import DeclarationError, read_declaration

if TYPE_CHECKING:
    from consent_server.scans.models import ScanSchedule
    from consent_server.sites.models import Site

# -- sites -----------------------------------------------------------------------------------


@click.group()
def sites() -> None:
    """Sites and their declarations."""


@sites.command("apply")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@with_appcontext
def sites_apply(files: tuple[str, ...]) -> None:
    """Validate declaration FILES (site.yaml) and create or update their sites."""
    from consent_server.sites.service import apply_declaration

    decls = []
    for path in files:
        try:
            decls.append(read_declaration(path))
        except DeclarationError as exc:
            fail(str(exc))
    for decl in decls:
        res = apply_declaration(decl, applied_by="cli")
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
@json_option("the sites as a JSON array")
@with_appcontext
def sites_list(json_target: str | None) -> None:
    """List sites with their current revision (and, as JSON, their scan schedules)."""
    from consent_server.scans.schedule import schedules
    from consent_server.sites.service import list_sites

    rows = list_sites()
    if json_target:
        scheduled = dict(schedules())
        write_json([_site_out(site, scheduled.get(site.key)) for site in rows], json_target)
        if to_stdout(json_target):
            return
    if not rows:
        click.echo("No sites yet: consent-server sites apply site.yaml")
    for site in rows:
        rev = site.current_revision.number if site.current_revision else "-"
        click.echo(f"{site.key:<24} rev {rev:<4} {site.name}  [{', '.join(site.domains)}]")


def _site_out(site: Site, sched: ScanSchedule | None) -> dict[str, Any]:
    """A site as `sites list --json` shows it: the listed fields, and its scan schedule."""
    from consent_server.clock import as_utc

    rev = site.current_revision
    return {
        "site": site.key,
        "name": site.name,
        "domains": site.domains,
        "revision": rev.number if rev else None,
        "revision_hash": rev.content_hash if rev else None,
        "created_at": as_utc(site.created_at),
        "updated_at": as_utc(site.updated_at),
        "scan_url": (site.scan or {}).get("url"),
        "schedule": None
        if sched is None
        else {
            "cron": sched.cron,
            "timezone": sched.timezone,
            "next_run_at": as_utc(sched.next_run_at),
            "last_run_at": as_utc(sched.last_run_at),
        },
    }


@sites.command("show")
@click.argument("site")
@with_appcontext
def sites_show(site: str) -> None:
    """Show a site and its current declaration as JSON."""
    from consent_server.sites.service import SiteNotFound, describe_site, get_site

    try:
        row = get_site(site)
    except SiteNotFound:
        fail(f"Unknown site {site!r}.")
    click.echo(orjson.dumps(describe_site(row), option=orjson.OPT_INDENT_2).decode())


@sites.command("revisions")
@click.argument("site")
@json_option("the revisions as a JSON array")
@with_appcontext
def sites_revisions(site: str, json_target: str | None) -> None:
    """List SITE's declaration revisions, newest first: when and by whom each was applied."""
    from consent_server.clock import as_utc
    from consent_server.sites.service import SiteNotFound, list_revisions

    try:
        rows = list_revisions(site)
    except SiteNotFound:
        fail(f"Unknown site {site!r}.")
    if json_target:
        write_json(
            [
                {
                    "number": r.number,
                    "hash": r.content_hash,
                    "created_at": as_utc(r.created_at),
                    "applied_by": r.applied_by,
                }
                for r in rows
            ],
            json_target,
        )
        if to_stdout(json_target):
            return
    for r in rows:
        click.echo(
            f"rev {r.number:<4} {as_utc(r.created_at):%Y-%m-%d %H:%M} UTC  "
            f"{r.content_hash[:12]}  {r.applied_by or '-'}"
        )


@sites.command("diff")
@click.argument("site")
@click.argument("a", type=click.IntRange(1))
@click.argument("b", type=click.IntRange(1))
@json_option("the structured differences as JSON")
@with_appcontext
def sites_diff(site: str, a: int, b: int, json_target: str | None) -> None:
    """What changed in SITE's declaration from revision A to revision B (a unified diff)."""
    from consent_server.sites.service import RevisionNotFound, SiteNotFound, revision_diff

    try:
        diff = revision_diff(site, a, b)
    except SiteNotFound:
        fail(f"Unknown site {site!r}.")
    except RevisionNotFound as exc:
        fail(f"Site {site!r} has no revision {exc.args[0]}.")
    if json_target and write_json(diff, json_target):
        return  # stdout carries the JSON alone
    click.echo(diff["unified"] or f"revisions {a} and {b} have the same content\n", nl=False)


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
    from consent_server.sites.cookie_policy import cookie_policy, latest_scan_report
    from consent_server.sites.service import SiteNotFound, get_site

    try:
        row = get_site(site)
    except SiteNotFound:
        fail(f"Unknown site {site!r}.")
    if row.current_revision is None:
        fail(f"Site {site!r} has no declaration yet.")
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
    from consent_server.sites.service import SiteNotFound
    from consent_server.sites.tokens import create_token

    if bool(site) == operator:
        fail("Give exactly one of --site SITE or --operator.")
    try:
        token, secret = create_token(site, role, label)
    except SiteNotFound:
        fail(f"Unknown site {site!r}.")
    except ValueError as exc:
        fail(f"Invalid --label: {exc}.")
    click.echo(secret)
    scope = f"site {site}" if site else "all sites"
    click.echo(f"token {token.id} ({token.prefix}...): {role} of {scope}; shown only now", err=True)


@tokens.command("revoke")
@click.argument("token")
@with_appcontext
def tokens_revoke(token: str) -> None:
    """Revoke a token by id or by the prefix printed at creation."""
    from consent_server.sites.tokens import revoke_token

    count = revoke_token(token)
    if not count:
        fail(f"No live token matches {token!r}.", 1)
    click.echo(f"revoked {count} token(s)")


@tokens.command("list")
@json_option("the tokens as a JSON array (never their secrets or hashes)")
@with_appcontext
def tokens_list(json_target: str | None) -> None:
    """List tokens, newest first (never their secrets)."""
    from consent_server.clock import as_utc
    from consent_server.sites.tokens import list_tokens

    rows = list_tokens()
    if json_target:
        write_json(
            [
                {
                    "id": t.id,
                    "prefix": t.prefix,
                    "role": t.role,
                    "site": t.site.key if t.site else None,
                    "label": t.label,
                    "state": "revoked" if t.revoked_at else "live",
                    "created_at": as_utc(t.created_at),
                    "revoked_at": as_utc(t.revoked_at),
                }
                for t in rows
            ],
            json_target,
        )
        if to_stdout(json_target):
            return
    for t in rows:
        state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "live"
        scope = t.site.key if t.site else "*"
        click.echo(f"{t.id:>4} {t.prefix}... {t.role:<8} {scope:<24} {state} {t.label}")
