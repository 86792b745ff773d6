"""The admin API: declarations, exports, seals and statistics (Bearer tokens)."""

from __future__ import annotations

import orjson
from flask import Response, request, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from sqlalchemy import select

from consent_server.api.common import StrictJsonParser, require_token, shown
from consent_server.consent_log import export
from consent_server.consent_log.models import Seal
from consent_server.consent_log.schemas import (
    ExportQuerySchema,
    SealListSchema,
    StatsQuerySchema,
    StatsSchema,
)
from consent_server.consent_log.seals import seal_document
from consent_server.consent_log.stats import site_stats
from consent_server.extensions import db
from consent_server.sites import service as sites
from consent_server.sites.schemas import ApplyResultSchema, SiteSchema
from declaration.loader import DeclarationError, load_declaration, parse_declaration_text

blp = Blueprint(
    "admin", __name__, url_prefix="/api/v1", description="Needs Authorization: Bearer <token>."
)
blp.ARGUMENTS_PARSER = StrictJsonParser()
BEARER = [{"bearerAuth": []}]


def _existing(site: str) -> sites.Site:
    try:
        return sites.get_site(site)
    except sites.SiteNotFound:
        abort(404, message=f"Unknown site {shown(site)}.")


@blp.route("/sites/<string:site>")
class SiteResource(MethodView):
    """A site's declaration."""

    @blp.doc(security=BEARER)
    @blp.response(200, SiteSchema)
    @require_token("auditor")
    def get(self, site: str) -> dict:
        """The site with its current revision."""
        return sites.describe_site(_existing(site))

    @blp.doc(
        security=BEARER,
        requestBody={
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/yaml": {"schema": {"type": "string"}},
            },
        },
    )
    @blp.response(200, ApplyResultSchema)
    @blp.alt_response(201, schema=ApplyResultSchema, description="Site created.")
    @require_token("admin")
    def put(self, site: str) -> tuple[dict, int]:
        """Apply a declaration (JSON or YAML); a new revision only when its content changed."""
        raw = request.get_data(cache=False)
        try:
            if request.mimetype == "application/json":
                try:
                    data = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    abort(400, message=f"Malformed JSON: {exc}.")
                if isinstance(data, dict):
                    data.setdefault("site", site)
                decl = load_declaration(data)
            else:
                decl = parse_declaration_text(raw)
        except DeclarationError as exc:
            abort(422, message="The declaration is invalid.", errors={"json": exc.errors})
        if decl.site != site:
            abort(
                422,
                message=f"The declaration is for site {decl.site!r}, not {shown(site)}.",
                errors={"json": {"site": [f"Must be {shown(site)}, the site in the URL."]}},
            )
        result = sites.apply_declaration(decl)
        return result.__dict__, 201 if result.created else 200


@blp.route("/sites/<string:site>/consents")
class ConsentExport(MethodView):
    """The consent log of a site."""

    @blp.doc(
        security=BEARER,
        responses={
            "200": {
                "description": "Streamed JSON Lines or CSV.",
                "content": {"application/x-ndjson": {}, "text/csv": {}},
            }
        },
    )
    @require_token("auditor")  # outermost: no query is even parsed without a valid token
    @blp.arguments(ExportQuerySchema, location="query")
    def get(self, query: dict, site: str) -> Response:
        """Export receipts (whole seals overlapping the range, then unsealed ones), streamed."""
        _existing(site)
        scope = export.export_scope(site, query.get("since"), query.get("until"))
        fmt = query["format"]
        body = export.iter_jsonl(scope) if fmt == "jsonl" else export.iter_csv(scope)
        mimetype = "application/x-ndjson" if fmt == "jsonl" else "text/csv"
        response = Response(stream_with_context(body), mimetype=mimetype)
        response.headers["Content-Disposition"] = f'attachment; filename="{site}-consents.{fmt}"'
        return response


@blp.route("/sites/<string:site>/seals")
class Seals(MethodView):
    """Seals of a site's log."""

    @blp.doc(security=BEARER)
    @blp.response(200, SealListSchema)
    @require_token("auditor")
    def get(self, site: str) -> dict:
        """Every seal of the site, oldest first, with signatures and leaf lists."""
        row = _existing(site)
        seals = db.session.execute(
            select(Seal).where(Seal.site_id == row.id).order_by(Seal.sequence)
        ).scalars()
        return {"site": site, "seals": [seal_document(s) for s in seals]}


@blp.route("/sites/<string:site>/stats")
class Stats(MethodView):
    """Consent statistics."""

    @blp.doc(security=BEARER)
    @require_token("auditor")
    @blp.arguments(StatsQuerySchema, location="query")
    @blp.response(200, StatsSchema)
    def get(self, query: dict, site: str) -> dict:
        """Counts of each method and per-category grant rates per day."""
        _existing(site)
        return site_stats(site, query.get("since"), query.get("until"))
