"""The public API called by the banner: configuration, consent events, a visitor's history."""

from __future__ import annotations

import re
from typing import NoReturn

from flask import Response, current_app, g, request
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from consent_server.api.common import StrictJsonParser, apply_cors, shown
from consent_server.consent_log.admission import ConsentGate, Refusal
from consent_server.consent_log.receipts import RecordedReceipt, consent_history
from consent_server.consent_log.schemas import (
    UUID4_RE,
    ConsentCreateSchema,
    HistorySchema,
    ReceiptCreatedSchema,
)
from consent_server.sites.banner_config import choose_language, render_config
from consent_server.sites.cookie_policy import FORMATS, cookie_policy, latest_scan_report
from consent_server.sites.hosts import origin_host
from consent_server.sites.schemas import BannerConfigSchema
from consent_server.sites.service import SiteNotFound, SiteView, get_site_view

blp = Blueprint("public", __name__, url_prefix="/api/v1", description="Called by the banner.")
blp.ARGUMENTS_PARSER = StrictJsonParser()


def _site_or_404(site: str) -> SiteView:
    try:
        view = get_site_view(site)
    except SiteNotFound:
        abort(404, message=f"Unknown site {shown(site)}.")
    if view.current is None:
        abort(404, message=f"Site {shown(site)} has no declaration yet.")
    return view


def _gate() -> ConsentGate:
    return current_app.extensions["consent_gate"]


def _refuse(refusal: Refusal) -> NoReturn:
    extra = {"errors": refusal.errors} if refusal.errors else {}
    abort(refusal.code, message=refusal.message, headers=dict(refusal.headers), **extra)


@blp.before_request
def _guard_request() -> None:
    # The banner sends a few hundred bytes; refuse anything big before reading it.
    request.max_content_length = current_app.config["PUBLIC_MAX_BODY"]
    if request.method != "POST":
        return
    site = (request.view_args or {}).get("site")
    if site is None:
        return
    # The consent gate, as the fast path passes it: a foreign page is refused before its
    # body is even parsed (403 whatever it sends), then the request counts against the limit.
    refused = _gate().check_origin(site, request.headers.get("Origin"))
    if refused:
        _refuse(refused)
    if request.mimetype != "application/json":
        abort(415, message="Send the consent as JSON (Content-Type: application/json).")
    g.limit_headers, refused = _gate().limit.count(request.remote_addr)
    if refused:
        _refuse(refused)


@blp.after_request
def _cors(response: Response) -> Response:
    for name, value in g.pop("limit_headers", None) or ():
        response.headers.setdefault(name, value)
    site = (request.view_args or {}).get("site")
    if site is not None:
        try:
            domains = get_site_view(site).domains
        except SiteNotFound:
            return response
        return apply_cors(response, domains, "GET, POST, OPTIONS")
    if request.endpoint == "public.History":
        host = origin_host(request.headers.get("Origin"))
        return apply_cors(response, frozenset([host]) if host else frozenset(), "GET, OPTIONS")
    return response


@blp.route("/sites/<string:site>/config")
class Config(MethodView):
    """Banner configuration."""

    @blp.doc(
        parameters=[
            {"in": "query", "name": "lang", "schema": {"type": "string"}, "required": False}
        ]
    )
    @blp.response(200, BannerConfigSchema)
    @blp.alt_response(304, description="Not modified (If-None-Match matched the ETag).")
    def get(self, site: str) -> Response:
        """The current revision's configuration in one language (strong ETag, 304)."""
        view = _site_or_404(site)
        lang = choose_language(
            view.current.content, request.args.get("lang"), request.accept_languages.values()
        )
        body, etag = render_config(view, view.current, lang)
        cfg = current_app.config
        headers = {
            "ETag": etag,
            "Cache-Control": f"public, max-age={cfg['CONFIG_MAX_AGE']}, "
            f"stale-while-revalidate={cfg['CONFIG_STALE_WHILE_REVALIDATE']}",
            "Vary": "Accept-Language",
        }
        if request.if_none_match.contains(etag[1:-1]) or request.if_none_match.star_tag:
            return Response(status=304, headers=headers)
        return Response(body, 200, headers=headers, mimetype="application/json")


@blp.route("/sites/<string:site>/consents")
class Consents(MethodView):
    """Consent events."""

    # An instance, not the class: webargs would build a new schema for every request.
    @blp.arguments(ConsentCreateSchema())
    @blp.response(201, ReceiptCreatedSchema)
    def post(self, payload: dict, site: str) -> RecordedReceipt:
        """Record one consent event; answers with the signed receipt once it is committed."""
        # The origin and the rate limit were checked in _guard_request, the body by webargs.
        outcome = _gate().record(
            site,
            payload,
            client_ip=request.remote_addr,
            user_agent=request.headers.get("User-Agent"),
        )
        if isinstance(outcome, Refusal):
            _refuse(outcome)
        return outcome


@blp.route("/consents/<string:consent_id>")
class History(MethodView):
    """A visitor's own receipts."""

    @blp.response(200, HistorySchema)
    def get(self, consent_id: str) -> dict:
        """The receipts recorded for this browser's consent id, newest first."""
        if not re.fullmatch(UUID4_RE, consent_id):
            abort(404, message="Unknown consent id.")
        host = origin_host(request.headers.get("Origin"))
        return {"consent_id": consent_id, "receipts": consent_history(consent_id, host)}


@blp.route("/sites/<string:site>/cookie-policy")
class CookiePolicy(MethodView):
    """The generated cookie section of the privacy policy."""

    @blp.doc(
        parameters=[
            {"in": "query", "name": "lang", "schema": {"type": "string", "enum": ["sv", "en"]}},
            {
                "in": "query",
                "name": "format",
                "schema": {"type": "string", "enum": ["html", "markdown"]},
            },
        ],
        responses={
            "200": {
                "description": "An embeddable HTML fragment or Markdown.",
                "content": {"text/html": {}, "text/markdown": {}},
            }
        },
    )
    def get(self, site: str) -> Response:
        """The cookie section in Swedish or English, from the declaration and the latest scan."""
        view = _site_or_404(site)
        content = view.current.content
        lang = request.args.get("lang") or content.get("default_language", "en")
        fmt = request.args.get("format", "html")
        if lang not in ("sv", "en"):
            abort(422, message="lang must be sv or en.", errors={"query": {"lang": ["sv or en"]}})
        if fmt not in FORMATS:
            abort(
                422,
                message="format must be html or markdown.",
                errors={"query": {"format": ["html or markdown"]}},
            )
        body = cookie_policy(content, lang, fmt, latest_scan_report(site))
        mimetype = "text/html" if fmt == "html" else "text/markdown"
        response = Response(body, mimetype=mimetype)
        response.headers["Cache-Control"] = "public, max-age=300"
        return response
