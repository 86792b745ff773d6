"""Getting a policy's text: a file, a URL fetched plainly, or a URL rendered in the scan's browser."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanner.policy.model import PolicyError

if TYPE_CHECKING:
    from scanner.config import ScanConfig
    from scanner.netguard import NetGuard

Fetch = Callable[[str], str]

MAX_BYTES = 5_000_000
TIMEOUT = 20.0
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
TEXT_SUFFIXES = (".txt", ".text", ".md")
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w-]+)""", re.IGNORECASE)


def is_url(source: str) -> bool:
    """Whether a policy source is an http(s) URL (anything else is a path)."""
    return bool(re.match(r"https?://", source, re.IGNORECASE))


def decode(data: bytes, charset: str | None = None) -> str:
    """Bytes to text: the declared charset, else UTF-8, else Windows-1252."""
    if charset is None:
        m = _CHARSET.search(data[:4096])
        charset = m.group(1).decode("ascii") if m else None
    for encoding in (charset, "utf-8-sig", "cp1252"):
        if not encoding:
            continue
        try:
            return data.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")


def looks_like_html(text: str) -> bool:
    """Markup rather than prose."""
    head = text[:2000].lower()
    return (
        "<html" in head
        or "<body" in head
        or "<!doctype html" in head
        or bool(re.search(r"<(?:p|div|h[1-6])[\s>]", head))
    )


def read_file(path: Path) -> tuple[str, bool]:
    """(content, is_html) of a policy file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_BYTES:
        raise PolicyError(f"{path} is larger than {MAX_BYTES // 1_000_000} MB")
    suffix = path.suffix.lower()
    if suffix in HTML_SUFFIXES:
        return decode(data), True
    text = decode(data, None if suffix not in TEXT_SUFFIXES else "utf-8-sig")
    return text, suffix not in TEXT_SUFFIXES and looks_like_html(text)


def http_get(url: str, *, timeout: float = TIMEOUT, max_bytes: int = MAX_BYTES) -> tuple[str, bool]:
    """(content, is_html) of a plain GET, without a browser: no scripts run."""
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked by is_url
        url, headers={"User-Agent": "cookie-scan policy reader", "Accept": "text/html,text/plain"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            data = response.read(max_bytes + 1)
            content_type = response.headers.get_content_type()
            charset = response.headers.get_content_charset()
    except urllib.error.HTTPError as exc:
        raise PolicyError(f"cannot fetch {url}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PolicyError(f"cannot fetch {url}: {reason}") from exc
    if len(data) > max_bytes:
        raise PolicyError(f"{url} is larger than {max_bytes // 1_000_000} MB")
    text = decode(data, charset)
    return text, content_type != "text/plain"


def page_html(profile: Any) -> str:
    """The rendered DOM of the profile's current page (engines alone touch the browser)."""
    try:
        return profile.page_html()
    except Exception as exc:  # each engine has its own error types; none may escape as a crash
        raise PolicyError(f"cannot read the rendered policy page: {exc}") from exc


def browser_fetcher(config: ScanConfig, guard: NetGuard | None = None) -> Fetch:
    """A fetch(url) -> html that renders the page in a fresh profile of the scan's engine.

    The page (its redirects and everything it loads) goes through the scan's network guard,
    or a guard of its own: a policy URL that leads inside is refused, not read.
    """

    def fetch(url: str) -> str:
        from scanner.engines import open_profile

        # One page: the page timeout, the settle time and a margin for the browser's start.
        deadline = time.monotonic() + config.page_timeout + config.settle_ms / 1000 + 15
        profile = open_profile(config, "policy", deadline, guard)
        try:
            visit = profile.visit(url)
            own = profile.own_browser.guard if profile.own_browser is not None else guard
            refused = [
                b
                for b in (own.blocked_for("policy") if own is not None else [])
                if b["url"] in (url, visit.final_url)
            ]
            if refused:
                raise PolicyError(
                    f"cannot load {url}: {refused[-1]['url']} was blocked: {refused[-1]['reason']}"
                )
            if visit.error:
                raise PolicyError(f"cannot load {url}: {visit.error}")
            if visit.status is not None and visit.status >= 400:
                raise PolicyError(f"cannot load {url}: HTTP {visit.status}")
            return page_html(profile)
        finally:
            profile.close()

    return fetch
