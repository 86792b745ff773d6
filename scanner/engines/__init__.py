"""Browser engines behind one interface; the only modules that import a browser library."""

from __future__ import annotations

import json
import os
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from scanner.banner import ACCEPT_TEXTS, REJECT_TEXTS
from scanner.config import ScanConfig
from scanner.model import BannerInfo, CookieEvent, PageVisit, StorageItem, StoredCookie
from scanner.observe import (
    parse_cookie_string,
    refusal_reasons,
    setter_from_stack,
    stored_from_jar,
)

BASE_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-quic",
]

STORAGE_JS = """() => {
  const read = (s) => { try { return Object.keys(s).map((k) => [k, (s.getItem(k) || '').length]); }
                        catch (e) { return []; } };
  return {origin: location.origin, href: location.href,
          local: read(window.localStorage), session: read(window.sessionStorage)};
}"""
LINKS_JS = "() => [...document.querySelectorAll('a[href]')].map((a) => a.href).slice(0, 2000)"
SCROLL_JS = """async () => {
  const step = Math.max(200, innerHeight);
  for (let y = 0, n = 0; y < document.documentElement.scrollHeight && n < 40; y += step, n++) {
    scrollTo(0, y);
    await new Promise((r) => setTimeout(r, 60));
  }
  scrollTo(0, 0);
}"""


def fresh_profile_dir() -> str:
    """A new Chromium user-data-dir that allows third-party cookies (Chromium blocks them)."""
    path = tempfile.mkdtemp(prefix="cookie-scan-")
    default = Path(path) / "Default"
    default.mkdir()
    # cookie_controls_mode 0 = third-party cookies allowed, as in most browsers people use.
    prefs = {"profile": {"cookie_controls_mode": 0, "block_third_party_cookies": False}}
    (default / "Preferences").write_text(json.dumps(prefs))
    return path


class Profile(ABC):
    """One fresh browser profile (one phase): visit pages, operate a banner, read the jar."""

    def __init__(self, config: ScanConfig, phase: str) -> None:
        self.config = config
        self.phase = phase
        self.visit_in_progress: PageVisit | None = None
        self.clock = time.monotonic

    @abstractmethod
    def visit(self, url: str) -> PageVisit:
        """Load a page, let it settle, and return everything observed."""

    @abstractmethod
    def banner(self, action: str) -> BannerInfo:
        """Find the banner on the current page and click accept or reject."""

    @abstractmethod
    def jar(self) -> list[StoredCookie]:
        """Every cookie the profile holds now."""

    @abstractmethod
    def fetch_text(self, url: str) -> str | None:
        """GET a same-origin URL from the current page (robots.txt, sitemaps)."""

    @abstractmethod
    def settle(self) -> None:
        """Wait for the network to go quiet plus the configured extra time."""

    @abstractmethod
    def drain_into(self, visit: PageVisit) -> None:
        """Attach events that arrived after a visit (a banner click) to it and refresh its jar."""

    @abstractmethod
    def storage_keys(self) -> list[str]:
        """origin|kind|key of every storage item in the current page's frames."""

    @abstractmethod
    def close(self) -> None:
        """Close the browser; always called."""

    # -- shared helpers ---------------------------------------------------------------------

    def header_events(
        self, lines: list[str], request_url: str, frame_url: str, page_url: str, at: float
    ) -> list[CookieEvent]:
        """CookieEvents of the Set-Cookie lines of one response."""
        events = []
        for line in lines:
            event = parse_cookie_string(line, request_url)
            if event is None:
                continue
            event.page_url = page_url
            event.frame_url = frame_url
            event.at = at
            reasons = refusal_reasons(event, request_url, page_url)
            event.refused = bool(reasons)
            event.refused_reasons = reasons
            events.append(event)
        return events

    def script_event(self, record: dict[str, Any], page_url: str, at: float) -> CookieEvent | None:
        """A CookieEvent from a probe record (document.cookie or CookieStore write)."""
        frame_url = str(record.get("frame") or page_url)
        value = str(record.get("value") or "")
        if record.get("kind") == "cookiestore":
            try:
                opts = json.loads(value)
            except ValueError:
                return None
            parts = [f"{opts.get('name', '')}={opts.get('value', '')}"]
            if opts.get("domain"):
                parts.append(f"Domain={opts['domain']}")
            parts.append(f"Path={opts.get('path') or '/'}")
            if opts.get("expires") is not None:
                seconds = (float(opts["expires"]) / 1000.0) - time.time()
                parts.append(f"Max-Age={int(seconds)}")
            if opts.get("sameSite"):
                parts.append(f"SameSite={opts['sameSite']}")
            # CookieStore only works in secure contexts and always sets Secure.
            parts.append("Secure")
            value = "; ".join(parts)
        event = parse_cookie_string(value, frame_url)
        if event is None:
            return None
        event.source = "script" if record.get("kind") == "script" else "cookiestore"
        event.page_url = page_url
        event.frame_url = frame_url
        event.setter = setter_from_stack(str(record.get("stack") or ""), frame_url)
        event.at = at
        event.http_only = False
        reasons = refusal_reasons(event, frame_url, page_url)
        if "httponly" in value.lower():
            reasons.append("HttpOnly cannot be set from a script")
        event.refused = bool(reasons)
        event.refused_reasons = reasons
        return event

    def storage_items(self, frames: list[dict[str, Any]], page_url: str) -> list[StorageItem]:
        """StorageItems from the STORAGE_JS answers of each frame."""
        items = []
        for frame in frames:
            for kind in ("local", "session"):
                for key, length in frame.get(kind) or []:
                    items.append(
                        StorageItem(
                            kind, frame["origin"], key, int(length), page_url, frame["href"]
                        )
                    )
        return items

    @staticmethod
    def jar_entries(entries: list[dict[str, Any]]) -> list[StoredCookie]:
        """StoredCookies from engine jar entries."""
        return [stored_from_jar(e) for e in entries]

    @staticmethod
    def banner_args(config: ScanConfig, action: str) -> list[Any]:
        """Arguments of FIND_JS."""
        selector = config.accept_selector if action == "accept" else config.reject_selector
        return [action, list(ACCEPT_TEXTS), list(REJECT_TEXTS), selector]


def open_profile(config: ScanConfig, phase: str) -> Profile:
    """A fresh profile of the configured engine."""
    if config.engine == "selenium":
        from scanner.engines.selenium import SeleniumProfile

        return SeleniumProfile(config, phase)
    from scanner.engines.playwright import PlaywrightProfile

    return PlaywrightProfile(config, phase)


def remove_dir(path: str) -> None:
    """Delete a profile folder, ignoring what is already gone."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    if os.path.exists(path):
        shutil.rmtree(path, ignore_errors=True)
