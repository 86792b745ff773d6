"""How the banner delivers receipts in real Chromium (Playwright): queued when the POST fails
or the browser is offline, sent once later, and kept for the page view when local storage
is refused."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.support.banner import RUN_ORDER, is_consent_post, record, stored_choice, visit, wait_runs

pytestmark = pytest.mark.browser


def test_undelivered_receipt_is_queued_and_sent_on_the_next_page_view(page: Page, banner_server):
    page.route("**/consents", lambda route: route.abort())
    visit(page, banner_server)
    with page.expect_event("requestfailed"):
        page.get_by_role("button", name="Godkänn alla").click()
    page.wait_for_function("(JSON.parse(localStorage.getItem('cm_queue')) || []).length === 1")
    queued = page.evaluate("JSON.parse(localStorage.getItem('cm_queue'))")[0]
    assert queued["method"] == "accept_all"
    # The page itself works offline: the choice is applied.
    wait_runs(page, RUN_ORDER)

    page.unroute("**/consents")
    with page.expect_response(is_consent_post) as info:
        visit(page, banner_server)
    assert info.value.status == 201
    page.wait_for_function("localStorage.getItem('cm_queue') === null")
    receipt = page.evaluate("JSON.parse(localStorage.getItem('cm_receipt'))")
    assert receipt["consent_id"] == queued["consent_id"]
    url = f"{banner_server.url}/api/v1/consents/{queued['consent_id']}"
    # A visitor's history is answered to a page of the site only.
    ask = urllib.request.Request(url, headers={"Origin": banner_server.url})
    with urllib.request.urlopen(ask, timeout=10) as answer:
        history = json.load(answer)
    assert [r["record"]["method"] for r in history["receipts"]] == ["accept_all"]
    assert history["receipts"][0]["record"]["decisions"] == queued["decisions"]


def test_queued_receipt_is_sent_once_when_a_new_choice_is_made_during_delivery(
    page: Page, banner_server
):
    """A choice made while the queue is being delivered must not post the old receipt twice."""
    page.route("**/consents", lambda route: route.abort())
    visit(page, banner_server)
    with page.expect_event("requestfailed"):
        page.get_by_role("button", name="Godkänn alla").click()
    page.wait_for_function("(JSON.parse(localStorage.getItem('cm_queue')) || []).length === 1")
    page.unroute("**/consents")

    held: list[Any] = []
    posted: list[str] = []

    def hold_first(route: Any) -> None:
        posted.append(route.request.post_data_json["method"])
        if held:
            route.continue_()
        else:
            held.append(route)  # the queued receipt is "in flight" until released below

    page.route("**/consents", hold_first)
    visit(page, banner_server)
    page.wait_for_function("document.querySelector('#cm-open')")
    page.evaluate("ConsentManager.rejectAll()")
    page.wait_for_function("JSON.parse(localStorage.getItem('cm_queue')).length === 2")
    with page.expect_response(lambda r: is_consent_post(r) and r.status == 201):
        held[0].continue_()
    page.wait_for_function("localStorage.getItem('cm_queue') === null")
    consent_id = stored_choice(page.context)["id"]
    url = f"{banner_server.url}/api/v1/consents/{consent_id}"
    ask = urllib.request.Request(url, headers={"Origin": banner_server.url})
    with urllib.request.urlopen(ask, timeout=10) as answer:
        history = json.load(answer)
    assert sorted(r["record"]["method"] for r in history["receipts"]) == ["accept_all", "withdraw"]
    assert sorted(posted) == ["accept_all", "withdraw"]


def test_queued_receipt_is_sent_when_the_browser_is_back_online(page: Page, banner_server):
    visit(page, banner_server)
    page.context.set_offline(True)
    with page.expect_event("requestfailed"):
        page.get_by_role("button", name="Neka alla").click()
    page.wait_for_function("(JSON.parse(localStorage.getItem('cm_queue')) || []).length === 1")
    with page.expect_response(is_consent_post) as info:
        page.context.set_offline(False)
    assert info.value.status == 201
    assert info.value.request.post_data_json["method"] == "reject_all"
    page.wait_for_function("localStorage.getItem('cm_queue') === null")


def test_receipt_is_sent_when_the_browser_refuses_local_storage(new_context, banner_server):
    context = new_context()
    context.add_init_script(
        """Object.defineProperty(window, "localStorage", {
             get() { throw new DOMException("The operation is insecure.", "SecurityError"); }
           });"""
    )
    page = context.new_page()
    visit(page, banner_server)
    assert (
        page.evaluate("(() => { try { localStorage; return 1; } catch (e) { return 0; } })()") == 0
    )
    body, claims = record(page, page.get_by_role("button", name="Godkänn alla").click)
    assert body["method"] == "accept_all" == claims["method"]
    wait_runs(page, RUN_ORDER)
    # The receipt is kept for this page view: the settings offer it for download.
    page.locator("#cm-open").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Ladda ner kvitto").click()
    saved = json.loads(Path(download.value.path()).read_text())
    assert saved["consent_id"] == body["consent_id"]
