"""The scan report for people: a screenshot of the start page per phase, the requests to third
parties before consent and after a reject, and the HTML report in Swedish or English.

One scan per engine of the fixture shop (tests/support/site.py), whose hosts are allowed on
loopback through `private_hosts`, as an operator allows an internal site; the tracker's host
is made a known tracking domain through a knowledge-base entry of the test's own.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from consent_server.api.scans import REPORT_CSP
from scanner import scan
from scanner.cli import main
from scanner.config import ScanConfig
from scanner.engines.base import SCREENSHOT_MAX_BYTES, image_size
from scanner.knowledge import KnowledgeBase
from scanner.model import PageVisit, PhaseResult, RequestEvent
from scanner.report.html import render_html
from scanner.trackers import MAX_QUERY, cut_url, request_findings, third_party_requests
from tests.support.browsers import (
    CHROMEDRIVER,
    assert_no_new_browsers,
    browser_pids,
    one_page_scan,
    require_chromedriver,
)
from tests.support.site import ADS, RESOLVE, SITE, TRACKER, VIDEO, ScannerSite

PRE, REJECT, ACCEPT = "pre-consent", "after-reject", "after-accept"
TRACKER_VENDOR = "Tracker AB"
# Playwright sets the viewport; with Selenium the window is that size, the viewport a little less.
VIEWPORT = (1366, 900)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScannerSite]:
    with ScannerSite(tmp_path_factory.mktemp("people-site")) as server:
        yield server


def _knowledge() -> KnowledgeBase:
    """The default knowledge base, with tracker.test as an analytics vendor's domain."""
    own = KnowledgeBase.from_data(
        [
            {
                "name": "trk_id",
                "vendor": TRACKER_VENDOR,
                "category": "analytics",
                "lifetime": "P1Y",
                "domains": [TRACKER],
                "description": "The fixture tracker's visitor ID.",
            }
        ]
    )
    return KnowledgeBase.load_default().merge(own)


@pytest.fixture(scope="module", params=["playwright", "selenium"])
def report(request: pytest.FixtureRequest, site: ScannerSite, chromium_path: str) -> dict:
    engine = request.param
    if engine == "selenium":
        require_chromedriver()
    config = ScanConfig(
        url=site.url("/"),
        engine=engine,
        chromium=chromium_path,
        chromedriver=CHROMEDRIVER,
        resolve=dict(RESOLVE),
        insecure=True,
        private_hosts=("*.test",),  # the fixture's hosts, and nothing else, on loopback
        max_pages=3,
        page_timeout=20,
        total_timeout=120,
    )
    before = browser_pids()
    result = scan(config, knowledge=_knowledge())
    assert_no_new_browsers(before)
    return result


def _phase(report: dict, name: str) -> dict:
    return next(p for p in report["phases"] if p["phase"] == name)


# -- screenshots --------------------------------------------------------------------------------


@pytest.mark.browser
def test_a_screenshot_of_the_start_page_per_phase(report: dict, site: ScannerSite) -> None:
    shots = {}
    for name in (PRE, REJECT, ACCEPT):
        shot = _phase(report, name)["screenshot"]
        assert shot is not None, name
        data = base64.b64decode(shot["data"], validate=True)
        assert shot["media_type"] == "image/jpeg" and data[:3] == b"\xff\xd8\xff"
        assert len(data) == shot["bytes"] <= SCREENSHOT_MAX_BYTES
        assert image_size(data) == (shot["width"], shot["height"])
        assert shot["width"] == VIEWPORT[0] and VIEWPORT[1] * 0.75 <= shot["height"] <= VIEWPORT[1]
        if report["engine"] == "playwright":
            assert (shot["width"], shot["height"]) == VIEWPORT
        assert shot["page"] == site.url("/")
        shots[name] = data
    # Before consent the banner covers the page's foot; after either click it is gone.
    assert shots[PRE] != shots[REJECT]
    assert report["settings"]["screenshots"] is True


# -- requests to third parties -------------------------------------------------------------------


@pytest.mark.browser
def test_pixels_and_beacons_to_third_parties_are_listed(report: dict, site: ScannerSite) -> None:
    rows = report["third_party_requests"]
    assert report["summary"]["third_party_requests"] == len(rows)
    assert {r["phase"] for r in rows} == {PRE, REJECT}  # after an accept, what was agreed to
    assert all(r["party"] == "third" and r["host"] != SITE for r in rows)
    for phase in (PRE, REJECT):
        mine = [r for r in rows if r["phase"] == phase]
        kinds = {(r["host"], r["type"], r["url"].split("?")[0]) for r in mine}
        assert (TRACKER, "image", site.url("/collect", TRACKER)) in kinds, kinds
        assert (TRACKER, "beacon", site.url("/beacon", TRACKER)) in kinds, kinds
        assert (TRACKER, "script", site.url("/analytics.js", TRACKER)) in kinds, kinds
        tracker = [r for r in mine if r["host"] == TRACKER]
        assert {(r["vendor"], r["category"]) for r in tracker} == {(TRACKER_VENDOR, "analytics")}
        for row in mine:
            assert row["page"].startswith(site.url("/"))
            query = row["url"].partition("?")[2]
            assert len(query) <= MAX_QUERY + 1
    pre = [r for r in rows if r["phase"] == PRE]
    # The start page's pixel, cookie-sync frame and video embed: before consent only.
    kinds = {(r["host"], r["type"], r["url"]) for r in pre}
    assert (ADS, "image", site.url("/pixel.gif", ADS)) in kinds
    assert (ADS, "document", site.url("/sync", ADS)) in kinds
    assert (VIDEO, "document", site.url("/embed", VIDEO)) in kinds
    assert all(r["vendor"] is None for r in pre if r["host"] in (ADS, VIDEO))
    # The pixel's long query string is cut.
    pixel = next(r for r in pre if r["url"].startswith(site.url("/collect", TRACKER)))
    assert pixel["url"].endswith("…") and "pad=" in pixel["url"]
    # The start page before the reject repeats the pre-consent one: not listed again.
    rejected = [r for r in rows if r["phase"] == REJECT]
    assert not any(r["host"] == ADS for r in rejected)
    json.dumps(report)


@pytest.mark.browser
def test_requests_to_a_known_tracker_are_findings(report: dict) -> None:
    found = {(f["type"], f["domain"]): f for f in report["findings"]}
    pre = found[("pre_consent_request", TRACKER)]
    after = found[("after_reject_request", TRACKER)]
    for finding in (pre, after):
        assert finding["severity"] == "medium" and finding["cookie"] is None
        assert finding["evidence"]["vendor"] == TRACKER_VENDOR
        assert {"beacon", "image", "script"} <= set(finding["evidence"]["types"])
    assert "before any consent" in pre["message"] and TRACKER_VENDOR in pre["message"]
    # Hosts the knowledge base does not know are listed, not findings.
    assert not any(
        f["type"].endswith("_request") and f["domain"] != TRACKER for f in found.values()
    )


# -- the HTML report -----------------------------------------------------------------------------


@pytest.mark.browser
def test_the_html_report_in_swedish_shows_the_screenshots(
    report: dict, page: Page, tmp_path: Path
) -> None:
    html = render_html(report, lang="sv")
    assert html.startswith("<!doctype html><html lang='sv'>")
    for heading in ("Fynd", "Faser", "Skärmbilder", "Kakor", "Anrop till tredje part"):
        assert re.search(f"<h2>{heading}", html), heading
    assert "<h2>Findings</h2>" not in html and "<h2>Screenshots</h2>" not in html
    english = render_html(report)
    assert "<h2>Findings</h2>" in english and "<h2>Screenshots</h2>" in english
    # Images only as data: URLs, under the server's report CSP, decoded at their full size.
    sources = re.findall(r"<img src='([^']*)'", html)
    assert len(sources) == 3 and all(s.startswith("data:image/jpeg;base64,") for s in sources)
    url = "https://report.test/scan.html"
    page.route(
        url,
        lambda route: route.fulfill(
            body=html,
            content_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": REPORT_CSP},
        ),
    )
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(url)
    page.wait_for_function("[...document.images].every((i) => i.complete)")
    sizes = page.eval_on_selector_all(
        "figure img", "(imgs) => imgs.map((i) => [i.naturalWidth, i.naturalHeight])"
    )
    shots = [_phase(report, p)["screenshot"] for p in (PRE, REJECT, ACCEPT)]
    assert sizes == [[s["width"], s["height"]] for s in shots]
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 0


def _bare_report(**more: Any) -> dict[str, Any]:
    """The smallest report render_html takes, with the parts a test gives."""
    report: dict[str, Any] = {
        "url": "https://shop.example/",
        "started_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC).isoformat(),
        "engine": "playwright",
        "elapsed_seconds": 1.0,
        "summary": {"pages": 1, "cookies": 0, "storage_items": 0, "refused": 0},
        "findings": [],
        "phases": [],
        "cookies": [],
    }
    report.update(more)
    return report


def test_hostile_urls_and_screenshots_are_data() -> None:
    evil = "https://evil.example/p?x='><script>alert(1)</script>"
    phase = {
        "phase": PRE,
        "pages": [],
        "banner": {"found": False},
        "error": None,
        "cookies_set": 0,
        "by_category": {},
        "third_party": 0,
    }
    shots = [
        {"media_type": "text/html", "data": "PHNjcmlwdD4=", "page": evil},
        {"media_type": "image/jpeg", "data": "AAAA' onerror='alert(1)", "page": evil},
        {"media_type": "image/png", "data": "iVBORw0KGgo=", "width": "1' x='", "page": evil},
    ]
    report = _bare_report(
        phases=[{**phase, "screenshot": shot} for shot in shots],
        third_party_requests=[
            {
                "phase": PRE,
                "url": evil,
                "type": "<b>image",
                "domain": "evil.example",
                "vendor": "<i>V",
                "category": "marketing",
                "page": evil,
                "count": 1,
            }
        ],
    )
    html = render_html(report, lang="sv")
    assert "<script>alert" not in html and "onerror=" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;i&gt;V (marketing)" in html
    # Only the well-formed PNG is shown, without the size that was not a number.
    assert re.findall(r"<img [^>]*>", html) == [
        "<img src='data:image/png;base64,iVBORw0KGgo=' alt='Startsidan, före samtycke'>"
    ]


def test_urls_are_cut_and_lose_credentials_and_fragments() -> None:
    long = "https://u:secret@px.example:8443/t.gif?" + "a=1&" * 100 + "#frag"
    cut = cut_url(long)
    assert cut.startswith("https://px.example:8443/t.gif?a=1&")
    assert "secret" not in cut and "frag" not in cut and cut.endswith("…")
    assert len(cut.partition("?")[2]) == MAX_QUERY + 1
    assert cut_url("https://a.example/" + "p" * 1000).endswith("…")
    assert len(cut_url("https://a.example/" + "p" * 1000)) <= 301


def test_a_known_tracker_domain_from_the_default_knowledge_base() -> None:
    site = "https://shop.example/"
    start = PageVisit(url=site, final_url=site, status=200, phase=REJECT)
    start.requests = [
        # Before the click: the pre-consent phase covers it.
        RequestEvent("https://ad.doubleclick.net/early", "image", site, site, at=1.0),
        RequestEvent("https://ad.doubleclick.net/pagead?id=1", "image", site, site, at=3.0),
        RequestEvent("https://ad.doubleclick.net/pagead?id=1", "image", site, site, at=4.0),
        RequestEvent("https://cdn.shop.example/app.js", "script", site, site, at=3.0),
        RequestEvent("https://static.unknown.example/x.js", "script", site, site, at=3.0),
    ]
    phases = [
        PhaseResult(REJECT, pages=[start], action_at=2.0),
        PhaseResult(ACCEPT, pages=[start], action_at=2.0),
    ]
    rows, omitted = third_party_requests(site, phases, KnowledgeBase.load_default())
    assert omitted == 0
    assert [(r["phase"], r["url"], r["count"], r["vendor"]) for r in rows] == [
        (REJECT, "https://ad.doubleclick.net/pagead?id=1", 2, "Google Ads"),
        (REJECT, "https://static.unknown.example/x.js", 1, None),
    ]
    [finding] = request_findings(rows)
    assert (finding.type, finding.domain, finding.phase) == (
        "after_reject_request",
        "doubleclick.net",
        REJECT,
    )
    assert finding.evidence["category"] == "marketing" and finding.evidence["requests"] == 2


# -- the command line ----------------------------------------------------------------------------


@pytest.mark.browser
def test_cli_lang_and_no_screenshots(site: ScannerSite, chromium_path: str, tmp_path: Path) -> None:
    json_file, html_file = tmp_path / "scan.json", tmp_path / "scan.html"
    args = one_page_scan(site.url("/"), chromium_path, "--insecure")
    args += [f"--resolve={host}={ip}" for host, ip in RESOLVE.items()]
    status = main(
        [
            *args,
            "--json",
            str(json_file),
            "--html",
            str(html_file),
            "--lang",
            "sv",
            "--no-screenshots",
            "--fail-on",
            "critical",
        ]
    )
    assert status == 0
    saved = json.loads(json_file.read_text())
    assert saved["settings"]["screenshots"] is False
    assert all(p["screenshot"] is None for p in saved["phases"])
    assert saved["third_party_requests"]  # the list does not depend on screenshots
    html = html_file.read_text(encoding="utf-8")
    assert "<html lang='sv'>" in html and "<h2>Fynd</h2>" in html and "<img" not in html
    assert main([site.url("/"), "--lang", "de"]) == 2  # a usage error
