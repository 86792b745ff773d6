"""Host matching and CORS headers for a site's domains, shared by the views and the fast path."""

from __future__ import annotations

from urllib.parse import urlsplit


def host_allowed(host: str | None, domains: frozenset[str]) -> bool:
    """Whether a host is one of the domains (a `*.example.se` entry covers subdomains)."""
    if host is None:
        return False
    host = host.lower()
    if host in domains:
        return True
    return any(d.startswith("*.") and host.endswith(d[1:]) for d in domains)


def origin_host(origin: str | None) -> str | None:
    """The host of an Origin header, or None when absent or opaque."""
    if not origin or origin == "null":
        return None
    try:
        return urlsplit(origin).hostname
    except ValueError:
        return None


def cors_headers(
    origin: str | None, domains: frozenset[str], methods: str
) -> list[tuple[str, str]]:
    """The CORS headers that allow `origin` when its host is one of the site's domains."""
    if not host_allowed(origin_host(origin), domains):
        return []
    return [
        ("Access-Control-Allow-Origin", origin or ""),
        ("Access-Control-Allow-Methods", methods),
        ("Access-Control-Allow-Headers", "Content-Type, If-None-Match"),
        ("Access-Control-Expose-Headers", "ETag"),
        ("Access-Control-Max-Age", "600"),
    ]
