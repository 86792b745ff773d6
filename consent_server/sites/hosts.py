"""Host matching shared by CORS and the visitor's history."""

from __future__ import annotations


def host_allowed(host: str | None, domains: frozenset[str]) -> bool:
    """Whether a host is one of the domains (a `*.example.se` entry covers subdomains)."""
    if host is None:
        return False
    host = host.lower()
    if host in domains:
        return True
    return any(d.startswith("*.") and host.endswith(d[1:]) for d in domains)
