"""What both browser engines share: launch arguments, page scripts, the Browser and Profile interfaces."""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from declaration.constants import STORAGE_KINDS
from scanner.banner import ACCEPT_TEXTS, REJECT_TEXTS
from scanner.config import ScanConfig
from scanner.model import (
    BannerInfo,
    CookieEvent,
    PageVisit,
    RequestEvent,
    Screenshot,
    StorageItem,
    StoredCookie,
)
from scanner.netguard import NetGuard
from scanner.observe import (
    MAX_STORAGE_WRITES,
    header_cookie_events,
    script_cookie_event,
    storage_ident,
    storage_write,
    stored_from_jar,
)

log = logging.getLogger("scanner")

# Without --no-sandbox: sandbox_args() adds it only where the sandbox cannot run.
BASE_ARGS = [
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-quic",
]
# Chromium features that cost CPU and change nothing a scan observes: the omnibox popup's
# WebUI, which Chromium preloads in a renderer of its own for every window (about a second
# of CPU each on two cores, several times what the scanned page costs), and the spare
# renderer kept warm for a next navigation.
UNUSED_FEATURES = ("WebUIOmniboxPopup", "WebUIOmniboxAimPopup", "SpareRendererForSitePerProcess")


def sandbox_args(uid: int | None, wanted: bool | None = None) -> list[str]:
    """[] (Chromium sandboxed) or ["--no-sandbox"] for a browser run by `uid`.

    Chromium refuses to start as root with its sandbox, so root always gets --no-sandbox;
    None is a remote browser, whose user is unknown here (sandboxed only when `wanted`).
    `wanted` False turns the sandbox off where the platform cannot give Chromium the user
    namespaces it needs.
    """
    if uid == 0:
        return ["--no-sandbox"]
    if wanted is None:
        wanted = uid is not None
    return [] if wanted else ["--no-sandbox"]


def chromium_sandboxed(config: ScanConfig) -> bool:
    """Whether the scan's Chromium runs with its sandbox (logged when it does not)."""
    local = config.engine == "playwright" or not config.remote
    uid = os.geteuid() if local and hasattr(os, "geteuid") else None
    on = not sandbox_args(uid, config.sandbox)
    if not on:
        why = "the scanner runs as root" if uid == 0 else "it is turned off or remote"
        log.info("Chromium runs without its sandbox: %s", why)
    return on


def disable_features(*more: str) -> str:
    """The one --disable-features switch (Chromium reads only the last one given)."""
    return "--disable-features=" + ",".join([*UNUSED_FEATURES, *more])


STORAGE_JS = """async () => {
  const read = (s) => { try { return Object.keys(s).map((k) => [k, (s.getItem(k) || '').length]); }
                        catch (e) { return []; } };
  let indexeddb = [];
  try {
    const found = await indexedDB.databases();
    indexeddb = found.slice(0, 1000).map((d) => [String(d.name).slice(0, 1024), 0]);
  } catch (e) {}
  return {origin: location.origin, href: location.href, indexeddb,
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


# A page counts as settled once nothing was requested, answered or written for this long, no
# request is in flight and nothing it scheduled is due within --wait.
QUIET_SECONDS = 0.3
# The longest wait for the network to go quiet before the --wait time starts anyway.
NETWORK_SECONDS = 10.0


# A screenshot is stored in the report, and the server keeps reports in its database: JPEG
# (a page is photo-like where it matters and text stays legible at 60), tried at falling
# quality until it fits, left out when even the lowest does not.
SCREENSHOT_MAX_BYTES = 150_000
SCREENSHOT_QUALITIES = (60, 40, 25)
# Requests kept per page load: a page that polls or streams must not grow the report unbounded.
MAX_REQUESTS_PER_PAGE = 1000
# Chromium's resource types (CDP's, lower case; Playwright's are the same) as the report names
# them: a navigator.sendBeacon() or <a ping> is a "ping" to Chromium.
REQUEST_TYPES = {"ping": "beacon", "xhr": "xhr", "fetch": "fetch", "image": "image"}


def request_type(raw: str | None) -> str:
    """The report's name of a browser resource type."""
    kind = (raw or "other").lower()
    return REQUEST_TYPES.get(kind, kind)


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG or baseline/progressive JPEG, None for anything else."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        # SOF0..SOF15 hold the frame size; C4 (DHT), C8 (JPG) and CC (DAC) are not frames.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


def fresh_profile_dir() -> str:
    """A new Chromium user-data-dir that allows third-party cookies (Chromium blocks them)."""
    path = tempfile.mkdtemp(prefix="cookie-scan-")
    default = Path(path) / "Default"
    default.mkdir()
    # cookie_controls_mode 0 = third-party cookies allowed, as in most browsers people use.
    prefs = {"profile": {"cookie_controls_mode": 0, "block_third_party_cookies": False}}
    (default / "Preferences").write_text(json.dumps(prefs))
    return path


class Browser(ABC):
    """The browser of one scan, which hands out a fresh, empty profile per phase."""

    def __init__(self, config: ScanConfig, guard: NetGuard | None = None) -> None:
        self.config = config
        # Every request of the browser goes through the scan's network guard; a browser
        # opened without one (a policy page read on its own) gets one of its own.
        self.own_guard = guard is None
        self.guard = guard if guard is not None else NetGuard(config)
        self.sandboxed = chromium_sandboxed(config)

    def close_guard(self) -> None:
        """Close the guard if this browser opened it."""
        if self.own_guard:
            self.guard.close()

    @abstractmethod
    def profile(self, phase: str, deadline: float | None = None) -> Profile:
        """A fresh profile (no cookies, no storage, no cache) for one phase."""

    @abstractmethod
    def close(self) -> None:
        """Close everything the browser started; always called."""


class Profile(ABC):
    """One fresh browser profile (one phase): visit pages, operate a banner, read the jar."""

    def __init__(self, config: ScanConfig, phase: str, deadline: float | None = None) -> None:
        self.config = config
        self.phase = phase
        self.clock = time.monotonic
        # The scan's global time limit (monotonic seconds): no page may wait past it.
        self.deadline = deadline
        # A browser opened for this profile alone (open_profile), closed with it.
        self.own_browser: Browser | None = None

    def page_budget(self) -> float:
        """Seconds the next page load may take: the page timeout, cut to the time left."""
        budget = self.config.page_timeout
        if self.deadline is not None:
            budget = min(budget, self.deadline - self.clock())
        return max(0.5, budget)

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
        """Wait until the page is quiet and nothing it scheduled is due, at most --wait more."""

    @abstractmethod
    def _screenshot_jpeg(self, quality: int) -> tuple[bytes, str] | None:
        """The viewport of the current page as JPEG at `quality`, and the page's URL."""

    def screenshot(self) -> Screenshot | None:
        """The viewport as an image of at most SCREENSHOT_MAX_BYTES, or None if none could be had."""
        for quality in SCREENSHOT_QUALITIES:
            shot = self._screenshot_jpeg(quality)
            if shot is None:
                return None
            data, page_url = shot
            size = image_size(data)
            if size is None:
                return None
            if len(data) <= SCREENSHOT_MAX_BYTES:
                media = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
                return Screenshot(media, data, size[0], size[1], page_url)
        return None

    @staticmethod
    def request_event(
        visit: PageVisit, url: str, kind: str | None, frame_url: str, at: float
    ) -> None:
        """Add a request to the visit (http and https only, at most MAX_REQUESTS_PER_PAGE)."""
        if not url.startswith(("http://", "https://")):
            return
        if len(visit.requests) < MAX_REQUESTS_PER_PAGE:
            visit.requests.append(
                RequestEvent(url, request_type(kind), visit.final_url, frame_url, at)
            )

    @abstractmethod
    def _drain(self, visit: PageVisit) -> None:
        """Turn what the browser reported since the last drain into the visit's events."""

    @abstractmethod
    def frame_storage(self) -> list[dict[str, Any]]:
        """The STORAGE_JS answer of every frame of the current page."""

    def drain_into(self, visit: PageVisit) -> None:
        """Attach events that arrived after a visit (a banner click) to it and refresh its jar."""
        self._drain(visit)
        visit.jar = self.jar()

    def storage_keys(self) -> list[str]:
        """origin|kind|key of every storage item in the current page's frames."""
        items = self.storage_items(self.frame_storage(), "")
        return [storage_ident(i.origin, i.kind, i.key) for i in items]

    @abstractmethod
    def page_html(self) -> str:
        """The rendered DOM of the current page (a policy built by scripts included)."""

    @abstractmethod
    def _close(self) -> None:
        """Close the profile and delete what it stored."""

    def close(self) -> None:
        """Close the profile (and a browser opened for it alone); always called."""
        try:
            self._close()
        finally:
            if self.own_browser is not None:
                self.own_browser.close()

    # -- shared helpers ---------------------------------------------------------------------

    def header_events(
        self,
        lines: list[str],
        request_url: str,
        frame_url: str,
        page_url: str,
        at: float,
        *,
        top_level_navigation: bool = False,
    ) -> list[CookieEvent]:
        """CookieEvents of the Set-Cookie lines of one response."""
        return header_cookie_events(
            lines, request_url, frame_url, page_url, at, top_level_navigation=top_level_navigation
        )

    def script_event(self, record: dict[str, Any], page_url: str, at: float) -> CookieEvent | None:
        """A CookieEvent from a probe record (document.cookie or CookieStore write)."""
        return script_cookie_event(record, page_url, at)

    @staticmethod
    def storage_setter(visit: PageVisit, record: dict[str, Any]) -> bool:
        """Note the script behind a probe record of a storage write; False for other records."""
        write = storage_write(record)
        if write is None:
            return False
        ident, setter = write
        if ident not in visit.storage_setters and len(visit.storage_setters) < MAX_STORAGE_WRITES:
            visit.storage_setters[ident] = setter
        return True

    def storage_items(self, frames: list[dict[str, Any]], page_url: str) -> list[StorageItem]:
        """StorageItems from the STORAGE_JS answers of each frame."""
        items = []
        for frame in frames:
            if frame.get("origin") in (None, "", "null"):
                # An about:blank frame reads its parent's storage (already listed) with the
                # origin "null"; an opaque origin has no storage of its own.
                continue
            for kind in STORAGE_KINDS:
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


def remove_dir(path: str) -> None:
    """Delete a profile folder, ignoring what is already gone."""
    shutil.rmtree(path, ignore_errors=True)
