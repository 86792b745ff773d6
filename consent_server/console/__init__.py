"""The privacy officer's web console under /admin/: sign-in, sessions and the site list."""

from __future__ import annotations

from flask import Flask


def init_console(app: Flask) -> None:
    """Give the app its session settings and secret, the OIDC client if set, and the pages."""
    import consent_server.console.declaration_views  # its pages join bp
    import consent_server.console.scans_views  # its pages join bp
    import consent_server.console.stats_views  # noqa: F401  (its pages join bp)
    from consent_server.console import receipts_views  # noqa: F401  (its pages join bp)
    from consent_server.console.oidc import init_oidc
    from consent_server.console.session import configure_sessions
    from consent_server.console.views import bp

    configure_sessions(app)
    init_oidc(app)
    app.register_blueprint(bp)
