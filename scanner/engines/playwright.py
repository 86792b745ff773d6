"""The Playwright engine: one system Chromium per scan, a fresh context in it per phase."""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Request, Response, async_playwright

from scanner.banner import FIND_JS, OWN_BANNER_READY_JS
from scanner.config import ScanConfig, ScanError
from scanner.engines.base import (
    BASE_ARGS,
    LINKS_JS,
    NETWORK_SECONDS,
    QUIET_SECONDS,
    SCROLL_JS,
    STORAGE_JS,
    Browser,
    Profile,
    disable_features,
    fresh_profile_dir,
    remove_dir,
)
from scanner.model import BannerInfo, PageVisit, StoredCookie
from scanner.netguard import NetGuard
from scanner.observe import BUSY_JS, MAX_RECORDS_PER_PAGE, PROBE_JS, bounded_record

T = TypeVar("T")

POLL_SECONDS = 0.05
# Playwright's default switches open a blank page in the profile itself, whose renderer costs
# as much CPU as a phase's page; the browser is launched with these instead (ignore_default_args):
# Playwright's defaults for headless Chromium on Linux (as of Playwright 1.65), without that page
# and without those for Edge, Windows and screenshots.
LAUNCH_ARGS = [
    "--remote-debugging-pipe",  # Playwright's connection
    "--headless",
    "--no-startup-window",  # pages only in the phases' contexts
    "--hide-scrollbars",
    "--mute-audio",
    "--blink-settings=primaryHoverType=2,availableHoverTypes=2,primaryPointerType=4,availablePointerTypes=4",
    "--enable-unsafe-swiftshader",  # WebGL without a GPU, as sites' scripts may probe it
    "--allow-pre-commit-input",
    "--disable-field-trial-config",  # the same features on every run
    # Three pages work at once, none of them in front: their timers must not be throttled.
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    "--disable-back-forward-cache",
    "--disable-breakpad",
    "--disable-component-extensions-with-background-pages",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-hang-monitor",
    "--disable-ipc-flooding-protection",
    "--disable-popup-blocking",
    "--disable-prompt-on-repost",
    "--disable-search-engine-choice-screen",
    "--force-color-profile=srgb",
    "--metrics-recording-only",
    "--no-service-autorun",
    "--password-store=basic",
    "--use-mock-keychain",
    # http stays http (no HTTPS upgrades), storage unpartitioned, nothing fetched from Google.
    disable_features(
        "HttpsUpgrades",
        "HttpsFirstBalancedModeAutoEnable",
        "ThirdPartyStoragePartitioning",
        "AvoidUnnecessaryBeforeUnloadCheckSync",
        "DestroyProfileOnBrowserClose",
        "MediaRouter",
        "PaintHolding",
        "OptimizationHints",
        "NetworkTimeServiceQuerying",
        "AimEnabled",
        "PreconnectToSearch",
        "LensOverlay",
    ),
]


def _may_finish(request: Request) -> bool:
    """False for a request whose frame is gone (Chromium may never report its end)."""
    try:
        return not request.frame.is_detached()
    except PlaywrightError:
        return True  # a service worker's request has no frame


class PlaywrightBrowser(Browser):
    """Chromium on a temporary profile that allows third-party cookies, driven from one thread.

    The phases share this one browser process (starting one per phase cost seconds) and get
    a new browser context each: an off-the-record context with its own empty cookie jar,
    storage and cache, which inherits the profile's preference for third-party cookies.
    Playwright's objects belong to the event loop of one thread; the phases' threads hand it
    their work and wait for the answer, so the phases still run at the same time.
    """

    def __init__(self, config: ScanConfig, guard: NetGuard | None = None) -> None:
        super().__init__(config, guard)
        self.dir = fresh_profile_dir()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="playwright", daemon=True)
        self.thread.start()
        self.pw: Any = None
        self.persistent: Any = None
        self.browser: Any = None
        # Chromium starts in the background; the first profile waits for it.
        self.started = asyncio.run_coroutine_threadsafe(self._start(), self.loop)

    def call(self, work: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the browser's event loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result()

    async def _start(self) -> None:
        try:
            self.pw = await async_playwright().start()
        except Exception as exc:  # the driver is missing or cannot run
            raise ScanError(f"Playwright did not start: {exc}") from exc
        sandbox = [] if self.sandboxed else ["--no-sandbox"]
        # The browser's own traffic (none is expected) goes through the guard too; each
        # phase's context gets a port of its own, so a blocked request names its phase.
        args = [
            f"--user-data-dir={self.dir}",
            *LAUNCH_ARGS,
            *BASE_ARGS,
            *sandbox,
            *self.guard.chromium_args("browser"),
        ]
        try:
            # The persistent context only carries the profile (its preferences); no page in it.
            self.persistent = await self.pw.chromium.launch_persistent_context(
                self.dir,
                executable_path=self.config.chromium,
                headless=True,
                ignore_default_args=True,
                args=args,
            )
        except PlaywrightError as exc:
            raise ScanError(f"Chromium did not start: {exc.message.splitlines()[0]}") from exc
        self.browser = self.persistent.browser
        if self.browser is None:
            raise ScanError("this Playwright cannot open contexts beside a persistent profile")

    def profile(self, phase: str, deadline: float | None = None) -> PlaywrightProfile:
        """A new, empty context with the scan's probe and listeners."""
        self.started.result()
        profile = PlaywrightProfile(self, phase, deadline)
        self.call(profile.open())
        return profile

    async def _stop(self) -> None:
        if self.persistent is not None:
            with contextlib.suppress(Exception):
                await self.persistent.close()
        if self.pw is not None:
            with contextlib.suppress(Exception):
                await self.pw.stop()

    def close(self) -> None:
        """Close Chromium, stop the event loop and delete the profile."""
        with contextlib.suppress(Exception):
            self.started.result(timeout=60)  # a launch under way is finished, then closed
        if self.loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(timeout=60)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()
        remove_dir(self.dir)
        self.close_guard()


class PlaywrightProfile(Profile):
    """One browser context of the scan's Chromium; every method runs on the browser's loop."""

    def __init__(self, owner: PlaywrightBrowser, phase: str, deadline: float | None = None) -> None:
        super().__init__(owner.config, phase, deadline)
        self.owner = owner
        self.context: Any = None
        self.page: Any = None
        self.responses: list[tuple[Response, float, str, bool]] = []
        self.records: list[tuple[dict[str, Any], float]] = []
        self.dropped_records = 0
        # Requests of the page (url, resource type, frame URL, when), drained with the cookies.
        self.request_log: list[tuple[str, str, str, float]] = []
        self.inflight: set[Request] = set()
        self.last_activity = self.clock()

    async def open(self) -> None:
        """Create the context and its page, with the probe and the listeners."""
        config = self.config
        try:
            self.context = await self.owner.browser.new_context(
                # Playwright adds <-loopback> to the bypass list: loopback is proxied too.
                proxy={"server": self.owner.guard.proxy_url(self.phase)},
                ignore_https_errors=config.insecure,
                locale=config.locale,
                viewport={"width": 1366, "height": 900},
            )
            self.context.set_default_timeout(config.page_timeout * 1000)
            await self.context.add_init_script(PROBE_JS)
            await self.context.expose_binding("__cmScanReport", self._on_script_record)
            self.context.on("request", self._on_request)
            self.context.on("requestfinished", self._on_request_done)
            self.context.on("requestfailed", self._on_request_done)
            self.context.on("response", self._on_response)
            self.page = await self.context.new_page()
        except PlaywrightError as exc:
            raise ScanError(f"no browser context: {exc.message.splitlines()[0]}") from exc

    # Events arrive on the loop as Chromium reports them; they are only queued here and turned
    # into CookieEvents after the page settles, when reading headers cannot race the page.
    def _on_request(self, request: Request) -> None:
        self.inflight.add(request)
        self.last_activity = self.clock()
        frame_url = ""
        with contextlib.suppress(PlaywrightError):
            frame = request.frame
            if request.is_navigation_request() and frame.parent_frame is None:
                return  # the page itself: the crawl's own navigation, not the page's request
            frame_url = frame.url
        self.request_log.append((request.url, request.resource_type, frame_url, self.clock()))

    def _on_request_done(self, request: Request) -> None:
        self.inflight.discard(request)
        self.last_activity = self.clock()

    def _on_response(self, response: Response) -> None:
        # The document that received the header: a navigation's own URL (each redirect hop
        # too), else the frame's document at this moment (it may navigate before the drain).
        self.last_activity = self.clock()
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

    def _on_script_record(self, source: dict[str, Any], record: Any) -> None:
        self.last_activity = self.clock()
        if len(self.records) >= MAX_RECORDS_PER_PAGE:
            self.dropped_records += 1
            return
        bounded = bounded_record(record)
        if bounded is not None:
            self.records.append((bounded, self.clock()))

    async def _bounded(self, work: Awaitable[T], fallback: T) -> T:
        """The answer of `work`, or `fallback` when it fails or outlasts the page budget."""
        # A script waits for its frame's document: on a page still navigating (a goto that
        # timed out, a slow redirect) that is as long as the server takes, past any time limit.
        try:
            return await asyncio.wait_for(work, timeout=self.page_budget())
        except (TimeoutError, PlaywrightError):
            return fallback

    async def _drain_async(self, visit: PageVisit) -> None:
        # Everything queued since the last drain belongs to this visit; its page is the
        # document the visit ended on (after any redirect), as in the Selenium engine.
        page_url = visit.final_url
        responses, self.responses = self.responses, []
        headers = await asyncio.gather(
            *(response.headers_array() for response, _, _, _ in responses),
            return_exceptions=True,
        )
        for (response, at, frame_url, top_level), answer in zip(responses, headers, strict=True):
            if isinstance(answer, BaseException):
                continue
            lines = [h["value"] for h in answer if h["name"].lower() == "set-cookie"]
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
        requests, self.request_log = self.request_log, []
        for url, kind, frame_url, at in requests:
            self.request_event(visit, url, kind, frame_url or page_url, at)
        records, self.records = self.records, []
        visit.dropped_records += self.dropped_records
        self.dropped_records = 0
        for record, at in records:
            if self.storage_setter(visit, record):
                continue
            event = self.script_event(record, page_url, at)
            if event is not None:
                visit.events.append(event)

    def _drain(self, visit: PageVisit) -> None:
        self.owner.call(self._drain_async(visit))

    async def _screenshot_async(self, quality: int) -> tuple[bytes, str] | None:
        data = await self._bounded(
            self.page.screenshot(type="jpeg", quality=quality, animations="disabled"), None
        )
        return (data, self.page.url) if isinstance(data, bytes) else None

    def _screenshot_jpeg(self, quality: int) -> tuple[bytes, str] | None:
        """The page's viewport through Playwright."""
        return self.owner.call(self._screenshot_async(quality))

    async def _scheduled(self, horizon_ms: float) -> tuple[int, float]:
        """Timers and the like due within the horizon, over every frame; ms since one ran."""
        answers = await asyncio.gather(
            *(frame.evaluate(BUSY_JS, horizon_ms) for frame in self.page.frames),
            return_exceptions=True,
        )
        due, since = 0, math.inf
        for answer in answers:
            if isinstance(answer, list) and len(answer) == 2:
                due += int(answer[0])
                since = min(since, float(answer[1]))
        return due, since

    async def _settle(self) -> None:
        # Quiet network first (bounded, like Playwright's networkidle), then up to --wait for
        # what the page has scheduled: it ends as soon as no request is in flight, nothing
        # happened for QUIET_SECONDS and no timer, idle callback or animation is due before
        # the end of --wait. A page with workers or a service worker (whose timers the probe
        # cannot see) gets the whole --wait, as does one that keeps scheduling work.
        start = self.clock()
        budget = self.page_budget()
        network_end = start + min(NETWORK_SECONDS, budget)
        self.last_activity = max(self.last_activity, start)  # events of the last action
        end: float | None = None
        while True:
            now = self.clock()
            self.inflight = {r for r in self.inflight if _may_finish(r)}
            quiet = not self.inflight and now - self.last_activity >= QUIET_SECONDS
            if end is None and (quiet or now >= network_end):
                end = min(now + self.config.settle_ms / 1000, start + budget)
            if end is not None:
                if now >= end:
                    return
                if quiet and not self.page.workers and not self.context.service_workers:
                    with contextlib.suppress(TimeoutError):  # a frame too busy to answer
                        due, since = await asyncio.wait_for(
                            self._scheduled((end - now) * 1000), timeout=end - now
                        )
                        if not due and since >= QUIET_SECONDS * 1000:
                            return
            await asyncio.sleep(POLL_SECONDS)

    def settle(self) -> None:
        """Network quiet, then up to --wait more while the page still has work scheduled."""
        self.owner.call(self._settle())

    async def _frame_storage(self) -> list[dict[str, Any]]:
        answers = await asyncio.gather(
            *(self._bounded(frame.evaluate(STORAGE_JS), None) for frame in self.page.frames)
        )
        return [a for a in answers if isinstance(a, dict)]

    async def _visit(self, url: str) -> PageVisit:
        started = self.clock()
        visit = PageVisit(url=url, final_url=url, status=None, phase=self.phase)
        # Requests of the previous page end with it, whether or not Chromium reports each one.
        self.inflight.clear()
        try:
            response = await self.page.goto(
                url, wait_until="load", timeout=self.page_budget() * 1000
            )
            visit.status = response.status if response else None
            visit.final_url = self.page.url
            await self._bounded(self.page.evaluate(SCROLL_JS), None)
            await self._settle()
            try:
                visit.links = await asyncio.wait_for(
                    self.page.evaluate(LINKS_JS), timeout=self.page_budget()
                )
            except TimeoutError:
                visit.error = "the page did not answer a script in time"
            frames = await self._frame_storage()
            visit.frames = [f.url for f in self.page.frames[1:] if f.url and f.url != "about:blank"]
            visit.storage = self.storage_items(frames, visit.final_url)
        except PlaywrightError as exc:
            visit.error = exc.message.splitlines()[0]
        await self._drain_async(visit)
        visit.jar = await self._jar()
        visit.elapsed_ms = (self.clock() - started) * 1000
        return visit

    def visit(self, url: str) -> PageVisit:
        """Load, scroll, settle and collect."""
        return self.owner.call(self._visit(url))

    async def _banner(self, action: str) -> BannerInfo:
        info = BannerInfo()
        await self._bounded(self.page.evaluate(OWN_BANNER_READY_JS), None)
        for frame in self.page.frames:
            found = await self._bounded(
                frame.evaluate(FIND_JS, self.banner_args(self.config, action)), None
            )
            if not isinstance(found, dict) or not found.get("found"):
                continue
            info = BannerInfo(
                found=True,
                kind=found.get("kind"),
                reject_on_first_layer=found.get("reject_on_first_layer"),
                clicked=found.get("clicked"),
            )
            if found.get("clicked"):
                try:
                    await frame.click("[data-cm-scan-target]", timeout=5000)
                except PlaywrightError as exc:
                    info.error = f"click failed: {exc.message.splitlines()[0]}"
                    info.clicked = None
            elif found.get("kind") == "consent-manager":
                method = "acceptAll" if action == "accept" else "rejectAll"
                done = await self._bounded(
                    frame.evaluate(
                        f"async () => {{ await window.ConsentManager.{method}(); return true; }}"
                    ),
                    False,
                )
                if done:
                    info.clicked = f"ConsentManager.{method}()"
                else:
                    info.error = f"ConsentManager.{method}() failed or did not finish in time"
            else:
                info.error = f"no {action} button on the first layer"
            break
        return info

    def banner(self, action: str) -> BannerInfo:
        """Click accept or reject on the current page's banner, in the page or an iframe."""
        return self.owner.call(self._banner(action))

    async def _jar(self) -> list[StoredCookie]:
        return self.jar_entries(await self.context.cookies())

    def jar(self) -> list[StoredCookie]:
        """The context's cookies."""
        return self.owner.call(self._jar())

    async def _fetch_text(self, url: str) -> str | None:
        return await self._bounded(
            self.page.evaluate(
                "async (u) => { const r = await fetch(u, {credentials: 'omit'});"
                " return r.ok ? (await r.text()).slice(0, 5000000) : null; }",
                url,
            ),
            None,
        )

    def fetch_text(self, url: str) -> str | None:
        """Same-origin GET through the page, so resolver rules and TLS settings apply."""
        return self.owner.call(self._fetch_text(url))

    def frame_storage(self) -> list[dict[str, Any]]:
        """The STORAGE_JS answer of every frame that lets us read it."""
        return self.owner.call(self._frame_storage())

    async def _page_html(self) -> str:
        # Errors and a page that never finishes navigating are reported by the caller.
        return await asyncio.wait_for(self.page.content(), timeout=self.page_budget())

    def page_html(self) -> str:
        """The rendered DOM of the current page."""
        return self.owner.call(self._page_html())

    async def _close_context(self) -> None:
        if self.context is not None:
            with contextlib.suppress(Exception):
                await self.context.close()

    def _close(self) -> None:
        """Close the context; its off-the-record data goes with it."""
        self.owner.call(self._close_context())
