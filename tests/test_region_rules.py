"""Region rules: the operator names the country header, the declaration says what visitors
outside the EEA, the UK and Switzerland get, and every receipt records the rule that applied.

Server level here (config, /region, the consent POST on both paths, verification); the banner
in Chromium at the end (opt_out and none)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import BrowserContext, Page, expect

from consent_server.consent_log.models import ConsentReceipt
from consent_server.consent_log.verify.bundle import verify_path
from declaration.constants import EEA_UK_CH
from declaration.loader import DeclarationError, load_declaration
from tests.support.apps import (
    apply_data,
    example_data,
    make_app,
    release,
    reset_database,
    row_count,
)
from tests.support.banner import (
    ALL_DENIED,
    RUN_ORDER,
    cookie_names,
    data_layer,
    is_consent_post,
    pages,
    record,
    stored_choice,
    verified,
    visit,
    wait_runs,
)
from tests.support.consent import CONSENTS, DEMO_PAGE, consent_body
from tests.support.live import LiveServer
from tests.support.log import bundle_members, edit_line, export_bundle, jsonl, kinds, rewrite_bundle

HEADER = "CF-IPCountry"
CONFIG = "/api/v1/sites/demo-shop/config"
REGION = "/api/v1/sites/demo-shop/region"


def _geo_app(tmp_path: Path, database_url: str, **overrides: object) -> Flask:
    app = make_app(tmp_path, database_url, **overrides)
    reset_database(app)
    apply_data(app, example_data(regions={"outside_eea": "opt_out"}))
    return app


@pytest.fixture
def geo_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The demo site declaring opt_out outside the EEA, on a server that trusts CF-IPCountry."""
    app = _geo_app(tmp_path, database_url, GEO_COUNTRY_HEADER=HEADER)
    yield app
    release(app)


@pytest.fixture
def plain_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The same declaration on a server without GEO_COUNTRY_HEADER: region rules off."""
    app = _geo_app(tmp_path, database_url)
    yield app
    release(app)


@pytest.fixture(params=[True, False], ids=["fast-path", "flask-view"])
def paths(request: pytest.FixtureRequest, geo_app: Flask) -> FlaskClient:
    """A client of the geo app on both paths of the consent POST."""
    if not request.param:
        geo_app.wsgi_app = geo_app.wsgi_app.wsgi_app  # type: ignore[attr-defined]
    return geo_app.test_client()


def _record(client: FlaskClient, country: str | None, **changes: object) -> dict:
    """Post a consent with `country` in the proxy's header; the stored record."""
    headers = {**DEMO_PAGE, **({HEADER: country} if country is not None else {})}
    body = consent_body(**changes)
    resp = client.post(CONSENTS, json=body, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    history = client.get(f"/api/v1/consents/{body['consent_id']}", headers=DEMO_PAGE).get_json()
    return history["receipts"][0]["record"]


# -- the declaration ---------------------------------------------------------------------------


def test_the_eea_list_holds_the_eu_the_eea_the_uk_and_switzerland():
    assert len(EEA_UK_CH) == 27 + 3 + 2
    assert {"SE", "DE", "NO", "IS", "LI", "GB", "CH"} <= EEA_UK_CH
    assert not {"US", "UK", "EU"} & EEA_UK_CH  # ISO codes: GB, not UK


def test_a_region_rule_must_be_banner_opt_out_or_none():
    with pytest.raises(DeclarationError) as info:
        load_declaration(example_data(regions={"outside_eea": "nothing", "us": "none"}))
    assert info.value.errors == {
        "regions.outside_eea": ["Must be one of: banner, opt_out, none."],
        "regions.us": ["Unknown field."],
    }


def test_the_default_rule_spelled_out_is_the_same_revision_as_none_given():
    plain = load_declaration(example_data())
    spelled = load_declaration(example_data(regions={"outside_eea": "banner"}))
    assert spelled.content_hash() == plain.content_hash()
    opt_out = load_declaration(example_data(regions={"outside_eea": "opt_out"}))
    assert opt_out.content_hash() != plain.content_hash()
    assert opt_out.revision_content()["regions"] == {"outside_eea": "opt_out"}


# -- the configuration and /region -------------------------------------------------------------


def test_the_config_is_the_same_for_every_country_and_says_to_ask_region(geo_app: Flask):
    client = geo_app.test_client()
    answers = [client.get(CONFIG, headers={HEADER: c}) for c in ("US", "SE", "")]
    assert {a.headers["ETag"] for a in answers} == {answers[0].headers["ETag"]}
    assert HEADER not in answers[0].headers.get("Vary", "")
    assert answers[0].get_json()["region_lookup"] is True


@pytest.mark.parametrize(
    ("country", "rule", "shown"),
    [
        ("US", "opt_out", "US"),
        ("us ", "opt_out", "US"),
        ("SE", "banner", "SE"),
        ("GB", "banner", "GB"),
        ("CH", "banner", "CH"),
        (None, "banner", None),
        ("XX", "banner", None),  # Cloudflare: unknown
        ("T1", "banner", None),  # Cloudflare: Tor
        ("USA", "banner", None),
        ("<script>", "banner", None),
        ("U" * 5000, "banner", None),
    ],
)
def test_region_answers_the_rule_for_the_country_and_is_never_cached(
    geo_app: Flask, country: str | None, rule: str, shown: str | None
):
    headers = {HEADER: country} if country is not None else {}
    resp = geo_app.test_client().get(REGION, headers=headers)
    assert resp.status_code == 200
    assert resp.get_json() == {"rule": rule, "country": shown}
    assert resp.headers["Cache-Control"] == "private, no-store"
    assert HEADER in resp.headers["Vary"].split(", ")


def test_region_of_an_unknown_site_is_404(geo_app: Flask):
    assert geo_app.test_client().get("/api/v1/sites/no-such-site/region").status_code == 404


def test_without_the_operator_setting_the_header_is_ignored(plain_app: Flask):
    client = plain_app.test_client()
    assert client.get(CONFIG).get_json()["region_lookup"] is False
    resp = client.get(REGION, headers={HEADER: "US"})
    assert resp.get_json() == {"rule": "banner", "country": None}
    record = _record(client, "US")
    assert "country" not in record and "region_rule" not in record


def test_a_site_without_rules_needs_no_region_lookup(geo_app: Flask):
    apply_data(geo_app, example_data())
    assert geo_app.test_client().get(CONFIG).get_json()["region_lookup"] is False


# -- the receipt ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "rule", "recorded"),
    [
        ("US", "opt_out", "US"),
        ("SE", "banner", "SE"),
        ("XX", "banner", None),
        (None, "banner", None),
    ],
)
def test_the_receipt_records_the_country_and_the_rule_that_applied(
    paths: FlaskClient, country: str | None, rule: str, recorded: str | None
):
    record = _record(paths, country, method="reject_all", decisions={"necessary": True})
    assert record["country"] == recorded
    assert record["region_rule"] == rule


def test_the_rule_is_the_one_of_the_revision_the_banner_showed(paths: FlaskClient, geo_app: Flask):
    apply_data(geo_app, example_data(regions={"outside_eea": "none"}))
    assert _record(paths, "US", revision=1)["region_rule"] == "opt_out"
    assert _record(paths, "US", revision=2)["region_rule"] == "none"


@pytest.mark.parametrize("field", ["region_rule", "country"])
def test_a_body_cannot_say_which_rule_applied(paths: FlaskClient, geo_app: Flask, field: str):
    body = consent_body(**{field: "none"})
    resp = paths.post(CONSENTS, json=body, headers={**DEMO_PAGE, HEADER: "SE"})
    assert resp.status_code == 422
    assert field in resp.get_json()["errors"]["json"]
    assert row_count(geo_app, ConsentReceipt) == 0


def test_receipts_with_and_without_a_rule_verify_and_the_rule_is_covered_by_the_hash(
    tmp_path: Path,
):
    # One log written first by a server without the setting, then by one with it.
    database = f"sqlite:///{tmp_path}/db.sqlite3"
    before = _geo_app(tmp_path, database)
    old = _record(before.test_client(), "US")
    release(before)
    after = make_app(tmp_path, database, GEO_COUNTRY_HEADER=HEADER)
    try:
        new = _record(after.test_client(), "US")
        assert "region_rule" not in old and new["region_rule"] == "opt_out"
        bundle = export_bundle(after.test_cli_runner(), tmp_path / "audit.zip")
    finally:
        release(after)
    assert verify_path(bundle).ok
    lines = bundle_members(bundle)["receipts.jsonl"].splitlines(keepends=True)
    assert [("region_rule" in doc["record"]) for doc in jsonl(b"".join(lines))] == [False, True]

    def to_banner(doc: dict) -> None:
        doc["record"]["region_rule"] = "banner"

    tampered = rewrite_bundle(
        bundle, tmp_path / "tampered.zip", receipts=lines[0] + edit_line(lines[1], to_banner)
    )
    report = verify_path(tampered)
    assert not report.ok and "modified" in kinds(report)


# -- the banner in Chromium ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def region_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The banner's test page on a server that trusts X-Test-Country (set by each context)."""
    tmp = tmp_path_factory.mktemp("region")
    app = make_app(
        tmp,
        f"sqlite:///{tmp}/db.sqlite3",
        CONFIG_MAX_AGE=0,
        CONFIG_STALE_WHILE_REVALIDATE=0,
        GEO_COUNTRY_HEADER="X-Test-Country",
    )
    reset_database(app)
    app.register_blueprint(pages)
    with LiveServer(app) as live:
        yield live
    release(app)


def _declare(server: LiveServer, rule: str) -> None:
    apply_data(server.app, example_data(regions={"outside_eea": rule}))


def _visitor(new_context: Callable[..., BrowserContext], country: str) -> Page:
    # The header stands in for the CDN's: every request of this browser carries it.
    return new_context(extra_http_headers={"X-Test-Country": country}).new_page()


def test_opt_out_outside_the_eea_runs_everything_with_a_notice_until_the_visitor_says_no(
    region_server: LiveServer, new_context: Callable[..., BrowserContext]
):
    _declare(region_server, "opt_out")
    page = _visitor(new_context, "US")
    visit(page, region_server)
    wait_runs(page, RUN_ORDER)
    assert page.locator("#cm-banner .cm-region").is_visible()
    assert "_ga" in cookie_names(page)
    granted = [e for e in data_layer(page) if e[:2] == ["consent", "update"]]
    assert granted and set(granted[-1][2].values()) == {"granted"}
    assert stored_choice(page.context) is None  # nothing stored or recorded yet
    # Closing the settings redraws the first layer: the notice is still there.
    page.click("[data-cm-action=preferences]")
    page.keyboard.press("Escape")
    expect(page.locator("#cm-banner .cm-region")).to_be_visible()

    body, claims = record(page, lambda: page.click("[data-cm-action=reject-all]"))
    assert body["method"] == "reject_all"
    assert (claims["country"], claims["region_rule"]) == ("US", "opt_out")
    assert "_ga" not in cookie_names(page)


def test_global_privacy_control_is_an_opt_out_under_the_opt_out_rule(
    region_server: LiveServer, new_context: Callable[..., BrowserContext]
):
    _declare(region_server, "opt_out")
    page = _visitor(new_context, "US")
    page.add_init_script(
        "Object.defineProperty(navigator, 'globalPrivacyControl', {get: () => true})"
    )
    with page.expect_response(is_consent_post) as info:
        visit(page, region_server)
    claims = verified(info.value.url, info.value.json()["receipt"])
    assert (claims["method"], claims["region_rule"]) == ("gpc", "opt_out")
    assert page.evaluate("window.runs") == []


def test_opt_out_inside_the_eea_is_the_usual_banner(
    region_server: LiveServer, new_context: Callable[..., BrowserContext]
):
    _declare(region_server, "opt_out")
    page = _visitor(new_context, "SE")
    visit(page, region_server)
    assert page.locator("#cm-banner").is_visible()
    assert page.locator("#cm-banner .cm-region").count() == 0
    assert page.evaluate("window.runs") == []
    _, claims = record(page, lambda: page.click("[data-cm-action=accept-all]"))
    assert (claims["country"], claims["region_rule"]) == ("SE", "banner")


def test_none_outside_the_eea_shows_nothing_sets_nothing_and_runs_nothing(
    region_server: LiveServer, new_context: Callable[..., BrowserContext]
):
    _declare(region_server, "none")
    page = _visitor(new_context, "US")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    visit(page, region_server)
    assert page.locator("#cm-banner").count() == 0
    assert page.locator("#cm-open").count() == 0
    assert page.evaluate("window.runs") == []
    assert cookie_names(page) == set()
    assert data_layer(page) == [["consent", "default", ALL_DENIED]]
    assert posts == []
    # The site's own "cookie settings" link still lets the visitor choose.
    page.evaluate("ConsentManager.show()")
    _, claims = record(page, lambda: page.click("[data-cm-action=accept-all]"))
    assert (claims["country"], claims["region_rule"]) == ("US", "none")
    wait_runs(page, RUN_ORDER)


def test_a_banner_without_an_answer_from_region_asks_as_usual(
    region_server: LiveServer, new_context: Callable[..., BrowserContext]
):
    _declare(region_server, "none")
    page = _visitor(new_context, "US")
    page.route("**/region", lambda route: route.fulfill(status=503, body="down"))
    visit(page, region_server)
    assert page.locator("#cm-banner").is_visible()
