"""The console's statistics page in Chromium: totals, chart, CSV, site scope, axe-core and
the screenshot in docs/console/."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import BrowserContext, Page, expect

from consent_server.console.stats_views import neutralised
from tests.support.apps import ROOT, demo_app, release
from tests.support.consent import CONSENTS, DEMO_PAGE, consent_body
from tests.support.console import Clock, serious_violations, sign_in, token
from tests.support.live import LiveServer
from tests.support.scans import apply, declaration

pytestmark = pytest.mark.browser

SHOTS = ROOT / "docs" / "console"
SOME = {"necessary": True, "preferences": False, "analytics": True, "marketing": False}
NONE = {"necessary": True, "preferences": False, "analytics": False, "marketing": False}


@pytest.fixture
def console(tmp_path: Path) -> Iterator[LiveServer]:
    """The demo site with six sealed choices (3 accept, 2 reject, 1 custom), and another site."""
    app = demo_app(tmp_path, CONSOLE_SECURE_COOKIE=False)
    app.extensions["console_clock"] = Clock()
    with app.app_context():
        apply(declaration("other-shop"))
    client = app.test_client()
    bodies = [consent_body() for _ in range(3)]
    bodies += [consent_body(method="reject_all", decisions=NONE, gpc=True) for _ in range(2)]
    bodies.append(consent_body(method="custom", decisions=SOME, language="en"))
    for body in bodies:
        resp = client.post(CONSENTS, json=body, headers=DEMO_PAGE)
        assert resp.status_code == 201, resp.get_json()
    result = app.test_cli_runner().invoke(args=["log", "seal"])
    assert "over 6 receipts" in result.output, result.output
    with LiveServer(app) as server:
        yield server
    release(app)


def cell(page: Page, table: str, row: str, n: int) -> str:
    return page.locator(f"#{table} tr[data-row={row}] td").nth(n).inner_text()


def test_an_auditor_sees_totals_chart_and_downloads_the_csv(
    console: LiveServer, page: Page
) -> None:
    sign_in(page, console.url, token(console, None, "auditor"))
    page.click("tr[data-site=demo-shop] a.stats-link")
    expect(page.locator("h1")).to_have_text("Statistics of demo-shop")
    assert cell(page, "summary", "total", 0) == "6"
    assert cell(page, "summary", "accept_all", 0) == "3"
    assert cell(page, "summary", "accept_all", 1) == "50.0 %"
    assert cell(page, "summary", "reject_all", 0) == "2"
    assert cell(page, "summary", "custom", 1) == "16.7 %"
    assert cell(page, "summary", "gpc_signal", 0) == "2"
    assert cell(page, "categories", "analytics", 0) == "4"
    assert cell(page, "categories", "marketing", 1) == "50.0 %"
    assert page.locator("#per-language tbody th").all_inner_texts() == ["en", "sv"]
    assert page.locator("#per-revision tbody td.total").all_inner_texts() == ["6"]

    svg = page.locator("svg.chart")
    expect(svg).to_have_attribute("role", "img")
    expect(svg.locator("title").first).to_have_text("Choices per day and method")
    expect(svg.locator("desc")).to_contain_text("6 choices in total")
    bars = svg.locator("rect").evaluate_all(
        "rs => rs.map(r => [r.dataset.method, Number(r.dataset.n)])"
    )
    assert sorted(bars) == [["accept_all", 3], ["custom", 1], ["reject_all", 2]]
    # The same day is in the table too, with the day's numbers.
    assert "6" in page.locator("#per-day td.total").all_inner_texts()

    with page.expect_download() as info:
        page.click("#csv")
    download = info.value
    assert download.suggested_filename.startswith("consent-stats-demo-shop-")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    whole = rows[0]
    assert (whole["scope"], whole["total"], whole["accept_all"], whole["gpc"]) == (
        "range", "6", "3", "2",
    )  # fmt: skip
    assert [r["key"] for r in rows if r["scope"] == "language"] == ["en", "sv"]


def test_the_csv_is_an_attachment_and_bad_ranges_are_refused(console: LiveServer) -> None:
    client = _signed_client(console)
    resp = client.get("/admin/sites/demo-shop/stats.csv?since=2000-01-01&until=2000-01-02")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"] == (
        'attachment; filename="consent-stats-demo-shop-2000-01-01-2000-01-02.csv"'
    )
    assert resp.get_data(as_text=True).splitlines()[1].startswith("range,,0,")
    for query in ("since=nope", "since=2026-02-01&until=2026-01-01", "since=2020-01-01"):
        assert client.get(f"/admin/sites/demo-shop/stats?{query}").status_code == 400
    assert client.get("/admin/sites/no-such-site/stats").status_code == 404


def test_formula_cells_are_quoted() -> None:
    text = "scope,key,total\nlanguage,=HYPERLINK(1),2\nlanguage,@x,1\nday,2026-01-01,3\n"
    assert neutralised(text) == (
        "scope,key,total\nlanguage,'=HYPERLINK(1),2\nlanguage,'@x,1\nday,2026-01-01,3\n"
    )


def _signed_client(server: LiveServer) -> FlaskClient:
    """A test client signed in to the console as an auditor of every site."""
    client = server.app.test_client()
    page = client.get("/admin/signin").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    resp = client.post(
        "/admin/signin", data={"token": token(server, None, "auditor"), "csrf_token": csrf}
    )
    assert resp.status_code == 302
    return client


def test_a_site_scoped_user_cannot_open_another_sites_stats(
    console: LiveServer, page: Page
) -> None:
    sign_in(page, console.url, token(console, "other-shop", "auditor"))
    expect(page.locator("tbody tr")).to_have_count(1)
    for path in ("stats", "stats.csv"):
        resp = page.goto(f"{console.url}/admin/sites/demo-shop/{path}")
        assert resp is not None and resp.status == 404
    resp = page.goto(f"{console.url}/admin/sites/other-shop/stats")
    assert resp is not None and resp.status == 200
    expect(page.locator("#no-choices")).to_be_visible()


def test_the_page_passes_axe_and_is_photographed(
    console: LiveServer, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context(viewport={"width": 1100, "height": 900}, bypass_csp=True).new_page()
    sign_in(page, console.url, token(console, None, "admin"), lang="sv")
    page.goto(f"{console.url}/admin/sites/demo-shop/stats")
    expect(page.locator("h1")).to_have_text("Statistik för demo-shop")
    assert serious_violations(page) == []
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "stats-sv.png"), full_page=True)
