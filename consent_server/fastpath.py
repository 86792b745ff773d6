"""Answer revalidations of an unchanged banner configuration before Flask runs at all.

Every page view of every visitor revalidates the configuration (`If-None-Match`), so this is
the server's hottest request. The answer of a full pass through the app (ETag, cache and CORS
headers) is remembered per URL, language and origin for SITE_CACHE_SECONDS, the same window in
which a process may serve an old revision anyway; a matching revalidation inside that window
gets its 304 straight from here.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

CONFIG_PATH = re.compile(r"^/api/v1/sites/[a-z0-9-]{3,64}/config$")
KEEP_HEADERS = {
    "etag",
    "cache-control",
    "vary",
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-expose-headers",
    "access-control-max-age",
    "x-content-type-options",
}
MAX_ENTRIES = 10_000

StartResponse = Callable[..., Any]


def _matches(if_none_match: str, etag: str) -> bool:
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


class ConfigRevalidation:
    """WSGI middleware in front of the Flask app."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], ttl: float) -> None:
        self.wsgi_app = wsgi_app
        self.ttl = ttl
        self.answers: dict[tuple[str, ...], tuple[float, str, list[tuple[str, str]]]] = {}
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Serve a remembered 304, or pass through and remember the answer."""
        if (
            self.ttl <= 0
            or environ.get("REQUEST_METHOD") != "GET"
            or not CONFIG_PATH.match(environ.get("PATH_INFO", ""))
        ):
            return self.wsgi_app(environ, start_response)
        key = (
            environ["PATH_INFO"],
            environ.get("QUERY_STRING", ""),
            environ.get("HTTP_ACCEPT_LANGUAGE", ""),
            environ.get("HTTP_ORIGIN", ""),
        )
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        hit = self.answers.get(key)
        if if_none_match and hit and hit[0] > time.monotonic() and _matches(if_none_match, hit[1]):
            start_response("304 NOT MODIFIED", list(hit[2]))
            return [b""]

        def remember(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            etag = next((v for k, v in headers if k.lower() == "etag"), None)
            if etag and status[:3] in ("200", "304"):
                kept = [(k, v) for k, v in headers if k.lower() in KEEP_HEADERS]
                with self.lock:
                    if len(self.answers) >= MAX_ENTRIES:
                        self.answers.clear()
                    self.answers[key] = (time.monotonic() + self.ttl, etag, kept)
            return start_response(status, headers, *args)

        return self.wsgi_app(environ, remember)
