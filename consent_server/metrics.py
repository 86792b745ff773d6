"""Prometheus metrics of this process; seal lag is read from the database at scrape time."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

registry = CollectorRegistry()
receipts_recorded = Counter(
    "consent_receipts_recorded", "Consent receipts committed", ["site", "method"], registry=registry
)
requests_rejected = Counter(
    "consent_requests_rejected", "Requests refused with a 4xx", ["status"], registry=registry
)
seal_lag_receipts = Gauge(
    "consent_seal_lag_receipts", "Receipts not yet in any seal", registry=registry
)
seal_lag_seconds = Gauge(
    "consent_seal_lag_seconds", "Age of the oldest receipt not yet sealed", registry=registry
)


@lru_cache(maxsize=1024)
def recorded(site: str, method: str) -> Any:
    """The receipts counter of one site and method (looking a child up takes a lock)."""
    return receipts_recorded.labels(site, method)


def render(lag: tuple[int, float]) -> bytes:
    """The exposition text, with the seal lag just measured."""
    seal_lag_receipts.set(lag[0])
    seal_lag_seconds.set(lag[1])
    return generate_latest(registry)
