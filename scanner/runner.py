"""Running the phases: one browser, a fresh profile in it per phase, the crawl, the banner."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from declaration.constants import PHASES
from scanner.config import ScanConfig, ScanError
from scanner.crawl import crawlable, normalize, parse_sitemap, sitemaps_from_robots
from scanner.engines import Browser, Profile, open_browser
from scanner.model import PhaseResult
from scanner.netguard import NetGuard
from scanner.observe import cookie_key

Progress = Callable[..., None]
ACTIONS = {"after-reject": "reject", "after-accept": "accept"}


def _noop(*_: Any, **__: Any) -> None:
    return None


class PhaseRunner:
    """Runs every configured phase, sharing the crawl's page list with the later phases."""

    def __init__(
        self, config: ScanConfig, progress: Progress | None = None, guard: NetGuard | None = None
    ) -> None:
        self.config = config
        self.guard = guard
        self.progress = progress or _noop
        self.start = normalize(config.url) or config.url
        self.deadline = time.monotonic() + config.total_timeout
        self.pages: list[str] = [self.start]
        self.pages_ready = threading.Event()
        self.browser: Browser | None = None
        self.sandboxed: bool | None = None  # whether Chromium ran with its sandbox

    def time_left(self) -> bool:
        """Whether the global time limit still allows another page."""
        return time.monotonic() < self.deadline

    def _sitemap_urls(self, profile: Profile, base: str) -> list[str]:
        # `base` is where the start page ended up (http -> https, example.se -> www.): the
        # files are fetched from that page, so they must be of its origin.
        if not self.config.use_sitemap:
            return []
        robots = profile.fetch_text(normalize("/robots.txt", base) or "")
        maps = sitemaps_from_robots(robots or "", base)
        maps.append(normalize("/sitemap.xml", base) or "")
        found: list[str] = []
        seen_maps: set[str] = set()
        while maps and len(seen_maps) < 20:
            url = maps.pop(0)
            if not url or url in seen_maps or not crawlable(url.replace(".xml", ""), self.start):
                continue
            seen_maps.add(url)
            pages, nested = parse_sitemap(profile.fetch_text(url) or "", url)
            found.extend(p for p in pages if crawlable(p, self.start))
            maps.extend(nested)
        return found

    def crawl(self, profile: Profile, result: PhaseResult, *, screenshot: bool = False) -> None:
        """Breadth-first over same-site links and sitemap pages, within the limits.

        `screenshot`: take the phase's screenshot on the start page, before leaving it.
        """
        queue: deque[tuple[str, int]] = deque([(self.start, 0)])
        seen = {self.start}
        first = True
        while queue and len(result.pages) < self.config.max_pages and self.time_left():
            url, depth = queue.popleft()
            self.progress("page", phase=result.phase, url=url, done=len(result.pages))
            visit = profile.visit(url)
            result.pages.append(visit)
            # A redirect's target is visited already: not again when a link names it.
            final = normalize(visit.final_url)
            if final:
                seen.add(final)
            if first:
                first = False
                if screenshot:
                    result.screenshot = profile.screenshot()  # the banner, as a visitor sees it
                base = visit.final_url if crawlable(visit.final_url, self.start) else self.start
                for page in self._sitemap_urls(profile, base):
                    if page not in seen:
                        seen.add(page)
                        queue.append((page, 1))
            if depth >= self.config.depth:
                continue
            for link in visit.links:
                page = normalize(link)
                if page and page not in seen and crawlable(page, self.start):
                    seen.add(page)
                    queue.append((page, depth + 1))

    def open_browser(self) -> None:
        """Start the scan's browser (in the background with Playwright); run() waits for it."""
        if self.browser is None:
            self.browser = open_browser(self.config, self.guard)
            self.sandboxed = self.browser.sandboxed

    def close_browser(self) -> None:
        """Close the browser, if one is open."""
        browser, self.browser = self.browser, None
        if browser is not None:
            browser.close()

    def _profile(self, phase: str) -> Profile:
        """A fresh profile for a phase in the scan's browser."""
        if self.browser is None:
            raise ScanError("no browser is open")
        return self.browser.profile(phase, self.deadline)

    def run_pre_consent(self) -> PhaseResult:
        """Visit the site without touching the banner."""
        result = PhaseResult("pre-consent")
        profile = None
        try:
            profile = self._profile("pre-consent")
            self.crawl(profile, result, screenshot=self.config.screenshots)
            self.pages = [v.url for v in result.pages]
        except ScanError as exc:
            result.error = str(exc)
        finally:
            self.pages_ready.set()
            if profile is not None:
                profile.close()
        return result

    def run_after(self, phase: str) -> PhaseResult:
        """Load the start page, click accept or reject, then visit the crawled pages."""
        result = PhaseResult(phase)
        profile = None
        try:
            profile = self._profile(phase)
            if not self.time_left():
                return result
            self.progress("page", phase=phase, url=self.start, done=0)
            visit = profile.visit(self.start)
            result.before_action = {
                cookie_key(c.name, c.domain, c.path): c.value for c in visit.jar
            }
            result.storage_before_action = profile.storage_keys()
            result.action_at = time.monotonic()
            result.banner = profile.banner(ACTIONS[phase])
            if not result.banner.found and not result.banner.error:
                result.banner.error = "no consent banner found on the start page"
            self.progress("banner", phase=phase, banner=result.banner)
            profile.settle()
            profile.drain_into(visit)
            if self.config.screenshots:
                result.screenshot = profile.screenshot()  # the page once the banner was answered
            # What the click stored belongs to this visit too (the next page may never come).
            visit.storage = profile.storage_items(profile.frame_storage(), visit.final_url)
            result.pages.append(visit)
            if "pre-consent" in self.config.phases:
                self.pages_ready.wait(max(0.0, self.deadline - time.monotonic()))
                for url in self.pages[1:]:
                    if not self.time_left():
                        break
                    self.progress("page", phase=phase, url=url, done=len(result.pages))
                    result.pages.append(profile.visit(url))
            else:
                rest = PhaseResult(phase)
                self.crawl(profile, rest)
                result.pages.extend(v for v in rest.pages if v.url != self.start)
        except ScanError as exc:
            result.error = str(exc)
        finally:
            if profile is not None:
                profile.close()
        return result

    def run(self) -> list[PhaseResult]:
        """All configured phases in one browser, up to `concurrency` profiles at once."""
        order = [p for p in PHASES if p in self.config.phases]
        if "pre-consent" not in order:
            self.pages_ready.set()
        try:
            self.open_browser()
        except ScanError as exc:
            return [PhaseResult(phase, error=str(exc)) for phase in order]
        workers = max(1, min(self.config.concurrency, len(order)))
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="phase") as pool:
                futures = {
                    phase: pool.submit(
                        self.run_pre_consent if phase == "pre-consent" else self.run_after,
                        *(() if phase == "pre-consent" else (phase,)),
                    )
                    for phase in order
                }
                results = [futures[p].result() for p in order]
        finally:
            self.close_browser()
        if not self.time_left():
            for r in results:
                r.error = r.error or "the global time limit was reached; results are partial"
        return results
