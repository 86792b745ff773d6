"""The Selenium engine: a local chromedriver or a remote Selenium Grid, same observations."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chromium.remote_connection import ChromiumRemoteConnection
from selenium.webdriver.common.by import By

from scanner.banner import FIND_JS, OWN_BANNER_READY_JS, TARGET_JS
from scanner.config import ScanConfig, ScanError
from scanner.engines.base import (
    BASE_ARGS,
    LINKS_JS,
    NETWORK_SECONDS,
    SCROLL_JS,
    STORAGE_JS,
    Browser,
    Profile,
    disable_features,
)
from scanner.model import BannerInfo, PageVisit, StoredCookie
from scanner.observe import (
    MAX_RECORDS_PER_PAGE,
    PROBE_CONSOLE_JS,
    bounded_record,
    probe_record_from_console,
)

# One renderer for every frame: the probe and the network log then cover cross-site iframes
# too (with site isolation they would live in targets chromedriver does not instrument).
SINGLE_PROCESS_FRAMES = [
    "--disable-site-isolation-trials",
    disable_features("IsolateOrigins", "site-per-process"),
]


@dataclass
class _Hop:
    """One request of a redirect chain (all share a requestId) in the performance log."""

    url: str
    frame: str  # the document that made the request (a navigation: the URL itself)
    top_level: bool  # a navigation of the page itself
    has_extra: bool = True  # whether a responseReceivedExtraInfo (raw headers) comes for it

    def parts(self) -> tuple[str, str, bool]:
        return self.url, self.frame, self.top_level


def _error(exc: WebDriverException) -> str:
    return (exc.msg or str(exc)).splitlines()[0]


class SeleniumBrowser(Browser):
    """WebDriver gives each session a browser of its own: a new session per phase."""

    def profile(self, phase: str, deadline: float | None = None) -> SeleniumProfile:
        """A new WebDriver session, with a fresh temporary profile, behind the scan's guard."""
        return SeleniumProfile(self.config, phase, deadline, owner=self)

    def close(self) -> None:
        """Close the guard if it is this browser's own (each profile ends its own session)."""
        self.close_guard()


class SeleniumProfile(Profile):
    """A fresh Chrome session through WebDriver."""

    def __init__(
        self,
        config: ScanConfig,
        phase: str,
        deadline: float | None = None,
        *,
        owner: SeleniumBrowser,
    ) -> None:
        super().__init__(config, phase, deadline)
        options = webdriver.ChromeOptions()
        options.add_argument("--headless=new")
        # A remote browser must reach the guard at config.proxy_host (docs/scanner.md).
        sandbox = [] if owner.sandboxed else ["--no-sandbox"]
        for arg in [
            *BASE_ARGS,
            *sandbox,
            *SINGLE_PROCESS_FRAMES,
            *owner.guard.chromium_args(phase),
            "--window-size=1366,900",
        ]:
            options.add_argument(arg)
        if config.insecure:
            options.add_argument("--ignore-certificate-errors")
            options.set_capability("acceptInsecureCerts", True)
        options.add_argument(f"--lang={config.locale}")
        # Third-party cookies allowed, as in most browsers people use (Chromium blocks them).
        options.add_experimental_option(
            "prefs", {"profile.cookie_controls_mode": 0, "intl.accept_languages": config.locale}
        )
        # performance: Set-Cookie headers; browser: the probe's records (see observe.PROBE_JS).
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        options.add_experimental_option(
            "perfLoggingPrefs", {"enableNetwork": True, "enablePage": False}
        )
        try:
            if config.remote:
                connection = ChromiumRemoteConnection(
                    remote_server_addr=config.remote, vendor_prefix="goog", browser_name="chrome"
                )
                self.driver = webdriver.Remote(command_executor=connection, options=options)
            else:
                options.binary_location = config.chromium
                self.driver = webdriver.Chrome(
                    service=Service(executable_path=config.chromedriver), options=options
                )
        except WebDriverException as exc:
            raise ScanError(f"WebDriver session did not start: {_error(exc)}") from exc
        self.driver.set_page_load_timeout(config.page_timeout)
        self.driver.set_script_timeout(config.page_timeout)
        self.cdp("Page.addScriptToEvaluateOnNewDocument", {"source": PROBE_CONSOLE_JS})
        self.urls: dict[str, list[_Hop]] = {}
        try:
            self.main_frame = self.cdp("Page.getFrameTree")["frameTree"]["frame"]["id"]
        except (WebDriverException, KeyError, TypeError):
            self.main_frame = None
        self.hops: dict[str, int] = {}
        self.document_status: dict[str, int] = {}
        self.records_seen: set[bytes] = set()
        self.current_url = ""

    def cdp(self, cmd: str, params: dict[str, Any] | None = None) -> Any:
        """A Chrome DevTools command, locally or through a Grid."""
        return self.driver.execute("executeCdpCommand", {"cmd": cmd, "params": params or {}})[
            "value"
        ]

    # -- frames -----------------------------------------------------------------------------

    def _in_frames(self, fn: Callable[[], Any], depth: int = 0) -> Iterator[Any]:
        """Run fn in the current frame and, recursively, in every iframe."""
        with contextlib.suppress(WebDriverException):
            yield fn()
        if depth > 3:
            return
        try:
            count = len(self.driver.find_elements(By.CSS_SELECTOR, "iframe, frame"))
        except WebDriverException:
            return
        for i in range(count):
            try:
                frames = self.driver.find_elements(By.CSS_SELECTOR, "iframe, frame")
                self.driver.switch_to.frame(frames[i])
            except (WebDriverException, IndexError):
                continue
            try:
                yield from self._in_frames(fn, depth + 1)
            finally:
                with contextlib.suppress(WebDriverException):
                    self.driver.switch_to.parent_frame()

    def _all_frames(self, fn: Callable[[], Any]) -> list[Any]:
        with contextlib.suppress(WebDriverException):
            self.driver.switch_to.default_content()
        out = list(self._in_frames(fn))
        with contextlib.suppress(WebDriverException):
            self.driver.switch_to.default_content()
        return out

    # -- collection -------------------------------------------------------------------------

    def _drain(self, visit: PageVisit) -> None:
        now = self.clock()
        try:
            entries = self.driver.get_log("performance")
        except WebDriverException:
            entries = []
        messages = []
        for entry in entries:
            try:
                messages.append(json.loads(entry["message"])["message"])
            except (KeyError, TypeError, ValueError):
                continue
        # ExtraInfo events may come before the request they belong to: requests first.
        extra = []
        for message in messages:
            method, params = message.get("method"), message.get("params", {})
            ident = params.get("requestId", "")
            if method == "Network.requestWillBeSent":
                request = params.get("request", {})
                url = request.get("url", "")
                document = params.get("type") == "Document"
                frame = url if document else params.get("documentURL", url)
                top_level = document and params.get("frameId") == self.main_frame
                # A redirect keeps its requestId: each hop is one more entry in the chain, and
                # the hops that went over the network get one responseReceivedExtraInfo each,
                # in order. An internal redirect (HSTS, an extension) gets none.
                chain = self.urls.setdefault(ident, [])
                if chain and params.get("redirectResponse") is not None:
                    chain[-1].has_extra = params.get("redirectHasExtraInfo", True) is not False
                chain.append(_Hop(url, frame, top_level))
                if not top_level:  # the page itself is the crawl's navigation
                    self.request_event(visit, url, params.get("type"), frame, now)
            elif method == "Network.responseReceived" and params.get("type") == "Document":
                response = params.get("response", {})
                if response.get("url") and response.get("status") is not None:
                    self.document_status[response["url"]] = int(response["status"])
            elif method == "Network.responseReceivedExtraInfo":
                extra.append(params)
        for params in extra:
            ident = params.get("requestId", "")
            chain = [h for h in self.urls.get(ident, []) if h.has_extra]
            chain = chain or [_Hop(self.current_url, self.current_url, False)]
            hop = self.hops.get(ident, 0)
            self.hops[ident] = hop + 1
            url, frame, top_level = chain[min(hop, len(chain) - 1)].parts()
            lines = []
            for name, value in (params.get("headers") or {}).items():
                if name.lower() == "set-cookie":
                    lines.extend(v for v in str(value).split("\n") if v.strip())
            if lines:
                visit.events.extend(
                    self.header_events(
                        lines, url, frame, self.current_url, now, top_level_navigation=top_level
                    )
                )
        # Script writes: from the console log (it keeps the records of frames that are gone),
        # then from the frames still there (in case the console log is not available).
        records: list[dict[str, Any]] = []
        try:
            console = self.driver.get_log("browser")
        except WebDriverException:
            console = []
        for entry in console:
            record = probe_record_from_console(str(entry.get("message") or ""))
            if record is not None:
                records.append(record)
        for frame_records in self._all_frames(
            lambda: self.driver.execute_script("return window.__cmScanLog || []")
        ):
            records.extend(frame_records or [])
        kept = 0
        for raw in records:
            record = bounded_record(raw)
            if record is None:
                continue
            # A record comes from the console and from the frame's log: read it once. The
            # identity is a digest, so that a flood of long records cannot grow the set much.
            ident = f"{record['frame']}|{record['t']}|{record['value']}".encode()
            digest = hashlib.blake2b(ident, digest_size=16).digest()
            if digest in self.records_seen:
                continue
            self.records_seen.add(digest)
            if kept >= MAX_RECORDS_PER_PAGE:
                visit.dropped_records += 1
                continue
            kept += 1
            if self.storage_setter(visit, record):
                continue
            event = self.script_event(record, self.current_url, now)
            if event is not None:
                visit.events.append(event)

    def _screenshot_jpeg(self, quality: int) -> tuple[bytes, str] | None:
        """The viewport through DevTools (JPEG; WebDriver's own screenshot is PNG only)."""
        with contextlib.suppress(WebDriverException):
            self.driver.switch_to.default_content()
        try:
            answer = self.cdp("Page.captureScreenshot", {"format": "jpeg", "quality": quality})
            return base64.b64decode(answer["data"]), self.current_url
        except (WebDriverException, KeyError, TypeError, ValueError):
            pass
        try:
            return self.driver.get_screenshot_as_png(), self.current_url
        except WebDriverException:
            return None

    def settle(self) -> None:
        """No network-idle signal in WebDriver: wait for document ready, then the extra time."""
        deadline = time.monotonic() + min(NETWORK_SECONDS, self.page_budget())
        while time.monotonic() < deadline:
            try:
                state = self.driver.execute_script("return document.readyState")
            except WebDriverException:
                break
            if state == "complete":
                break
            time.sleep(0.05)
        time.sleep(self.config.settle_ms / 1000)

    def visit(self, url: str) -> PageVisit:
        """Load, scroll, settle and collect."""
        started = time.monotonic()
        visit = PageVisit(url=url, final_url=url, status=None, phase=self.phase)
        self.current_url = url
        self.records_seen.clear()
        try:
            self.driver.set_page_load_timeout(self.page_budget())
            self.driver.get(url)
            visit.final_url = self.driver.current_url
            self.current_url = visit.final_url
            with contextlib.suppress(WebDriverException):
                self.driver.execute_script(f"return ({SCROLL_JS})()")
            self.settle()
            visit.links = self.driver.execute_script(f"return ({LINKS_JS})()") or []
            frames = self._all_frames(
                lambda: self.driver.execute_script(f"return ({STORAGE_JS})()")
            )
            visit.frames = [
                f["href"] for f in frames[1:] if f and f.get("href") not in (None, "about:blank")
            ]
            visit.storage = self.storage_items([f for f in frames if f], visit.final_url)
        except WebDriverException as exc:
            visit.error = _error(exc)
        self._drain(visit)
        if visit.error is None:
            visit.status = self.document_status.get(visit.final_url)
        visit.jar = self.jar()
        visit.elapsed_ms = (time.monotonic() - started) * 1000
        return visit

    def banner(self, action: str) -> BannerInfo:
        """Click accept or reject on the banner of the current page, in the page or an iframe."""
        with contextlib.suppress(WebDriverException):
            self.driver.execute_async_script(
                f"const done = arguments[0]; Promise.resolve(({OWN_BANNER_READY_JS})())"
                ".then(done, () => done(null));"
            )
        args = self.banner_args(self.config, action)
        result: list[BannerInfo] = []

        def attempt() -> None:
            if result:
                return
            found = self.driver.execute_script(f"return ({FIND_JS})(arguments[0])", args)
            if not found or not found.get("found"):
                return
            info = BannerInfo(
                found=True,
                kind=found.get("kind"),
                reject_on_first_layer=found.get("reject_on_first_layer"),
                clicked=found.get("clicked"),
            )
            if found.get("clicked"):
                try:
                    target = self.driver.execute_script(TARGET_JS)
                    if target is None:
                        raise WebDriverException("the marked button is gone")
                    target.click()
                except WebDriverException as exc:
                    info.error = f"click failed: {_error(exc)}"
                    info.clicked = None
            elif found.get("kind") == "consent-manager":
                method = "acceptAll" if action == "accept" else "rejectAll"
                try:
                    self.driver.execute_script(f"window.ConsentManager.{method}()")
                    info.clicked = f"ConsentManager.{method}()"
                except WebDriverException as exc:
                    info.error = f"ConsentManager.{method}() failed: {_error(exc)}"
            else:
                info.error = f"no {action} button on the first layer"
            result.append(info)

        self._all_frames(attempt)
        return result[0] if result else BannerInfo()

    def jar(self) -> list[StoredCookie]:
        """Every cookie of the session (all domains), through DevTools."""
        try:
            return self.jar_entries(self.cdp("Network.getAllCookies")["cookies"])
        except (WebDriverException, KeyError):
            return []

    def fetch_text(self, url: str) -> str | None:
        """Same-origin GET through the page."""
        try:
            return self.driver.execute_async_script(
                "const [u, done] = arguments; fetch(u, {credentials: 'omit'})"
                ".then((r) => r.ok ? r.text() : null).then((t) => done(t && t.slice(0, 5000000)),"
                " () => done(null));",
                url,
            )
        except WebDriverException:
            return None

    def frame_storage(self) -> list[dict[str, Any]]:
        """The STORAGE_JS answer of every frame."""
        found = self._all_frames(lambda: self.driver.execute_script(f"return ({STORAGE_JS})()"))
        return [data for data in found if data]

    def page_html(self) -> str:
        """The rendered DOM of the current page."""
        return self.driver.execute_script("return document.documentElement.outerHTML")

    def _close(self) -> None:
        """End the session."""
        with contextlib.suppress(Exception):
            self.driver.quit()
