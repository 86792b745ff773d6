"""The installed distribution's version, shown by `consent-server --version` and in exports."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("consent-manager")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
