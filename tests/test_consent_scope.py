"""A consent stays within its site: its page_url is on the site's domains and carries no
credentials, and a browser's history is only shown to a page of the receipt's site."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from consent_server.consent_log.models import ConsentReceipt
from tests.support.apps import apply_data, example_data, row_count
from tests.support.consent import CONSENTS, consent_body

DEMO_ORIGIN = "https://demo.example.se"


@pytest.fixture(params=[True, False], ids=["fast-path", "flask-view"])
def paths(request: pytest.FixtureRequest, app: Flask, demo_site: str) -> FlaskClient:
    """A client of the demo site on both paths of the consent POST."""
    app.config["CONSENT_FAST_PATH"] = request.param
    if not request.param:
        # The fast path is in front of Flask from create_app on: skip it for this test.
        app.wsgi_app = app.wsgi_app.wsgi_app  # type: ignore[attr-defined]
    return app.test_client()


def history(client: FlaskClient, consent_id: str, origin: str | None = DEMO_ORIGIN) -> dict:
    """The history of a consent id asked from a page at `origin` (None: no Origin header)."""
    headers = {"Origin": origin} if origin else {}
    resp = client.get(f"/api/v1/consents/{consent_id}", headers=headers)
    return {**resp.get_json(), "http": resp.status_code}


def test_userinfo_is_dropped_from_the_page_url(paths: FlaskClient):
    body = consent_body(page_url="https://user:secret@demo.example.se:8443/kassa?x=1#y")
    resp = paths.post(CONSENTS, json=body)
    assert resp.status_code == 201, resp.get_json()
    record = history(paths, body["consent_id"])["receipts"][0]["record"]
    assert record["page_url"] == "https://demo.example.se:8443/kassa"


@pytest.mark.parametrize(
    "page_url",
    [
        "https://evil.example/kassa",
        "https://demo.example.se.evil.example/",
        "https://demo.example.se@evil.example/",
    ],
)
def test_a_page_url_off_the_sites_domains_is_refused(paths: FlaskClient, app: Flask, page_url):
    resp = paths.post(CONSENTS, json=consent_body(page_url=page_url))
    assert resp.status_code == 422, resp.get_json()
    assert "page_url" in resp.get_json()["errors"]["json"]
    assert row_count(app, ConsentReceipt) == 0


def test_a_page_url_on_a_wildcard_domain_is_accepted(paths: FlaskClient, app: Flask):
    apply_data(app, example_data(domains=["*.example.se"]))
    resp = paths.post(CONSENTS, json=consent_body(page_url="https://shop.example.se/"))
    assert resp.status_code == 201, resp.get_json()


def test_history_needs_an_origin_of_the_receipts_site(client: FlaskClient, demo_site: str):
    body = consent_body()
    assert client.post(CONSENTS, json=body).status_code == 201
    mine = history(client, body["consent_id"])
    assert mine["http"] == 200 and len(mine["receipts"]) == 1
    # No Origin (a server, curl, a link opened directly): refused, with the reason.
    bare = history(client, body["consent_id"], origin=None)
    assert bare["http"] == 403
    assert "Origin" in bare["message"]
    assert history(client, body["consent_id"], origin="null")["http"] == 403
    # A page of another site sees nothing of this one.
    other = history(client, body["consent_id"], origin="https://evil.example")
    assert (other["http"], other["receipts"]) == (200, [])
