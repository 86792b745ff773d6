"""Consent events for the demo site: a valid body, and posting it over the public API."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient

CONSENTS = "/api/v1/sites/demo-shop/consents"
# A page of the demo site: a browser's history is only shown to one (docs/api.md).
DEMO_PAGE = {"Origin": "https://demo.example.se"}


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


def post_consent(client: FlaskClient, **changes: Any) -> dict[str, Any]:
    """Record a consent over the public API (expecting 201); its answer."""
    resp = client.post(CONSENTS, json=consent_body(**changes))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()
