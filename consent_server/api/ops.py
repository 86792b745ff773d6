"""Operations: health, metrics and the public signing keys."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import text

from consent_server import metrics
from consent_server.api.blueprints import BEARER
from consent_server.api.common import require_token
from consent_server.consent_log.seals import seal_lag
from consent_server.extensions import db
from consent_server.schemas import HealthSchema, JwksSchema

blp = Blueprint("ops", __name__, url_prefix="", description="Operations and keys.")


@blp.route("/.well-known/jwks.json")
class Jwks(MethodView):
    """Public keys."""

    @blp.response(200, JwksSchema)
    def get(self) -> Response:
        """Every public key that signs receipts and seals, current first."""
        response = current_app.json.response(current_app.extensions["consent_keys"].jwks())
        response.headers["Cache-Control"] = "public, max-age=300"
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response


@blp.route("/healthz")
class Health(MethodView):
    """Liveness and readiness."""

    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema, description="The database is unreachable.")
    def get(self) -> tuple[dict, int]:
        """200 when the database answers, 503 when it does not."""
        try:
            db.session.execute(text("SELECT 1"))
        except Exception:
            db.session.rollback()
            return {"status": "unavailable", "database": "unreachable"}, 503
        return {"status": "ok", "database": "ok"}, 200


def _scrape_token_matches() -> bool:
    """Whether the request carries METRICS_TOKEN as its bearer secret."""
    expected = str(current_app.config.get("METRICS_TOKEN") or "")
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(secret.strip().encode(), expected.encode())


def metrics_access(view: Callable[..., Any]) -> Callable[..., Any]:
    """Serve the view when METRICS_PUBLIC is set or the scrape token is presented; otherwise
    only to an operator token (any role): the counters name every site."""
    guarded = require_token("auditor")(view)

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_app.config.get("METRICS_PUBLIC") or _scrape_token_matches():
            return view(*args, **kwargs)
        return guarded(*args, **kwargs)

    return wrapper


@blp.route("/metrics")
class Metrics(MethodView):
    """Prometheus metrics."""

    @blp.doc(
        security=BEARER,
        responses={
            "200": {"description": "Prometheus text format", "content": {"text/plain": {}}},
            "401": {"description": "No operator token or scrape token (METRICS_TOKEN)."},
            "403": {"description": "A site's token: metrics need an operator token."},
        },
    )
    @metrics_access
    def get(self) -> Response:
        """Receipts recorded, requests rejected and the seal lag, in Prometheus text format."""
        body = metrics.render(seal_lag())
        return Response(body, mimetype="text/plain; version=0.0.4")
