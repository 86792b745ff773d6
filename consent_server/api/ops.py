"""Operations: health, metrics and the public signing keys."""

from __future__ import annotations

from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import text

from consent_server import metrics
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


@blp.route("/metrics")
class Metrics(MethodView):
    """Prometheus metrics."""

    @blp.doc(
        responses={"200": {"description": "Prometheus text format", "content": {"text/plain": {}}}}
    )
    def get(self) -> Response:
        """Receipts recorded, requests rejected and the seal lag, in Prometheus text format."""
        body = metrics.render(seal_lag())
        return Response(body, mimetype="text/plain; version=0.0.4")
