"""The consent log over HTTP: consent events and a visitor's history (public); exports, seals
and statistics (admin)."""

from __future__ import annotations

import re

from flask import Response, request, stream_with_context
from flask.views import MethodView
from flask_smorest import abort
from sqlalchemy import select

from consent_server.api.blueprints import BEARER, admin, gate, public, refuse
from consent_server.api.common import require_token
from consent_server.api.sites import existing_site
from consent_server.consent_log import export
from consent_server.consent_log.admission import Refusal
from consent_server.consent_log.models import Seal
from consent_server.consent_log.receipts import RecordedReceipt, consent_history
from consent_server.consent_log.schemas import (
    UUID4_RE,
    ConsentCreateSchema,
    ExportQuerySchema,
    HistorySchema,
    ReceiptCreatedSchema,
    SealListSchema,
    StatsQuerySchema,
    StatsSchema,
)
from consent_server.consent_log.seals import seal_document
from consent_server.consent_log.stats import site_stats
from consent_server.extensions import db
from consent_server.schemas import UtcDateTime, _In
from consent_server.sites.hosts import origin_host


@public.route("/sites/<string:site>/consents")
class Consents(MethodView):
    """Consent events."""

    # An instance, not the class: webargs would build a new schema for every request.
    @public.arguments(ConsentCreateSchema())
    @public.response(201, ReceiptCreatedSchema)
    def post(self, payload: dict, site: str) -> RecordedReceipt:
        """Record one consent event; answers with the signed receipt once it is committed."""
        # The origin and the rate limit were checked in _guard_request, the body by webargs.
        outcome = gate().record(
            site,
            payload,
            client_ip=request.remote_addr,
            user_agent=request.headers.get("User-Agent"),
            geo=gate().geo(request.environ),
        )
        if isinstance(outcome, Refusal):
            refuse(outcome)
        return outcome


@public.route("/consents/<string:consent_id>")
class History(MethodView):
    """A visitor's own receipts."""

    @public.response(200, HistorySchema)
    @public.alt_response(403, description="No Origin header of a web page.")
    def get(self, consent_id: str) -> dict:
        """The receipts recorded for this browser's consent id on the calling page's sites."""
        if not re.fullmatch(UUID4_RE, consent_id):
            abort(404, message="Unknown consent id.")
        host = origin_host(request.headers.get("Origin"))
        if host is None:
            # Without a page's origin there is no site to limit the answer to, and a consent
            # id alone must not open every site's receipts of a browser.
            abort(
                403,
                message="Ask from a page of the site: an Origin header whose host is one of "
                "the site's domains is required.",
            )
        return {"consent_id": consent_id, "receipts": consent_history(consent_id, host)}


@admin.route("/sites/<string:site>/consents")
class ConsentExport(MethodView):
    """The consent log of a site."""

    @admin.doc(
        security=BEARER,
        responses={
            "200": {
                "description": "Streamed JSON Lines or CSV.",
                "content": {"application/x-ndjson": {}, "text/csv": {}},
            }
        },
    )
    @require_token("auditor")  # outermost: no query is even parsed without a valid token
    @admin.arguments(ExportQuerySchema, location="query")
    def get(self, query: dict, site: str) -> Response:
        """Export receipts (whole seals overlapping the range, then unsealed ones), streamed."""
        existing_site(site)
        scope = export.export_scope(site, query.get("since"), query.get("until"))
        fmt = query["format"]
        body = export.iter_jsonl(scope) if fmt == "jsonl" else export.iter_csv(scope)
        mimetype = "application/x-ndjson" if fmt == "jsonl" else "text/csv"
        response = Response(stream_with_context(body), mimetype=mimetype)
        response.headers["Content-Disposition"] = f'attachment; filename="{site}-consents.{fmt}"'
        return response


class BundleQuerySchema(_In):
    """The range of an audit bundle, as an export's (a bundle has one format)."""

    since = UtcDateTime()
    until = UtcDateTime()


@admin.route("/sites/<string:site>/consents/bundle")
class ConsentBundle(MethodView):
    """The consent log of a site as an audit bundle."""

    @admin.doc(
        security=BEARER,
        responses={
            "200": {
                "description": "A zip of receipts.jsonl, seals.jsonl, jwks.json, manifest.json, "
                "manifest.jws and VERIFY.txt, which `consent-server log verify` checks offline.",
                "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    @require_token("auditor")  # outermost: no query is even parsed without a valid token
    @admin.arguments(BundleQuerySchema, location="query")
    def get(self, query: dict, site: str) -> Response:
        """The export's receipts and seals as a verifiable zip; pending receipts stay unsealed."""
        existing_site(site)
        scope = export.export_scope(site, query.get("since"), query.get("until"))
        return export.bundle_download(scope)


@admin.route("/sites/<string:site>/seals")
class Seals(MethodView):
    """Seals of a site's log."""

    @admin.doc(security=BEARER)
    @admin.response(200, SealListSchema)
    @require_token("auditor")
    def get(self, site: str) -> dict:
        """Every seal of the site, oldest first, with signatures and leaf lists."""
        row = existing_site(site)
        seals = db.session.execute(
            select(Seal).where(Seal.site_id == row.id).order_by(Seal.sequence)
        ).scalars()
        return {"site": site, "seals": [seal_document(s) for s in seals]}


@admin.route("/sites/<string:site>/stats")
class Stats(MethodView):
    """Consent statistics."""

    @admin.doc(security=BEARER)
    @require_token("auditor")
    @admin.arguments(StatsQuerySchema, location="query")
    @admin.response(200, StatsSchema)
    def get(self, query: dict, site: str) -> dict:
        """Counts of each method and per-category grant rates per day."""
        existing_site(site)
        return site_stats(site, query.get("since"), query.get("until"))
