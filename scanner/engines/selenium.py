"""The Selenium engine: a local chromedriver or a remote Selenium Grid, same observations."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chromium.remote_connection import ChromiumRemoteConnection
from selenium.webdriver.common.by import By

from scanner.banner import FIND_JS, OWN_BANNER_READY_JS
from scanner.config import ScanConfig, ScanError
from scanner.engines import BASE_ARGS, LINKS_JS, SCROLL_JS, STORAGE_JS, Profile
from scanner.model import BannerInfo, PageVisit, StoredCookie
from scanner.observe import PROBE_JS

# One renderer for every frame: the probe and the network log then cover cross-site iframes
# too (with site isolation they would live in targets chromedriver does not instrument).
SINGLE_PROCESS_FRAMES = [
    "--disable-site-isolation-trials",
    "--disable-features=IsolateOrigins,site-per-process",
]


def _error(exc: WebDriverException) -> str:
    return (exc.msg or str(exc)).splitlines()[0]


class SeleniumProfile(Profile):
    """A fresh Chrome session through WebDriver."""

    def __init__(self, config: ScanConfig, phase: str) -> None:
        super().__init__(config, phase)
        options = webdriver.ChromeOptions()
        options.add_argument("--headless=new")
        for arg in [*BASE_ARGS, *SINGLE_PROCESS_FRAMES, "--window-size=1366,900"]:
            options.add_argument(arg)
        rules = config.resolver_rules()
        if rules:
            options.add_argument(f"--host-resolver-rules={rules}")
        if config.insecure:
            options.add_argument("--ignore-certificate-errors")
            options.set_capability("acceptInsecureCerts", True)
        options.add_argument(f"--lang={config.locale}")
        # Third-party cookies allowed, as in most browsers people use (Chromium blocks them).
        options.add_experimental_option(
            "prefs", {"profile.cookie_controls_mode": 0, "intl.accept_languages": config.locale}
        )
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
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
        self.cdp("Page.addScriptToEvaluateOnNewDocument", {"source": PROBE_JS})
        self.urls: dict[str, tuple[str, str]] = {}
        self.records_seen: set[str] = set()
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
        for entry in entries:
            try:
                message = json.loads(entry["message"])["message"]
            except (KeyError, ValueError):
                continue
            method, params = message.get("method"), message.get("params", {})
            if method == "Network.requestWillBeSent":
                request = params.get("request", {})
                url = request.get("url", "")
                frame = url if params.get("type") == "Document" else params.get("documentURL", url)
                self.urls[params.get("requestId", "")] = (url, frame)
            elif method == "Network.responseReceivedExtraInfo":
                headers = params.get("headers", {})
                lines = []
                for name, value in headers.items():
                    if name.lower() == "set-cookie":
                        lines.extend(v for v in str(value).split("\n") if v.strip())
                if not lines:
                    continue
                url, frame = self.urls.get(
                    params.get("requestId", ""), (self.current_url, self.current_url)
                )
                visit.events.extend(self.header_events(lines, url, frame, self.current_url, now))
        for records in self._all_frames(
            lambda: self.driver.execute_script("return window.__cmScanLog || []")
        ):
            for record in records or []:
                ident = f"{record.get('frame')}|{record.get('t')}|{record.get('value')}"
                if ident in self.records_seen:
                    continue
                self.records_seen.add(ident)
                event = self.script_event(record, self.current_url, now)
                if event is not None:
                    visit.events.append(event)

    def settle(self) -> None:
        """No network-idle signal in WebDriver: wait for document ready, then the extra time."""
        deadline = time.monotonic() + min(10.0, self.config.page_timeout)
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
            visit.status = 200
        except WebDriverException as exc:
            visit.error = _error(exc)
        self._drain(visit)
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
                    self.driver.find_element(By.CSS_SELECTOR, "[data-cm-scan-target]").click()
                except WebDriverException as exc:
                    info.error = f"click failed: {_error(exc)}"
                    info.clicked = None
            elif found.get("kind") == "consent-manager":
                method = "acceptAll" if action == "accept" else "rejectAll"
                self.driver.execute_script(f"window.ConsentManager.{method}()")
                info.clicked = f"ConsentManager.{method}()"
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

    def drain_into(self, visit: PageVisit) -> None:
        """Attach what happened after the visit (a banner click) and refresh the jar."""
        self._drain(visit)
        visit.jar = self.jar()

    def storage_keys(self) -> list[str]:
        """origin|kind|key of every storage item in the current page's frames."""
        keys = []
        for data in self._all_frames(
            lambda: self.driver.execute_script(f"return ({STORAGE_JS})()")
        ):
            if data:
                for kind in ("local", "session"):
                    keys.extend(f"{data['origin']}|{kind}|{k}" for k, _ in data.get(kind) or [])
        return keys

    def close(self) -> None:
        """End the session."""
        with contextlib.suppress(Exception):
            self.driver.quit()
