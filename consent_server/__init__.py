"""The consent server. The app factory is `consent_server.app.create_app`.

Importing this package loads nothing else: an auditor's `log verify` imports
`consent_server.consent_log` without Flask. `create_app` is looked up lazily so that
`FLASK_APP=consent_server` and `gunicorn 'consent_server:create_app()'` keep working.
"""

from __future__ import annotations

from typing import Any

from consent_server.version import __version__

__all__ = ["__version__", "create_app"]


def __getattr__(name: str) -> Any:
    if name in ("create_app", "MIGRATIONS_DIR"):
        from consent_server import app

        return getattr(app, name)
    raise AttributeError(name)
