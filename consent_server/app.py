"""create_app: the Flask application, its error shape and the WSGI fast paths in front of it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable
from werkzeug.middleware.proxy_fix import ProxyFix

from consent_server.config import DefaultConfig
from consent_server.errors import json_error
from consent_server.extensions import db, migrate, rest_api

MIGRATIONS_DIR = str(Path(__file__).resolve().parent.parent / "migrations")


def database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs that name no driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the application: defaults, instance/config.py, CONSENT_* and DATABASE_URL, tests."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(DefaultConfig)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("CONSENT")
        if os.environ.get("DATABASE_URL"):
            app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
        if os.environ.get("CELERY_BROKER_URL") and not app.config.get("CELERY_BROKER_URL"):
            app.config["CELERY_BROKER_URL"] = os.environ["CELERY_BROKER_URL"]
    else:
        app.config.from_mapping(test_config)
    # The instance folder holds config.py, the keys and the embedded database: owner only.
    Path(app.instance_path).mkdir(mode=0o700, parents=True, exist_ok=True)
    app.config.setdefault(
        "SQLALCHEMY_DATABASE_URI", f"sqlite:///{Path(app.instance_path) / 'consent.sqlite3'}"
    )
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url(app.config["SQLALCHEMY_DATABASE_URI"])
    _create_private_sqlite(app.config["SQLALCHEMY_DATABASE_URI"], app.instance_path)
    if not app.config.get("KEYS_DIR"):
        app.config["KEYS_DIR"] = str(Path(app.instance_path) / "keys")
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # SQLite serialises writers; wait for the lock instead of failing at once.
        opts = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        opts.setdefault("connect_args", {"timeout": 30})
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = opts

    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "info": {"description": "Consent receipts, audit exports and site declarations."},
        },
    )
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    rest_api.init_app(app)

    from consent_server.consent_log.admission import ConsentGate
    from consent_server.consent_log.keys import KeyStore
    from consent_server.consent_log.models import ConsentReceipt
    from consent_server.consent_log.receipts import RECEIPT_COLUMNS
    from consent_server.consent_log.writer import GroupCommit

    app.extensions["consent_keys"] = KeyStore(app.config["KEYS_DIR"])
    with app.app_context():
        app.extensions["receipt_writer"] = GroupCommit(
            db.engine,
            ConsentReceipt.__table__,
            RECEIPT_COLUMNS,
            timeout=float(app.config["COMMIT_TIMEOUT"]),
        )
    app.extensions["consent_gate"] = ConsentGate(app)

    # Importing an area's API module adds its routes to the blueprints.
    from consent_server.api import consents, ops, scans, sites  # noqa: F401
    from consent_server.api.blueprints import admin, public
    from consent_server.banner import bp as banner_bp
    from consent_server.console import init_console
    from consent_server.demo import bp as demo_bp

    rest_api.register_blueprint(public)
    rest_api.register_blueprint(admin)
    rest_api.register_blueprint(ops.blp)
    rest_api.register_blueprint(scans.blp)
    app.register_blueprint(demo_bp)
    app.register_blueprint(banner_bp)
    init_console(app)
    _register_error_handlers(app)

    from consent_server.cli import register_commands

    register_commands(app)
    _wrap_wsgi(app)
    _warm_up()
    return app


def _create_private_sqlite(url: str, instance_path: str) -> None:
    """Create a SQLite database file that does not exist yet with mode 0600 (its folder 0700).

    SQLite would create it with the umask's mode, readable by every local user as a rule; it
    gives its journal, WAL and shared-memory files the database file's mode. A file that
    exists already is left as its owner set it.
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or name in (None, "", ":memory:"):
        return
    if parsed.query.get("uri"):
        if not name.startswith("file:") or parsed.query.get("mode") == "memory":
            return
        name = name[5:]
    path = Path(instance_path) / name  # relative to the instance folder, as Flask-SQLAlchemy
    if path.exists():
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def _warm_up() -> None:
    """Compile now, once per process, the regular expressions the first consent needs."""
    # Otherwise every thread of a new worker compiles them at once on its first consent, and
    # the big URL pattern alone takes a second: the first seconds of a worker stall.
    import uuid

    from consent_server.consent_log.receipts import user_agent_family
    from consent_server.consent_log.schemas import ConsentCreateSchema

    sample = {
        "consent_id": str(uuid.uuid4()),
        "revision": 1,
        "decisions": {"necessary": True},
        "method": "custom",
        "page_url": "https://example.se/",
    }
    ConsentCreateSchema().load(sample)
    user_agent_family("Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36")


def _wrap_wsgi(app: Flask) -> None:
    """The fast paths in front of Flask, and the proxy fix in front of everything."""
    from consent_server.fastpath import ConfigRevalidation, ConsentPost

    wsgi = ConfigRevalidation(app.wsgi_app, float(app.config["SITE_CACHE_SECONDS"]))
    if app.config["CONSENT_FAST_PATH"]:
        wsgi = ConsentPost(wsgi, app)
    if int(app.config["PROXY_COUNT"]):
        # The fast path reads the visitor's address too: the proxy fix must come first.
        count = int(app.config["PROXY_COUNT"])
        wsgi = ProxyFix(wsgi, x_for=count, x_proto=count, x_host=count)
    app.wsgi_app = wsgi  # type: ignore[method-assign]


def _register_error_handlers(app: Flask) -> None:
    from sqlalchemy.exc import OperationalError

    from consent_server import metrics
    from consent_server.consent_log.writer import CommitTimeout

    @app.after_request
    def _count_rejections(response: Response) -> Response:
        if 400 <= response.status_code < 500:
            metrics.requests_rejected.labels(str(response.status_code)).inc()
        # Texts from declarations and visitors' page URLs are served back inside JSON: a
        # browser must never sniff such a body into HTML.
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    # Replaces flask-smorest's handler so that every error has the contract's shape.
    app.register_error_handler(HTTPException, json_error)

    @app.errorhandler(CommitTimeout)
    def _commit_unconfirmed(exc: CommitTimeout) -> tuple[dict, int, dict]:
        app.logger.error("receipt commit unconfirmed on %s: %s", request.path, exc)
        return json_error(ServiceUnavailable("The database is unavailable."))

    @app.errorhandler(OperationalError)
    def _database_down(exc: OperationalError) -> tuple[dict, int, dict]:
        db.session.rollback()
        app.logger.error("database error on %s: %s", request.path, exc)
        return json_error(ServiceUnavailable("The database is unavailable."))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[dict, int, dict]:
        if isinstance(exc, HTTPException):
            return json_error(exc)
        if app.testing and not app.config.get("PROPAGATE_TO_CLIENT"):
            # A bug must fail the test that found it, never hide behind a 500.
            raise exc
        app.logger.exception("unhandled error on %s", request.path)
        return json_error(InternalServerError("Internal error."))
