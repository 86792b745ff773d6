"""Revalidations of an unchanged configuration are answered before Flask, with the same headers."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import jwt
import pytest
from flask import request

from consent_server.sites.service import apply_declaration
from declaration.loader import load_declaration, read_declaration
from tests.support.apps import EXAMPLE, demo_app, redis_url
from tests.support.consent import consent_body

REDIS_URL = redis_url(15)  # its own database, apart from test_scans_e2e.py

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


# -- the consent POST ------------------------------------------------------------------------

CONSENTS = "/api/v1/sites/demo-shop/consents"
ORIGIN = {"Origin": "https://demo.example.se"}
# Headers that differ between any two answers.
VARYING = {"date", "content-length", "x-ratelimit-reset", "retry-after", "x-ratelimit-remaining"}


def _folder(tmp_path: Path, name: str) -> Path:
    (tmp_path / name).mkdir()
    return tmp_path / name


def _flask_calls(app) -> list[str]:
    calls: list[str] = []
    app.before_request(lambda: calls.append(request.path))
    return calls


def test_a_valid_consent_is_recorded_before_flask_with_the_views_answer(tmp_path):
    fast = demo_app(_folder(tmp_path, "fast"), RATELIMIT_ENABLED=True)
    slow = demo_app(_folder(tmp_path, "slow"), RATELIMIT_ENABLED=True, CONSENT_FAST_PATH=False)
    fast_calls, slow_calls = _flask_calls(fast), _flask_calls(slow)
    answers = []
    for app in (fast, slow):
        res = app.test_client().post(CONSENTS, json=consent_body(), headers=ORIGIN)
        assert res.status_code == 201
        answers.append(res)
    assert fast_calls == [] and slow_calls == [CONSENTS]
    got, want = answers
    assert {k.lower() for k, _ in got.headers} == {k.lower() for k, _ in want.headers}
    for name, value in want.headers.items():
        if name.lower() not in VARYING:
            assert got.headers[name] == value, name
    assert got.get_json().keys() == want.get_json().keys()
    # The receipt verifies with the published key, as one from the view does.
    jwks = fast.test_client().get("/.well-known/jwks.json").get_json()
    key = jwt.PyJWK(jwks["keys"][0])
    claims = jwt.decode(got.get_json()["receipt"], key.key, algorithms=["EdDSA"])
    assert claims["consent_id"] == got.get_json()["consent_id"]
    assert claims["page_url"] == "https://demo.example.se/produkter"


def test_a_refusal_on_the_fast_path_is_counted_in_the_metrics(tmp_path):
    from consent_server import metrics

    app = demo_app(tmp_path)
    calls = _flask_calls(app)

    def rejected() -> float:
        sample = ("consent_requests_rejected_total", {"status": "422"})
        return metrics.registry.get_sample_value(*sample) or 0.0

    before = rejected()
    body = consent_body()
    body["decisions"]["nope"] = True
    assert app.test_client().post(CONSENTS, json=body).status_code == 422
    assert calls == []  # answered by the fast path
    assert rejected() == before + 1


def test_consents_from_a_page_are_recorded_without_flask_once_the_site_is_cached(tmp_path):
    app = demo_app(tmp_path, SITE_CACHE_SECONDS=60)
    calls = _flask_calls(app)
    client = app.test_client()
    # The first POST fills this process's site cache; the next ones need no app context.
    answers = [client.post(CONSENTS, json=consent_body(), headers=ORIGIN) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert all(a.headers["Access-Control-Allow-Origin"] == ORIGIN["Origin"] for a in answers)
    foreign = client.post(CONSENTS, json=consent_body(), headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert calls == []


@pytest.mark.parametrize(
    ("body", "headers", "status", "by_flask"),
    [
        (b'{"consent_id": ', {"Content-Type": "application/json"}, 400, True),
        (b"[]", {"Content-Type": "application/json"}, 422, True),
        (None, {"Content-Type": "text/plain"}, 415, True),
        (None, {"Origin": "https://evil.example"}, 403, False),
        ("unknown-category", {}, 422, False),
        ("refused-necessary", {}, 422, False),
        ("missing-field", {}, 422, False),
        ("unknown-site", {}, 404, False),
    ],
)
def test_a_refused_consent_gets_the_views_answer_on_both_paths(
    tmp_path, body, headers, status, by_flask
):
    fast = demo_app(_folder(tmp_path, "fast"))
    slow = demo_app(_folder(tmp_path, "slow"), CONSENT_FAST_PATH=False)
    url = CONSENTS
    if body is None or isinstance(body, str):
        payload = consent_body()
        if body == "unknown-category":
            payload["decisions"]["nope"] = True
        elif body == "refused-necessary":
            payload.update(method="custom", decisions={"necessary": False})
        elif body == "missing-field":
            del payload["method"]
        elif body == "unknown-site":
            url = CONSENTS.replace("demo-shop", "no-such-site")
        body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", **headers}
    answers = []
    for app in (fast, slow):
        calls = _flask_calls(app)
        res = app.test_client().post(url, data=body, headers=headers)
        assert res.status_code == status, res.get_data(as_text=True)
        assert res.get_json()["code"] == status
        # The fast path hands over only what it cannot read as a JSON object.
        assert calls == ([url] if by_flask or app is slow else [])
        answers.append(res)
    got, want = answers
    assert got.get_json() == want.get_json()
    assert got.headers["Content-Type"] == want.headers["Content-Type"]


def test_the_fast_path_and_the_view_count_against_one_rate_limit(tmp_path):
    # Two processes' worth of apps sharing Redis, one recording before Flask and one not.
    shared = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_CONSENT": "3 per minute",
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
    }
    fast = demo_app(_folder(tmp_path, "fast"), **shared)
    slow = demo_app(_folder(tmp_path, "slow"), CONSENT_FAST_PATH=False, **shared)
    one = {"REMOTE_ADDR": "198.51.100.7"}
    statuses = [
        app.test_client().post(CONSENTS, json=consent_body(), environ_base=one).status_code
        for app in (fast, slow, fast, fast, slow)
    ]
    assert statuses == [201, 201, 201, 429, 429]
    other = {"REMOTE_ADDR": "198.51.100.8"}
    assert (
        fast.test_client().post(CONSENTS, json=consent_body(), environ_base=other).status_code
        == 201
    )
