"""The two requests every visitor makes, answered before Flask's request machinery runs.

ConfigRevalidation: every page view of every visitor revalidates the configuration (`If-None-Match`), so this is
the server's hottest request. The answer of a full pass through the app (ETag, cache and CORS
headers) is remembered per URL, language and origin for SITE_CACHE_SECONDS, the same window in
which a process may serve an old revision anyway; a matching revalidation inside that window
gets its 304 straight from here.

ConsentPost: a consent POST whose body is a JSON object goes through the consent gate
(consent_log/admission.py), the same one the Flask view calls, and gets the same answer
without a Flask request being built; a body that is not JSON, too large or not an object is
handed on to Flask, which refuses it with the contract's error.
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
from sqlalchemy.exc import SQLAlchemyError

from consent_server import metrics
from consent_server.consent_log.admission import ConsentGate, Refusal
from consent_server.consent_log.writer import CommitTimeout
from consent_server.errors import error_answer
from consent_server.sites.hosts import cors_headers
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


class ConsentPost:
    """WSGI middleware answering a consent POST through the consent gate, without Flask."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], app: Flask) -> None:
        self.wsgi_app = wsgi_app
        self.app = app
        self.gate: ConsentGate = app.extensions["consent_gate"]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answer a consent POST with a JSON object body here; hand everything else to Flask."""
        if environ.get("REQUEST_METHOD") == "POST":
            match = CONSENTS_PATH.match(environ.get("PATH_INFO", ""))
            if match:
                answer = self._answer(environ, match.group(1))
                if answer is not None:
                    status, headers, body = answer
                    start_response(status, headers)
                    return [body]
        return self.wsgi_app(environ, start_response)

    def _answer(
        self, environ: dict[str, Any], site: str
    ) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """The answer to a consent POST, or None when Flask must read the request itself."""
        mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        length = environ.get("CONTENT_LENGTH", "")
        # Anything but a JSON object of a declared, allowed length is Flask's to refuse.
        if mimetype != "application/json" or not length.isdigit():
            return None
        if not 0 < int(length) <= self.app.config["PUBLIC_MAX_BODY"]:
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
        view = site_cache.get(site, float(self.app.config["SITE_CACHE_SECONDS"]))
        warm = (
            view is not None
            and view.current is not None
            and type(data.get("revision")) is int
            and (
                view.current.number == data["revision"]
                or site_cache.revision(view.id, data["revision"]) is not None
            )
        )
        origin = environ.get("HTTP_ORIGIN")
        with contextlib.nullcontext() if warm else self.app.app_context():
            try:
                outcome, limit_headers = self.gate.admit(
                    site,
                    data,
                    origin=origin,
                    client_ip=environ.get("REMOTE_ADDR"),
                    user_agent=environ.get("HTTP_USER_AGENT"),
                    geo=self.gate.geo(environ),
                )
            except (CommitTimeout, SQLAlchemyError) as exc:
                self.app.logger.error("consent not recorded on %s: %s", environ["PATH_INFO"], exc)
                return error_answer(503, "The database is unavailable.")
            known = view or self.gate.site(site)
        cors = cors_headers(origin, known.domains if known else frozenset(), "GET, POST, OPTIONS")
        if isinstance(outcome, Refusal):
            if 400 <= outcome.code < 500:  # counted as Flask's after_request counts its refusals
                metrics.requests_rejected.labels(str(outcome.code)).inc()
            extra = [("Vary", "Origin"), *cors, *outcome.headers]
            return error_answer(outcome.code, outcome.message, outcome.errors, extra)
        out = orjson.dumps(outcome.__dict__)
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(out))),
            ("Vary", "Origin"),
            *cors,
            *limit_headers,
            ("X-Content-Type-Options", "nosniff"),
        ]
        return "201 CREATED", headers, out
