"""Other sites' consent banners, as the scanner finds and clicks them: in the ten languages of
the markets we serve, and inside an open shadow root. In a real browser."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scanner.banner import ACCEPT_TEXTS, FIND_JS, REJECT_TEXTS
from tests.support.browsers import scan_html

LANGUAGES = ("sv", "en", "da", "nb", "fi", "de", "fr", "es", "nl", "pl")
BANNER_TEXTS = Path(__file__).resolve().parents[1] / "static" / "banner" / "src" / "i18n"

# How other consent platforms label their buttons, one pair per language (what a visitor of a
# site in that market reads), besides our own banner's labels.
OTHER_BANNERS = {
    "sv": ("Godkänn alla cookies", "Endast nödvändiga cookies"),
    "en": ("Accept All Cookies", "Necessary cookies only"),
    "da": ("Tillad alle", "Kun nødvendige"),
    "nb": ("Godta alle", "Bare nødvendige"),
    "fi": ("Hyväksy kaikki evästeet", "Vain välttämättömät"),
    "de": ("Alle Cookies akzeptieren", "Nur notwendige Cookies"),
    "fr": ("Accepter et fermer", "Continuer sans accepter"),
    "es": ("Aceptar todas las cookies", "Rechazar todas"),
    "nl": ("Alle cookies accepteren", "Alleen noodzakelijke cookies"),
    "pl": ("Zaakceptuj wszystkie", "Odrzuć wszystkie"),
}


def banner_page(accept: str, reject: str, *, shadow: bool = False) -> str:
    """A page with a banner of three buttons; a click writes `choice` and hides the banner."""
    buttons = (
        "<button>Inställningar / Settings</button>"
        f"<button data-choice='accept'>{accept}</button>"
        f"<button data-choice='reject'>{reject}</button>"
    )
    script = """(() => {
      const banner = document.getElementById('banner');
      const root = banner.attachShadow ? (SHADOW ? banner.attachShadow({mode: 'open'}) : banner) : banner;
      root.innerHTML = BUTTONS;
      root.querySelectorAll('[data-choice]').forEach((b) => b.addEventListener('click', () => {
        document.cookie = 'choice=' + b.dataset.choice + '; Max-Age=3600; Path=/';
        banner.style.display = 'none';
      }));
    })();"""
    script = script.replace("SHADOW", "true" if shadow else "false")
    script = script.replace("BUTTONS", json.dumps(buttons))
    return (
        "<!doctype html><html><body><p>Shop</p>"
        "<div id='banner' style='position:fixed;bottom:0;left:0;right:0;background:#fff'></div>"
        f"<script>{script}</script></body></html>"
    )


def own_labels(lang: str) -> tuple[str, str]:
    data = json.loads((BANNER_TEXTS / f"{lang}.json").read_text(encoding="utf-8"))
    return data["accept_all"], data["reject_all"]


def find(page: Any, action: str) -> dict[str, Any]:
    return page.evaluate(FIND_JS, [action, list(ACCEPT_TEXTS), list(REJECT_TEXTS), None])


def test_the_scanner_knows_the_labels_of_our_own_banner_in_every_language() -> None:
    for lang in LANGUAGES:
        accept, reject = own_labels(lang)
        assert accept.lower() in ACCEPT_TEXTS, lang
        assert reject.lower() in REJECT_TEXTS, lang
    assert not set(ACCEPT_TEXTS) & set(REJECT_TEXTS)
    assert len(set(ACCEPT_TEXTS)) == len(ACCEPT_TEXTS)
    assert len(set(REJECT_TEXTS)) == len(REJECT_TEXTS)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_banner_in_each_language_is_found_with_both_buttons(page: Any, lang: str) -> None:
    for accept, reject in (own_labels(lang), OTHER_BANNERS[lang]):
        page.set_content(banner_page(accept, reject))
        found = find(page, "reject")
        assert (found["found"], found["kind"], found["reject_on_first_layer"]) == (
            True,
            "generic",
            True,
        )
        assert found["clicked"] == reject.lower()
        assert find(page, "accept")["clicked"] == accept.lower()


# Default first-layer labels of widely used consent platforms, as their banners show them.
PLATFORM_DEFAULTS = [
    ("Agree and close", "Disagree and close"),
    ("Accepter & Fermer", "Continuer sans accepter"),
    ("AGREE", "DISAGREE"),
    ("Accept All Cookies", "Reject All"),
    ("Tillåt alla", "Neka"),
    ("Tillad alle", "Afvis"),
    ("Alle zulassen", "Ablehnen"),
]


@pytest.mark.parametrize(("accept", "reject"), PLATFORM_DEFAULTS)
def test_consent_platforms_default_labels_are_found(page: Any, accept: str, reject: str) -> None:
    page.set_content(banner_page(accept, reject))
    assert find(page, "reject")["clicked"] == reject.lower()
    assert find(page, "accept")["clicked"] == accept.lower()


def test_the_all_phrase_wins_over_a_single_word_and_typographic_apostrophes_match(
    page: Any,
) -> None:
    page.set_content(
        "<button>Akzeptieren</button><button>Alle akzeptieren</button>"
        "<button>Ablehnen</button><button>Alle ablehnen</button>"
    )
    assert find(page, "accept")["clicked"] == "alle akzeptieren"
    assert find(page, "reject")["clicked"] == "alle ablehnen"
    page.set_content("<button>J\u2019accepte</button><button>Je refuse</button>")
    assert find(page, "accept")["clicked"] == "j'accepte"


def test_a_banner_inside_an_open_shadow_root_is_found(page: Any) -> None:
    page.set_content(banner_page("Alle akzeptieren", "Alle ablehnen", shadow=True))
    found = find(page, "reject")
    assert (found["found"], found["clicked"]) == (True, "alle ablehnen")
    marked = page.evaluate(
        "() => document.getElementById('banner').shadowRoot"
        ".querySelector('[data-cm-scan-target]').textContent"
    )
    assert marked == "Alle ablehnen"
    # A second search moves the mark: only one element carries it.
    find(page, "accept")
    assert (
        page.evaluate(
            "() => document.getElementById('banner').shadowRoot"
            ".querySelectorAll('[data-cm-scan-target]').length"
        )
        == 1
    )


@pytest.mark.browser
def test_a_scan_clicks_a_german_banner_in_a_shadow_root(
    scan_engine: str, chromium_path: str, tmp_path: Path
) -> None:
    page = banner_page("Alle akzeptieren", "Alle ablehnen", shadow=True)
    phases = ("--phases", "after-reject,after-accept")
    report = scan_html(
        page, chromium_path, tmp_path / "scan.json", "--engine", scan_engine, *phases
    )
    phases = {p["phase"]: p for p in report["phases"]}
    assert phases["after-reject"]["banner"]["clicked"] == "alle ablehnen"
    assert phases["after-accept"]["banner"]["clicked"] == "alle akzeptieren"
    choice = next(c for c in report["cookies"] if c["name"] == "choice")
    assert sorted(choice["phases"]) == ["after-accept", "after-reject"]


@pytest.mark.browser
def test_a_banner_that_only_accepts_on_its_first_layer_is_a_finding(
    chromium_path: str, tmp_path: Path
) -> None:
    page = banner_page("Alle akzeptieren", "Einstellungen").replace("data-choice='reject'", "")
    report = scan_html(page, chromium_path, tmp_path / "scan.json", "--phases", "after-reject")
    banner = report["phases"][0]["banner"]
    assert (banner["found"], banner["reject_on_first_layer"], banner["clicked"]) == (
        True,
        False,
        None,
    )
    found = [f for f in report["findings"] if f["type"] == "no_reject_on_first_layer"]
    assert [(f["severity"], f["phase"]) for f in found] == [("medium", "after-reject")]


@pytest.mark.browser
def test_what_the_banner_click_stores_is_seen_with_its_script_on_a_one_page_scan(
    scan_engine: str, chromium_path: str, tmp_path: Path
) -> None:
    # The click also stores the choice in localStorage; there is no second page to see it on.
    page = banner_page("Alle akzeptieren", "Alle ablehnen").replace(
        "banner.style.display = 'none';",
        "localStorage.setItem('zq_choice', b.dataset.choice); banner.style.display = 'none';",
    )
    report = scan_html(
        page,
        chromium_path,
        tmp_path / "scan.json",
        "--engine",
        scan_engine,
        "--phases",
        "after-accept",
    )
    stored = {s["key"]: s for s in report["storage"]}
    assert stored["zq_choice"]["phases"] == ["after-accept"]
    assert stored["zq_choice"]["setter"] == report["phases"][0]["pages"][0]["final_url"]
