"""The banner's texts in real Chromium (Playwright): hostile texts shown as text, and the
language chosen from the page and the browser."""

from __future__ import annotations

import pytest

from tests.support.apps import apply_data, example_data
from tests.support.banner import record, visit

pytestmark = pytest.mark.browser


HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    '"><svg onload=alert(3)>',
    "<iframe src=javascript:alert(4)>",
]


def test_hostile_texts_are_shown_as_text(new_context, banner_server, banner_app):
    site = "hostile-shop"
    data = example_data(site=site, default_language="en", languages=["en"])
    h = iter(HOSTILE * 20)
    data["texts"] = {
        "en": {key: next(h) for key in ("title", "body", "accept_all", "reject_all", "settings")}
    }
    data["texts"]["en"].update(settings_title=next(h), save=next(h), blocked=next(h), allow=next(h))
    for cat in data["categories"]:
        cat["title"] = {"en": next(h)}
        cat["description"] = {"en": next(h)}
    for cookie in data["cookies"]:
        cookie["purpose"] = {"en": next(h)}
        cookie["provider"] = next(h)
    apply_data(banner_app, data)

    page = new_context().new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    visit(page, banner_server, site=site, lang="en")
    texts = data["texts"]["en"]
    page.get_by_role("dialog", name=texts["title"]).wait_for()
    assert page.locator("#cm-banner h2").first.text_content() == texts["title"]
    assert page.locator("#cm-d").text_content().startswith(texts["body"])
    assert page.locator("[data-cm-action='accept-all']").first.text_content() == texts["accept_all"]
    page.locator("[data-cm-action='preferences']").first.click()
    page.locator("#cm-banner .cm-l2").wait_for()
    for details in page.locator("#cm-banner details").all():
        details.locator("summary").click()
    banner_text = page.locator("#cm-banner").text_content()
    for cat in data["categories"]:
        assert cat["title"]["en"] in banner_text and cat["description"]["en"] in banner_text
    for cookie in data["cookies"]:
        assert cookie["purpose"]["en"] in banner_text and cookie["provider"] in banner_text
    assert texts["blocked"] in page.locator(".cm-ph").text_content()
    injected = ", ".join(
        f"{where} {tag}"
        for where in ("#cm-banner", ".cm-ph")
        for tag in ("img", "svg", "script", "iframe")
    )
    assert page.locator(injected).count() == 0
    assert page.evaluate("document.querySelectorAll('img, svg').length") == 0
    body, _ = record(page, page.locator("#cm-banner [data-cm-action='save']").click)
    assert body["method"] == "custom" and body["language"] == "en"
    assert dialogs == []


@pytest.mark.parametrize(
    ("lang", "locale", "title", "accept"),
    [
        ("en", "sv-SE", "We use cookies", "Accept all"),
        ("sv", "en-US", "Vi använder kakor", "Godkänn alla"),
        ("none", "en-US", "We use cookies", "Accept all"),
        ("none", "de-DE", "Vi använder kakor", "Godkänn alla"),
    ],
)
def test_language(new_context, banner_server, lang, locale, title, accept):
    page = new_context(locale=locale).new_page()
    visit(page, banner_server, lang=lang)
    dialog = page.get_by_role("dialog", name=title)
    dialog.wait_for()
    assert dialog.get_by_role("button", name=accept).is_visible()
    expected = "en" if accept == "Accept all" else "sv"
    assert page.locator("#cm-banner").get_attribute("lang") == expected
    body, _ = record(page, dialog.get_by_role("button", name=accept).click)
    assert body["language"] == expected
