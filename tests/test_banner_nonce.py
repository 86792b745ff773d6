"""The banner's client nonce in real Chromium: one per consent event, the same on every resend,
so that the server stores a resent event once."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page

from consent_server.consent_log.schemas import UUID4_RE
from tests.support.banner import is_consent_post, visit

pytestmark = pytest.mark.browser


def test_a_resent_consent_keeps_its_client_nonce(page: Page, banner_server):
    sent: list[dict[str, Any]] = []

    def fail_first(route: Any) -> None:
        sent.append(route.request.post_data_json)
        if len(sent) == 1:
            # As the server answers a commit it could not confirm in time.
            route.fulfill(status=503, content_type="application/json", body='{"code": 503}')
        else:
            route.continue_()

    page.route("**/consents", fail_first)
    visit(page, banner_server)
    page.get_by_role("button", name="Godkänn alla").click()
    page.wait_for_function("(JSON.parse(localStorage.getItem('cm_queue')) || []).length === 1")
    with page.expect_response(lambda r: is_consent_post(r) and r.status == 201):
        visit(page, banner_server)
    assert len(sent) == 2
    assert re.fullmatch(UUID4_RE, sent[0]["client_nonce"])
    assert sent[1] == sent[0]
    page.wait_for_function("localStorage.getItem('cm_queue') === null")
    page.evaluate("ConsentManager.rejectAll()")
    page.wait_for_function("localStorage.getItem('cm_queue') === null")
    assert len(sent) == 3 and sent[2]["client_nonce"] != sent[0]["client_nonce"]
