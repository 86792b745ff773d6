"""The public API the banner calls: configuration, consent events, history, keys."""

from __future__ import annotations

import jwt
import orjson
import pytest
from flask.testing import FlaskClient

from tests.support.consent import DEMO_PAGE, consent_body

CONFIG = "/api/v1/sites/demo-shop/config"
CONSENTS = "/api/v1/sites/demo-shop/consents"


def test_config_has_categories_texts_cookies_and_revision(client: FlaskClient, demo_site: str):
    resp = client.get(CONFIG + "?lang=en")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["revision"] == 1
    assert body["language"] == "en"
    assert [c["key"] for c in body["categories"]] == [
        "necessary",
        "preferences",
        "analytics",
        "marketing",
    ]
    assert body["categories"][0]["required"] is True
    assert body["texts"]["title"] == "We use cookies"
    assert body["texts"]["reject_all"] == "Reject all"
    assert {c["name"] for c in body["cookies"] if c["name"]} >= {"sessionid", "_ga", "_fbp"}
    assert body["consent_lifetime"] == "P12M"
    assert 364 <= body["consent_lifetime_days"] <= 366


def test_config_language_from_query_then_accept_language_then_default(client, demo_site):
    assert client.get(CONFIG + "?lang=en-GB").get_json()["language"] == "en"
    resp = client.get(CONFIG, headers={"Accept-Language": "de-DE, en;q=0.8"})
    assert resp.get_json()["language"] == "en"
    assert client.get(CONFIG, headers={"Accept-Language": "fi"}).get_json()["language"] == "sv"
    assert client.get(CONFIG + "?lang=xx").get_json()["language"] == "sv"


def test_config_strong_etag_gives_304_with_cache_headers(client, demo_site):
    first = client.get(CONFIG + "?lang=sv")
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert "stale-while-revalidate" in first.headers["Cache-Control"]
    again = client.get(CONFIG + "?lang=sv", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    other = client.get(CONFIG + "?lang=en", headers={"If-None-Match": etag})
    assert other.status_code == 200


def test_config_of_unknown_site_is_json_404(client, demo_site):
    resp = client.get("/api/v1/sites/no-such-site/config")
    assert resp.status_code == 404
    body = resp.get_json()
    assert (
        body["code"] == 404 and body["status"] == "Not Found" and "no-such-site" in body["message"]
    )


def test_consent_post_returns_signed_receipt_verifiable_with_jwks(client, demo_site):
    body = consent_body()
    resp = client.post(
        CONSENTS,
        json=body,
        headers={
            "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
            "Gecko) Chrome/126.0.0.0 Safari/537.36"
        },
        environ_base={"REMOTE_ADDR": "203.0.113.77"},
    )
    assert resp.status_code == 201, resp.get_json()
    out = resp.get_json()
    assert out["consent_id"] == body["consent_id"]
    jwks = client.get("/.well-known/jwks.json").get_json()
    header = jwt.get_unverified_header(out["receipt"])
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(out["receipt"], jwt.PyJWK(key).key, algorithms=["EdDSA"])
    assert claims["receipt_id"] == out["receipt_id"]
    assert claims["ip_truncated"] == "203.0.113.0/24"
    assert claims["user_agent_family"] == "Chrome"
    assert claims["page_url"] == "https://demo.example.se/produkter"
    assert claims["decisions"] == body["decisions"]
    assert claims["revision"] == 1 and len(claims["revision_hash"]) == 64
    assert "203.0.113.77" not in orjson.dumps(claims).decode()


def test_ipv6_address_is_truncated_to_48_bits(client, demo_site):
    resp = client.post(
        CONSENTS, json=consent_body(), environ_base={"REMOTE_ADDR": "2001:db8:abcd:12::1"}
    )
    claims = jwt.decode(resp.get_json()["receipt"], options={"verify_signature": False})
    assert claims["ip_truncated"] == "2001:db8:abcd::/48"


def test_history_lists_a_browsers_receipts_newest_first(client, demo_site):
    first = consent_body()
    cid = first["consent_id"]
    client.post(CONSENTS, json=first)
    withdraw = consent_body(
        consent_id=cid,
        method="withdraw",
        decisions={"necessary": True, "preferences": False, "analytics": False, "marketing": False},
    )
    client.post(CONSENTS, json=withdraw)
    hist = client.get(f"/api/v1/consents/{cid}", headers=DEMO_PAGE).get_json()
    assert [r["record"]["method"] for r in hist["receipts"]] == ["withdraw", "accept_all"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"decisions": {"necessary": False, "analytics": False}}, "decisions.necessary"),
        ({"decisions": {"necessary": True, "tracking": True}}, "decisions"),
        ({"revision": 99}, "revision"),
        ({"method": "maybe"}, "method"),
        ({"consent_id": "not-a-uuid"}, "consent_id"),
        ({"revision": "1"}, "revision"),
        ({"gpc": "yes"}, "gpc"),
        ({"extra": 1}, "extra"),
        ({"method": "accept_all", "decisions": {"necessary": True, "marketing": False}}, "method"),
    ],
)
def test_invalid_consent_is_refused_and_nothing_is_stored(client, demo_site, changes, field):
    resp = client.post(CONSENTS, json=consent_body(**changes))
    assert resp.status_code == 422, resp.get_json()
    body = resp.get_json()
    assert field in orjson.dumps(body["errors"]).decode()
    history = client.get(f"/api/v1/consents/{consent_body()['consent_id']}", headers=DEMO_PAGE)
    assert history.status_code == 200
    from consent_server.consent_log.models import ConsentReceipt
    from consent_server.extensions import db

    with client.application.app_context():
        assert db.session.query(ConsentReceipt).count() == 0
