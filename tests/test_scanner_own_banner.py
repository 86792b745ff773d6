"""The scanner recognises our own banner by window.ConsentManager, with both engines.

A real consent server (the demo site on SQLite) is served on loopback; the scanner loads its
demo page, accepts and rejects with the banner's first-layer buttons, and the server records
both choices.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from consent_server.consent_log.models import ConsentReceipt
from consent_server.extensions import db
from scanner.api import scan
from scanner.config import ScanConfig
from tests.support.browsers import CHROMEDRIVER
from tests.support.live import LiveServer


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
    engine: str, demo_server: LiveServer, chromium_path: str, tmp_path: Path
) -> None:
    _clear(demo_server.app)
    config = ScanConfig(
        url=f"{demo_server.url}/demo",
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
    assert _methods(demo_server.app) == ["accept_all", "reject_all"]
    # Its own cookie is known to the knowledge base as the banner's, strictly necessary.
    consent = [c for c in report["cookies"] if c["name"] == "cm_consent"]
    assert consent, [c["name"] for c in report["cookies"]]
    assert {c["classification"]["category"] for c in consent} == {"necessary"}, consent
    assert set(consent[0]["phases"]) == {"after-accept", "after-reject"}
