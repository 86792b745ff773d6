"""The generated cookie policy says exactly what the site sets, and the analysis reads it back."""

from __future__ import annotations

from typing import Any

import pytest

from declaration.loader import load_declaration, read_declaration
from declaration.policy_text import build_policy, display_name, render_html, render_markdown
from scanner.policy import analyze_html, analyze_text
from tests.support.apps import EXAMPLE


def _declaration(cookies: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    data = {
        "site": "round-trip",
        "name": "Rundresa AB",
        "domains": ["www.example.se"],
        "languages": ["sv", "en"],
        "default_language": "sv",
        "cookies": cookies,
        **extra,
    }
    return load_declaration(data).data


ONLY_NECESSARY_SESSION = _declaration(
    [{"name": "sessionid", "category": "necessary", "lifetime": "session", "provider": "Oss"}]
)
ONLY_PERSISTENT_MARKETING = _declaration(
    [
        {"name": "consent", "category": "necessary", "lifetime": "P6M"},
        {"name": "_fbp", "category": "marketing", "lifetime": "P90D", "provider": "Meta"},
    ]
)
ANALYTICS_AND_PREFERENCES = _declaration(
    [
        {"name": "lang", "category": "preferences", "lifetime": "P1Y"},
        {"name_pattern": "^_pk_id\\.[0-9]+\\..+$", "category": "analytics", "lifetime": "P13M"},
        {"name": "csrftoken", "category": "necessary", "lifetime": "session"},
    ],
    policy_url="https://www.example.se/integritet",
)
CASES = {
    "example": read_declaration(EXAMPLE).data,
    "only-necessary-session": ONLY_NECESSARY_SESSION,
    "only-persistent-marketing": ONLY_PERSISTENT_MARKETING,
    "analytics-and-preferences": ANALYTICS_AND_PREFERENCES,
}


def _expected(policy_tables: dict[str, list[Any]]) -> tuple[list[str], list[str]]:
    order = ["necessary", "preferences", "analytics", "marketing"]
    cats = [c for c in order if c in policy_tables]
    classes = {
        "session" if row.lifetime == "session" else "persistent"
        for rows in policy_tables.values()
        for row in rows
    }
    return cats, [x for x in ("session", "persistent") if x in classes]


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("lang", ["sv", "en"])
@pytest.mark.parametrize("fmt", ["markdown", "html"])
def test_generated_policy_is_read_back_exactly(case: str, lang: str, fmt: str):
    policy = build_policy(CASES[case], lang)
    text = render_markdown(policy) if fmt == "markdown" else render_html(policy)
    statement = analyze_text(text) if fmt == "markdown" else analyze_html(text)
    categories, lifetimes = _expected(policy.tables)
    assert statement.language == lang
    assert statement.mentions_cookies
    assert statement.declared_purposes == categories
    assert statement.declared_lifetimes == lifetimes
    assert statement.problems == [], [p.value for p in statement.problems]
    assert statement.withdrawal, "the text must say how to withdraw consent"


def test_scan_report_adds_observed_undeclared_cookies_to_their_category():
    report = {
        "cookies": [
            {
                "name": "_hjSessionUser_123",
                "party": "first",
                "registrable_domain": "example.se",
                "requested_seconds": 365 * 86400,
                "classification": {
                    "category": "analytics",
                    "vendor": "Hotjar",
                    "description": "Hotjar user id",
                },
            },
            {
                "name": "mystery",
                "party": "first",
                "requested_seconds": None,
                "classification": {"category": "unknown", "vendor": None},
            },
            {
                "name": "_fbp",
                "party": "first",
                "requested_seconds": 90 * 86400,
                "classification": {"category": "marketing", "vendor": "Meta"},
            },
        ]
    }
    policy = build_policy(ONLY_NECESSARY_SESSION, "en", report)
    assert [c.name for c in policy.tables["analytics"]] == ["_hjSessionUser_123"]
    assert policy.tables["analytics"][0].provider == "Hotjar"
    assert policy.tables["analytics"][0].lifetime == "P1Y"
    assert "marketing" in policy.tables and "unknown" not in policy.tables
    statement = analyze_text(render_markdown(policy))
    assert statement.declared_purposes == ["necessary", "analytics", "marketing"]
    assert statement.declared_lifetimes == ["session", "persistent"]


def test_html_escapes_hostile_declared_texts():
    hostile = _declaration(
        [
            {
                "name": "x",
                "category": "necessary",
                "provider": "<img src=x onerror=alert(1)>",
                "purpose": {"en": "<script>alert(2)</script>"},
            }
        ],
        name="<b>Evil</b> AB",
    )
    html = render_html(build_policy(hostile, "en"))
    assert "<img" not in html and "<script" not in html and "<b>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_pattern_names_are_shown_readably():
    assert display_name("^_ga_[A-Z0-9]+$", "^_ga_[A-Z0-9]+$") == "_ga_*"
    assert display_name("^(a|b)$", "^(a|b)$") == "^(a|b)$"
    assert display_name("sessionid", None) == "sessionid"


def test_unknown_language_is_refused():
    with pytest.raises(ValueError, match="sv or en"):
        build_policy(ONLY_NECESSARY_SESSION, "de")


def test_cookie_policy_endpoint_serves_html_and_markdown(client, demo_site):
    html = client.get("/api/v1/sites/demo-shop/cookie-policy?lang=sv&format=html")
    assert html.status_code == 200 and html.mimetype == "text/html"
    assert analyze_html(html.get_data(as_text=True)).declared_purposes == [
        "necessary",
        "preferences",
        "analytics",
        "marketing",
    ]
    md = client.get("/api/v1/sites/demo-shop/cookie-policy?lang=en&format=markdown")
    assert md.mimetype == "text/markdown" and md.get_data(as_text=True).startswith("## Cookies")
    assert client.get("/api/v1/sites/demo-shop/cookie-policy?lang=de").status_code == 422
    assert client.get("/api/v1/sites/demo-shop/cookie-policy?format=pdf").status_code == 422
    assert client.get("/api/v1/sites/nope-site/cookie-policy").status_code == 404


def test_sites_policy_command_prints_the_section(runner, demo_site, tmp_path):
    result = runner.invoke(args=["sites", "policy", "demo-shop", "--lang", "sv"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("## Kakor (cookies)")
    assert "| \\_ga\\_\\* | Google Analytics | 2 år |" in result.output
    missing = runner.invoke(args=["sites", "policy", "nope-site"])
    assert missing.exit_code == 2 and "Unknown site" in missing.output
