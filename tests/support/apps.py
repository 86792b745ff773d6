"""Test apps: where the example declaration is, what CI requires, a fresh PostgreSQL database,
the test Redis, building an app on a database, emptying and releasing it, counting its rows, and
the example declaration as data."""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
import yaml
from flask import Flask
from sqlalchemy import text

from consent_server.app import create_app
from consent_server.extensions import db
from consent_server.sites import banner_config
from consent_server.sites.service import apply_declaration, cache
from declaration.loader import load_declaration, read_declaration

if TYPE_CHECKING:
    from consent_server.sites.service import ApplyResult

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "site.yaml"
IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def redis_url(db: int) -> str:
    """The test Redis: TEST_REDIS_URL, or else database `db` of the local server (each test file
    that writes to Redis uses a number of its own, so that they do not collide)."""
    return os.environ.get("TEST_REDIS_URL", f"redis://127.0.0.1:6379/{db}")


# For tests that only make sense on PostgreSQL (row locks, transactions that commit late).
ONLY_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


def missing(what: str) -> None:
    """A service or tool the test needs is absent: a skip, or with CI=true a failure."""
    if IN_CI:
        pytest.fail(f"{what} (required with CI=true)", pytrace=False)
    pytest.skip(what)


@contextmanager
def fresh_postgres(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the test server, dropped afterwards; its URL."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        missing(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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


def release(app: Flask) -> None:
    """Close every database connection a test app holds."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    app.extensions["receipt_writer"].close()


def row_count(app: Flask, model: type) -> int:
    """How many rows of a model the app's database holds now."""
    with app.app_context():
        return db.session.query(model).count()


def example_data(**changes: Any) -> dict[str, Any]:
    """The example declaration (examples/site.yaml) as a new dict, with top-level changes."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data.update(changes)
    return data


def apply_data(app: Flask, data: dict[str, Any]) -> ApplyResult:
    """Validate and apply a declaration given as data (left as it is)."""
    with app.app_context():
        return apply_declaration(load_declaration(copy.deepcopy(data)))


def bearer(secret: str) -> dict[str, str]:
    """The Authorization header of an API token."""
    return {"Authorization": f"Bearer {secret}"}
