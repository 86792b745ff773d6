"""Cookie scanner: crawl a site in a real browser and compare what it sets with its declaration.

The public API, and the only one the consent server uses: `scan`, `ScanConfig`, `ScanError`,
`exit_status`, `build_report`, `render_html`, `screenshot_image` and `non_public_address`
(the SSRF guard). Each is loaded on first use, so importing
`scanner` loads no browser library.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("consent-manager")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

_PUBLIC = {
    "scan": "scanner.api",
    "exit_status": "scanner.api",
    "ScanConfig": "scanner.config",
    "ScanError": "scanner.config",
    "non_public_address": "scanner.config",
    "build_report": "scanner.report",
    "render_html": "scanner.report.html",
    "screenshot_image": "scanner.report.html",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'scanner' has no attribute {name!r}")
