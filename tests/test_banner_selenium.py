"""The banner's main flows driven through Selenium and chromedriver, on the /demo page."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.browsers import selenium_chrome
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

ALL_RUNS = ["analytics-inline", "analytics-src", "marketing-src"]


@pytest.fixture
def driver(chromium_path: str) -> Iterator[WebDriver]:
    """A new Chromium with a fresh profile for each test."""
    browser = selenium_chrome(chromium_path)
    yield browser
    browser.quit()


def wait(driver: WebDriver, condition: Callable[[WebDriver], Any]) -> Any:
    return WebDriverWait(driver, 10).until(condition)


def open_demo(driver: WebDriver, server: LiveServer) -> None:
    driver.get(f"{server.url}/demo")
    wait(
        driver,
        lambda d: d.execute_script("return !!(window.ConsentManager && ConsentManager.ready)"),
    )
    driver.execute_async_script("ConsentManager.ready.then(arguments[arguments.length - 1])")


def banner_button(driver: WebDriver, action: str):
    return wait(
        driver,
        ec.element_to_be_clickable(
            (By.CSS_SELECTOR, f"#cm-banner :not([hidden]) > .cm-row [data-cm-action='{action}']")
        ),
    )


def delivered_receipt(driver: WebDriver, server: LiveServer) -> dict[str, Any]:
    """The receipt the banner got back (stored once the POST got 201), checked on the server."""
    receipt = wait(driver, lambda d: d.execute_script("return localStorage.getItem('cm_receipt')"))
    receipt = json.loads(receipt)
    url = f"{server.url}/api/v1/consents/{receipt['consent_id']}"
    # A visitor's history is answered to a page of the site only.
    ask = urllib.request.Request(url, headers={"Origin": server.url})
    with urllib.request.urlopen(ask, timeout=10) as answer:
        history = json.load(answer)
    assert history["receipts"][0]["record"]["receipt_id"] == receipt["receipt_id"]
    return history["receipts"][0]["record"]


def test_first_visit_shows_the_banner(driver: WebDriver, demo_server: LiveServer):
    open_demo(driver, demo_server)
    dialog = wait(driver, ec.visibility_of_element_located((By.CSS_SELECTOR, "#cm-banner .cm-l1")))
    assert dialog.get_attribute("role") == "dialog"
    title = driver.find_element(By.ID, dialog.get_attribute("aria-labelledby"))
    assert title.text == "Vi använder kakor"
    labels = [b.text for b in dialog.find_elements(By.CSS_SELECTOR, "button[data-cm-action]")]
    assert labels == ["Godkänn alla", "Neka alla", "Inställningar"]
    assert driver.execute_script("return window.demoRuns") is None
    assert driver.execute_script("return ConsentManager.getConsent()") is None


def test_accept_all_runs_the_blocked_scripts_and_records_the_receipt(driver, demo_server):
    open_demo(driver, demo_server)
    banner_button(driver, "accept-all").click()
    wait(driver, lambda d: d.execute_script("return (window.demoRuns || []).length === 3"))
    assert driver.execute_script("return window.demoRuns") == ALL_RUNS
    wait(driver, ec.invisibility_of_element_located((By.ID, "cm-banner")))
    frame = driver.find_element(By.CSS_SELECTOR, "iframe[title='Demo video']")
    assert frame.get_attribute("src").endswith("/demo/video")
    record = delivered_receipt(driver, demo_server)
    assert record["method"] == "accept_all"
    assert record["decisions"] == {
        "necessary": True,
        "preferences": True,
        "analytics": True,
        "marketing": True,
    }
    consent = driver.execute_script("return ConsentManager.getConsent()")
    assert consent["consentId"] == record["consent_id"]


def test_reject_all_runs_nothing(driver, demo_server):
    open_demo(driver, demo_server)
    banner_button(driver, "reject-all").click()
    record = delivered_receipt(driver, demo_server)
    assert record["method"] == "reject_all"
    assert record["decisions"] == {
        "necessary": True,
        "preferences": False,
        "analytics": False,
        "marketing": False,
    }
    open_demo(driver, demo_server)  # a fresh page view: the stored refusal is applied
    assert driver.find_elements(By.ID, "cm-banner") == []
    wait(driver, ec.visibility_of_element_located((By.CSS_SELECTOR, ".cm-ph")))
    assert driver.execute_script("return window.demoRuns") is None
    blocked = driver.find_elements(By.CSS_SELECTOR, "script[type='text/plain'][data-category]")
    assert len(blocked) == 3
    assert "_ga" not in driver.execute_script("return document.cookie")


def test_settings_save_a_custom_choice(driver, demo_server):
    open_demo(driver, demo_server)
    banner_button(driver, "preferences").click()
    wait(driver, ec.visibility_of_element_located((By.CSS_SELECTOR, "#cm-banner .cm-l2")))
    switch = driver.find_element(By.CSS_SELECTOR, "#cm-banner input[data-cm-cat='analytics']")
    assert switch.get_attribute("role") == "switch" and not switch.is_selected()
    switch.click()
    assert switch.is_selected()
    banner_button(driver, "save").click()
    record = delivered_receipt(driver, demo_server)
    assert record["method"] == "custom"
    assert record["decisions"] == {
        "necessary": True,
        "preferences": False,
        "analytics": True,
        "marketing": False,
    }
    wait(driver, lambda d: d.execute_script("return (window.demoRuns || []).length === 2"))
    assert driver.execute_script("return window.demoRuns") == ["analytics-inline", "analytics-src"]
    frame = driver.find_element(By.CSS_SELECTOR, "iframe[title='Demo video']")
    assert not frame.get_attribute("src")
