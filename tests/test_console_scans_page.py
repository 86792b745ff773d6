"""The console's scan pages in Chromium: history and trend, one scan's findings, screenshots and
third-party requests, waiving and revoking, refusals, hostile text, axe-core and the
screenshots in docs/console/."""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from consent_server.extensions import db
from consent_server.scans.models import Scan
from consent_server.scans.queue import ScanClaim, claim_scan, create_scan
from consent_server.scans.results import store_failure
from consent_server.scans.waivers import list_waivers
from consent_server.sites.models import Site
from tests.support.apps import ROOT, release
from tests.support.console import console_app, serious_violations, sign_in, token
from tests.support.live import LiveServer
from tests.support.scans import apply, cookie, declaration, fake_report, finding

pytestmark = pytest.mark.browser

SHOTS = ROOT / "docs" / "console"
HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_URL = 'https://tracker.example/p?"><script>alert(2)</script>'
PHASES = ("pre-consent", "after-reject", "after-accept")


def _jpeg(page: Page, text: str) -> dict[str, Any]:
    """A real JPEG of a small page (as the scanner's screenshot), in the report's shape."""
    page.set_viewport_size({"width": 480, "height": 300})
    page.set_content(
        "<body style='margin:0;font:20px sans-serif;background:#eef'>"
        "<main style='padding:1rem'>Demo Shop</main>"
        f"<div style='position:fixed;bottom:0;width:100%;background:#124;color:#fff;"
        f"padding:1rem'>{text}</div></body>"
    )
    data = page.screenshot(type="jpeg", quality=60)
    return {
        "media_type": "image/jpeg",
        "width": 480,
        "height": 300,
        "page": "https://demo-shop.example/",
        "bytes": len(data),
        "data": base64.b64encode(data).decode("ascii"),
    }


def _store(site: str, report: dict[str, Any]) -> int:
    """Queue, claim and store a finished scan with this report (as a worker); its id."""
    scan = create_scan(site, trigger="schedule")
    claim = claim_scan(scan.id, "test-worker")
    assert isinstance(claim, ScanClaim)
    from consent_server.scans.results import store_result

    assert store_result(claim, report)
    return scan.id


@pytest.fixture
def scans(tmp_path: Path, new_context: Callable[..., BrowserContext]) -> Iterator[dict[str, Any]]:
    """demo-shop with two finished scans (1, then 3 findings) and a failed one; other-shop's."""
    camera = new_context().new_page()
    shots = {
        phase: _jpeg(camera, text)
        for phase, text in zip(
            PHASES, ("We use cookies [Accept] [Reject]", "Rejected", "Accepted"), strict=True
        )
    }
    app = console_app(tmp_path)
    with app.app_context():
        apply(declaration("demo-shop"))
        first = _store(
            "demo-shop",
            fake_report([cookie("_fbp")], [finding("pre_consent", "high", "_fbp")]),
        )
        report = fake_report(
            [cookie("_fbp"), cookie(HOSTILE, "unknown", source="none"), cookie("_ga", "analytics")],
            [
                finding("pre_consent", "high", "_fbp"),
                finding("undeclared", "medium", HOSTILE),
                finding("lifetime", "low", "_ga"),
            ],
        )
        template = report["phases"][0]
        report["phases"] = [
            {**template, "phase": phase, "screenshot": shots[phase]} for phase in PHASES
        ]
        report["third_party_requests"] = [
            {
                "phase": "pre-consent",
                "url": HOSTILE_URL,
                "type": "image",
                "party": "third",
                "host": "tracker.example",
                "domain": "tracker.example",
                "vendor": "Tracker Inc",
                "category": "marketing",
                "page": "https://demo-shop.example/",
                "frame": "https://demo-shop.example/",
                "count": 2,
            }
        ]
        report["summary"]["third_party_requests"] = 1
        second = _store("demo-shop", report)
        broken = create_scan("demo-shop", trigger="schedule").id
        claim = claim_scan(broken, "test-worker")
        assert isinstance(claim, ScanClaim)
        store_failure(claim, "net::ERR_NAME_NOT_RESOLVED <b>demo-shop.example</b>", final=True)
        other = db.session.execute(
            select(Scan.id).join(Site, Site.id == Scan.site_id).where(Site.key == "other-shop")
        ).scalar_one()
    with LiveServer(app) as server:
        yield {
            "server": server,
            "first": first,
            "second": second,
            "failed": broken,
            "other": other,
        }
    release(app)


def _csrf(page: Page) -> str:
    """The session's CSRF token, from the sign-out form every page has."""
    value = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert value
    return value


class Console:
    """A test client signed in to the console with a token of `role`, and its CSRF token."""

    def __init__(self, server: LiveServer, role: str, site: str | None = None) -> None:
        self.client: FlaskClient = server.app.test_client()
        resp = self.client.post(
            "/admin/signin",
            data={"token": token(server, site, role), "csrf_token": self._csrf("/admin/signin")},
        )
        assert resp.status_code == 302
        self.csrf = self._csrf("/admin/?lang=en")  # a session starts with a new CSRF token

    def _csrf(self, path: str) -> str:
        page = self.client.get(path).get_data(as_text=True)
        return page.split('name="csrf_token" value="')[1].split('"')[0]

    def get(self, path: str) -> Any:
        return self.client.get(path)

    def post(self, path: str, **form: str) -> Any:
        return self.client.post(path, data={"csrf_token": self.csrf, **form})


def _in_days(n: int) -> str:
    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=n)).isoformat()


def test_the_history_shows_counts_and_trend_and_scans_now(
    scans: dict[str, Any], page: Page
) -> None:
    server = scans["server"]
    sign_in(page, server.url, token(server, None, "admin"))
    page.click("tr[data-site=demo-shop] a.scans-link")
    expect(page.locator("h1")).to_have_text("Scans of Demo Shop AB")
    rows = page.locator("#history tbody tr")
    expect(rows).to_have_count(3)
    assert rows.locator("th").all_inner_texts() == [
        f"#{scans['failed']}", f"#{scans['second']}", f"#{scans['first']}",
    ]  # fmt: skip
    newest_done = page.locator(f"#history tr[data-scan='{scans['second']}']")
    assert newest_done.locator("td[data-severity=high]").inner_text() == "1"
    assert newest_done.locator("td[data-severity=medium]").inner_text() == "1"
    assert newest_done.locator("td.total").inner_text() == "3"
    expect(newest_done.locator("td.change")).to_contain_text("+2")
    expect(page.locator(f"tr[data-scan='{scans['failed']}'] .status")).to_have_text("Failed")

    svg = page.locator("svg.sparkline")
    expect(svg).to_have_attribute("role", "img")
    expect(svg.locator("title").first).to_have_text("Findings per scan")
    expect(svg.locator("desc")).to_contain_text("2 finished scans")
    points = svg.locator("circle").evaluate_all("cs => cs.map(c => Number(c.dataset.n))")
    assert points == [1, 3]

    page.click("form.scan-now button")
    expect(page.locator("h1")).to_have_text("Scans of Demo Shop AB")
    expect(page.locator("p.notice")).to_contain_text("of Demo Shop AB is queued")
    expect(rows).to_have_count(4)
    expect(rows.first.locator(".status")).to_have_text("Queued")
    page.click("form.scan-now button")  # one scan at a time, as over the API
    expect(page.locator("p.error")).to_contain_text("already has a scan queued or running")
    expect(rows).to_have_count(4)


def test_the_scan_page_shows_findings_changes_screenshots_and_requests(
    scans: dict[str, Any], page: Page
) -> None:
    server = scans["server"]
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, server.url, token(server, None, "auditor"))
    page.goto(f"{server.url}/admin/scans/{scans['second']}")
    expect(page.locator("h1")).to_have_text(f"Scan {scans['second']} of Demo Shop AB")
    expect(page.locator("#scan-status")).to_have_text("Done")
    sections = page.locator("section.severity")
    assert sections.evaluate_all("ss => ss.map(s => s.dataset.severity)") == [
        "high", "medium", "low",
    ]  # fmt: skip
    expect(sections.nth(0).locator("h3")).to_have_text("High (1)")
    expect(sections.nth(0).locator(".message")).to_have_text("_fbp: pre consent")
    fingerprint = sections.nth(0).locator("li.finding").get_attribute("data-fingerprint")
    assert fingerprint and re.fullmatch(r"[0-9a-f]{64}", fingerprint)
    expect(sections.nth(0).locator("code.fingerprint")).to_have_text(fingerprint)
    # Text from the scanned site is text: no element made of it, no script run.
    expect(sections.nth(1).locator(".message")).to_have_text(f"{HOSTILE}: undeclared")
    expect(page.locator("img[src=x]")).to_have_count(0)
    expect(page.locator("main script")).to_have_count(0)
    # An auditor reads only.
    expect(page.locator("form.waive-form")).to_have_count(0)

    new = page.locator("[data-changes=findings-new]")
    expect(new.locator("h3")).to_have_text("New findings (2)")
    expect(new.locator("li").nth(0)).to_contain_text(HOSTILE)
    expect(page.locator("[data-changes=findings-resolved] h3")).to_have_text(
        "Resolved findings (0)"
    )
    expect(page.locator("[data-changes=cookies-new] li")).to_have_count(2)

    expect(page.locator("pre.yaml")).to_contain_text("name: _ga")
    with page.expect_download() as info:
        page.click("#proposal-download")
    text = Path(info.value.path()).read_text()
    assert text.startswith("# Proposed additions to the declaration of demo-shop")
    assert "name: _ga" in text

    images = page.locator(".shots img")
    expect(images).to_have_count(3)
    assert images.evaluate_all("is => is.map(i => i.alt)") == [
        "The start page before consent, with the banner visible",
        "The start page after the banner was rejected",
        "The start page after the banner was accepted",
    ]
    # Decoded under the console's CSP (img-src data:), not a broken image.
    assert images.evaluate_all("is => is.map(i => i.complete && i.naturalWidth)") == [480] * 3

    table = page.locator("#third-party")
    expect(table.locator("caption")).to_have_text("Requests to third parties (1)")
    expect(table.locator("tbody th code")).to_have_text(HOSTILE_URL)
    expect(table.locator("tbody td").nth(3)).to_have_text("Tracker Inc (marketing)")
    assert dialogs == []


def test_an_admin_waives_a_finding_with_reason_and_expiry_then_revokes_it(
    scans: dict[str, Any], page: Page
) -> None:
    server = scans["server"]
    sign_in(page, server.url, token(server, None, "admin"))
    page.goto(f"{server.url}/admin/scans/{scans['second']}")
    item = page.locator("section[data-severity=high] li.finding")
    fingerprint = item.get_attribute("data-fingerprint")
    item.locator("summary").click()
    item.get_by_label("Waived").check()
    item.get_by_label("Reason (required)").fill("The pixel is removed in release 4.2")
    last_day = _in_days(30)
    item.get_by_label("Holds until, inclusive (YYYY-MM-DD)").fill(last_day)
    item.get_by_role("button", name="Save the decision").click()

    expect(page.locator("p.notice")).to_have_text("The finding is waived.")
    item = page.locator("section[data-severity=high] li.finding")
    expect(item).to_have_class(re.compile(r"\bwaived\b"))
    expect(item.locator(".waiver")).to_contain_text("Waived by console:admin all via token:")
    expect(item.locator(".waiver q")).to_have_text("The pixel is removed in release 4.2")
    expect(item.locator(".waiver time")).to_have_attribute(
        "datetime", f"{_in_days(31)}T00:00:00+00:00"
    )
    expect(item.locator("form.waive-form")).to_have_count(0)
    with server.app.app_context():
        (row,) = list_waivers("demo-shop")
        assert (row.state, row.action, row.fingerprint) == ("active", "waive", fingerprint)
        assert row.actor.startswith("console:admin all via token:cm_")
        assert row.token_id is not None

    item.get_by_role("button", name=re.compile("Revoke")).click()
    expect(page.locator("p.notice")).to_have_text("The decision is revoked.")
    expect(page.locator("section[data-severity=high] li.finding.waived")).to_have_count(0)
    with server.app.app_context():
        states = [(s.action, s.state) for s in list_waivers("demo-shop")]
        assert states == [("revoke", "revocation"), ("waive", "revoked")]


def test_a_missing_reason_is_a_400_with_a_message_and_the_form_kept(
    scans: dict[str, Any], page: Page
) -> None:
    server = scans["server"]
    sign_in(page, server.url, token(server, None, "admin"))
    page.goto(f"{server.url}/admin/scans/{scans['second']}")
    item = page.locator("section[data-severity=medium] li.finding")
    item.locator("summary").click()
    reason = item.get_by_label("Reason (required)")
    # The browser would refuse an empty required field itself: test what the server says.
    reason.evaluate("r => r.removeAttribute('required')")
    reason.fill("   ")
    with page.expect_navigation() as nav:
        item.get_by_role("button", name="Save the decision").click()
    assert nav.value is not None and nav.value.status == 400
    item = page.locator("section[data-severity=medium] li.finding")
    expect(item.locator("details")).to_have_attribute("open", "")
    expect(item.locator("[role=alert]")).to_have_text("Give a reason.")
    expect(item.get_by_label("Reason (required)")).to_have_attribute("aria-invalid", "true")
    with server.app.app_context():
        assert list_waivers("demo-shop") == []


def test_bad_waiver_forms_are_4xx_never_500(scans: dict[str, Any]) -> None:
    server = scans["server"]
    client = Console(server, "admin")
    page = client.get(f"/admin/scans/{scans['second']}").get_data(as_text=True)
    fingerprint, medium, _ = re.findall(r'data-fingerprint="([0-9a-f]{64})"', page)
    path = f"/admin/scans/{scans['second']}/findings/{fingerprint}/waivers"
    good = {"kind": "acknowledge", "reason": "known", "expires": _in_days(10)}
    cases = [
        ({"kind": "ignore"}, "Choose whether to acknowledge or waive"),
        ({"reason": ""}, "Give a reason."),
        ({"reason": "x" * 2001}, "at most 2000 characters"),
        ({"reason": "bell\x07"}, "control characters"),
        ({"expires": "31/12/2026"}, "YYYY-MM-DD"),
        ({"expires": ""}, "YYYY-MM-DD"),
        ({"expires": _in_days(-1)}, "already passed"),
        ({"expires": _in_days(366)}, "at most 365 days ahead"),
    ]
    for change, message in cases:
        resp = client.post(path, **{**good, **change})
        assert resp.status_code == 400, change
        assert message in resp.get_data(as_text=True), change
    assert client.post(path.replace(fingerprint, "0" * 64), **good).status_code == 404
    assert client.post(path.replace(fingerprint, "nope"), **good).status_code == 404
    # A finding of the site, but not of that scan.
    first = f"/admin/scans/{scans['first']}/findings/{medium}/waivers"
    assert client.post(first, **good).status_code == 404
    assert client.client.post(path, data=good).status_code == 400  # no CSRF token
    assert client.post(f"/admin/scans/{scans['second']}/waivers/999/revoke").status_code == 404
    assert _waivers(server) == []
    resp = client.post(path, **{**good, "expires": _in_days(365)})
    assert resp.status_code == 302
    (row,) = _waivers(server)
    resp = client.post(f"/admin/scans/{scans['second']}/waivers/{row.id}/revoke")
    assert resp.status_code == 302
    resp = client.post(f"/admin/scans/{scans['second']}/waivers/{row.id}/revoke")
    assert resp.status_code == 409
    assert "already expired or been revoked" in resp.get_data(as_text=True)
    assert client.get("/admin/scans/0").status_code == 404
    assert client.get("/admin/scans/99999999999").status_code == 404
    assert client.get("/admin/sites/no-such-site/scans").status_code == 404


def _waivers(server: LiveServer) -> list[Any]:
    with server.app.app_context():
        return list_waivers("demo-shop")


def test_unfinished_and_failed_scans_show_their_state(scans: dict[str, Any]) -> None:
    server = scans["server"]
    client = Console(server, "auditor")
    resp = client.get(f"/admin/scans/{scans['failed']}?lang=en")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "The scan failed and has no result." in body
    assert "net::ERR_NAME_NOT_RESOLVED &lt;b&gt;demo-shop.example&lt;/b&gt;" in body
    with server.app.app_context():
        queued = create_scan("demo-shop").id
    resp = client.get(f"/admin/scans/{queued}")
    assert resp.status_code == 200 and "queued and has no result yet" in resp.get_data(as_text=True)
    assert client.get(f"/admin/scans/{queued}/proposed-declaration.yaml").status_code == 409
    resp = client.get(f"/admin/scans/{scans['second']}/proposed-declaration.yaml")
    assert resp.status_code == 200 and resp.mimetype == "application/yaml"
    assert resp.headers["Content-Disposition"].startswith("attachment;")


def test_an_auditor_cannot_waive_or_scan(scans: dict[str, Any], page: Page) -> None:
    server = scans["server"]
    sign_in(page, server.url, token(server, None, "auditor"))
    page.goto(f"{server.url}/admin/sites/demo-shop/scans")
    expect(page.locator("form.scan-now")).to_have_count(0)
    page.goto(f"{server.url}/admin/scans/{scans['second']}")
    fingerprint = page.locator("li.finding").first.get_attribute("data-fingerprint")
    csrf = _csrf(page)
    form = {"csrf_token": csrf, "kind": "waive", "reason": "r", "expires": _in_days(5)}
    base = f"{server.url}/admin/scans/{scans['second']}"
    assert page.request.post(f"{base}/findings/{fingerprint}/waivers", form=form).status == 403
    resp = page.request.post(f"{server.url}/admin/sites/demo-shop/scans", form={"csrf_token": csrf})
    assert resp.status == 403
    assert _waivers(server) == []


def test_a_site_scoped_user_cannot_see_another_sites_scans(
    scans: dict[str, Any], page: Page
) -> None:
    server = scans["server"]
    sign_in(page, server.url, token(server, "other-shop", "admin"))
    expect(page.locator("tr[data-site] a.scans-link")).to_have_count(1)
    for path in (
        f"/admin/scans/{scans['second']}",
        f"/admin/scans/{scans['second']}/proposed-declaration.yaml",
        "/admin/sites/demo-shop/scans",
    ):
        resp = page.request.get(server.url + path)
        assert resp.status == 404, path
    resp = page.goto(f"{server.url}/admin/scans/{scans['other']}")
    assert resp is not None and resp.status == 200
    csrf = _csrf(page)
    with server.app.app_context():
        fingerprint = db.session.execute(db.text("select fingerprint from scan_findings")).scalar()
    form = {"csrf_token": csrf, "kind": "waive", "reason": "r", "expires": _in_days(5)}
    base = f"{server.url}/admin/scans/{scans['second']}"
    assert page.request.post(f"{base}/findings/{fingerprint}/waivers", form=form).status == 404
    resp = page.request.post(f"{server.url}/admin/sites/demo-shop/scans", form={"csrf_token": csrf})
    assert resp.status == 404
    assert _waivers(server) == []


def test_the_pages_pass_axe_and_are_photographed(
    scans: dict[str, Any], new_context: Callable[..., BrowserContext]
) -> None:
    server = scans["server"]
    page = new_context(viewport={"width": 1200, "height": 900}, bypass_csp=True).new_page()
    sign_in(page, server.url, token(server, None, "admin"), lang="en")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for lang in ("en", "sv"):
        page.goto(f"{server.url}/admin/sites/demo-shop/scans?lang={lang}")
        expect(page.locator("svg.sparkline")).to_be_visible()
        assert serious_violations(page) == [], lang
        if lang == "en":
            page.screenshot(path=str(SHOTS / "scans-en.png"), full_page=True)
        page.goto(f"{server.url}/admin/scans/{scans['second']}?lang={lang}")
        page.locator("section[data-severity=high] summary").click()  # a form open, for axe too
        title = "Skanning" if lang == "sv" else "Scan"
        expect(page.locator("h1")).to_contain_text(title)
        assert serious_violations(page) == [], lang
        page.screenshot(path=str(SHOTS / f"scan-{lang}.png"), full_page=True)
