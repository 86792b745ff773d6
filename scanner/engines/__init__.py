"""Browser engines behind one interface: Playwright (default) and Selenium.

base holds what both share; an engine module is imported only when its engine is chosen, so a
scan with one engine never loads the other's library.
"""

from __future__ import annotations

from scanner.config import ScanConfig
from scanner.engines.base import BASE_ARGS, Browser, Profile
from scanner.netguard import NetGuard

__all__ = ["BASE_ARGS", "Browser", "Profile", "open_browser", "open_profile"]


def open_browser(config: ScanConfig, guard: NetGuard | None = None) -> Browser:
    """The browser of the configured engine (Playwright starts Chromium now), behind `guard`."""
    if config.engine == "selenium":
        from scanner.engines.selenium import SeleniumBrowser

        return SeleniumBrowser(config, guard)
    from scanner.engines.playwright import PlaywrightBrowser

    return PlaywrightBrowser(config, guard)


def open_profile(
    config: ScanConfig, phase: str, deadline: float | None = None, guard: NetGuard | None = None
) -> Profile:
    """A fresh profile in a browser of its own, closed with it; pages stop waiting at `deadline`."""
    browser = open_browser(config, guard)
    try:
        profile = browser.profile(phase, deadline)
    except BaseException:
        browser.close()
        raise
    profile.own_browser = browser
    return profile
