"""The two requests every visitor makes, answered before Flask's request machinery runs.

ConfigRevalidation: every page view of every visitor revalidates the configuration (`If-None-Match`), so this is
the server's hottest request. The answer of a full pass through the app (ETag, cache and CORS
headers) is remembered per URL, language and origin for SITE_CACHE_SECONDS, the same window in
which a process may serve an old revision anyway; a matching revalidation inside that window
gets its 304 straight from here.

ConsentPost: a valid consent event is recorded with the same schema, services, rate-limit
counter and headers as the Flask view, without building a Flask request; anything that is
not a plain success (a bad body, a foreign origin, an unknown site, the rate limit reached)
is handed on to the Flask view, which answers with the contract's error.
"""

from __future__ import annotations

import contextlib
import io
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import orjson
from limits import parse
from marshmallow import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from consent_server import metrics
from consent_server.api.common import cors_headers, origin_host
from consent_server.consent_log.receipts import ConsentRejected, record_consent
from consent_server.consent_log.schemas import ConsentCreateSchema
from consent_server.consent_log.writer import CommitTimeout
from consent_server.extensions import limiter
from consent_server.sites.hosts import host_allowed
from consent_server.sites.service import SiteNotFound, get_site_view
from consent_server.sites.service import cache as site_cache

if TYPE_CHECKING:
    from flask import Flask

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


CONSENTS_PATH = re.compile(r"^/api/v1/sites/([a-z0-9-]{3,64})/consents$")
# Flask-Limiter's key for the consent POST: the view's shared limit has this scope.
CONSENT_LIMIT_SCOPE = "consent-post"


class ConsentPost:
    """WSGI middleware recording a valid consent POST without a Flask request."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], app: Flask) -> None:
        self.wsgi_app = wsgi_app
        self.app = app
        self.schema = ConsentCreateSchema()
        self.keys = app.extensions["consent_keys"]
        self.writer = app.extensions["receipt_writer"]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answer a valid consent POST here; hand everything else to Flask."""
        if environ.get("REQUEST_METHOD") == "POST":
            match = CONSENTS_PATH.match(environ.get("PATH_INFO", ""))
            if match:
                answer = self._record(environ, match.group(1))
                if answer is not None:
                    status, headers, body = answer
                    start_response(status, headers)
                    return [body]
        return self.wsgi_app(environ, start_response)

    def _record(
        self, environ: dict[str, Any], site: str
    ) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """The response to a consent that is recorded here, or None to let Flask answer."""
        cfg = self.app.config
        mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        length = environ.get("CONTENT_LENGTH", "")
        if mimetype != "application/json" or not length.isdigit():
            return None
        if not 0 < int(length) <= cfg["PUBLIC_MAX_BODY"]:
            return None
        body = environ["wsgi.input"].read(int(length))
        # Flask reads the body again if it is handed the request.
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict):
            return None
        # With the site and the revision in this process's cache nothing needs the database
        # or an app context (which costs as much as signing the receipt).
        view = site_cache.get(site, float(cfg["SITE_CACHE_SECONDS"]))
        warm = (
            view is not None
            and view.current is not None
            and type(data.get("revision")) is int
            and (
                view.current.number == data["revision"]
                or site_cache.revision(view.id, data["revision"]) is not None
            )
        )
        with contextlib.nullcontext() if warm else self.app.app_context():
            if view is None:
                try:
                    view = get_site_view(site)
                except SiteNotFound:
                    return None
            origin = environ.get("HTTP_ORIGIN")
            if view.current is None or (
                origin and not host_allowed(origin_host(origin), view.domains)
            ):
                return None
            try:
                payload = self.schema.load(data)
            except ValidationError:
                return None
            client_ip = environ.get("REMOTE_ADDR")
            limit_headers = self._rate_limit(client_ip)
            if limit_headers is None:
                return None
            try:
                receipt = record_consent(
                    view,
                    payload,
                    client_ip=client_ip,
                    user_agent=environ.get("HTTP_USER_AGENT"),
                    keys=self.keys,
                    writer=self.writer,
                )
            except ConsentRejected:
                return None
            except (CommitTimeout, SQLAlchemyError) as exc:
                # Not handed on: Flask would record the consent a second time.
                self.app.logger.error("consent not recorded on %s: %s", environ["PATH_INFO"], exc)
                return _error(503, "Service Unavailable", "The database is unavailable.")
            metrics.recorded(site, payload["method"]).inc()
            out = orjson.dumps(receipt.__dict__)
            headers = [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(out))),
                ("Vary", "Origin"),
                *cors_headers(origin, view.domains, "GET, POST, OPTIONS"),
                *limit_headers,
                ("X-Content-Type-Options", "nosniff"),
            ]
            return "201 CREATED", headers, out

    def _rate_limit(self, client_ip: str | None) -> list[tuple[str, str]] | None:
        """Count this POST against the view's limit; its headers, or None when it is reached."""
        if not limiter.enabled:
            return []
        item = parse(self.app.config["RATELIMIT_CONSENT"])
        args = [client_ip or "127.0.0.1", CONSENT_LIMIT_SCOPE]
        if limiter._key_prefix:  # Flask-Limiter keeps its prefix private
            args.insert(0, limiter._key_prefix)
        if not limiter.limiter.hit(item, *args):
            return None
        if not self.app.config["RATELIMIT_HEADERS_ENABLED"]:
            return []
        reset_time, remaining = limiter.limiter.get_window_stats(item, *args)
        reset_at = int(reset_time + 1)
        return [
            ("X-RateLimit-Limit", str(item.amount)),
            ("X-RateLimit-Remaining", str(remaining)),
            ("X-RateLimit-Reset", str(reset_at)),
            ("Retry-After", str(int(reset_at - time.time()))),
        ]


def _error(code: int, status: str, message: str) -> tuple[str, list[tuple[str, str]], bytes]:
    body = orjson.dumps({"code": code, "status": status, "message": message})
    return (
        f"{code} {status.upper()}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("X-Content-Type-Options", "nosniff"),
        ],
        body,
    )
