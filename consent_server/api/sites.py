"""The sites area over HTTP: the banner's configuration and cookie-policy page, and declarations."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response, current_app, g, request
from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, fields

from consent_server.api.blueprints import BEARER, admin, gate, public, site_or_404
from consent_server.api.common import require_token, shown
from consent_server.clock import as_utc
from consent_server.sites import service as sites
from consent_server.sites.banner_config import choose_language, render_config
from consent_server.sites.cookie_policy import (
    FORMATS,
    PolicyBudgetExceeded,
    served_cookie_policy,
)
from consent_server.sites.regions import environ_key, region_rule
from consent_server.sites.schemas import ApplyResultSchema, BannerConfigSchema, SiteSchema
from declaration.loader import DeclarationError, load_declaration, parse_declaration_text


def existing_site(site: str) -> sites.Site:
    """The site, or a 404."""
    try:
        return sites.get_site(site)
    except sites.SiteNotFound:
        abort(404, message=f"Unknown site {shown(site)}.")


@public.route("/sites/<string:site>/config")
class Config(MethodView):
    """Banner configuration."""

    @public.doc(
        parameters=[
            {"in": "query", "name": "lang", "schema": {"type": "string"}, "required": False},
            {
                "in": "query",
                "name": "texts",
                "schema": {"type": "string", "enum": ["own"]},
                "required": False,
                "description": "own: only the site's texts (the banner has the built-in ones)",
            },
        ]
    )
    @public.response(200, BannerConfigSchema)
    @public.alt_response(304, description="Not modified (If-None-Match matched the ETag).")
    def get(self, site: str) -> Response:
        """The current revision's configuration in one language (strong ETag, 304)."""
        view = site_or_404(site)
        lang = choose_language(
            view.current.content, request.args.get("lang"), request.accept_languages.values()
        )
        # texts=own: the banner has the built-in texts in its language file.
        own = request.args.get("texts") == "own"
        cfg = current_app.config
        geo = environ_key(cfg.get("GEO_COUNTRY_HEADER")) is not None
        body, etag = render_config(view, view.current, lang, own, geo)
        headers = {
            "ETag": etag,
            "Cache-Control": f"public, max-age={cfg['CONFIG_MAX_AGE']}, "
            f"stale-while-revalidate={cfg['CONFIG_STALE_WHILE_REVALIDATE']}",
            "Vary": "Accept-Language",
        }
        if request.if_none_match.contains(etag[1:-1]) or request.if_none_match.star_tag:
            return Response(status=304, headers=headers)
        return Response(body, 200, headers=headers, mimetype="application/json")


class RegionSchema(Schema):
    """The region rule that applies to the calling visitor."""

    rule = fields.String(metadata={"enum": ["banner", "opt_out", "none"]})
    country = fields.String(allow_none=True, metadata={"description": "ISO 3166-1 alpha-2"})


@public.route("/sites/<string:site>/region")
class Region(MethodView):
    """The current revision's region rule for this visitor (docs/banner.md#region-rules)."""

    @public.response(200, RegionSchema)
    def get(self, site: str) -> Response:
        """The rule by the country the operator's proxy header names; never cached."""
        view = site_or_404(site)
        geo = gate().geo(request.environ)
        country = geo.country if geo else None
        body = {"rule": region_rule(view.current.content, country), "country": country}
        # Per visitor: a shared cache (a CDN that ignores Vary) must not hand it to another.
        headers = {"Cache-Control": "private, no-store"}
        header = current_app.config.get("GEO_COUNTRY_HEADER")
        if geo is not None and header:
            headers["Vary"] = header.strip()
        return Response(orjson.dumps(body), 200, headers=headers, mimetype="application/json")


@public.route("/sites/<string:site>/cookie-policy")
class CookiePolicy(MethodView):
    """The generated cookie section of the privacy policy."""

    @public.doc(
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
            },
            "304": {"description": "Not modified (If-None-Match matched the ETag)."},
            "503": {"description": "The page is being written; try again (Retry-After)."},
        },
    )
    def get(self, site: str) -> Response:
        """The cookie section in Swedish or English, as written at the last declaration or scan."""
        view = site_or_404(site)
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
        budget = float(current_app.config["COOKIE_POLICY_BUILD_SECONDS"])
        try:
            page = served_cookie_policy(view.id, view.current.number, content, lang, fmt, budget)
        except PolicyBudgetExceeded:
            abort(
                503,
                message="The cookie policy is not written yet; try again shortly.",
                headers={"Retry-After": "30"},
            )
        headers = {"ETag": page.etag, "Cache-Control": "public, max-age=300"}
        if request.if_none_match.contains(page.etag[1:-1]) or request.if_none_match.star_tag:
            return Response(status=304, headers=headers)
        mimetype = "text/html" if fmt == "html" else "text/markdown"
        return Response(page.body, headers=headers, mimetype=mimetype)


@admin.route("/sites/<string:site>")
class SiteResource(MethodView):
    """A site's declaration."""

    @admin.doc(security=BEARER)
    @admin.response(200, SiteSchema)
    @require_token("auditor")
    def get(self, site: str) -> sites.Site:
        """The site with its current revision."""
        return existing_site(site)

    @admin.doc(
        security=BEARER,
        requestBody={
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/yaml": {"schema": {"type": "string"}},
            },
        },
    )
    @admin.response(200, ApplyResultSchema)
    @admin.alt_response(201, schema=ApplyResultSchema, description="Site created.")
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
        result = sites.apply_declaration(decl, applied_by=sites.token_actor(g.token.id))
        return result.__dict__, 201 if result.created else 200


class RevisionSchema(Schema):
    """One revision of a site's declaration, as listed."""

    number = fields.Integer()
    hash = fields.String(attribute="content_hash")
    created_at = fields.Function(lambda r: as_utc(r.created_at).isoformat())
    applied_by = fields.String(
        allow_none=True,
        metadata={"description": '"token:<prefix> <label>", "cli" or "console:<user>"'},
    )


class RevisionListSchema(Schema):
    """A site's revisions, newest first."""

    site = fields.String()
    revisions = fields.List(fields.Nested(RevisionSchema))


class _EntriesDiffSchema(Schema):
    added = fields.List(fields.Dict())
    removed = fields.List(fields.Dict())
    changed = fields.List(fields.Dict(), metadata={"description": "{key, fields: {f: {from, to}}}"})


class RevisionDiffSchema(Schema):
    """What changed between two revisions: structured, and as a unified diff of the YAML."""

    site = fields.String()
    from_ = fields.Dict(data_key="from", attribute="from")
    to = fields.Dict()
    categories = fields.Nested(_EntriesDiffSchema)
    cookies = fields.Nested(_EntriesDiffSchema)
    texts = fields.Dict(metadata={"description": "language -> {field: {from, to}}"})
    fields_ = fields.Dict(
        data_key="fields", attribute="fields", metadata={"description": "field -> {from, to}"}
    )
    unified = fields.String()


@admin.route("/sites/<string:site>/revisions")
class Revisions(MethodView):
    """A site's declaration revisions."""

    @admin.doc(security=BEARER)
    @admin.response(200, RevisionListSchema)
    @require_token("auditor")
    def get(self, site: str) -> dict[str, Any]:
        """Every revision, newest first: number, content hash, when and by whom it was applied."""
        existing_site(site)
        return {"site": site, "revisions": sites.list_revisions(site)}


@admin.route("/sites/<string:site>/revisions/<int:a>/diff/<int:b>")
class RevisionDiff(MethodView):
    """The differences between two revisions."""

    @admin.doc(security=BEARER)
    @admin.response(200, RevisionDiffSchema)
    @require_token("auditor")
    def get(self, site: str, a: int, b: int) -> dict[str, Any]:
        """Categories, cookies, texts and other fields added, removed or changed from a to b."""
        existing_site(site)
        try:
            return sites.revision_diff(site, a, b)
        except sites.RevisionNotFound as exc:
            abort(404, message=f"Site {shown(site)} has no revision {exc.args[0]}.")
