"""The banner by keyboard alone in real Chromium (Playwright): visible focus, a focus trap in
the settings, Esc, and focus back on the persistent control."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from tests.support.banner import expect_hidden, record, visit

pytestmark = pytest.mark.browser


def focused(page: Page) -> dict[str, Any]:
    return page.evaluate(
        """() => { const e = document.activeElement; const s = getComputedStyle(e);
          return {action: e.getAttribute('data-cm-action'), tag: e.tagName, cls: e.className,
                  outline: s.outlineStyle, outlineWidth: s.outlineWidth}; }"""
    )


def tab_to(page: Page, action: str, key: str = "Tab", limit: int = 20) -> dict[str, Any]:
    for _ in range(limit):
        page.keyboard.press(key)
        now = focused(page)
        if now["action"] == action:
            return now
    raise AssertionError(f"{key} never reached {action}")


def test_keyboard_only(page: Page, banner_server):
    visit(page, banner_server)
    page.locator("#cm-banner .cm-l1").wait_for()
    # The first layer takes focus; Tab reaches each button, with a visible focus ring.
    for action in ("accept-all", "reject-all", "preferences"):
        now = tab_to(page, action)
        assert now["outline"] != "none" and now["outlineWidth"] != "0px", now
    page.keyboard.press("Enter")
    l2 = page.locator("#cm-banner .cm-l2")
    l2.wait_for()
    assert page.evaluate("document.activeElement.classList.contains('cm-l2')")

    # Focus is trapped in the settings dialog.
    page.keyboard.press("Shift+Tab")
    assert focused(page)["action"] == "save"
    page.keyboard.press("Tab")
    first = focused(page)
    assert first["action"] == "close" and first["outline"] != "none"
    page.keyboard.press("Shift+Tab")
    assert focused(page)["action"] == "save"
    for _ in range(12):  # Tab through everything: focus never leaves the dialog
        page.keyboard.press("Tab")
        assert page.evaluate("!!document.activeElement.closest('.cm-l2')")
    # A click on the backdrop moves focus out; the next Shift+Tab comes back into the dialog.
    page.mouse.click(3, 3)
    assert page.evaluate("!document.activeElement.closest('.cm-l2')")
    page.keyboard.press("Shift+Tab")
    assert focused(page)["action"] == "save"

    # Esc closes the settings; with no choice yet the first layer is back.
    page.keyboard.press("Escape")
    page.locator("#cm-banner .cm-l1").wait_for()
    assert l2.count() == 0 or l2.is_hidden()
    tab_to(page, "reject-all")
    body, _ = record(page, lambda: page.keyboard.press("Enter"))
    assert body["method"] == "reject_all"
    expect_hidden(page)

    # The persistent control reopens the settings; Esc closes them and focus returns to it.
    opener = page.locator("#cm-open")
    opener.wait_for()
    opener.focus()
    page.keyboard.press("Enter")
    l2.wait_for()
    page.keyboard.press("Escape")
    expect_hidden(page)
    assert page.evaluate("document.activeElement.id") == "cm-open"
