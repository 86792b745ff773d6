"""The scan API: queueing and listing scans by role, a scan as JSON, HTML, diff and proposal,
sites kept apart, signed report links, and the OpenAPI document."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient

from tests.support.apps import bearer
from tests.support.scans import UTC


def test_an_admin_queues_a_scan_and_an_auditor_lists_them(
    client: FlaskClient, scan_api: dict[str, Any]
):
    resp = client.post("/api/v1/sites/demo-shop/scans", headers=bearer(scan_api["admin"]))
    assert resp.status_code == 202, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "queued" and body["trigger"] == "api" and body["site"] == "demo-shop"
    assert (
        client.post(
            "/api/v1/sites/demo-shop/scans", headers=bearer(scan_api["auditor"])
        ).status_code
        == 403
    )
    listed = client.get(
        "/api/v1/sites/demo-shop/scans", headers=bearer(scan_api["auditor"])
    ).get_json()
    assert [s["id"] for s in listed["scans"]] == [body["id"], scan_api["second"], scan_api["first"]]
    assert listed["scans"][1]["finding_counts"]["high"] == 1
    done = client.get(
        "/api/v1/sites/demo-shop/scans?status=done&limit=1", headers=bearer(scan_api["auditor"])
    )
    assert [s["id"] for s in done.get_json()["scans"]] == [scan_api["second"]]
    assert (
        client.get(
            "/api/v1/sites/demo-shop/scans?limit=0", headers=bearer(scan_api["auditor"])
        ).status_code
        == 422
    )


def test_scanning_a_site_without_scan_settings_is_a_conflict(
    client: FlaskClient, tokens: dict[str, str]
):
    resp = client.post("/api/v1/sites/demo-shop/scans", headers=bearer(tokens["admin"]))
    assert resp.status_code == 409
    assert "scan" in resp.get_json()["message"]


def test_a_scan_reads_as_json_html_diff_and_proposal(client: FlaskClient, scan_api: dict[str, Any]):
    auth = bearer(scan_api["auditor"])
    scan_id = scan_api["second"]
    doc = client.get(f"/api/v1/scans/{scan_id}", headers=auth).get_json()
    assert doc["status"] == "done" and doc["revision"] == 1
    assert doc["settings"]["url"] == "https://demo-shop.example/"
    assert {f["type"] for f in doc["findings"]} == {"pre_consent", "undeclared"}
    assert {i["name"] for i in doc["observed"]} == {"_fbp", "<img src=x onerror=alert(1)>"}
    assert doc["report"]["summary"]["cookies"] == 2
    html = client.get(f"/api/v1/scans/{scan_id}/report.html", headers=auth)
    assert html.status_code == 200 and html.mimetype == "text/html"
    assert "sandbox" in html.headers["Content-Security-Policy"]
    assert "<img src=x" not in html.get_data(as_text=True)  # escaped
    diff = client.get(f"/api/v1/scans/{scan_id}/diff", headers=auth).get_json()
    assert diff["previous"] == scan_api["first"]
    assert [f["type"] for f in diff["findings"]["new"]] == ["undeclared"]
    proposed = client.get(f"/api/v1/scans/{scan_id}/proposed-declaration", headers=auth)
    assert proposed.mimetype == "application/yaml"
    # Not an RFC 6265 token: counted, not proposed (a declaration would refuse the name).
    assert "onerror" not in proposed.get_data(as_text=True)
    assert "1 cookie(s) whose names are not RFC 6265 tokens" in proposed.get_data(as_text=True)


def test_tokens_of_one_site_never_see_another_sites_scans(
    client: FlaskClient, scan_api: dict[str, Any]
):
    mine = scan_api["other_admin"]
    for path in ("", "/report.html", "/diff", "/proposed-declaration"):
        resp = client.get(f"/api/v1/scans/{scan_api['second']}{path}", headers=bearer(mine))
        assert resp.status_code == 404, path  # as if it did not exist
        assert (
            client.get(f"/api/v1/scans/{scan_api['other']}{path}", headers=bearer(mine)).status_code
            == 200
        )
        assert client.get(f"/api/v1/scans/{scan_api['second']}{path}").status_code == 401
    assert client.get("/api/v1/sites/demo-shop/scans", headers=bearer(mine)).status_code == 403
    assert client.post("/api/v1/sites/demo-shop/scans", headers=bearer(mine)).status_code == 403
    assert (
        client.get("/api/v1/scans/999999", headers=bearer(scan_api["operator"])).status_code == 404
    )
    assert (
        client.get(
            f"/api/v1/scans/{scan_api['second']}", headers=bearer(scan_api["operator"])
        ).status_code
        == 200
    )


def test_an_unfinished_scan_has_no_report_diff_or_proposal(
    client: FlaskClient, scan_api: dict[str, Any]
):
    queued = client.post(
        "/api/v1/sites/demo-shop/scans", headers=bearer(scan_api["admin"])
    ).get_json()["id"]
    for path in ("/report.html", "/diff", "/proposed-declaration"):
        assert (
            client.get(
                f"/api/v1/scans/{queued}{path}", headers=bearer(scan_api["auditor"])
            ).status_code
            == 409
        )


def test_a_signed_report_link_works_without_a_token_until_it_expires(
    app: Flask, client: FlaskClient, scan_api: dict[str, Any]
):
    from consent_server.scans.alerts import report_link

    with app.app_context():
        link = report_link(scan_api["second"])
        old = report_link(scan_api["second"], now=dt.datetime.now(UTC) - dt.timedelta(days=31))
    assert client.get(link).status_code == 200
    query = parse_qs(urlsplit(link).query)
    forged = f"/api/v1/scans/{scan_api['other']}/report.html?expires={query['expires'][0]}&signature={query['signature'][0]}"
    assert client.get(forged).status_code == 403
    assert client.get(old).status_code == 403
    assert client.get(link.replace("report.html", "diff")).status_code == 401


def test_a_report_link_with_unknown_or_odd_query_parameters_never_fails(
    app: Flask, client: FlaskClient, scan_api: dict[str, Any]
):
    from consent_server.scans.alerts import report_link

    with app.app_context():
        link = report_link(scan_api["second"])
    report = f"/api/v1/scans/{scan_api['second']}/report.html"
    # Mail clients and trackers append parameters: the signature still opens the report.
    assert client.get(f"{link}&utm_source=alert").status_code == 200
    resp = client.get(f"{report}?utm_source=alert")
    assert resp.status_code == 401 and resp.is_json  # no link: a token is needed
    too_long = client.get(f"{report}?expires={'9' * 13}&signature=x")
    assert too_long.status_code == 422 and "expires" in too_long.get_json()["message"]
    assert client.get(f"{report}?expires=&signature=").status_code == 403
    auth = bearer(scan_api["auditor"])
    assert client.get(f"{report}?utm_source=alert", headers=auth).status_code == 200


def test_the_openapi_document_lists_the_scan_endpoints(client: FlaskClient):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/api/v1/sites/{site}/scans",
        "/api/v1/scans/{scan_id}",
        "/api/v1/scans/{scan_id}/report.html",
        "/api/v1/scans/{scan_id}/diff",
        "/api/v1/scans/{scan_id}/proposed-declaration",
    ):
        assert path in paths
