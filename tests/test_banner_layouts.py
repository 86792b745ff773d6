"""The banner's three layouts in real Chromium (Playwright): each a labelled dialog that the
keyboard reaches, fixed (no layout shift), readable on a phone, without serious axe-core
violations in the light and the dark scheme; the pictures in docs/banner/ come from here."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page

from declaration.loader import DeclarationError, load_declaration
from tests.support.apps import ROOT, apply_data, example_data
from tests.support.banner import visit
from tests.support.console import serious_violations
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

LAYOUTS = ("bar", "box", "modal")
PICTURES = ROOT / "docs" / "banner"


def layout_site(app: Flask, layout: str) -> str:
    """A copy of the example site that declares `layout`; its key."""
    site = f"layout-{layout}"
    apply_data(app, example_data(site=site, banner={"layout": layout}))
    return site


def open_banner(page: Page, server: LiveServer, **query: str) -> None:
    """The test page with the banner's first layer shown and its stylesheet applied."""
    visit(page, server, **query)
    page.locator("#cm-banner .cm-l1").wait_for()
    # Measured once the entry animation has ended: the pictures and the contrast are final.
    page.wait_for_function("document.getAnimations().every((a) => a.playState === 'finished')")


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_layout_is_an_accessible_fixed_dialog(
    new_context, banner_server, banner_app, layout, scheme
):
    site = layout_site(banner_app, layout)
    page = new_context(
        locale="en-US", color_scheme=scheme, viewport={"width": 1000, "height": 640}
    ).new_page()
    open_banner(page, banner_server, site=site, lang="en")
    root = page.locator("#cm-banner")
    assert root.evaluate("(n, l) => n.classList.contains('cm-' + l)", layout)
    dialog = page.get_by_role("dialog", name="We use cookies")
    assert dialog.is_visible()
    assert dialog.get_attribute("aria-describedby") == "cm-d"
    assert (dialog.get_attribute("aria-modal") == "true") is (layout == "modal")
    assert root.evaluate("(n) => getComputedStyle(n).position") == "fixed"
    # The page's layout-shift observer (tests/support/banner.py) saw nothing move.
    assert page.evaluate("window.cls") == 0
    assert page.evaluate(
        "() => { const b = document.getElementById('below').getBoundingClientRect();"
        " return b.top === window.before.top && b.left === window.before.left; }"
    )
    assert serious_violations(page) == []
    if scheme == "light" or layout == "modal":
        name = f"layout-{layout}{'-dark' if scheme == 'dark' else ''}.png"
        PICTURES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(PICTURES / name))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_is_keyboard_reachable(new_context, banner_server, banner_app, layout):
    site = layout_site(banner_app, layout)
    page = new_context(locale="en-US").new_page()
    open_banner(page, banner_server, site=site, lang="en")
    # The dialog has the focus when it opens; Tab then walks its link and buttons in order.
    assert page.evaluate("document.activeElement.classList.contains('cm-l1')")
    stops = page.locator("#cm-banner .cm-l1").locator("a[href], button")
    expected = stops.evaluate_all("(ns) => ns.map((n) => n.textContent)")
    assert len(expected) == 4  # the policy link, accept, reject, settings
    reached = []
    for _ in expected:
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.textContent"))
    assert reached == expected
    page.keyboard.press("Tab")
    inside = page.evaluate("!!document.activeElement.closest('.cm-l1')")
    # Only the modal keeps the focus in: it comes round to the first stop again.
    assert inside is (layout == "modal")
    if layout == "modal":
        assert page.evaluate("document.activeElement.textContent") == expected[0]
        page.keyboard.press("Shift+Tab")
        assert page.evaluate("document.activeElement.textContent") == expected[-1]
        page.keyboard.press("Escape")  # a modal first layer waits for a choice
        assert page.locator("#cm-banner .cm-l1").is_visible()


def test_script_tag_layout_wins_and_unknown_is_ignored(new_context, banner_server, banner_app):
    site = layout_site(banner_app, "box")
    page = new_context(locale="en-US").new_page()
    open_banner(page, banner_server, site=site, lang="en", layout="modal")
    assert page.locator("#cm-banner").evaluate("(n) => n.className") == "cm cm-modal cm-over"
    page = new_context(locale="en-US").new_page()
    open_banner(page, banner_server, site=site, lang="en", layout='"><b>side')
    assert page.locator("#cm-banner").evaluate("(n) => n.className") == "cm cm-box"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_fits_a_phone(new_context, banner_server, banner_app, layout):
    site = layout_site(banner_app, layout)
    page = new_context(locale="en-US", viewport={"width": 360, "height": 640}).new_page()
    open_banner(page, banner_server, site=site, lang="en")
    box = page.locator("#cm-banner .cm-l1").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360
    assert box["y"] >= 0 and box["y"] + box["height"] <= 640
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    # The buttons one under the other, each as wide as the dialog's content.
    widths = page.locator("#cm-banner .cm-l1 .cm-row .cm-btn:not(.cm-link)").evaluate_all(
        "(ns) => ns.map((n) => n.getBoundingClientRect().top)"
    )
    assert widths[0] < widths[1]
    assert page.evaluate("window.cls") == 0


def test_theme_properties_apply(new_context, banner_server, banner_app):
    site = layout_site(banner_app, "box")
    page = new_context(locale="en-US").new_page()
    visit(page, banner_server, site=site, lang="en")
    page.locator("#cm-banner .cm-l1").wait_for()
    # What a site's own stylesheet would say (added from here: the page's CSP is off).
    page.add_style_tag(
        content=":root{--cm-bg:#fffbe6;--cm-accent:#7a1f00;--cm-radius:2px;--cm-font:serif}"
    )
    l1 = page.locator("#cm-banner .cm-l1")
    assert l1.evaluate("(n) => getComputedStyle(n).backgroundColor") == "rgb(255, 251, 230)"
    assert l1.evaluate("(n) => getComputedStyle(n).borderTopLeftRadius") == "2px"
    assert l1.evaluate("(n) => getComputedStyle(n).fontFamily") == "serif"
    button = page.locator("#cm-banner .cm-l1 [data-cm-action='accept-all']")
    assert button.evaluate("(n) => getComputedStyle(n).backgroundColor") == "rgb(122, 31, 0)"


def test_unknown_layout_in_a_declaration_is_refused():
    with pytest.raises(DeclarationError) as info:
        load_declaration(example_data(banner={"layout": "sidebar"}))
    assert info.value.errors == {"banner.layout": ["Must be one of: bar, box, modal."]}
