"""The scanner recognises our own banner by window.ConsentManager, with both engines.

A real consent server (the demo site on SQLite) is served on loopback; the scanner loads its
demo page, accepts and rejects with the banner's first-layer buttons, and the server records
both choices.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from consent_server.consent_log.models import ConsentReceipt
from consent_server.extensions import db
from scanner.api import scan
from scanner.config import ScanConfig
from tests.conftest import LiveServer, demo_app, release

CHROMEDRIVER = os.environ.get("CONSENT_CHROMEDRIVER", "/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def consent_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    app = demo_app(tmp_path_factory.mktemp("own-banner"))
    yield app
    release(app)


@pytest.fixture(scope="module")
def server(consent_app: Flask) -> Iterator[LiveServer]:
    with LiveServer(consent_app) as live:
        yield live


def _methods(app: Flask) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(select(ConsentReceipt.method)).all())


def _clear(app: Flask) -> None:
    with app.app_context():
        db.session.query(ConsentReceipt).delete()
        db.session.commit()


@pytest.mark.browser
@pytest.mark.parametrize("engine", ["playwright", "selenium"])
def test_own_banner_is_accepted_and_rejected_through_its_api(
    engine: str, consent_app: Flask, server: LiveServer, chromium_path: str, tmp_path: Path
) -> None:
    _clear(consent_app)
    config = ScanConfig(
        url=f"{server.url}/demo",
        engine=engine,
        chromium=chromium_path,
        chromedriver=CHROMEDRIVER,
        allow_private=True,
        max_pages=1,
        use_sitemap=False,
        total_timeout=120,
    )
    report = scan(config)
    phases = {p["phase"]: p for p in report["phases"]}
    assert all(p["error"] is None for p in phases.values()), phases
    for phase, action in (("after-accept", "accept"), ("after-reject", "reject")):
        banner = phases[phase]["banner"]
        assert banner["found"] and banner["kind"] == "consent-manager", banner
        assert banner["clicked"] == f'[data-cm-action="{action}-all"]', banner
        assert banner["error"] is None and banner["reject_on_first_layer"] is True
    assert phases["pre-consent"]["banner"] is None or not phases["pre-consent"]["banner"]["clicked"]
    # The banner's choice reached the server as a signed receipt, once per phase.
    assert _methods(consent_app) == ["accept_all", "reject_all"]
    # Its own cookie is known to the knowledge base as the banner's, strictly necessary.
    consent = [c for c in report["cookies"] if c["name"] == "cm_consent"]
    assert consent, [c["name"] for c in report["cookies"]]
    assert {c["classification"]["category"] for c in consent} == {"necessary"}, consent
    assert set(consent[0]["phases"]) == {"after-accept", "after-reject"}
