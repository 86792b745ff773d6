"""Cookie scanner: crawl a site in a real browser and compare what it sets with its declaration."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def scan(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run a scan; see scanner.api.scan (imported lazily so the server need not load browsers)."""
    from scanner.api import scan as _scan

    return _scan(*args, **kwargs)
