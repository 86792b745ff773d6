"""The audit bundle over HTTP: the admin API's GET /sites/<site>/consents/bundle (auditor
token, since/until as the export's) and the console's /admin/sites/<key>/bundle.zip, each
downloaded from a live server and checked by the offline verifier; the temporary file is
gone before the first byte is sent."""

from __future__ import annotations

import datetime as dt
import http.client
import tempfile
from pathlib import Path

import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from playwright.sync_api import Page

from consent_server.consent_log.verify import verify_path
from tests.support.apps import bearer
from tests.support.consent import DEMO_PAGE, consent_body
from tests.support.console import sign_in, token
from tests.support.live import LiveServer
from tests.support.log import JWKS, SITE, bundle_members, cli, jsonl, post_receipts

BUNDLE = f"/api/v1/sites/{SITE}/consents/bundle"


@pytest.fixture
def spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory of its own for the app's temporary files, to see what stays there."""
    where = tmp_path / "spool"
    where.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(where))
    return where


def get(server: LiveServer, path: str, secret: str | None = None) -> http.client.HTTPResponse:
    """A GET over a real connection, the response still unread."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", path, headers=bearer(secret) if secret else {})
    return conn.getresponse()


def test_an_auditor_downloads_a_bundle_that_verifies(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    tokens: dict[str, str],
    live_server: LiveServer,
    spool: Path,
    tmp_path: Path,
) -> None:
    sealed = post_receipts(client, 3)
    cli(runner, "log", "seal")
    pending = post_receipts(client, 2)

    resp = get(live_server, BUNDLE, tokens["auditor"])
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/zip"
    disposition = resp.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="{SITE}-audit-bundle.zip"'
    # Written and unlinked before the answer began: nothing is left to clean up, whether or
    # not the client reads on.
    assert list(spool.iterdir()) == []
    path = tmp_path / "audit.zip"
    path.write_bytes(resp.read())
    assert int(resp.headers["Content-Length"]) == path.stat().st_size

    members = bundle_members(path)
    assert [x["record"]["receipt_id"] for x in jsonl(members["receipts.jsonl"])] == [
        *sealed,
        *pending,
    ]
    manifest = orjson.loads(members["manifest.json"])
    assert manifest["counts"] == {"receipts": 5, "seals": 1}
    assert f"{live_server.url}/.well-known/jwks.json" in members["VERIFY.txt"].decode()
    jwks = tmp_path / "jwks.json"
    jwks.write_bytes(client.get(JWKS).data)
    report = verify_path(path, jwks=jwks)
    assert report.ok, report.summary()
    assert (report.receipts, report.seals, report.keys) == (5, 1, "pinned")
    # The route reads only: receipts still pending are exported unsealed, as the export does.
    assert len(report.unsealed) == 2
    assert report.manifest_kid
    out = cli(runner, "log", "verify", str(path), "--jwks", str(jwks)).output
    assert "OK" in out


def test_a_range_and_a_client_that_goes_away(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    tokens: dict[str, str],
    live_server: LiveServer,
    spool: Path,
    tmp_path: Path,
) -> None:
    post_receipts(client, 2)
    cli(runner, "log", "seal")
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date().isoformat()
    resp = get(live_server, f"{BUNDLE}?since={later}", tokens["auditor"])
    assert resp.status == 200
    path = tmp_path / "empty.zip"
    path.write_bytes(resp.read())
    manifest = orjson.loads(bundle_members(path)["manifest.json"])
    assert manifest["counts"] == {"receipts": 0, "seals": 0}
    assert manifest["since"].startswith(later)
    assert verify_path(path).ok

    # A client that reads the headers and hangs up leaves no file behind either.
    resp = get(live_server, BUNDLE, tokens["auditor"])
    assert resp.status == 200
    resp.close()
    assert list(spool.iterdir()) == []


def test_refusals(app: Flask, tokens: dict[str, str], live_server: LiveServer, spool: Path) -> None:
    assert get(live_server, BUNDLE).status == 401
    assert get(live_server, BUNDLE, "cm_not-a-token").status == 401
    unknown = get(live_server, "/api/v1/sites/no-such-site/consents/bundle", tokens["operator"])
    assert unknown.status == 404
    bad = get(live_server, f"{BUNDLE}?since=yesterday", tokens["auditor"])
    assert bad.status == 422
    assert "since" in orjson.loads(bad.read())["errors"]["query"]
    assert get(live_server, f"{BUNDLE}?until=2026-13-01", tokens["auditor"]).status == 422
    assert list(spool.iterdir()) == []


def test_the_api_documents_the_route(client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    operation = doc["paths"]["/api/v1/sites/{site}/consents/bundle"]["get"]
    assert "application/zip" in operation["responses"]["200"]["content"]
    assert {p["name"] for p in operation["parameters"] if p["in"] == "query"} == {
        "since",
        "until",
    }


@pytest.mark.browser
def test_the_console_download_verifies(console: LiveServer, page: Page, tmp_path: Path) -> None:
    client = console.app.test_client()
    for _ in range(2):
        resp = client.post(
            "/api/v1/sites/demo-shop/consents", json=consent_body(), headers=DEMO_PAGE
        )
        assert resp.status_code == 201
    console.app.test_cli_runner().invoke(args=["log", "seal"])
    sign_in(page, console.url, token(console, "demo-shop", "auditor"))
    page.goto(f"{console.url}/admin/sites/demo-shop/receipts")
    with page.expect_download() as info:
        page.click("text=Download the audit bundle")
    download = info.value
    assert download.suggested_filename == "demo-shop-audit-bundle.zip"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    report = verify_path(path)
    assert report.ok, report.summary()
    assert (report.receipts, report.seals, report.unsealed) == (2, 1, [])
    # Another site's bundle is not this user's to take.
    resp = page.request.get(f"{console.url}/admin/sites/other-shop/bundle.zip")
    assert resp.status == 404
