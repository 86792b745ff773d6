"""The scan API: start, list and read scans, their HTML report, diff and proposed declaration."""

from __future__ import annotations

from typing import Any

from flask import Response, g, request
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import EXCLUDE, ValidationError

from consent_server.api.blueprints import BEARER
from consent_server.api.common import StrictJsonParser, require_token, shown
from consent_server.scans import waivers
from consent_server.scans.alerts import check_report_link
from consent_server.scans.models import Scan
from consent_server.scans.proposals import propose_declaration
from consent_server.scans.queue import (
    DONE,
    NoScanSettings,
    ScanBusy,
    ScanNotFound,
    ScanQuotaExceeded,
    enqueue_scan,
)
from consent_server.scans.results import (
    ScanDetails,
    get_scan,
    list_scans,
    scan_changes,
    scan_details,
    site_key_of,
)
from consent_server.scans.schemas import (
    ReportLinkQuerySchema,
    ScanDiffSchema,
    ScanListQuerySchema,
    ScanListSchema,
    ScanSchema,
    ScanSummarySchema,
    WaiverListSchema,
    WaiverRequestSchema,
    WaiverRevokeQuerySchema,
    WaiverSchema,
)
from consent_server.sites import service as sites
from consent_server.sites import tokens

blp = Blueprint(
    "scans", __name__, url_prefix="/api/v1", description="Scans; Authorization: Bearer <token>."
)
blp.ARGUMENTS_PARSER = StrictJsonParser()

# The report is a document built from what a scanned site set: it may run its own sorting
# script and styles, and nothing else (sandboxed: no access to this origin).
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; sandbox allow-scripts"
)


def _site(site: str) -> sites.Site:
    try:
        return sites.get_site(site)
    except sites.SiteNotFound:
        abort(404, message=f"Unknown site {shown(site)}.")


def _scan(scan_id: int, role: str, *, signed_ok: bool = False) -> Scan:
    """The scan, when the caller's token may see it (or the link is signed, for reports).

    A token of another site gets 404, as for a scan that does not exist: scan ids are
    sequential, and a 403 would tell which ids belong to other sites.
    """
    if signed_ok and "Authorization" not in request.headers:
        # Mail clients and link trackers append their own parameters (utm_*): ignore them.
        try:
            query = ReportLinkQuerySchema(unknown=EXCLUDE).load(request.args.to_dict())
        except ValidationError as exc:
            abort(422, errors={"query": exc.messages})
        if check_report_link(scan_id, query.get("expires"), query.get("signature")):
            try:
                return get_scan(scan_id)
            except ScanNotFound:
                abort(404, message=f"No scan {scan_id}.")
        if query:
            abort(403, message="The report link is invalid or has expired.")
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        abort(401, message="An admin token is required: Authorization: Bearer <token>.")
    info = tokens.authenticate(secret.strip())
    if info is None:
        abort(401, message="The token is unknown or revoked.")
    try:
        scan = get_scan(scan_id)
        site = site_key_of(scan_id)
    except ScanNotFound:
        scan = site = None
    if scan is None or info.site not in (None, site):
        abort(404, message=f"No scan {scan_id}.")
    if not info.can(role, site):
        abort(403, message=f"This action needs the {role} role.")
    return scan


def _finished(scan: Scan) -> None:
    if scan.status != DONE:
        abort(409, message=f"Scan {scan.id} is {scan.status}: it has no result.")


@blp.route("/sites/<string:site>/scans")
class SiteScans(MethodView):
    """A site's scans."""

    @blp.doc(security=BEARER)
    @blp.response(202, ScanSummarySchema)
    @blp.alt_response(409, description="No `scan:` block, or a scan is queued or running.")
    @blp.alt_response(429, description="The site's SCAN_API_QUOTA is used up; see Retry-After.")
    @require_token("admin")
    def post(self, site: str) -> Scan:
        """Queue a scan with the site's `scan:` settings (to Celery workers when configured)."""
        _site(site)
        try:
            queued = enqueue_scan(site, trigger="api")
        except NoScanSettings:
            abort(409, message=f"Site {site!r} has no scan settings: add a `scan:` block.")
        except ScanBusy as exc:
            abort(
                409,
                message=f"Site {site!r} already has scan {exc.scan_id} queued or running; "
                "start another when it has finished.",
            )
        except ScanQuotaExceeded as exc:
            abort(
                429,
                message=f"Site {site!r} has started {exc.quota} scans over the API: "
                f"try again in {exc.retry_after} s.",
                headers={"Retry-After": str(exc.retry_after)},
            )
        return get_scan(queued.scan_id)

    @blp.doc(security=BEARER)
    @require_token("auditor")
    @blp.arguments(ScanListQuerySchema, location="query")
    @blp.response(200, ScanListSchema)
    def get(self, query: dict, site: str) -> dict[str, Any]:
        """The site's scans, newest first."""
        _site(site)
        rows = list_scans(site, limit=query["limit"], status=query.get("status"))
        return {"site": site, "scans": rows}


@blp.route("/scans/<int:scan_id>")
class ScanResource(MethodView):
    """One scan."""

    @blp.doc(security=BEARER)
    @blp.response(200, ScanSchema)
    def get(self, scan_id: int) -> ScanDetails:
        """The scan: state, timing, settings, findings, observed cookies and storage, report."""
        return scan_details(_scan(scan_id, "auditor"))


@blp.route("/scans/<int:scan_id>/report.html")
class ScanReport(MethodView):
    """The HTML report."""

    @blp.doc(
        security=BEARER,
        responses={"200": {"description": "Self-contained HTML", "content": {"text/html": {}}}},
    )
    def get(self, scan_id: int) -> Response:
        """The scan's self-contained HTML report (a token, or a signed link from an alert)."""
        from scanner import render_html

        scan = _scan(scan_id, "auditor", signed_ok=True)
        _finished(scan)
        response = Response(render_html(scan.report), mimetype="text/html")
        response.headers["Content-Security-Policy"] = REPORT_CSP
        response.headers["Cache-Control"] = "private, max-age=300"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response


@blp.route("/scans/<int:scan_id>/diff")
class ScanDiff(MethodView):
    """Changes since the previous scan."""

    @blp.doc(security=BEARER)
    @blp.response(200, ScanDiffSchema)
    def get(self, scan_id: int) -> dict[str, Any]:
        """New and gone cookies, new and resolved findings against the site's previous scan."""
        scan = _scan(scan_id, "auditor")
        _finished(scan)
        return scan_changes(scan)


@blp.route("/scans/<int:scan_id>/proposed-declaration")
class ProposedDeclaration(MethodView):
    """Declaration entries for what the scan found undeclared."""

    @blp.doc(
        security=BEARER,
        responses={"200": {"description": "YAML", "content": {"application/yaml": {}}}},
    )
    def get(self, scan_id: int) -> Response:
        """A YAML patch adding the undeclared cookies with their observed category and lifetime."""
        scan = _scan(scan_id, "auditor")
        _finished(scan)
        text = propose_declaration(scan)
        response = Response(text, mimetype="application/yaml")
        response.headers["Content-Disposition"] = f'inline; filename="scan-{scan_id}-proposed.yaml"'
        return response


# -- waivers and acknowledgements ------------------------------------------------------------


def _fingerprint(value: str) -> str:
    try:
        return waivers.valid_fingerprint(value)
    except waivers.WaiverError as exc:
        abort(422, message=str(exc), errors={"path": {"fingerprint": [str(exc)]}})


def _actor(user: str | None) -> str:
    """Who acts: the console user named in the request, else the token itself."""
    if user is None:
        return sites.token_actor(g.token.id)
    try:
        return waivers.console_actor(user) + " via " + sites.token_actor(g.token.id)
    except waivers.WaiverError as exc:
        abort(422, message=str(exc), errors={"json": {"user": [str(exc)]}})


@blp.route("/sites/<string:site>/findings/<string:fingerprint>/waivers")
class FindingWaivers(MethodView):
    """Acknowledge or waive a finding of the site (by its fingerprint)."""

    @blp.doc(security=BEARER)
    @blp.alt_response(404, description="The site has no finding with this fingerprint.")
    @require_token("admin")
    @blp.arguments(WaiverRequestSchema)
    @blp.response(201, WaiverSchema)
    def post(self, body: dict[str, Any], site: str, fingerprint: str) -> waivers.WaiverState:
        """Record an acknowledgement or waiver until `expires_at` (at most a year ahead)."""
        _site(site)
        fingerprint = _fingerprint(fingerprint)
        try:
            row = waivers.create_waiver(
                site,
                fingerprint,
                body["kind"],
                body["reason"],
                body["expires_at"],
                _actor(body.get("user")),
                token_id=g.token.id,
            )
        except waivers.WaiverError as exc:
            abort(422, message=str(exc))
        except waivers.FindingNotFound:
            abort(404, message=f"Site {site!r} has no finding {fingerprint}.")
        return waivers.WaiverState(row, "active", None)


@blp.route("/sites/<string:site>/findings/<string:fingerprint>/waivers/<int:waiver_id>")
class FindingWaiver(MethodView):
    """One waiver or acknowledgement."""

    @blp.doc(security=BEARER)
    @blp.alt_response(409, description="The waiver has already expired or been revoked.")
    @require_token("admin")
    @blp.arguments(WaiverRevokeQuerySchema, location="query")
    @blp.response(200, WaiverSchema)
    def delete(
        self, query: dict[str, Any], site: str, fingerprint: str, waiver_id: int
    ) -> waivers.WaiverState:
        """Revoke it: a revocation row is added (the waiver's own row stays unchanged)."""
        _site(site)
        fingerprint = _fingerprint(fingerprint)
        try:
            row = waivers.revoke_waiver(
                site,
                waiver_id,
                _actor(query.get("user")),
                fingerprint=fingerprint,
                reason=query.get("reason"),
                token_id=g.token.id,
            )
        except waivers.WaiverError as exc:
            abort(422, message=str(exc))
        except waivers.WaiverNotFound:
            abort(404, message=f"Site {site!r} has no waiver {waiver_id} of {fingerprint}.")
        except waivers.WaiverNotActive as exc:
            abort(409, message=str(exc))
        return waivers.WaiverState(row, "revocation", None)


@blp.route("/sites/<string:site>/waivers")
class SiteWaivers(MethodView):
    """A site's waiver history."""

    @blp.doc(security=BEARER)
    @require_token("auditor")
    @blp.response(200, WaiverListSchema)
    def get(self, site: str) -> dict[str, Any]:
        """Every acknowledgement, waiver and revocation, newest first, with its state now."""
        return waivers.waiver_history(_site(site).key)
