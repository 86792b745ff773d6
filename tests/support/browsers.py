"""Chromium for the browser tests: where it and ChromeDriver are, the flags it runs with,
fresh Playwright contexts and Selenium drivers, a check that none was left running, and the
command line of a quick cookie scan."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from scanner.engines import BASE_ARGS
from scanner.engines.base import sandbox_args
from tests.support.apps import missing

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

# The scanner's own Chromium flags: no sandbox as root, and no background calls to the internet.
CHROMIUM_ARGS = [*sandbox_args(os.geteuid()), *BASE_ARGS]
CHROMIUM = os.environ.get("CONSENT_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CONSENT_CHROMEDRIVER", "/usr/bin/chromedriver")


def require_chromedriver() -> None:
    """ChromeDriver is there, or the test is skipped (a failure with CI=true)."""
    if not Path(CHROMEDRIVER).exists():
        missing(f"chromedriver not found at {CHROMEDRIVER}")


def open_context(browser: Browser, **options: Any) -> BrowserContext:
    """A fresh Playwright context (a new profile): Swedish unless told, 10 s timeouts."""
    options.setdefault("locale", "sv-SE")
    context = browser.new_context(**options)
    context.set_default_timeout(10_000)
    return context


def selenium_chrome(chromium_path: str) -> Any:
    """Headless Chromium through ChromeDriver with a fresh profile, in Swedish."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    require_chromedriver()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium_path
    options.add_argument("--headless=new")
    options.add_argument("--lang=sv-SE")
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def browser_pids() -> set[int]:
    """Chromium and ChromeDriver processes anywhere, and every child of this test process
    (Playwright's driver, ChromeDriver, and a Chromium they leave behind)."""
    pids = set()
    for proc in psutil.process_iter(["name", "status"]):
        name = (proc.info["name"] or "").lower()
        if "chrom" in name and proc.info["status"] != psutil.STATUS_ZOMBIE:
            pids.add(proc.pid)
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if child.status() != psutil.STATUS_ZOMBIE:
                pids.add(child.pid)
    return pids


def assert_no_new_browsers(before: set[int]) -> None:
    """Every Chromium/ChromeDriver process started since `before` is gone (they may take a
    moment to exit after the scan closed them)."""
    procs = []
    for pid in browser_pids() - before:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(procs, timeout=20)
    alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [(p.pid, p.name(), p.cmdline()[:3]) for p in alive]


def scan_html(html: str, chromium: str, out: Path, *extra: str) -> dict[str, Any]:
    """The JSON report of a quick scan (one_page_scan) of one page served on loopback."""
    from scanner.cli import main
    from tests.support.live import serve_html

    with serve_html(html) as site:
        assert main(one_page_scan(f"{site.url}/", chromium, *extra, "--json", str(out))) in (0, 1)
    return json.loads(out.read_text(encoding="utf-8"))


def one_page_scan(url: str, chromium: str, *extra: str, wait_ms: int = 300) -> list[str]:
    """`cookie-scan` arguments for a quick scan of one page of a local site: before consent
    only, no sitemap, quiet; `extra` options follow."""
    return [
        url,
        "--allow-private",
        "--chromium",
        chromium,
        "--phases",
        "pre-consent",
        "--max-pages",
        "1",
        "--no-sitemap",
        "--wait",
        str(wait_ms),
        "--quiet",
        *extra,
    ]
