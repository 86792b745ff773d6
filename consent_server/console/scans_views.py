"""The console's scan pages: a site's scan history, one scan, and waiving its findings."""

from __future__ import annotations

import datetime as dt
import html
import itertools
from dataclasses import dataclass
from typing import Any

from flask import (
    Response,
    abort,
    flash,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

import scanner
from consent_server.clock import as_utc, now_utc
from consent_server.console import i18n
from consent_server.console.session import ConsoleUser
from consent_server.console.views import bp, scan_now, signed_in, visible_site
from consent_server.scans import waivers
from consent_server.scans.models import Scan
from consent_server.scans.proposals import propose_declaration
from consent_server.scans.queue import DONE, ScanNotFound
from consent_server.scans.results import (
    get_scan,
    list_scans,
    previous_scan,
    scan_changes,
    scan_details,
    site_key_of,
)
from consent_server.sites.models import Site
from consent_server.sites.service import token_actor
from declaration.constants import PHASES, SEVERITIES

# The history shows this many scans; older ones stay in the API (GET /sites/{site}/scans).
HISTORY_LIMIT = 100
SPARK_W, SPARK_H, SPARK_PAD = 240, 48, 5
# Most severe first, as the page reads top down.
SEVERITY_ORDER = tuple(reversed(SEVERITIES))
DEFAULT_WAIVER_DAYS = 90


# -- the history -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    """One scan in the history with its findings total and the change since the scan before."""

    scan: Scan
    counts: dict[str, int]
    total: int | None
    change: int | None


def _counts(scan: Scan) -> dict[str, int]:
    stored = scan.finding_counts or {}
    return {s: int(stored.get(s) or 0) for s in SEVERITIES}


def _total(scan: Scan | None) -> int | None:
    """The findings of a finished scan; None for one without a result."""
    if scan is None or scan.status != DONE or scan.finding_counts is None:
        return None
    return sum(_counts(scan).values())


def history(scans: list[Scan], more: bool) -> list[HistoryRow]:
    """The rows, newest first; each finished scan compared with the finished scan before it."""
    rows: list[HistoryRow] = []
    finished = [s for s in scans if _total(s) is not None]
    before: dict[int, int | None] = {}
    for newer, older in itertools.pairwise(finished):
        before[newer.id] = _total(older)
    if finished and more:
        # The oldest finished scan shown may have a finished scan before it that is not shown.
        before[finished[-1].id] = _total(previous_scan(finished[-1]))
    for scan in scans:
        total = _total(scan)
        prior = before.get(scan.id)
        change = total - prior if total is not None and prior is not None else None
        rows.append(HistoryRow(scan, _counts(scan), total, change))
    return rows


def sparkline_svg(points: list[tuple[int, int]], title: str, desc: str, point_label: str) -> str:
    """Findings per finished scan (oldest left) as a small escaped inline SVG line."""
    peak = max([n for _, n in points] + [1])
    inner_w, inner_h = SPARK_W - 2 * SPARK_PAD, SPARK_H - 2 * SPARK_PAD
    step = inner_w / max(len(points) - 1, 1)
    coords = [
        (SPARK_PAD + i * step, SPARK_PAD + inner_h - inner_h * n / peak)
        for i, (_, n) in enumerate(points)
    ]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="sparkline" role="img" '
        f'viewBox="0 0 {SPARK_W} {SPARK_H}" width="{SPARK_W}" height="{SPARK_H}" '
        'aria-labelledby="trend-title trend-desc">',
        f'<title id="trend-title">{html.escape(title)}</title>',
        f'<desc id="trend-desc">{html.escape(desc)}</desc>',
        f'<line x1="{SPARK_PAD}" y1="{SPARK_H - SPARK_PAD}" x2="{SPARK_W - SPARK_PAD}" '
        f'y2="{SPARK_H - SPARK_PAD}" stroke="#c9ced6"/>',
    ]
    if len(coords) > 1:
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        out.append(f'<polyline points="{line}" fill="none" stroke="#0b5cad" stroke-width="2"/>')
    for (scan_id, n), (x, y) in zip(points, coords, strict=True):
        tip = point_label.format(id=scan_id, n=n)
        out.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#0b5cad" data-scan="{scan_id}" '
            f'data-n="{n}"><title>{html.escape(tip)}</title></circle>'
        )
    out.append("</svg>")
    # Only numbers and the console's own texts (escaped above) are in it: shown as it is.
    return "".join(out)


@bp.get("/sites/<string:key>/scans")
def site_scans(key: str) -> str:
    """A site's scans, newest first: status, counts, findings per severity and their trend."""
    user = signed_in()
    site = visible_site(key)
    scans = list_scans(site.key, limit=HISTORY_LIMIT + 1)
    more = len(scans) > HISTORY_LIMIT
    rows = history(scans[:HISTORY_LIMIT], more)
    points = [(r.scan.id, r.total) for r in reversed(rows) if r.total is not None]
    chart = None
    if points:
        chart = sparkline_svg(
            points,  # type: ignore[arg-type]
            i18n.translate("scans.trend_title"),
            i18n.translate(
                "scans.trend_desc",
                count=len(points),
                first=points[0][1],
                last=points[-1][1],
                peak=max(n for _, n in points),  # type: ignore[type-var]
            ),
            i18n.translate("scans.trend_point"),
        )
    return render_template(
        "console/scans.html",
        user=user,
        site=site,
        rows=rows,
        more=more,
        limit=HISTORY_LIMIT,
        severities=SEVERITY_ORDER,
        chart=chart,
        messages=get_flashed_messages(with_categories=True),
    )


@bp.post("/sites/<string:key>/scans")
def site_scan_now(key: str) -> Response:
    """Scan now from the history page: the site list's action (same checks and quota), then back."""
    scan_now(key)  # queues or flashes why not; its redirect to the site list is not wanted here
    return redirect(url_for("console.site_scans", key=key))


# -- one scan ----------------------------------------------------------------------------------


def _visible_scan(scan_id: int, role: str = "auditor") -> tuple[Scan, Site]:
    """The scan and its site when the user may see that site; another site's scan is a 404."""
    try:
        scan = get_scan(scan_id)
        key = site_key_of(scan_id)
    except ScanNotFound:
        abort(404)
    return scan, visible_site(key, role)


def _screenshots(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each phase's screenshot as a data: URL, only when it is a plain image (as the report)."""
    shots = []
    phases = report.get("phases")
    for phase in phases if isinstance(phases, list) else []:
        shot = phase.get("screenshot") if isinstance(phase, dict) else None
        if not isinstance(shot, dict) or phase.get("phase") not in PHASES:
            continue
        image = scanner.screenshot_image(shot)
        if image is None:
            continue
        src, width, height = image
        shots.append(
            {
                "phase": phase["phase"],
                "src": src,
                "width": width,
                "height": height,
                "page": str(shot.get("page") or ""),
            }
        )
    return shots


def _requests(report: dict[str, Any]) -> list[dict[str, str]] | None:
    """The third-party requests before consent and after a reject, every field as text."""
    rows = report.get("third_party_requests")
    if not isinstance(rows, list):
        return None  # a report from before the list existed
    fields = ("phase", "type", "url", "domain", "vendor", "category", "page", "count")
    return [
        {f: "" if r.get(f) is None else str(r.get(f)) for f in fields}
        for r in rows
        if isinstance(r, dict)
    ]


def _form_defaults() -> dict[str, str]:
    expires = now_utc(None).date() + dt.timedelta(days=DEFAULT_WAIVER_DAYS)
    return {"kind": "acknowledge", "reason": "", "expires": expires.isoformat()}


def _scan_page(
    scan: Scan,
    site: Site,
    *,
    status: int = 200,
    failed: str | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> tuple[str, int]:
    """The scan page; `failed` names the finding whose form is shown again with `error`."""
    user = signed_in()
    details = scan_details(scan)
    groups = [(sev, [f for f in details.findings if f.severity == sev]) for sev in SEVERITY_ORDER]
    report = scan.report if isinstance(scan.report, dict) else {}
    changes = proposal = None
    if scan.status == DONE:
        changes = scan_changes(scan)
        if scan.report:
            proposal = propose_declaration(scan)
    today = now_utc(None).date()
    html_text = render_template(
        "console/scan.html",
        user=user,
        site=site,
        scan=scan,
        details=details,
        groups=[(sev, items) for sev, items in groups if items],
        counts=_counts(scan),
        severities=SEVERITY_ORDER,
        changes=changes,
        proposal=proposal,
        shots=_screenshots(report),
        requests=_requests(report),
        omitted=(report.get("summary") or {}).get("third_party_requests_omitted"),
        failed=failed,
        error=error,
        form=form or _form_defaults(),
        defaults=_form_defaults(),
        kinds=waivers.KINDS,
        min_date=today.isoformat(),
        max_date=(today + dt.timedelta(days=waivers.MAX_DAYS - 1)).isoformat(),
        when=lambda moment: as_utc(moment),
        messages=get_flashed_messages(with_categories=True),
    )
    return html_text, status


@bp.get("/scans/<int:scan_id>")
def scan_page(scan_id: int) -> tuple[str, int]:
    """One scan: summary, findings by severity with their waivers, changes, proposal, evidence."""
    scan, site = _visible_scan(scan_id)
    return _scan_page(scan, site)


@bp.get("/scans/<int:scan_id>/proposed-declaration.yaml")
def proposed_declaration(scan_id: int) -> Response:
    """The proposed declaration entries as a YAML download."""
    scan, _ = _visible_scan(scan_id)
    if scan.status != DONE or not scan.report:
        abort(409)
    response = Response(propose_declaration(scan), mimetype="application/yaml")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="scan-{scan.id}-proposed-declaration.yaml"'
    )
    return response


# -- waivers -----------------------------------------------------------------------------------


class FormError(ValueError):
    """A waiver form field is wrong; the argument is the i18n key of the message."""


def _actor(user: ConsoleUser) -> tuple[str, int | None]:
    """Who acts, for the audit record: the console user, and the token they signed in with."""
    try:
        actor = waivers.console_actor(user.name)
    except waivers.WaiverError:
        actor = f"console:{user.via} {user.role}"  # a name that cannot be stored as it is
    token_id = (session.get("identity") or {}).get("token_id") if user.via == "token" else None
    if isinstance(token_id, int):
        actor += " via " + token_actor(token_id)
        return actor, token_id
    return actor, None


def _expiry(raw: str) -> dt.datetime:
    """The form's last day (YYYY-MM-DD) as the moment it ends, UTC; else FormError."""
    try:
        day = dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise FormError("scans.err_date") from None
    today = now_utc(None).date()
    if day < today:
        raise FormError("scans.err_past")
    if day >= today + dt.timedelta(days=waivers.MAX_DAYS):
        raise FormError("scans.err_far")
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)


@bp.post("/scans/<int:scan_id>/findings/<string:fingerprint>/waivers")
def waive_finding(scan_id: int, fingerprint: str) -> Any:
    """Acknowledge or waive one of the scan's findings, with a reason and an expiry date."""
    scan, site = _visible_scan(scan_id, "admin")
    user = signed_in()
    finding = next((f for f in scan_details(scan).findings if f.fingerprint == fingerprint), None)
    if finding is None:
        abort(404)
    form = {
        "kind": request.form.get("kind", ""),
        "reason": request.form.get("reason", ""),
        "expires": request.form.get("expires", ""),
    }
    try:
        if form["kind"] not in waivers.KINDS:
            raise FormError("scans.err_kind")
        if not form["reason"].strip():
            raise FormError("scans.err_reason")
        if len(form["reason"].strip()) > waivers.MAX_REASON:
            raise FormError("scans.err_reason_long")
        expires = _expiry(form["expires"])
        actor, token_id = _actor(user)
        try:
            waivers.create_waiver(
                site.key, fingerprint, form["kind"], form["reason"], expires, actor,
                token_id=token_id,
            )  # fmt: skip
        except waivers.WaiverError:
            raise FormError("scans.err_reason_chars") from None
    except FormError as exc:
        return _scan_page(scan, site, status=400, failed=fingerprint, error=str(exc), form=form)
    flash(i18n.translate(f"scans.done_{form['kind']}"), "ok")
    return redirect(url_for("console.scan_page", scan_id=scan.id) + f"#f{finding.id}")


@bp.post("/scans/<int:scan_id>/waivers/<int:waiver_id>/revoke")
def revoke_finding_waiver(scan_id: int, waiver_id: int) -> Any:
    """End an active waiver or acknowledgement early (a revocation row is added)."""
    scan, site = _visible_scan(scan_id, "admin")
    actor, token_id = _actor(signed_in())
    try:
        waivers.revoke_waiver(site.key, waiver_id, actor, token_id=token_id)
    except waivers.WaiverNotFound:
        abort(404)
    except waivers.WaiverNotActive:
        return _scan_page(scan, site, status=409, error="scans.err_not_active")
    flash(i18n.translate("scans.done_revoke"), "ok")
    return redirect(url_for("console.scan_page", scan_id=scan.id))
