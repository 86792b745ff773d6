"""Fixtures: the app on SQLite and PostgreSQL, clients, tokens, a live server on loopback."""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import text
from werkzeug.serving import make_server

from consent_server.app import create_app
from consent_server.extensions import db
from consent_server.sites import banner_config
from consent_server.sites.service import apply_declaration, cache
from consent_server.sites.tokens import create_token
from declaration.loader import read_declaration
from scanner.engines import BASE_ARGS

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "site.yaml"
IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
# The scanner's own Chromium flags: no sandbox as root, and no background calls to the internet.
CHROMIUM_ARGS = list(BASE_ARGS)
CHROMIUM = os.environ.get("CONSENT_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")


def _missing(what: str) -> None:
    # With CI=true a missing service is a failure, never a silent skip.
    if IN_CI:
        pytest.fail(f"{what} (required with CI=true)", pytrace=False)
    pytest.skip(what)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    name = f"cm_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        _missing(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The system Chromium, or a loud failure under CI."""
    if not os.path.exists(CHROMIUM):
        _missing(f"Chromium not found at {CHROMIUM}")
    return CHROMIUM


_pg_schema_ready: set[str] = set()


def make_app(tmp_path: Path, database: str, **overrides: Any) -> Flask:
    """Build a test app on a database URL with its own key folder."""
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database,
        "KEYS_DIR": str(tmp_path / "keys"),
        "SITE_CACHE_SECONDS": 0,
        "RATELIMIT_ENABLED": False,
        "SERVER_NAME": None,
    }
    config.update(overrides)
    app = create_app(config)
    cache.clear()
    banner_config._cache.clear()
    return app


def demo_app(tmp_path: Path, database: str | None = None, **overrides: Any) -> Flask:
    """A test app on a clean database (SQLite in tmp_path by default) with the example site."""
    app = make_app(tmp_path, database or f"sqlite:///{tmp_path}/db.sqlite3", **overrides)
    reset_database(app)
    with app.app_context():
        apply_declaration(read_declaration(EXAMPLE))
    return app


def reset_database(app: Flask) -> None:
    """Create the schema, or empty every table when it already exists."""
    with app.app_context():
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        if url.startswith("sqlite") or url not in _pg_schema_ready:
            db.drop_all()
            db.create_all()
            _pg_schema_ready.add(url)
        else:
            names = ", ".join(t.name for t in db.metadata.sorted_tables)
            db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            db.session.commit()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that uses the database runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app on a clean database."""
    application = make_app(tmp_path, database_url)
    reset_database(application)
    yield application
    release(application)


def release(app: Flask) -> None:
    """Close every database connection a test app holds."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    app.extensions["receipt_writer"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """A CLI runner."""
    return app.test_cli_runner()


@pytest.fixture
def demo_site(app: Flask) -> str:
    """The example declaration applied; returns its site key."""
    with app.app_context():
        return apply_declaration(read_declaration(EXAMPLE)).site


@pytest.fixture
def tokens(app: Flask, demo_site: str) -> dict[str, str]:
    """Secrets of an admin and an auditor of the demo site, and of an operator."""
    with app.app_context():
        return {
            "admin": create_token(demo_site, "admin")[1],
            "auditor": create_token(demo_site, "auditor")[1],
            "operator": create_token(None, "admin")[1],
        }


def consent_body(revision: int = 1, **changes: Any) -> dict[str, Any]:
    """A valid consent event for the demo site."""
    body = {
        "consent_id": str(uuid.uuid4()),
        "revision": revision,
        "decisions": {"necessary": True, "preferences": True, "analytics": True, "marketing": True},
        "method": "accept_all",
        "language": "sv",
        "page_url": "https://demo.example.se/produkter?email=a@b.se#top",
        "gpc": False,
    }
    body.update(changes)
    return body


class LiveServer:
    """A real threaded HTTP server on loopback serving the app."""

    def __init__(self, app: Flask) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join()


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    """The app served over HTTP on 127.0.0.1."""
    with LiveServer(app) as server:
        yield server
