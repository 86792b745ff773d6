"""The API's two audiences: the banner's public blueprint and the token-guarded admin blueprint.

Each area's module (sites, consents, scans) adds its routes to these; create_app registers
them once every area's module is imported. The public blueprint's guards live here because
they apply to every public route: the body limit, the consent gate's origin and rate-limit
checks before a body is parsed, and CORS for the site's domains.
"""

from __future__ import annotations

from typing import NoReturn

from flask import Response, current_app, g, request
from flask_smorest import Blueprint, abort

from consent_server.api.common import StrictJsonParser, apply_cors, shown
from consent_server.consent_log.admission import ConsentGate, Refusal
from consent_server.sites.hosts import origin_host
from consent_server.sites.service import SiteNotFound, SiteView, get_site_view

public = Blueprint("public", __name__, url_prefix="/api/v1", description="Called by the banner.")
public.ARGUMENTS_PARSER = StrictJsonParser()
admin = Blueprint(
    "admin", __name__, url_prefix="/api/v1", description="Needs Authorization: Bearer <token>."
)
admin.ARGUMENTS_PARSER = StrictJsonParser()
BEARER = [{"bearerAuth": []}]


def site_or_404(site: str) -> SiteView:
    """The site with a declaration, or a 404."""
    try:
        view = get_site_view(site)
    except SiteNotFound:
        abort(404, message=f"Unknown site {shown(site)}.")
    if view.current is None:
        abort(404, message=f"Site {shown(site)} has no declaration yet.")
    return view


def gate() -> ConsentGate:
    """The consent gate of this app (consent_log/admission.py)."""
    return current_app.extensions["consent_gate"]


def refuse(refusal: Refusal) -> NoReturn:
    """Abort with the gate's refusal, in the contract's error shape."""
    extra = {"errors": refusal.errors} if refusal.errors else {}
    abort(refusal.code, message=refusal.message, headers=dict(refusal.headers), **extra)


@public.before_request
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
    refused = gate().check_origin(site, request.headers.get("Origin"))
    if refused:
        refuse(refused)
    if request.mimetype != "application/json":
        abort(415, message="Send the consent as JSON (Content-Type: application/json).")
    g.limit_headers, refused = gate().limit.count(request.remote_addr)
    if refused:
        refuse(refused)


@public.after_request
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
