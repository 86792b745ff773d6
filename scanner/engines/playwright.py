"""The Playwright engine: the system Chromium, a fresh persistent profile per phase."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Response, sync_playwright

from scanner.banner import FIND_JS, OWN_BANNER_READY_JS
from scanner.config import ScanConfig, ScanError
from scanner.engines import (
    BASE_ARGS,
    LINKS_JS,
    SCROLL_JS,
    STORAGE_JS,
    Profile,
    fresh_profile_dir,
    remove_dir,
)
from scanner.model import BannerInfo, PageVisit, StoredCookie
from scanner.observe import PROBE_JS


class PlaywrightProfile(Profile):
    """A persistent Chromium context in its own temporary user-data-dir."""

    def __init__(self, config: ScanConfig, phase: str, deadline: float | None = None) -> None:
        super().__init__(config, phase, deadline)
        self.dir = fresh_profile_dir()
        self.pw = sync_playwright().start()
        args = list(BASE_ARGS)
        rules = config.resolver_rules()
        if rules:
            args.append(f"--host-resolver-rules={rules}")
        try:
            self.context = self.pw.chromium.launch_persistent_context(
                self.dir,
                executable_path=config.chromium,
                headless=True,
                args=args,
                ignore_https_errors=config.insecure,
                locale=config.locale,
                viewport={"width": 1366, "height": 900},
            )
        except PlaywrightError as exc:
            self.pw.stop()
            remove_dir(self.dir)
            raise ScanError(f"Chromium did not start: {exc.message.splitlines()[0]}") from exc
        self.context.set_default_timeout(config.page_timeout * 1000)
        self.context.add_init_script(PROBE_JS)
        self.context.expose_binding("__cmScanReport", self._on_script_record)
        self.context.on("response", self._on_response)
        self.responses: list[tuple[Response, float, str, bool]] = []
        self.records: list[tuple[dict[str, Any], float]] = []
        self.page = self.context.pages[0] if self.context.pages else self.context.new_page()

    # Events arrive while Playwright pumps messages; they are only queued here and turned into
    # CookieEvents after the page settles, when reading headers cannot race the page.
    def _on_response(self, response: Response) -> None:
        # The document that received the header: a navigation's own URL (each redirect hop
        # too), else the frame's document at this moment (it may navigate before the drain).
        frame_url, top_level = "", False
        with contextlib.suppress(PlaywrightError):
            if response.request.resource_type == "document":
                frame_url = response.url
                top_level = (
                    response.request.is_navigation_request() and response.frame.parent_frame is None
                )
            else:
                frame_url = response.frame.url
        self.responses.append((response, self.clock(), frame_url, top_level))

    def _on_script_record(self, source: dict[str, Any], record: dict[str, Any]) -> None:
        self.records.append((record, self.clock()))

    def _drain(self, visit: PageVisit) -> None:
        # Everything queued since the last drain belongs to this visit; its page is the
        # document the visit ended on (after any redirect), as in the Selenium engine.
        page_url = visit.final_url
        responses, self.responses = self.responses, []
        for response, at, frame_url, top_level in responses:
            try:
                lines = [
                    h["value"]
                    for h in response.headers_array()
                    if h["name"].lower() == "set-cookie"
                ]
            except PlaywrightError:
                continue
            if lines:
                visit.events.extend(
                    self.header_events(
                        lines,
                        response.url,
                        frame_url or page_url,
                        page_url,
                        at,
                        top_level_navigation=top_level,
                    )
                )
        records, self.records = self.records, []
        for record, at in records:
            event = self.script_event(record, page_url, at)
            if event is not None:
                visit.events.append(event)

    def settle(self) -> None:
        """Network idle (bounded), then the extra time so delayed writes are seen."""
        with contextlib.suppress(PlaywrightError):
            self.page.wait_for_load_state(
                "networkidle", timeout=min(10.0, self.page_budget()) * 1000
            )
        self.page.wait_for_timeout(self.config.settle_ms)

    def visit(self, url: str) -> PageVisit:
        """Load, scroll, settle and collect."""
        started = time.monotonic()
        visit = PageVisit(url=url, final_url=url, status=None, phase=self.phase)
        try:
            response = self.page.goto(url, wait_until="load", timeout=self.page_budget() * 1000)
            visit.status = response.status if response else None
            visit.final_url = self.page.url
            with contextlib.suppress(PlaywrightError):
                self.page.evaluate(SCROLL_JS)
            self.settle()
            visit.links = self.page.evaluate(LINKS_JS)
            frames = self.frame_storage()
            visit.frames = [f.url for f in self.page.frames[1:] if f.url and f.url != "about:blank"]
            visit.storage = self.storage_items(frames, visit.final_url)
        except PlaywrightError as exc:
            visit.error = exc.message.splitlines()[0]
        self._drain(visit)
        visit.jar = self.jar()
        visit.elapsed_ms = (time.monotonic() - started) * 1000
        return visit

    def banner(self, action: str) -> BannerInfo:
        """Click accept or reject on the current page's banner, in the page or an iframe."""
        info = BannerInfo()
        with contextlib.suppress(PlaywrightError):
            self.page.evaluate(OWN_BANNER_READY_JS)
        for frame in self.page.frames:
            try:
                found = frame.evaluate(FIND_JS, self.banner_args(self.config, action))
            except PlaywrightError:
                continue
            if not found.get("found"):
                continue
            info = BannerInfo(
                found=True,
                kind=found.get("kind"),
                reject_on_first_layer=found.get("reject_on_first_layer"),
                clicked=found.get("clicked"),
            )
            if found.get("clicked"):
                try:
                    frame.click("[data-cm-scan-target]", timeout=5000)
                except PlaywrightError as exc:
                    info.error = f"click failed: {exc.message.splitlines()[0]}"
                    info.clicked = None
            elif found.get("kind") == "consent-manager":
                method = "acceptAll" if action == "accept" else "rejectAll"
                frame.evaluate(f"() => window.ConsentManager.{method}()")
                info.clicked = f"ConsentManager.{method}()"
            else:
                info.error = f"no {action} button on the first layer"
            break
        return info

    def jar(self) -> list[StoredCookie]:
        """The context's cookies."""
        return self.jar_entries(self.context.cookies())

    def fetch_text(self, url: str) -> str | None:
        """Same-origin GET through the page, so resolver rules and TLS settings apply."""
        try:
            return self.page.evaluate(
                "async (u) => { const r = await fetch(u, {credentials: 'omit'});"
                " return r.ok ? (await r.text()).slice(0, 5000000) : null; }",
                url,
            )
        except PlaywrightError:
            return None

    def frame_storage(self) -> list[dict[str, Any]]:
        """The STORAGE_JS answer of every frame that lets us read it."""
        out = []
        for frame in self.page.frames:
            with contextlib.suppress(PlaywrightError):
                out.append(frame.evaluate(STORAGE_JS))
        return out

    def page_html(self) -> str:
        """The rendered DOM of the current page."""
        return self.page.content()

    def close(self) -> None:
        """Close the browser and delete the profile."""
        with contextlib.suppress(Exception):
            self.context.close()
        with contextlib.suppress(Exception):
            self.pw.stop()
        remove_dir(self.dir)
