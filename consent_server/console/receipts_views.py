"""The receipts lookup page: one site's receipts for a visitor's consent id, and its export."""

from __future__ import annotations

import re

import orjson
from flask import Response, render_template, request, stream_with_context

from consent_server.consent_log import export
from consent_server.consent_log.receipts import site_history
from consent_server.consent_log.schemas import UUID4_RE
from consent_server.console.views import bp, signed_in, visible_site


@bp.get("/sites/<string:key>/receipts")
def receipts(key: str) -> tuple[str, int]:
    """The lookup form and, for a valid consent id, that site's receipts for it."""
    user = signed_in()
    site = visible_site(key)
    consent_id = request.args.get("consent_id", "").strip().lower()
    error, found, status = None, None, 200
    if consent_id:
        if re.fullmatch(UUID4_RE, consent_id):
            found = [
                {
                    **item,
                    "pretty": orjson.dumps(
                        item["record"], option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
                    ).decode(),
                }
                for item in site_history(site.id, consent_id)
            ]
        else:
            error, status = "receipts.bad_id", 400
    html = render_template(
        "console/receipts.html",
        user=user,
        site=site,
        consent_id=request.args.get("consent_id", ""),
        error=error,
        found=found,
    )
    return html, status


@bp.get("/sites/<string:key>/export.jsonl")
def export_jsonl(key: str) -> Response:
    """The site's whole consent log as JSON Lines, as the admin API's export streams it."""
    site = visible_site(key)
    scope = export.export_scope(site.key, None, None)
    response = Response(
        stream_with_context(export.iter_jsonl(scope)), mimetype="application/x-ndjson"
    )
    response.headers["Content-Disposition"] = f'attachment; filename="{site.key}-consents.jsonl"'
    return response


@bp.get("/sites/<string:key>/bundle.zip")
def bundle_zip(key: str) -> Response:
    """The site's whole consent log as an audit bundle, as the admin API's bundle route."""
    site = visible_site(key)
    return export.bundle_download(export.export_scope(site.key, None, None))
