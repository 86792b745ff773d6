"""The console without a browser: its kept secret, refusals as pages, OIDC off by default."""

from __future__ import annotations

import re
import stat
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from tests.support.apps import make_app, release


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_the_session_secret_is_made_once_and_kept_private(app: Flask, tmp_path: Path) -> None:
    key_file = Path(app.config["KEYS_DIR"]) / "console-session.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = make_app(tmp_path, app.config["SQLALCHEMY_DATABASE_URI"])
    assert again.config["SECRET_KEY"] == app.config["SECRET_KEY"] == key_file.read_text().strip()
    release(again)
    configured = make_app(tmp_path / "other", "sqlite://", SECRET_KEY="set-by-operator")
    assert configured.config["SECRET_KEY"] == "set-by-operator"
    assert not (tmp_path / "other" / "keys" / "console-session.key").exists()
    release(configured)


def test_refusals_are_pages_in_the_chosen_language(
    client: FlaskClient, tokens: dict[str, str]
) -> None:
    response = client.post("/admin/signin", data={"token": tokens["admin"]})
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "Formuläret kunde inte godtas" in response.text

    page = client.get("/admin/signin", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert page.status_code == 200 and "API token" in page.text
    csrf = csrf_of(page.text)
    wrong = client.post("/admin/signin", data={"token": "cm_" + "x" * 300, "csrf_token": csrf})
    assert wrong.status_code == 401 and "okänd eller återkallad" in wrong.text

    signed = client.post("/admin/signin", data={"token": tokens["auditor"], "csrf_token": csrf})
    assert signed.status_code == 302 and signed.headers["Location"] == "/admin/"
    listing = client.get("/admin/?lang=en")
    assert "Demo Shop AB" in listing.text and "no-store" in listing.headers["Cache-Control"]
    assert client.get("/admin/oidc/login").status_code == 404  # OIDC is off unless configured
    refused = client.post("/admin/sites/demo-shop/scan", data={"csrf_token": csrf_of(listing.text)})
    assert refused.status_code == 403 and "not allowed" in refused.text
