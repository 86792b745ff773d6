"""Hostile and malformed requests: never a 500, always a JSON error, never anything stored.

Also the edges of the public API a browser meets first: CORS and the rate limit.
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from consent_server.consent_log.models import ConsentReceipt
from consent_server.extensions import db
from consent_server.sites.models import Site, SiteRevision
from consent_server.sites.service import apply_declaration
from declaration.loader import read_declaration
from tests.support.apps import EXAMPLE, demo_app, release, row_count
from tests.support.consent import DEMO_PAGE, consent_body
from tests.support.live import LiveServer

CONSENTS = "/api/v1/sites/demo-shop/consents"
CONFIG = "/api/v1/sites/demo-shop/config"
SITE = "/api/v1/sites/demo-shop"

HTML = "<script>alert(document.cookie)</script><img src=x onerror=alert(1)>"
SQL = "'; DROP TABLE consent_receipts; --"
RTL = "\u202egnp.exe\u202c"
NUL = "a\x00b"
LONG = "x" * 10_000


def assert_json_error(resp: Any, code: int) -> dict[str, Any]:
    """The contract's error shape: {code, status, message, errors?}, as JSON."""
    assert resp.status_code == code, resp.data[:500]
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert body["code"] == code
    assert isinstance(body["status"], str) and body["status"]
    assert isinstance(body["message"], str) and body["message"]
    assert set(body) <= {"code", "status", "message", "errors"}
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    return body


def post_raw(client: FlaskClient, data: bytes, content_type: str = "application/json", **kw):
    return client.post(CONSENTS, data=data, content_type=content_type, **kw)


# -- malformed bodies on the public POST --------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b'{"consent_id": ',
        b"{'consent_id': 'x'}",
        b"\xff\xfe{\x00}",
        b'{"page_url": "\xc3\x28"}',
        json.dumps(consent_body()).encode("utf-16"),
        b"\xef\xbb\xbf" + json.dumps(consent_body()).encode(),
        json.dumps(consent_body(revision=1)).replace('"revision": 1', '"revision": NaN').encode(),
        json.dumps(consent_body()).replace('"revision": 1', '"revision": ' + "9" * 5000).encode(),
        json.dumps(consent_body(page_url="https://demo.example.se/\ud800")).encode(),
        json.dumps(consent_body())
        .replace('"decisions": {', '"decisions": {"x": ' + "[" * 3000 + "]" * 3000 + ", ")
        .encode(),
    ],
    ids=[
        "truncated",
        "single-quotes",
        "binary",
        "invalid-utf8",
        "utf16",
        "bom",
        "nan",
        "5000-digit-int",
        "lone-surrogate",
        "3000-deep",
    ],
)
def test_malformed_json_is_400_and_stores_nothing(client, demo_site, app, data):
    body = assert_json_error(post_raw(client, data), 400)
    assert body["message"] == "Malformed JSON body."
    assert body["errors"] == {"json": ["Invalid JSON body."]}
    assert row_count(app, ConsentReceipt) == 0


@pytest.mark.parametrize("data", [b"[]", b"[1, 2]", b'"consent"', b"42", b"true", b"null"])
def test_json_that_is_not_an_object_is_422(client, demo_site, app, data):
    body = assert_json_error(post_raw(client, data), 422)
    assert body["message"] == "The JSON body must be an object."
    assert row_count(app, ConsentReceipt) == 0


def test_empty_body_names_the_missing_fields(client, demo_site, app):
    body = assert_json_error(post_raw(client, b""), 422)
    assert set(body["errors"]["json"]) == {"consent_id", "revision", "decisions", "method"}
    assert "consent_id" in body["message"]
    assert row_count(app, ConsentReceipt) == 0


def test_public_body_over_16_kib_is_413(client, demo_site, app):
    padded = consent_body(page_url="https://demo.example.se/" + "a" * 17_000)
    body = assert_json_error(client.post(CONSENTS, json=padded), 413)
    assert "too large" in body["message"]
    # Just under the limit the body is read and judged on its content.
    near = consent_body(page_url="https://demo.example.se/" + "a" * 2000)
    assert client.post(CONSENTS, json=near).status_code == 201
    assert row_count(app, ConsentReceipt) == 1


def test_public_body_over_16_kib_over_real_http_is_413(live_server: LiveServer, demo_site, app):
    host, port = live_server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    payload = b'{"consent_id": "' + b"a" * 20_000 + b'"}'
    conn.request("POST", CONSENTS, body=payload, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 413
    assert json.loads(resp.read())["code"] == 413
    assert row_count(app, ConsentReceipt) == 0


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        None,
    ],
)
def test_a_body_that_is_not_json_is_415(client, demo_site, app, content_type):
    data = json.dumps(consent_body()).encode()
    kwargs: dict[str, Any] = {"data": data}
    if content_type:
        kwargs["content_type"] = content_type
    body = assert_json_error(client.post(CONSENTS, **kwargs), 415)
    assert "application/json" in body["message"]
    assert row_count(app, ConsentReceipt) == 0


def test_json_with_a_charset_parameter_is_accepted(client, demo_site, app):
    resp = post_raw(client, json.dumps(consent_body()).encode(), "application/json; charset=utf-8")
    assert resp.status_code == 201
    assert row_count(app, ConsentReceipt) == 1


# -- hostile strings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"language": HTML}, "language"),
        ({"language": SQL}, "language"),
        ({"language": "sv" + NUL}, "language"),
        ({"language": "sv\n"}, "language"),
        ({"language": LONG}, "language"),
        ({"language": RTL}, "language"),
        ({"page_url": LONG}, "page_url"),
        ({"page_url": "javascript:alert(1)"}, "page_url"),
        ({"page_url": "data:text/html," + HTML}, "page_url"),
        ({"page_url": "https://demo.example.se/" + SQL}, "page_url"),
        ({"consent_id": str(consent_body()["consent_id"]) + "\n"}, "consent_id"),
        ({"consent_id": SQL}, "consent_id"),
        ({"decisions": {HTML: True}}, "decisions"),
        ({"decisions": {SQL: True}}, "decisions"),
        ({"decisions": {NUL: True}}, "decisions"),
        ({"decisions": {RTL: True}}, "decisions"),
        ({"decisions": {LONG: True}}, "decisions"),
        ({"decisions": {"necessary": 1}}, "decisions"),
        ({"decisions": {"necessary": "true"}}, "decisions"),
        ({"decisions": {f"c{i}": True for i in range(40)}}, "decisions"),
        ({"gpc": 1}, "gpc"),
        ({"method": HTML}, "method"),
        ({"revision": True}, "revision"),
        ({"revision": 2**40}, "revision"),
        ({"revision": -1}, "revision"),
    ],
)
def test_hostile_fields_are_refused_and_nothing_is_stored(client, demo_site, app, changes, field):
    body = assert_json_error(client.post(CONSENTS, json=consent_body(**changes)), 422)
    assert field in body["errors"]["json"], body
    assert row_count(app, ConsentReceipt) == 0


@pytest.mark.parametrize(
    "path",
    [
        "/<script>alert(1)</script>",
        "/" + RTL,
        "/" + NUL,
        "/%3Cscript%3E",
        "/" + "\u00e5\u00e4\u00f6/\U0001f36a",
    ],
)
def test_hostile_page_url_paths_are_stored_verbatim_as_json(client, demo_site, app, path):
    body = consent_body(page_url="https://demo.example.se" + path + "?email=a@b.se#x")
    resp = client.post(CONSENTS, json=body)
    assert resp.status_code == 201, resp.get_json()
    history = client.get(f"/api/v1/consents/{body['consent_id']}", headers=DEMO_PAGE)
    assert history.mimetype == "application/json"
    assert history.headers["X-Content-Type-Options"] == "nosniff"
    record = history.get_json()["receipts"][0]["record"]
    # The path exactly as sent; the query and fragment (personal data) are dropped.
    assert record["page_url"] == "https://demo.example.se" + path
    export = client.get(SITE + "/consents", headers={"Authorization": f"Bearer {_operator(app)}"})
    line = json.loads(export.data.splitlines()[0])
    assert line["record"]["page_url"] == "https://demo.example.se" + path


def _operator(app: Flask) -> str:
    from consent_server.sites.tokens import create_token

    with app.app_context():
        return create_token(None, "auditor")[1]


def test_hostile_declaration_texts_are_served_back_verbatim(client, tokens, app):
    hostile = {
        "title": HTML,
        "body": SQL + " " + RTL + " " + NUL,
        "accept_all": "\u0000\u0001\u001f",
        "reject_all": "x" * 5000,
        "settings": '"}]}{"injected": true',
    }
    declaration = {
        "name": "Demo Shop AB",
        "domains": ["demo.example.se"],
        "languages": ["en"],
        "texts": {"en": hostile},
        "categories": [
            {"key": "necessary", "title": {"en": HTML}, "description": {"en": SQL}},
        ],
        # A cookie's name must be an RFC 6265 token; a storage key may be any text.
        "cookies": [
            {"name": HTML, "storage": "local", "category": "necessary", "purpose": {"en": RTL}}
        ],
    }
    resp = client.put(
        SITE, json=declaration, headers={"Authorization": f"Bearer {tokens['admin']}"}
    )
    assert resp.status_code == 200, resp.get_json()
    cfg = client.get(CONFIG + "?lang=en")
    assert cfg.mimetype == "application/json"
    assert cfg.headers["X-Content-Type-Options"] == "nosniff"
    served = cfg.get_json()
    for key, text in hostile.items():
        assert served["texts"][key] == text
    assert served["categories"][0]["title"] == HTML
    assert served["categories"][0]["description"] == SQL
    assert served["cookies"][0]["name"] == HTML
    assert served["cookies"][0]["purpose"] == RTL
    # And through the admin API, and as YAML the same texts give the same revision.
    site = client.get(SITE, headers={"Authorization": f"Bearer {tokens['auditor']}"}).get_json()
    assert site["declaration"]["texts"]["en"] == hostile
    with app.app_context():
        assert db.session.query(Site).filter_by(key="demo-shop").one().name == "Demo Shop AB"


def test_declaration_texts_over_5000_characters_are_refused(client, tokens, app):
    declaration = {"name": "Demo", "domains": ["a.se"], "texts": {"en": {"body": LONG}}}
    resp = client.put(
        SITE, json=declaration, headers={"Authorization": f"Bearer {tokens['admin']}"}
    )
    body = assert_json_error(resp, 422)
    assert "texts.en.body" in body["errors"]["json"]
    assert row_count(app, SiteRevision) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", NUL), ("name", "Shop\nAB"), ("name", LONG), ("site", "demo-shop\n")],
)
def test_declaration_single_line_fields_refuse_control_characters(
    client, tokens, app, field, value
):
    declaration = {"name": "Demo", "domains": ["a.se"], field: value}
    resp = client.put(
        SITE, json=declaration, headers={"Authorization": f"Bearer {tokens['admin']}"}
    )
    body = assert_json_error(resp, 422)
    assert field in body["errors"]["json"]
    with app.app_context():
        assert db.session.query(Site).one().name == "Demo Shop AB"


@pytest.mark.parametrize(
    ("data", "content_type", "code"),
    [
        (b"{", "application/json", 400),
        (b'{"name": "\\ud800", "domains": ["a.se"]}', "application/json", 400),
        (b"[" * 2000 + b"]" * 2000, "application/json", 400),
        (b"\xff\xfe", "application/json", 400),
        (b"[1, 2]", "application/json", 422),
        (b'"text"', "application/json", 422),
        (b"site: demo-shop\nname: [\n", "application/yaml", 422),
        (b"\xff\xfe", "application/yaml", 422),
        (b"[" * 50_000, "application/yaml", 422),
        (b'site: demo-shop\nname: "\\ud800"\ndomains: [a.se]\n', "application/yaml", 422),
        (
            b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + b"".join(
                f"a{i}: &a{i} [{', '.join(['*a' if i == 1 else f'*a{i - 1}'] * 10)}]\n".encode()
                for i in range(1, 8)
            ),
            "application/yaml",
            422,
        ),
    ],
    ids=[
        "json-truncated",
        "json-surrogate",
        "json-deep",
        "json-binary",
        "json-list",
        "json-string",
        "yaml-broken",
        "yaml-binary",
        "yaml-deep",
        "yaml-surrogate",
        "yaml-alias-bomb",
    ],
)
def test_put_with_malformed_bodies_never_changes_the_site(
    client, tokens, app, data, content_type, code
):
    resp = client.put(
        SITE,
        data=data,
        content_type=content_type,
        headers={"Authorization": f"Bearer {tokens['admin']}"},
    )
    assert_json_error(resp, code)
    assert row_count(app, SiteRevision) == 1


def test_put_body_over_1_mib_is_413(client, tokens, app):
    data = b"site: demo-shop\n#" + b"x" * (1024 * 1024) + b"\n"
    resp = client.put(
        SITE,
        data=data,
        content_type="application/yaml",
        headers={"Authorization": f"Bearer {tokens['admin']}"},
    )
    assert_json_error(resp, 413)
    assert row_count(app, SiteRevision) == 1


# -- unknown things -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("get", "/api/v1/sites/no-such-site/config", 404),
        ("post", "/api/v1/sites/no-such-site/consents", 404),
        ("get", "/api/v1/sites/%00%ff/config", 404),
        ("post", "/api/v1/sites/%00/consents", 404),
        ("get", "/api/v1/sites/" + "a" * 5000 + "/config", 404),
        ("get", "/api/v1/consents/not-a-uuid", 404),
        ("get", "/api/v1/consents/%00", 404),
        ("get", "/api/v1/nothing-here", 404),
        ("get", "/api/v2/sites/demo-shop/config", 404),
        ("get", "/wp-admin/admin.php", 404),
        ("delete", CONSENTS, 405),
        ("put", CONFIG, 405),
        ("post", CONFIG, 405),
        ("patch", SITE, 405),
        ("delete", SITE, 405),
        ("post", "/healthz", 405),
        ("post", "/.well-known/jwks.json", 405),
    ],
)
def test_unknown_sites_routes_and_methods_are_json_errors(
    client, demo_site, app, method, path, code
):
    resp = getattr(client, method)(path, json=consent_body())
    body = assert_json_error(resp, code)
    assert len(body["message"]) < 200
    if code == 405:
        assert resp.headers["Allow"]
    assert row_count(app, ConsentReceipt) == 0


def test_oversized_urls_over_real_http(live_server: LiveServer, demo_site):
    host, port = live_server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/api/v1/sites/" + "a" * 50_000 + "/config")
    resp = conn.getresponse()
    assert resp.status == 404
    body = json.loads(resp.read())
    assert body["code"] == 404 and len(body["message"]) < 200
    conn.close()
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", CONFIG + "?lang=" + "x" * 30_000)
    resp = conn.getresponse()
    assert resp.status == 200
    assert json.loads(resp.read())["language"] == "sv"
    conn.close()
    # Beyond the server's request-line limit the HTTP layer refuses before the app.
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/api/v1/sites/" + "a" * 100_000 + "/config")
    assert conn.getresponse().status == 414
    conn.close()


@pytest.mark.parametrize(
    "headers",
    [
        {"Accept-Language": "\x00;q=abc, ,;,"},
        {"Accept-Language": "sv;q=2, en;q=-1, *"},
        {"If-None-Match": '\x00"""'},
        {"If-None-Match": "W/" * 1000},
        {"Origin": "http://[::1"},
        {"Origin": "null"},
        {"Origin": "http://" + "a" * 5000 + ".se"},
    ],
)
def test_garbled_headers_on_the_config_are_ignored(client, demo_site, headers):
    resp = client.get(CONFIG, headers=headers)
    assert resp.status_code == 200
    assert resp.get_json()["revision"] == 1
    assert "Access-Control-Allow-Origin" not in resp.headers


# -- CORS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:8080",
        "http://localhost",
        "https://demo.example.se",
        "http://127.0.0.1:5000",
        "https://DEMO.example.se:8443",
    ],
)
def test_allowed_origins_any_port_get_cors_headers(client, demo_site, app, origin):
    cfg = client.get(CONFIG, headers={"Origin": origin})
    assert cfg.status_code == 200
    assert cfg.headers["Access-Control-Allow-Origin"] == origin
    assert "Origin" in cfg.headers["Vary"]
    assert "ETag" in cfg.headers["Access-Control-Expose-Headers"]
    post = client.post(CONSENTS, json=consent_body(), headers={"Origin": origin})
    assert post.status_code == 201
    assert post.headers["Access-Control-Allow-Origin"] == origin
    assert "Origin" in post.headers["Vary"]
    assert row_count(app, ConsentReceipt) == 1


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example.com",
        "https://demo.example.se.evil.com",
        "https://evil-demo.example.se",
        "http://sub.localhost",
        "null",
        "file://",
    ],
)
def test_foreign_origins_get_no_cors_and_cannot_post(client, demo_site, app, origin):
    cfg = client.get(CONFIG, headers={"Origin": origin})
    assert cfg.status_code == 200
    assert "Access-Control-Allow-Origin" not in cfg.headers
    assert "Origin" in cfg.headers["Vary"]
    post = client.post(CONSENTS, json=consent_body(), headers={"Origin": origin})
    body = assert_json_error(post, 403)
    assert "is not a domain of 'demo-shop'" in body["message"]
    assert "Access-Control-Allow-Origin" not in post.headers
    # Refused before the body is even read: a broken body is also 403.
    assert post_raw(client, b"{", headers={"Origin": origin}).status_code == 403
    assert row_count(app, ConsentReceipt) == 0


def test_refusals_to_an_allowed_page_carry_cors_so_the_banner_can_read_them(client, demo_site, app):
    origin = {"Origin": "http://localhost:8080"}
    invalid = client.post(CONSENTS, json=consent_body(revision=99), headers=origin)
    assert_json_error(invalid, 422)
    assert invalid.headers["Access-Control-Allow-Origin"] == "http://localhost:8080"
    malformed = post_raw(client, b"{", headers=origin)
    assert_json_error(malformed, 400)
    assert malformed.headers["Access-Control-Allow-Origin"] == "http://localhost:8080"
    assert row_count(app, ConsentReceipt) == 0


def test_preflight_answers_allowed_origins_only(client, demo_site, app):
    asked = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    ok = client.options(CONSENTS, headers={"Origin": "http://localhost:8080", **asked})
    assert ok.status_code in (200, 204)
    assert ok.headers["Access-Control-Allow-Origin"] == "http://localhost:8080"
    assert "POST" in ok.headers["Access-Control-Allow-Methods"]
    assert "content-type" in ok.headers["Access-Control-Allow-Headers"].lower()
    assert int(ok.headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in ok.headers["Vary"]
    foreign = client.options(CONSENTS, headers={"Origin": "https://evil.example.com", **asked})
    assert foreign.status_code in (200, 204)
    assert "Access-Control-Allow-Origin" not in foreign.headers
    assert "Access-Control-Allow-Methods" not in foreign.headers
    assert row_count(app, ConsentReceipt) == 0


def test_cors_over_real_http(live_server: LiveServer, demo_site, app):
    host, port = live_server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request(
        "OPTIONS",
        CONSENTS,
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )
    resp = conn.getresponse()
    resp.read()
    assert resp.status in (200, 204)
    assert resp.getheader("Access-Control-Allow-Origin") == "http://localhost:3000"
    conn.request(
        "POST",
        CONSENTS,
        body=json.dumps(consent_body()),
        headers={"Origin": "https://evil.example.com", "Content-Type": "application/json"},
    )
    resp = conn.getresponse()
    assert resp.status == 403 and json.loads(resp.read())["code"] == 403
    assert resp.getheader("Access-Control-Allow-Origin") is None
    conn.close()
    assert row_count(app, ConsentReceipt) == 0


def test_wildcard_domains_cover_subdomains_only(client, app):
    with app.app_context():
        decl = read_declaration(EXAMPLE)
        decl.data["domains"] = ["*.shop.example"]
        apply_declaration(decl)
    allowed = client.post(
        CONSENTS,
        json=consent_body(page_url="https://www.shop.example/"),
        headers={"Origin": "https://www.shop.example"},
    )
    assert allowed.status_code == 201
    for origin in ("https://shop.example", "https://evilshop.example"):
        assert (
            client.post(CONSENTS, json=consent_body(), headers={"Origin": origin}).status_code
            == 403
        )
    assert row_count(app, ConsentReceipt) == 1


# -- rate limiting ------------------------------------------------------------------------------


@pytest.fixture
def limited_app(tmp_path: Path, database_url: str):
    application = demo_app(
        tmp_path, database_url, RATELIMIT_ENABLED=True, RATELIMIT_CONSENT="3 per minute"
    )
    yield application
    release(application)


def test_the_fourth_consent_a_minute_from_one_address_is_429(limited_app: Flask):
    client = limited_app.test_client()
    one = {"REMOTE_ADDR": "198.51.100.7"}
    for _ in range(3):
        assert client.post(CONSENTS, json=consent_body(), environ_base=one).status_code == 201
    refused = client.post(CONSENTS, json=consent_body(), environ_base=one)
    body = assert_json_error(refused, 429)
    assert "3 per 1 minute" in body["message"]
    assert int(refused.headers["Retry-After"]) > 0
    # The banner on an allowed page can read why it was refused.
    from_page = client.post(
        CONSENTS,
        json=consent_body(),
        environ_base=one,
        headers={"Origin": "https://demo.example.se"},
    )
    assert from_page.status_code == 429
    assert from_page.headers["Access-Control-Allow-Origin"] == "https://demo.example.se"
    other = client.post(CONSENTS, json=consent_body(), environ_base={"REMOTE_ADDR": "198.51.100.8"})
    assert other.status_code == 201
    # Reading the configuration is not limited.
    assert client.get(CONFIG, environ_base=one).status_code == 200
    assert row_count(limited_app, ConsentReceipt) == 4
