"""Acknowledgements and waivers of findings: audited history, shown in scans, left out of
alerts until they expire or are revoked; API roles and site scopes, CLI, hostile input."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from consent_server.extensions import db
from consent_server.scans.alerts import send_pending_alert
from consent_server.scans.models import FindingWaiver, Scan
from consent_server.scans.queue import ScanClaim, claim_scan, create_scan
from consent_server.scans.results import fingerprint, get_scan, scan_document, store_result
from consent_server.scans.waivers import (
    FindingNotFound,
    WaiverError,
    WaiverNotActive,
    active_waivers,
    create_waiver,
    list_waivers,
    revoke_waiver,
)
from consent_server.sites.service import get_site
from consent_server.sites.tokens import create_token
from tests.support.scans import NOW, apply, cookie, declaration, fake_report, finding
from tests.support.sinks import WebhookReceiver

DAY = dt.timedelta(days=1)
FBP = finding("pre_consent", "high", "_fbp")
TRACKER = finding("undeclared", "high", "tracker")


def _scan_at(site: str, findings: list[dict[str, Any]], when: dt.datetime) -> int:
    """A finished scan of the site with these findings, stored at `when`."""
    scan = create_scan(site, trigger="manual", now=when)
    claim = claim_scan(scan.id, "test-worker", now=when)
    assert isinstance(claim, ScanClaim)
    assert store_result(claim, fake_report([cookie("_fbp")], findings), now=when)
    return scan.id


def _told(hook: WebhookReceiver) -> list[str | None]:
    _, body, _ = hook.next()
    return [f["cookie"] for f in json.loads(body)["new_findings"]]


def _alert_state(scan_id: int) -> str | None:
    db.session.expire_all()
    return db.session.get(Scan, scan_id).alert_state


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def hook(app: Flask) -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        app.config.update(WEBHOOK_ALLOW_PRIVATE=True, WEBHOOK_BACKOFF=0.01)
        with app.app_context():
            apply(declaration(fail_on="high", alerts={"webhook": receiver.url}))
        yield receiver


def test_a_waived_finding_is_left_out_of_alerts_until_its_waiver_expires(
    app: Flask, hook: WebhookReceiver
):
    fbp = fingerprint(FBP)
    with app.app_context():
        first = _scan_at("demo-shop", [FBP], NOW)
        send_pending_alert(first, now=NOW)
        assert _told(hook) == ["_fbp"]
        waiver = create_waiver(
            "demo-shop",
            fbp,
            "waive",
            "Accepted: legal says so",
            NOW + 10 * DAY,
            "cli",
            now=NOW + dt.timedelta(hours=1),
        )

        # Gone, then back with a new problem: only the new problem is told.
        assert _alert_state(_scan_at("demo-shop", [], NOW + DAY)) is None
        third = _scan_at("demo-shop", [FBP, TRACKER], NOW + 2 * DAY)
        send_pending_alert(third, now=NOW + 2 * DAY)
        assert _told(hook) == ["tracker"]
        doc = scan_document(get_scan(third), now=NOW + 2 * DAY)
        marked = {f["cookie"]: f["waiver"] for f in doc["findings"]}
        assert marked["tracker"] is None and doc["waived"] == 1
        assert marked["_fbp"]["id"] == waiver.id and marked["_fbp"]["kind"] == "waive"
        assert marked["_fbp"]["reason"] == "Accepted: legal says so"
        assert marked["_fbp"]["expires_at"] == (NOW + 10 * DAY).isoformat()

        # Still waived and nothing new: no alert at all.
        fourth = _scan_at("demo-shop", [FBP], NOW + 3 * DAY)
        assert _alert_state(fourth) is None
        assert send_pending_alert(fourth, now=NOW + 3 * DAY) is None

        # The waiver has expired: the finding, still there, is told again.
        fifth = _scan_at("demo-shop", [FBP], NOW + 11 * DAY)
        assert _alert_state(fifth) == "pending"
        send_pending_alert(fifth, now=NOW + 11 * DAY)
        assert _told(hook) == ["_fbp"]
        assert scan_document(get_scan(fifth), now=NOW + 11 * DAY)["findings"][0]["waiver"] is None
        assert hook.nothing_more()


def test_an_alert_whose_findings_were_all_waived_since_the_scan_is_skipped(
    app: Flask, hook: WebhookReceiver
):
    with app.app_context():
        scan = _scan_at("demo-shop", [FBP], NOW)
        assert _alert_state(scan) == "pending"
        create_waiver(
            "demo-shop",
            fingerprint(FBP),
            "acknowledge",
            "Being fixed in ticket 42",
            NOW + 5 * DAY,
            "console:dpo",
            now=NOW + dt.timedelta(minutes=5),
        )
        result = send_pending_alert(scan, now=NOW + dt.timedelta(minutes=10))
        assert result == {"new_findings": 0}
        assert _alert_state(scan) == "skipped"
        assert hook.nothing_more()


def test_a_revoked_waiver_no_longer_suppresses_and_the_history_keeps_every_row(
    app: Flask, hook: WebhookReceiver
):
    fbp = fingerprint(FBP)
    with app.app_context():
        first = _scan_at("demo-shop", [FBP], NOW)
        send_pending_alert(first, now=NOW)
        assert _told(hook) == ["_fbp"]
        waiver = create_waiver(
            "demo-shop", fbp, "waive", "Accepted", NOW + 30 * DAY, "cli", now=NOW + DAY
        )
        assert _alert_state(_scan_at("demo-shop", [FBP], NOW + 2 * DAY)) is None
        revocation = revoke_waiver(
            "demo-shop",
            waiver.id,
            "console:anna",
            reason="Not accepted after all",
            now=NOW + 3 * DAY,
        )
        with pytest.raises(WaiverNotActive):
            revoke_waiver("demo-shop", waiver.id, "cli", now=NOW + 4 * DAY)
        site_id = get_site("demo-shop").id
        assert fbp in active_waivers(site_id, NOW + 2 * DAY)
        assert active_waivers(site_id, NOW + 3 * DAY) == {}

        after = _scan_at("demo-shop", [FBP], NOW + 5 * DAY)
        send_pending_alert(after, now=NOW + 5 * DAY)
        assert _told(hook) == ["_fbp"]

        history = list_waivers("demo-shop", now=NOW + 5 * DAY)
        assert [(h.id, h.action, h.state) for h in history] == [
            (revocation.id, "revoke", "revocation"),
            (waiver.id, "waive", "revoked"),
        ]
        assert history[1].revoked_by == revocation.id and history[1].reason == "Accepted"
        assert history[0].actor == "console:anna" and history[0].revokes_id == waiver.id


def test_the_service_refuses_bad_waivers(app: Flask):
    with app.app_context():
        apply(declaration())
        _scan_at("demo-shop", [FBP], NOW)
        fbp = fingerprint(FBP)

        def waive(**changes: Any) -> FindingWaiver:
            args = {
                "site_key": "demo-shop",
                "fingerprint": fbp,
                "kind": "waive",
                "reason": "ok",
                "expires_at": NOW + DAY,
                "actor": "cli",
                "now": NOW,
            }
            return create_waiver(**{**args, **changes})

        for bad in (
            {"fingerprint": "xyz"},
            {"fingerprint": fbp[:-1]},
            {"kind": "ignore"},
            {"reason": "   "},
            {"reason": "x" * 2001},
            {"reason": "nul\x00byte"},
            {"reason": "escape \x1b[31m"},
            {"expires_at": NOW},
            {"expires_at": NOW - DAY},
            {"expires_at": NOW + 367 * DAY},
        ):
            with pytest.raises(WaiverError):
                waive(**bad)
        with pytest.raises(FindingNotFound):
            waive(fingerprint="0" * 64)
        assert waive(fingerprint=fbp.upper(), reason="multi\nline").fingerprint == fbp
        assert db.session.query(FindingWaiver).count() == 1


# -- the API ---------------------------------------------------------------------------------


def _fbp_of(scan_api: dict[str, Any]) -> str:
    """The fingerprint of the _fbp finding both demo-shop scans of `scan_api` have."""
    assert scan_api["second"]
    return fingerprint(finding("pre_consent", "high", "_fbp"))


@pytest.fixture
def operator_admin(app: Flask, scan_api: dict[str, Any]) -> str:
    """An admin token of every site."""
    with app.app_context():
        return create_token(None, "admin")[1]


def _body(**changes: Any) -> dict[str, Any]:
    expires = (dt.datetime.now(dt.UTC) + 30 * DAY).isoformat()
    return {"kind": "waive", "reason": "Accepted risk", "expires_at": expires, **changes}


def test_an_admin_waives_an_auditor_reads_the_history_and_the_scan_shows_it(
    client: FlaskClient, scan_api: dict[str, Any], operator_admin: str
):
    fbp = _fbp_of(scan_api)
    url = f"/api/v1/sites/demo-shop/findings/{fbp}/waivers"
    made = client.post(url, json=_body(user="anna"), headers=_auth(scan_api["admin"]))
    assert made.status_code == 201, made.get_json()
    waiver = made.get_json()
    assert waiver["kind"] == "waive" and waiver["state"] == "active"
    assert waiver["by"].startswith("console:anna via token:cm_") and waiver["token"]

    scan = client.get(f"/api/v1/scans/{scan_api['second']}", headers=_auth(scan_api["auditor"]))
    marked = {f["cookie"]: f["waiver"] for f in scan.get_json()["findings"]}
    assert marked["_fbp"]["id"] == waiver["id"] and marked["_fbp"]["reason"] == "Accepted risk"
    assert scan.get_json()["waived"] == 1

    revoked = client.delete(f"{url}/{waiver['id']}?reason=wrong", headers=_auth(operator_admin))
    assert revoked.status_code == 200, revoked.get_json()
    assert revoked.get_json()["kind"] == "revoke" and revoked.get_json()["revokes"] == waiver["id"]
    again = client.delete(f"{url}/{waiver['id']}", headers=_auth(scan_api["admin"]))
    assert again.status_code == 409

    listed = client.get("/api/v1/sites/demo-shop/waivers", headers=_auth(scan_api["auditor"]))
    assert listed.status_code == 200
    rows = listed.get_json()["waivers"]
    assert [(r["kind"], r["state"]) for r in rows] == [
        ("revoke", "revocation"),
        ("waive", "revoked"),
    ]
    assert rows[1]["finding"]["type"] == "pre_consent" and rows[0]["reason"] == "wrong"
    assert rows[0]["by"].startswith("token:cm_")


def test_waiving_needs_an_admin_of_that_site(client: FlaskClient, scan_api: dict[str, Any]):
    fbp = _fbp_of(scan_api)
    url = f"/api/v1/sites/demo-shop/findings/{fbp}/waivers"
    assert client.post(url, json=_body()).status_code == 401
    assert client.post(url, json=_body(), headers=_auth(scan_api["auditor"])).status_code == 403
    assert client.post(url, json=_body(), headers=_auth(scan_api["operator"])).status_code == 403
    other = client.post(url, json=_body(), headers=_auth(scan_api["other_admin"]))
    assert other.status_code == 403
    # Under its own site, the other admin finds no such finding: fingerprints are per site.
    own = client.post(
        f"/api/v1/sites/other-shop/findings/{fbp}/waivers",
        json=_body(),
        headers=_auth(scan_api["other_admin"]),
    )
    assert own.status_code == 404
    made = client.post(url, json=_body(), headers=_auth(scan_api["admin"])).get_json()
    foreign = client.delete(
        f"/api/v1/sites/other-shop/findings/{fbp}/waivers/{made['id']}",
        headers=_auth(scan_api["other_admin"]),
    )
    assert foreign.status_code == 404
    assert (
        client.get(
            "/api/v1/sites/demo-shop/waivers", headers=_auth(scan_api["other_admin"])
        ).status_code
        == 403
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("zz" * 32, {}),
        ("ab", {}),
        ("%00" + "a" * 63, {}),
        (None, {"kind": "ignore"}),
        (None, {"reason": ""}),
        (None, {"reason": "x" * 2001}),
        (None, {"reason": "a\x00b"}),
        (None, {"expires_at": "2020-01-01"}),
        (None, {"expires_at": "2999-01-01T00:00:00Z"}),
        (None, {"expires_at": "not a date"}),
        (None, {"expires_at": "99999-01-01"}),
        (None, {"user": "x" * 101}),
        (None, {"user": "bob\x07"}),
        (None, {"extra": 1}),
        (None, {"reason": 5}),
    ],
)
def test_bad_waiver_requests_are_4xx(
    client: FlaskClient, scan_api: dict[str, Any], path: str | None, body: dict[str, Any]
):
    fbp = path or _fbp_of(scan_api)
    resp = client.post(
        f"/api/v1/sites/demo-shop/findings/{fbp}/waivers",
        json=_body(**body),
        headers=_auth(scan_api["admin"]),
    )
    assert 400 <= resp.status_code < 500, resp.get_data(as_text=True)
    assert resp.get_json()["message"]


def test_bad_revocations_and_unknown_sites_are_4xx(
    client: FlaskClient, scan_api: dict[str, Any], operator_admin: str
):
    fbp = _fbp_of(scan_api)
    admin = _auth(operator_admin)
    base = f"/api/v1/sites/demo-shop/findings/{fbp}/waivers"
    assert client.delete(f"{base}/999999", headers=admin).status_code == 404
    assert client.delete(f"{base}/99999999999999999999", headers=admin).status_code == 404
    assert client.delete(f"{base}/1?reason={'x' * 2001}", headers=admin).status_code == 422
    assert client.get("/api/v1/sites/nope/waivers", headers=admin).status_code == 404
    unknown = client.post(f"/api/v1/sites/nope/findings/{fbp}/waivers", json=_body(), headers=admin)
    assert unknown.status_code == 404
    made = client.post(base, json=_body(), headers=admin).get_json()
    other_fp = client.delete(
        f"/api/v1/sites/demo-shop/findings/{'0' * 64}/waivers/{made['id']}", headers=admin
    )
    assert other_fp.status_code == 404


# -- the CLI ---------------------------------------------------------------------------------


def test_waive_list_show_and_unwaive_from_the_command_line(app: Flask, scan_api: dict[str, Any]):
    runner = app.test_cli_runner()
    fbp = _fbp_of(scan_api)
    until = (dt.date.today() + dt.timedelta(days=60)).isoformat()
    made = runner.invoke(
        args=["scans", "waive", "demo-shop", fbp, "--reason", "Accepted", "--until", until]
    )
    assert made.exit_code == 0, made.output
    assert f"waive {fbp} until {until} 00:00 UTC" in made.output
    shown = runner.invoke(args=["scans", "show", str(scan_api["second"])])
    assert f"(waived until {until} 00:00 UTC by cli: Accepted)" in shown.output

    listed = runner.invoke(args=["scans", "waivers", "demo-shop", "--json"])
    assert listed.exit_code == 0
    rows = json.loads(listed.output)
    assert rows[0]["fingerprint"] == fbp and rows[0]["by"] == "cli"
    assert rows[0]["state"] == "active" and rows[0]["kind"] == "waive"
    text = runner.invoke(args=["scans", "waivers", "demo-shop"]).output
    assert "waive" in text and "active" in text and "[high] pre_consent" in text

    revoked = runner.invoke(args=["scans", "unwaive", "demo-shop", str(rows[0]["id"])])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert runner.invoke(args=["scans", "unwaive", "demo-shop", str(rows[0]["id"])]).exit_code == 1
    shown = runner.invoke(args=["scans", "show", str(scan_api["second"])])
    assert "waived" not in shown.output

    for bad in (
        ["scans", "waive", "demo-shop", "nothex", "--reason", "r", "--until", until],
        ["scans", "waive", "demo-shop", fbp, "--reason", "r", "--until", "2001-01-01"],
        ["scans", "waive", "demo-shop", fbp, "--reason", "r", "--until", "tomorrow"],
        ["scans", "waive", "demo-shop", fbp, "--reason", " ", "--until", until],
        ["scans", "waive", "nope", fbp, "--reason", "r", "--until", until],
        ["scans", "waive", "demo-shop", "0" * 64, "--reason", "r", "--until", until],
        ["scans", "waivers", "nope"],
    ):
        result = runner.invoke(args=bad)
        assert result.exit_code == 2, (bad, result.output)
