"""Migrations: `upgrade` from empty gives exactly the models' schema; `downgrade` undoes it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import inspect

from consent_server.extensions import db
from consent_server.sites.service import apply_declaration
from declaration.loader import read_declaration
from tests.support.apps import EXAMPLE, fresh_postgres, make_app, release
from tests.support.consent import consent_body

TABLES = {
    "sites",
    "site_revisions",
    "api_tokens",
    "consent_receipts",
    "seals",
    "scan_schedules",
    "scans",
    "scan_items",
    "scan_findings",
    "cookie_policies",
    "consent_stats_daily",
    "finding_waivers",
}


@pytest.fixture(autouse=True)
def keep_logging() -> Iterator[None]:
    """migrations/env.py calls logging.config.fileConfig, which would silence app loggers."""
    manager = logging.root.manager
    root = logging.getLogger()
    saved_root = (root.level, list(root.handlers))
    saved = {
        name: (lg.disabled, lg.level, list(lg.handlers), lg.propagate)
        for name, lg in manager.loggerDict.items()
        if isinstance(lg, logging.Logger)
    }
    yield
    root.setLevel(saved_root[0])
    root.handlers[:] = saved_root[1]
    for name, lg in list(manager.loggerDict.items()):
        if not isinstance(lg, logging.Logger):
            continue
        if name in saved:
            lg.disabled, level, handlers, lg.propagate = saved[name]
            lg.setLevel(level)
            lg.handlers[:] = handlers
        else:
            lg.disabled = False


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all: a new SQLite file or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        return
    with fresh_postgres("cm_migrate") as url:
        yield url


@pytest.fixture
def migrated_app(empty_database: str, tmp_path: Path) -> Iterator[Flask]:
    app = make_app(tmp_path, empty_database)
    yield app
    release(app)


def _differences(app: Flask) -> list:
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def test_upgrade_from_empty_gives_the_models_schema(migrated_app: Flask):
    with migrated_app.app_context():
        assert inspect(db.engine).get_table_names() == []
        flask_migrate.upgrade()
        names = set(inspect(db.engine).get_table_names())
    assert names == TABLES | {"alembic_version"}
    assert _differences(migrated_app) == []


def test_the_migrated_schema_works_for_the_app(migrated_app: Flask):
    with migrated_app.app_context():
        flask_migrate.upgrade()
        apply_declaration(read_declaration(EXAMPLE))
    client = migrated_app.test_client()
    resp = client.post("/api/v1/sites/demo-shop/consents", json=consent_body())
    assert resp.status_code == 201, resp.get_json()
    assert client.get("/api/v1/sites/demo-shop/config").get_json()["revision"] == 1


def test_downgrade_to_base_removes_every_table_and_upgrade_again_works(migrated_app: Flask):
    with migrated_app.app_context():
        flask_migrate.upgrade()
        flask_migrate.downgrade(revision="base")
        left = set(inspect(db.engine).get_table_names())
        assert left <= {"alembic_version"}
        flask_migrate.upgrade()
        assert set(inspect(db.engine).get_table_names()) == TABLES | {"alembic_version"}
    assert _differences(migrated_app) == []


def test_there_is_one_head_and_every_revision_has_a_downgrade():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from consent_server.app import MIGRATIONS_DIR

    config = Config(str(Path(MIGRATIONS_DIR) / "alembic.ini"))
    config.set_main_option("script_location", MIGRATIONS_DIR)
    scripts = ScriptDirectory.from_config(config)
    assert len(scripts.get_heads()) == 1
    for rev in scripts.walk_revisions():
        assert callable(getattr(rev.module, "downgrade", None)), rev.revision
        assert Path(rev.path).name[:8].isdigit(), f"{rev.path}: date-prefixed file names"
