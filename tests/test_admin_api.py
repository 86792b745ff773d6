"""The admin API: declarations over HTTP, token scopes and roles, exports, seals, stats, ops."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from typing import Any

import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient

from consent_server.consent_log.seals import seal_site
from consent_server.extensions import db
from consent_server.sites.models import Site, SiteRevision
from consent_server.sites.service import apply_declaration
from consent_server.sites.tokens import create_token, revoke_token
from declaration.loader import load_declaration
from tests.support.apps import EXAMPLE, bearer, example_data
from tests.support.consent import consent_body, post_consent
from tests.support.live import LiveServer

SITE = "/api/v1/sites/demo-shop"
OTHER = "/api/v1/sites/other-shop"


@pytest.fixture
def other_site(app: Flask, demo_site: str) -> dict[str, str]:
    """A second site with its own admin and auditor tokens."""
    with app.app_context():
        apply_declaration(
            load_declaration(
                {"site": "other-shop", "name": "Other AB", "domains": ["other.example.se"]}
            )
        )
        return {
            "admin": create_token("other-shop", "admin")[1],
            "auditor": create_token("other-shop", "auditor")[1],
        }


# -- PUT /sites/{site} -------------------------------------------------------------------------


def test_put_json_creates_a_site_with_an_operator_token(client: FlaskClient, tokens, app: Flask):
    body = {"site": "new-shop", "name": "New Shop AB", "domains": ["new.example.se"]}
    resp = client.put("/api/v1/sites/new-shop", json=body, headers=bearer(tokens["operator"]))
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json() == {
        "site": "new-shop",
        "created": True,
        "revision": 1,
        "new_revision": True,
        "changed": True,
    }
    cfg = client.get("/api/v1/sites/new-shop/config").get_json()
    assert cfg["name"] == "New Shop AB" and len(cfg["categories"]) == 4


def test_put_json_without_site_takes_it_from_the_url(client: FlaskClient, tokens):
    body = {"name": "Bare AB", "domains": ["bare.example.se"]}
    resp = client.put("/api/v1/sites/bare-shop", json=body, headers=bearer(tokens["operator"]))
    assert resp.status_code == 201
    assert resp.get_json()["site"] == "bare-shop"


def test_put_yaml_updates_the_site_with_a_new_revision(client: FlaskClient, tokens, app: Flask):
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "consent_lifetime: P12M", "consent_lifetime: P6M"
    )
    resp = client.put(
        SITE,
        data=text.encode("utf-8"),
        content_type="application/yaml",
        headers=bearer(tokens["admin"]),
    )
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {
        "site": "demo-shop",
        "created": False,
        "revision": 2,
        "new_revision": True,
        "changed": True,
    }
    assert client.get(f"{SITE}/config").get_json()["consent_lifetime"] == "P6M"
    unchanged = client.put(
        SITE, data=text.encode(), content_type="application/yaml", headers=bearer(tokens["admin"])
    )
    assert unchanged.status_code == 200
    assert unchanged.get_json()["changed"] is False
    assert unchanged.get_json()["revision"] == 2


def test_put_json_with_only_new_domains_keeps_the_revision(client: FlaskClient, tokens):
    body = example_data(domains=["shop.example.se"])
    resp = client.put(SITE, json=body, headers=bearer(tokens["admin"]))
    assert resp.status_code == 200
    assert resp.get_json() == {
        "site": "demo-shop",
        "created": False,
        "revision": 1,
        "new_revision": False,
        "changed": True,
    }
    site = client.get(SITE, headers=bearer(tokens["auditor"])).get_json()
    assert site["domains"] == ["shop.example.se"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"consent_lifetime": "forever"}, "consent_lifetime"),
        ({"cookies": [{"name": "_ga", "category": "stats"}]}, "cookies.0.category"),
        ({"categories": [{"key": "necessary", "required": False}]}, "categories.0.required"),
        ({"texts": {"de": {"title": "Kekse"}}}, "texts.de"),
        ({"colour": "blue"}, "colour"),
        ({"domains": []}, "domains"),
    ],
)
def test_put_invalid_declaration_is_422_naming_the_field(
    client: FlaskClient, tokens, app: Flask, changes, field
):
    resp = client.put(SITE, json=example_data(**changes), headers=bearer(tokens["admin"]))
    assert resp.status_code == 422
    body = resp.get_json()
    assert body["code"] == 422 and body["status"] == "Unprocessable Entity"
    assert body["message"] == "The declaration is invalid."
    assert field in body["errors"]["json"], body
    with app.app_context():
        assert db.session.query(SiteRevision).count() == 1


def test_put_invalid_yaml_is_422_with_the_line(client: FlaskClient, tokens):
    resp = client.put(
        SITE,
        data=b"site: demo-shop\nname: [oops\n",
        content_type="application/yaml",
        headers=bearer(tokens["admin"]),
    )
    assert resp.status_code == 422
    assert "at line" in resp.get_json()["errors"]["json"]["(file)"][0]


def test_put_body_for_another_site_than_the_url_is_422(client: FlaskClient, tokens, app: Flask):
    body = example_data(site="other-shop")
    resp = client.put(SITE, json=body, headers=bearer(tokens["operator"]))
    assert resp.status_code == 422
    out = resp.get_json()
    assert "other-shop" in out["message"] and "demo-shop" in out["message"]
    assert "site" in out["errors"]["json"]
    with app.app_context():
        assert db.session.query(Site).filter_by(key="other-shop").count() == 0


def test_put_malformed_json_is_400(client: FlaskClient, tokens):
    resp = client.put(
        SITE,
        data=b'{"site": "demo-shop",',
        content_type="application/json",
        headers=bearer(tokens["admin"]),
    )
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["code"] == 400 and body["message"].startswith("Malformed JSON")


def test_site_admin_cannot_create_a_new_site(client: FlaskClient, tokens, app: Flask):
    body = {"site": "sneaky-shop", "name": "Sneaky", "domains": ["sneaky.se"]}
    resp = client.put("/api/v1/sites/sneaky-shop", json=body, headers=bearer(tokens["admin"]))
    assert resp.status_code == 403
    with app.app_context():
        assert db.session.query(Site).filter_by(key="sneaky-shop").count() == 0


# -- tokens ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Token cm_abc"},
    ],
)
def test_missing_or_malformed_authorization_is_401(client: FlaskClient, tokens, headers):
    resp = client.get(SITE, headers=headers)
    assert resp.status_code == 401
    body = resp.get_json()
    assert body["code"] == 401 and "Bearer" in body["message"]


@pytest.mark.parametrize(
    "secret", ["cm_" + "x" * 43, "not-a-token", "cm_", "cm_" + "x" * 500, "cm_\u202e\u0000"]
)
def test_unknown_token_is_401(client: FlaskClient, tokens, secret):
    resp = client.get(SITE, headers=bearer(secret))
    assert resp.status_code == 401
    assert resp.get_json()["message"] == "The token is unknown or revoked."


def test_revoked_token_is_401(client: FlaskClient, tokens, app: Flask):
    assert client.get(SITE, headers=bearer(tokens["auditor"])).status_code == 200
    with app.app_context():
        assert revoke_token(tokens["auditor"][:10]) == 1
    resp = client.get(SITE, headers=bearer(tokens["auditor"]))
    assert resp.status_code == 401


def test_unauthenticated_export_is_401_before_its_query_is_checked(client: FlaskClient, tokens):
    resp = client.get(f"{SITE}/consents?since=garbage&format=xml")
    assert resp.status_code == 401


def test_auditor_can_read_but_not_put(client: FlaskClient, tokens, app: Flask):
    h = bearer(tokens["auditor"])
    assert client.get(SITE, headers=h).status_code == 200
    assert client.get(f"{SITE}/consents", headers=h).status_code == 200
    assert client.get(f"{SITE}/seals", headers=h).status_code == 200
    assert client.get(f"{SITE}/stats", headers=h).status_code == 200
    resp = client.put(SITE, json=example_data(consent_lifetime="P1M"), headers=h)
    assert resp.status_code == 403
    assert resp.get_json()["message"] == "This action needs the admin role."
    with app.app_context():
        assert db.session.query(SiteRevision).count() == 1


@pytest.mark.parametrize("role", ["admin", "auditor"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", ""),
        ("get", "/consents"),
        ("get", "/consents?format=csv"),
        ("get", "/seals"),
        ("get", "/stats"),
        ("put", ""),
    ],
)
def test_a_token_of_one_site_never_reaches_another(
    client: FlaskClient, tokens, other_site, app: Flask, role, method, path
):
    post_consent(client)
    kwargs: dict[str, Any] = {"headers": bearer(other_site[role])}
    if method == "put":
        kwargs["json"] = example_data(consent_lifetime="P1M")
    resp = getattr(client, method)(SITE + path, **kwargs)
    assert resp.status_code == 403
    assert resp.get_json()["message"] == "This token does not grant access to site 'demo-shop'."
    assert b"demo.example.se" not in resp.data
    # And the other way round.
    kwargs["headers"] = bearer(tokens[role])
    if method == "put":
        kwargs["json"] = {"site": "other-shop", "name": "Taken", "domains": ["evil.se"]}
    resp = getattr(client, method)(OTHER + path, **kwargs)
    assert resp.status_code == 403
    with app.app_context():
        assert db.session.query(SiteRevision).count() == 2
        other = db.session.query(Site).filter_by(key="other-shop").one()
        assert other.name == "Other AB" and other.domains == ["other.example.se"]


def test_a_site_token_on_an_unknown_site_is_403_not_404(client: FlaskClient, tokens):
    resp = client.get("/api/v1/sites/ghost-shop", headers=bearer(tokens["admin"]))
    assert resp.status_code == 403


def test_operator_can_do_everything_on_every_site(client: FlaskClient, tokens, other_site):
    h = bearer(tokens["operator"])
    for base in (SITE, OTHER):
        assert client.get(base, headers=h).status_code == 200
        assert client.get(f"{base}/consents", headers=h).status_code == 200
        assert client.get(f"{base}/seals", headers=h).status_code == 200
        assert client.get(f"{base}/stats", headers=h).status_code == 200
    resp = client.put(
        OTHER, json={"name": "Other AB", "domains": ["other.example.se", "x.se"]}, headers=h
    )
    assert resp.status_code == 200 and resp.get_json()["changed"] is True
    assert client.get("/api/v1/sites/ghost-shop", headers=h).status_code == 404


def test_get_site_describes_the_current_revision(client: FlaskClient, tokens):
    body = client.get(SITE, headers=bearer(tokens["auditor"])).get_json()
    assert body["site"] == "demo-shop" and body["name"] == "Demo Shop AB"
    assert body["revision"] == 1 and len(body["revision_hash"]) == 64
    assert body["declaration"]["consent_lifetime"] == "P12M"
    assert body["domains"] == ["127.0.0.1", "localhost", "demo.example.se"]
    dt.datetime.fromisoformat(body["created_at"])


# -- export ------------------------------------------------------------------------------------


def test_export_jsonl_streams_one_line_per_receipt(client: FlaskClient, tokens, app: Flask):
    ids = [post_consent(client)["receipt_id"] for _ in range(3)]
    with app.app_context():
        seal_site("demo-shop")
    ids.append(
        post_consent(client, method="reject_all", decisions={"necessary": True})["receipt_id"]
    )
    resp = client.get(f"{SITE}/consents", headers=bearer(tokens["auditor"]))
    assert resp.status_code == 200
    assert resp.mimetype == "application/x-ndjson"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="demo-shop-consents.jsonl"'
    assert resp.is_streamed
    lines = [orjson.loads(line) for line in resp.data.splitlines()]
    assert [line["record"]["receipt_id"] for line in lines] == ids
    assert [line["seal"] for line in lines] == [1, 1, 1, None]
    assert [line["leaf"] for line in lines] == [0, 1, 2, None]
    assert lines[3]["record"]["method"] == "reject_all"


def test_export_csv_has_a_header_and_one_row_per_receipt(client: FlaskClient, tokens):
    ids = [post_consent(client)["receipt_id"] for _ in range(2)]
    ids.append(
        post_consent(
            client,
            method="custom",
            decisions={"necessary": True, "analytics": True},
            page_url='https://demo.example.se/a,b"c',
        )["receipt_id"]
    )
    resp = client.get(f"{SITE}/consents?format=csv", headers=bearer(tokens["auditor"]))
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"].endswith('filename="demo-shop-consents.csv"')
    rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8"))))
    header, body = rows[0], rows[1:]
    assert header[:6] == ["receipt_id", "consent_id", "recorded_at", "site", "revision", "method"]
    assert "record_hash" in header and "decisions" in header
    assert [r[0] for r in body] == ids
    last = dict(zip(header, body[-1], strict=True))
    assert last["method"] == "custom"
    assert json.loads(last["decisions"]) == {
        "necessary": True,
        "preferences": False,
        "analytics": True,
        "marketing": False,
    }
    assert last["page_url"] == 'https://demo.example.se/a,b"c'


def test_export_of_a_site_without_receipts_is_empty(client: FlaskClient, tokens):
    assert client.get(f"{SITE}/consents", headers=bearer(tokens["auditor"])).data == b""
    csv_body = client.get(f"{SITE}/consents?format=csv", headers=bearer(tokens["auditor"])).data
    assert csv_body.decode().splitlines()[0].startswith("receipt_id,consent_id")
    assert len(csv_body.decode().splitlines()) == 1


def _offset(moment: dt.datetime, hours: int) -> str:
    return moment.astimezone(dt.timezone(dt.timedelta(hours=hours))).isoformat()


def test_export_since_and_until_are_compared_in_utc(client: FlaskClient, tokens):
    post_consent(client)
    post_consent(client)
    now = dt.datetime.now(dt.UTC)
    h = bearer(tokens["auditor"])

    def count(**query: str) -> int:
        resp = client.get(f"{SITE}/consents", query_string=query, headers=h)
        assert resp.status_code == 200, resp.get_json()
        return len(resp.data.splitlines())

    # A minute ago, written in a zone five hours ahead of UTC: both receipts are newer.
    assert count(since=_offset(now - dt.timedelta(minutes=1), 5)) == 2
    assert count(since=_offset(now + dt.timedelta(minutes=1), -5)) == 0
    assert count(until=_offset(now - dt.timedelta(minutes=1), 5)) == 0
    assert count(until=_offset(now + dt.timedelta(minutes=1), -5)) == 2
    # A date, or a time without offset, is UTC.
    assert count(since=(now + dt.timedelta(days=1)).date().isoformat()) == 0
    assert count(since=(now - dt.timedelta(days=1)).date().isoformat()) == 2
    assert count(until=(now - dt.timedelta(minutes=1)).replace(tzinfo=None).isoformat()) == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
        ("since=0001-01-01T00:00:00%2B01:00", "since"),
        ("format=xml", "format"),
    ],
)
def test_export_with_a_bad_query_is_422(client: FlaskClient, tokens, query, field):
    resp = client.get(f"{SITE}/consents?{query}", headers=bearer(tokens["auditor"]))
    assert resp.status_code == 422
    body = resp.get_json()
    assert field in body["errors"]["query"]
    assert field in body["message"]


def test_export_over_real_http_is_chunked(live_server: LiveServer, tokens, app: Flask):
    import urllib.request

    client = app.test_client()
    for _ in range(3):
        post_consent(client)
    req = urllib.request.Request(
        f"{live_server.url}{SITE}/consents?format=jsonl", headers=bearer(tokens["auditor"])
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/x-ndjson"
        assert resp.headers.get("Content-Length") is None
        lines = resp.read().splitlines()
    assert len(lines) == 3


# -- seals -------------------------------------------------------------------------------------


def test_seals_lists_the_signed_seals(client: FlaskClient, tokens, app: Flask):
    assert client.get(f"{SITE}/seals", headers=bearer(tokens["auditor"])).get_json() == {
        "site": "demo-shop",
        "seals": [],
    }
    for _ in range(2):
        post_consent(client)
    with app.app_context():
        seal_site("demo-shop")
    post_consent(client)
    with app.app_context():
        seal_site("demo-shop")
    body = client.get(f"{SITE}/seals", headers=bearer(tokens["auditor"])).get_json()
    assert [s["sequence"] for s in body["seals"]] == [1, 2]
    assert body["seals"][0]["payload"]["tree_size"] == 2
    assert body["seals"][1]["payload"]["tree_size"] == 1
    assert all(s["signature"].count(".") == 2 and s["kid"] for s in body["seals"])


# -- stats -------------------------------------------------------------------------------------

OPTIONAL_OFF = {"necessary": True, "preferences": False, "analytics": False, "marketing": False}


def test_stats_count_methods_and_grant_rates_per_category_per_day(client: FlaskClient, tokens):
    made = [
        post_consent(client),
        post_consent(client),
        post_consent(client, method="reject_all", decisions=OPTIONAL_OFF),
        post_consent(client, method="custom", decisions={**OPTIONAL_OFF, "analytics": True}),
        post_consent(
            client,
            method="custom",
            decisions={**OPTIONAL_OFF, "analytics": True, "preferences": True},
        ),
        post_consent(client, method="withdraw", decisions=OPTIONAL_OFF),
        post_consent(client, method="gpc", decisions=OPTIONAL_OFF, gpc=True),
        post_consent(client, method="gpc", decisions=OPTIONAL_OFF, gpc=True),
    ]
    days = {m["recorded_at"][:10] for m in made}
    resp = client.get(f"{SITE}/stats", headers=bearer(tokens["auditor"]))
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["site"] == "demo-shop" and body["interval"] == "day"
    assert body["categories"] == ["necessary", "preferences", "analytics", "marketing"]
    assert {b["date"] for b in body["buckets"]} == days
    if len(days) > 1:
        pytest.skip("the receipts straddled midnight UTC")
    (bucket,) = body["buckets"]
    assert bucket["total"] == 8
    assert bucket["methods"] == {
        "accept_all": 2,
        "reject_all": 1,
        "custom": 2,
        "withdraw": 1,
        "gpc": 2,
    }
    assert bucket["granted"] == {"necessary": 8, "preferences": 3, "analytics": 4, "marketing": 2}
    assert bucket["grant_rate"] == {
        "necessary": 1.0,
        "preferences": 0.375,
        "analytics": 0.5,
        "marketing": 0.25,
    }


def test_stats_ranges_and_other_sites(client: FlaskClient, tokens, other_site):
    post_consent(client)
    now = dt.datetime.now(dt.UTC)
    h = bearer(tokens["operator"])
    future = client.get(
        f"{SITE}/stats",
        query_string={"since": _offset(now + dt.timedelta(minutes=1), -3)},
        headers=h,
    )
    assert future.get_json()["buckets"] == []
    past = client.get(
        f"{SITE}/stats",
        query_string={"since": _offset(now - dt.timedelta(minutes=1), 3)},
        headers=h,
    )
    assert sum(b["total"] for b in past.get_json()["buckets"]) == 1
    other = client.get(f"{OTHER}/stats", headers=h).get_json()
    assert other["buckets"] == [] and other["site"] == "other-shop"
    bad = client.get(f"{SITE}/stats?interval=week", headers=h)
    assert bad.status_code == 422 and "interval" in bad.get_json()["errors"]["query"]


# -- operations --------------------------------------------------------------------------------


def test_healthz_is_200_with_the_database_up(client: FlaskClient):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "database": "ok"}


def test_metrics_has_receipts_rejections_and_seal_lag(client: FlaskClient, tokens):
    post_consent(client)
    client.post(f"{SITE}/consents", json=consent_body(method="maybe"))
    resp = client.get("/metrics", headers=bearer(tokens["operator"]))
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"
    text = resp.data.decode()
    lines = text.splitlines()
    assert any(
        line.startswith('consent_receipts_recorded_total{method="accept_all",site="demo-shop"} ')
        for line in lines
    )
    assert any(line.startswith('consent_requests_rejected_total{status="422"} ') for line in lines)
    lag = [line for line in lines if line.startswith("consent_seal_lag_receipts ")]
    assert lag == ["consent_seal_lag_receipts 1.0"]
    assert any(line.startswith("consent_seal_lag_seconds ") for line in lines)


def test_openapi_document_lists_the_paths(client: FlaskClient):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    spec = json.loads(resp.data)
    assert spec["openapi"].startswith("3.")
    assert {
        "/api/v1/sites/{site}/config",
        "/api/v1/sites/{site}/consents",
        "/api/v1/consents/{consent_id}",
        "/api/v1/sites/{site}",
        "/api/v1/sites/{site}/seals",
        "/api/v1/sites/{site}/stats",
        "/.well-known/jwks.json",
        "/healthz",
        "/metrics",
    } <= set(spec["paths"])
    assert set(spec["paths"]["/api/v1/sites/{site}"]) >= {"get", "put"}
    assert spec["paths"]["/api/v1/sites/{site}"]["put"]["security"] == [{"bearerAuth": []}]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_receipt_ids_are_unique_uuids(client: FlaskClient, demo_site: str):
    ids = {post_consent(client)["receipt_id"] for _ in range(5)}
    assert len(ids) == 5
    assert all(uuid.UUID(i).version == 4 for i in ids)
