"""The banner's built-in languages in real Chromium (Playwright): the page's language picks a
language file, which the banner loads on its own; a site's text wins over the built-in one;
the cookie count is in the plural form of the language; a site's texts stay text."""

from __future__ import annotations

import json

import pytest

from tests.support.apps import ROOT, apply_data, example_data
from tests.support.banner import visit

pytestmark = pytest.mark.browser

I18N = ROOT / "static" / "banner" / "src" / "i18n"
LANGUAGES = ["sv", "en", "da", "nb", "fi", "de", "fr", "es", "nl", "pl"]
SITE = "all-languages"


def builtin(lang: str) -> dict[str, str]:
    return json.loads((I18N / f"{lang}.json").read_text(encoding="utf-8"))


def cookie(name: str, category: str) -> dict[str, str]:
    return {"name": name, "category": category, "provider": "Shop", "lifetime": "P1D"}


@pytest.fixture(scope="module")
def languages_site(banner_app) -> str:
    """The example site in the ten languages, with 1, 2 and 5 cookies in three categories."""
    data = example_data(site=SITE, default_language="en", languages=LANGUAGES)
    data["cookies"] = [
        cookie("sid", "necessary"),
        *(cookie(f"pref{i}", "preferences") for i in range(2)),
        *(cookie(f"ana{i}", "analytics") for i in range(5)),
    ]
    data["texts"] = {
        "de": {"title": "Cookies auf unserer Seite"},
        "pl": {"accept_all": "<img src=x onerror=alert(1)>", "cookies_few": "<b>{n}</b> ciastka"},
    }
    apply_data(banner_app, data)
    return SITE


def test_language_files_are_complete_and_separate():
    from declaration.constants import TEXT_KEYS

    required = set(TEXT_KEYS) - {f"cookies_{f}" for f in ("zero", "two", "few", "many")}
    for lang in LANGUAGES:
        texts = builtin(lang)
        assert required <= set(texts), (lang, required - set(texts))
        assert set(texts) <= set(TEXT_KEYS), lang
        assert all(v.strip() for v in texts.values()), lang
        assert "{n}" in texts["cookies_one"] and "{n}" in texts["cookies_other"]
    assert {"cookies_few", "cookies_many"} <= set(builtin("pl"))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_page_language_picks_the_language_file(new_context, banner_server, languages_site, lang):
    page = new_context(locale="en-US").new_page()
    loaded = []
    page.on("response", lambda r: "/banner/i18n/" in r.url and loaded.append(r))
    visit(page, banner_server, site=languages_site, lang=f"{lang}-XX")
    texts = builtin(lang)
    title = "Cookies auf unserer Seite" if lang == "de" else texts["title"]
    page.get_by_role("dialog", name=title).wait_for()
    assert page.locator("#cm-banner").get_attribute("lang") == lang
    assert (
        page.locator("#cm-banner .cm-l1 [data-cm-action='reject-all']").text_content()
        == (texts["reject_all"])
    )
    # Only this language's file, fetched once and cached for a year.
    assert [r.url.split("/")[-1].split(".")[0] for r in loaded] == [lang]
    assert loaded[0].headers["cache-control"] == "public, max-age=31536000, immutable"


def test_norwegian_and_the_browser_language(new_context, banner_server, languages_site):
    page = new_context(locale="en-US").new_page()
    visit(page, banner_server, site=languages_site, lang="no")
    page.get_by_role("dialog", name=builtin("nb")["title"]).wait_for()
    # Without <html lang>, the browser's language.
    page = new_context(locale="fi-FI").new_page()
    visit(page, banner_server, site=languages_site, lang="none")
    page.get_by_role("dialog", name=builtin("fi")["title"]).wait_for()
    # A language the site does not have: the site's default.
    page = new_context(locale="it-IT").new_page()
    visit(page, banner_server, site=languages_site, lang="it")
    page.get_by_role("dialog", name=builtin("en")["title"]).wait_for()


def counts(page) -> list[str]:
    page.locator("#cm-banner .cm-l1 [data-cm-action='preferences']").click()
    return page.locator("#cm-banner .cm-l2 summary").all_text_contents()


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("sv", ["1 kaka", "2 kakor", "5 kakor"]),
        ("fi", ["1 eväste", "2 evästettä", "5 evästettä"]),
        ("en", ["1 cookie", "2 cookies", "5 cookies"]),
        # The site's own few-form (2-4) wins; one and many are the built-in ones.
        ("pl", ["1 plik cookie", "<b>2</b> ciastka", "5 plików cookie"]),
    ],
)
def test_cookie_counts_are_in_the_plural_form(
    new_context, banner_server, languages_site, lang, expected
):
    page = new_context(locale="en-US").new_page()
    visit(page, banner_server, site=languages_site, lang=lang)
    assert counts(page) == expected


def test_site_texts_win_and_stay_text(new_context, banner_server, languages_site):
    page = new_context(locale="en-US").new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    visit(page, banner_server, site=languages_site, lang="pl")
    accept = page.locator("#cm-banner .cm-l1 [data-cm-action='accept-all']")
    assert accept.text_content() == "<img src=x onerror=alert(1)>"
    assert page.locator("#cm-banner img, #cm-banner b").count() == 0
    counts(page)
    assert page.locator("#cm-banner img, #cm-banner b").count() == 0
    # Built-in texts the site did not override stay.
    assert page.locator("#cm-t").text_content() == builtin("pl")["title"]
    assert dialogs == []


def test_without_the_language_file_the_server_texts_are_used(
    new_context, banner_server, languages_site
):
    page = new_context(locale="en-US").new_page()
    page.route("**/banner/i18n/**", lambda route: route.abort())
    visit(page, banner_server, site=languages_site, lang="de")
    page.get_by_role("dialog", name="Cookies auf unserer Seite").wait_for()
    assert page.locator("#cm-banner .cm-l1 [data-cm-action='reject-all']").text_content() == (
        "Alle ablehnen"
    )


def test_config_with_own_texts_leaves_the_built_in_ones_out(banner_app, languages_site):
    client = banner_app.test_client()
    own = client.get(f"/api/v1/sites/{SITE}/config?lang=de&texts=own").json
    assert own["texts"] == {"title": "Cookies auf unserer Seite"}
    merged = client.get(f"/api/v1/sites/{SITE}/config?lang=de").json
    assert merged["texts"]["title"] == "Cookies auf unserer Seite"
    assert merged["texts"]["reject_all"] == "Alle ablehnen"
    assert merged["layout"] == "bar"
