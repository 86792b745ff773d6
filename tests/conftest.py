"""Fixtures: the app on SQLite and PostgreSQL, clients, tokens, servers on loopback, Chromium,
and the shared states of the consent-log, scan and banner tests. Helpers live in tests/support/."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from consent_server.consent_log.verify.bundle import verify_path
from consent_server.sites.service import apply_declaration
from consent_server.sites.tokens import create_token
from declaration.loader import read_declaration
from tests.support.apps import (
    EXAMPLE,
    demo_app,
    fresh_postgres,
    make_app,
    missing,
    release,
    reset_database,
)
from tests.support.banner import build_app
from tests.support.browsers import CHROMIUM, CHROMIUM_ARGS, open_context, require_chromedriver
from tests.support.console import console_app
from tests.support.live import LiveServer
from tests.support.log import SealedLog, cli, export_bundle, post_receipts
from tests.support.scans import apply, cookie, declaration, fake_report, finding, finish

# -- databases and apps ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    with fresh_postgres("cm_test") as url:
        yield url


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


# -- servers on loopback -----------------------------------------------------------------------


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    """The app served over HTTP on 127.0.0.1."""
    with LiveServer(app) as server:
        yield server


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The demo site (SQLite) served over HTTP on 127.0.0.1, one per test module; its app is
    `demo_server.app`."""
    app = demo_app(tmp_path_factory.mktemp("demo"))
    with LiveServer(app) as server:
        yield server
    release(app)


# -- Chromium ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The system Chromium, or a loud failure under CI."""
    if not os.path.exists(CHROMIUM):
        missing(f"Chromium not found at {CHROMIUM}")
    return CHROMIUM


@pytest.fixture(params=["playwright", "selenium"])
def scan_engine(request: pytest.FixtureRequest, chromium_path: str) -> str:
    """Each of the scanner's engines in turn (Selenium needs ChromeDriver, loudly under CI)."""
    if request.param == "selenium":
        require_chromedriver()
    return request.param


@pytest.fixture(scope="module")
def pw() -> Iterator[Playwright]:
    """Playwright, one per test module."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(pw: Playwright, chromium_path: str) -> Iterator[Browser]:
    """The system Chromium under Playwright, one per test module."""
    browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """Makes fresh browser contexts (a new profile each), closed after the test."""
    made: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        made.append(open_context(browser, **options))
        return made[-1]

    yield make
    for context in made:
        context.close()


@pytest.fixture
def page(new_context: Callable[..., BrowserContext]) -> Page:
    """A page in a fresh context."""
    return new_context().new_page()


# -- the banner on its test page ---------------------------------------------------------------


@pytest.fixture(scope="module")
def banner_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The example site and the banner's test page (tests/support/banner.py), one per module."""
    app = build_app(tmp_path_factory.mktemp("banner"))
    yield app
    release(app)


@pytest.fixture(scope="module")
def banner_server(banner_app: Flask) -> Iterator[LiveServer]:
    """The banner's test app served over HTTP on 127.0.0.1."""
    with LiveServer(banner_app) as live:
        yield live


# -- the consent log ---------------------------------------------------------------------------


@pytest.fixture
def sealed_log(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, demo_site: str, tmp_path: Path
) -> SealedLog:
    """Three seals over 4 receipts each, exported as an intact bundle."""
    ids = {}
    for sequence in (1, 2, 3):
        ids[sequence] = post_receipts(client, 4)
        assert f"seal {sequence} over 4 receipts" in cli(runner, "log", "seal").output
    bundle = export_bundle(runner, tmp_path / "intact.zip")
    report = verify_path(bundle)
    assert report.ok and (report.receipts, report.seals) == (12, 3)
    return SealedLog(bundle, ids, tmp_path)


# -- scans -------------------------------------------------------------------------------------


@pytest.fixture
def scan_api(app: Flask) -> dict[str, Any]:
    """Two sites with scans; tokens of each."""
    with app.app_context():
        apply(declaration())
        apply(declaration("other-shop"))
        first = finish(
            "demo-shop", fake_report([cookie("_fbp")], [finding("pre_consent", "high", "_fbp")])
        )
        second = finish(
            "demo-shop",
            fake_report(
                [cookie("_fbp"), cookie("<img src=x onerror=alert(1)>", "unknown", source="none")],
                [
                    finding("pre_consent", "high", "_fbp"),
                    finding("undeclared", "medium", "<img src=x onerror=alert(1)>"),
                ],
            ),
        )
        other = finish("other-shop", fake_report())
        return {
            "first": first,
            "second": second,
            "other": other,
            "admin": create_token("demo-shop", "admin")[1],
            "auditor": create_token("demo-shop", "auditor")[1],
            "other_admin": create_token("other-shop", "admin")[1],
            "operator": create_token(None, "auditor")[1],
        }


@pytest.fixture
def console(tmp_path: Path) -> Iterator[LiveServer]:
    """The web console on a live server: the demo site and a scanned second site."""
    app = console_app(tmp_path)
    with LiveServer(app) as server:
        yield server
    release(app)
