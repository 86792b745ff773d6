"""The one gate of the consent POST: the WSGI fast path and the Flask view both pass through it.

Order, the same on both paths: a foreign Origin is refused (403) before the body counts; every
other request from an address counts against RATELIMIT_CONSENT (429 past it); the body is
validated (422); the site must exist with a declaration (404); the decisions must fit the
revision (422); then the receipt is committed and signed (201). A commit the database does not
confirm in time is a 503 that names the receipt id: it may have been stored, and the banner's
retry (same client_nonce) gets that receipt back rather than a second one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from marshmallow import ValidationError

from consent_server import metrics
from consent_server.consent_log.receipts import (
    ConsentRejected,
    ReceiptUnconfirmed,
    RecordedReceipt,
    record_consent,
)
from consent_server.consent_log.schemas import ConsentCreateSchema
from consent_server.errors import shown, validation_message
from consent_server.sites.hosts import host_allowed, origin_host
from consent_server.sites.regions import Geo, environ_key, geo_from_environ
from consent_server.sites.service import SiteNotFound, SiteView, get_site_view
from consent_server.sites.service import cache as site_cache

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)
UNCONFIRMED = (
    "The receipt's commit was not confirmed in time; it may still be stored. Post the same "
    "body again (same client_nonce) to get the stored receipt."
)

# The rate-limit counter's scope: one counter per address, whichever path counted it.
LIMIT_SCOPE = "consent-post"
Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class Refusal:
    """A consent POST that is answered with an error: the contract's code, message, errors."""

    code: int
    message: str
    errors: dict[str, Any] | None = None
    headers: Headers = field(default_factory=list)


class RateLimit:
    """RATELIMIT_CONSENT per client address, counted in RATELIMIT_STORAGE_URI (shared by workers)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.enabled = bool(config["RATELIMIT_ENABLED"])
        self.with_headers = bool(config["RATELIMIT_HEADERS_ENABLED"])
        self.item: RateLimitItem = parse(config["RATELIMIT_CONSENT"])
        self.prefix = config.get("RATELIMIT_KEY_PREFIX") or ""
        self.limiter = FixedWindowRateLimiter(storage_from_string(config["RATELIMIT_STORAGE_URI"]))

    def count(self, client_ip: str | None) -> tuple[Headers, Refusal | None]:
        """Count one POST: the rate-limit headers, and a 429 refusal once the limit is passed."""
        if not self.enabled:
            return [], None
        keys = [self.prefix, client_ip or "127.0.0.1", LIMIT_SCOPE]
        allowed = self.limiter.hit(self.item, *keys)
        headers: Headers = []
        if self.with_headers or not allowed:
            reset_time, remaining = self.limiter.get_window_stats(self.item, *keys)
            reset_at = int(reset_time + 1)
            headers = [
                ("X-RateLimit-Limit", str(self.item.amount)),
                ("X-RateLimit-Remaining", str(remaining)),
                ("X-RateLimit-Reset", str(reset_at)),
                ("Retry-After", str(max(1, int(reset_at - time.time())))),
            ]
        if allowed:
            return headers, None
        return headers, Refusal(429, f"Too many requests: the limit is {self.item}.", None, headers)


class ConsentGate:
    """Admission of consent POSTs for one app: origin, rate limit, body, site, receipt."""

    def __init__(self, app: Flask) -> None:
        self.keys = app.extensions["consent_keys"]
        self.writer = app.extensions["receipt_writer"]
        self.limit = RateLimit(app.config)
        self.cache_seconds = float(app.config["SITE_CACHE_SECONDS"])
        # One instance: building a marshmallow schema per request costs more than using it.
        self.schema = ConsentCreateSchema()
        # The operator's country header as WSGI names it; None: region rules are off.
        self.geo_key = environ_key(app.config.get("GEO_COUNTRY_HEADER"))

    def geo(self, environ: dict[str, Any]) -> Geo | None:
        """The visitor's country by the operator's header (None when region rules are off)."""
        return geo_from_environ(self.geo_key, environ)

    def site(self, site_key: str) -> SiteView | None:
        """The site from this process's cache, else from the database; None when unknown."""
        # The cache needs no app context: a warm fast path runs without one.
        view = site_cache.get(site_key, self.cache_seconds)
        if view is not None:
            return view
        try:
            return get_site_view(site_key)
        except SiteNotFound:
            return None

    def check_origin(
        self, site_key: str, origin: str | None, view: SiteView | None = None
    ) -> Refusal | None:
        """403 when the page calling is not on one of the site's domains (unknown site: None)."""
        if not origin:
            return None
        view = view if view is not None else self.site(site_key)
        if view is None or host_allowed(origin_host(origin), view.domains):
            return None  # an unknown site is answered 404 once the body is read
        return Refusal(403, f"Origin {shown(origin)} is not a domain of {site_key!r}.")

    def validate(self, data: Any) -> dict[str, Any] | Refusal:
        """The consent body as the schema loads it, or a 422 naming the invalid fields."""
        try:
            return self.schema.load(data)
        except ValidationError as exc:
            errors = {"json": exc.normalized_messages()}
            return Refusal(422, validation_message(errors), errors)

    def record(
        self,
        site_key: str,
        payload: dict[str, Any],
        *,
        client_ip: str | None,
        user_agent: str | None,
        view: SiteView | None = None,
        geo: Geo | None = None,
    ) -> RecordedReceipt | Refusal:
        """Record a validated consent: its signed receipt once committed, or a 404/422/503."""
        view = view if view is not None else self.site(site_key)
        if view is None:
            return Refusal(404, f"Unknown site {shown(site_key)}.")
        if view.current is None:
            return Refusal(404, f"Site {shown(site_key)} has no declaration yet.")
        try:
            receipt = record_consent(
                view,
                payload,
                client_ip=client_ip,
                user_agent=user_agent,
                keys=self.keys,
                writer=self.writer,
                geo=geo,
            )
        except ConsentRejected as exc:
            return Refusal(422, str(exc), {"json": exc.errors})
        except ReceiptUnconfirmed as exc:
            log.error("consent for %s not confirmed: %s", site_key, exc.__cause__ or exc)
            return Refusal(503, UNCONFIRMED, {"receipt_id": exc.receipt_id}, [("Retry-After", "1")])
        metrics.recorded(site_key, payload["method"]).inc()
        return receipt

    def admit(
        self,
        site_key: str,
        data: Any,
        *,
        origin: str | None,
        client_ip: str | None,
        user_agent: str | None,
        geo: Geo | None = None,
    ) -> tuple[RecordedReceipt | Refusal, Headers]:
        """Every step for a parsed JSON body: (receipt or refusal, rate-limit headers)."""
        view = self.site(site_key)
        refused = self.check_origin(site_key, origin, view)
        if refused:
            return refused, []
        headers, refused = self.limit.count(client_ip)
        if refused:
            return refused, headers
        payload = self.validate(data)
        if isinstance(payload, Refusal):
            return payload, headers
        outcome = self.record(
            site_key, payload, client_ip=client_ip, user_agent=user_agent, view=view, geo=geo
        )
        return outcome, headers
