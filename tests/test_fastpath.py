"""Revalidations of an unchanged configuration are answered before Flask, with the same headers."""

from __future__ import annotations

from pathlib import Path

from consent_server.services.sites import apply_declaration
from scanner.declaration import load_declaration, read_declaration
from tests.conftest import EXAMPLE, demo_app

CONFIG = "/api/v1/sites/demo-shop/config?lang=sv"


def _app(tmp_path: Path, ttl: float):
    return demo_app(tmp_path, SITE_CACHE_SECONDS=ttl)


def test_a_revalidation_gets_the_same_304_without_reaching_flask(tmp_path):
    app = _app(tmp_path, ttl=60)
    calls: list[int] = []
    app.before_request(lambda: calls.append(1))
    client = app.test_client()
    origin = {"Origin": "http://localhost:8080"}
    first = client.get(CONFIG, headers=origin)
    etag = first.headers["ETag"]
    calls.clear()
    again = client.get(CONFIG, headers={**origin, "If-None-Match": f'W/{etag}, "other"'})
    assert again.status_code == 304 and again.data == b""
    assert calls == [], "the 304 must come from the middleware"
    for header in ("ETag", "Cache-Control", "Vary", "Access-Control-Allow-Origin"):
        assert again.headers[header] == first.headers[header]
    stale = client.get(CONFIG, headers={**origin, "If-None-Match": '"nope"'})
    assert stale.status_code == 200 and calls == [1]
    other_origin = client.get(
        CONFIG, headers={"Origin": "https://evil.example", "If-None-Match": etag}
    )
    assert (
        other_origin.status_code == 304
        and "Access-Control-Allow-Origin" not in other_origin.headers
    )


def test_a_new_revision_is_served_once_the_window_has_passed(tmp_path):
    app = _app(tmp_path, ttl=0)  # no window: every request reaches the app
    client = app.test_client()
    etag = client.get(CONFIG).headers["ETag"]
    data = read_declaration(EXAMPLE).data
    data["texts"]["sv"]["title"] = "Nya kakor"
    with app.app_context():
        apply_declaration(load_declaration(data))
    fresh = client.get(CONFIG, headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.get_json()["texts"]["title"] == "Nya kakor"
