"""Console sessions: Flask's signed cookie, its secret, the idle and absolute limits, CSRF."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, current_app, session

from consent_server.extensions import db
from consent_server.keyfiles import kept_secret
from consent_server.sites.models import ApiToken
from consent_server.sites.tokens import ROLES, TokenInfo

SECRET_FILE = "console-session.key"  # noqa: S105 - a file name, not a secret


@dataclass(frozen=True)
class ConsoleUser:
    """Who is signed in: role and site scope as a token's, and how they signed in."""

    role: str
    site: str | None
    name: str
    via: str  # "token" or "oidc"

    def can(self, role: str, site: str) -> bool:
        """Whether this user may act with `role` on `site` (exactly as an API token)."""
        return TokenInfo(0, self.site, self.role).can(role, site)


def configure_sessions(app: Flask) -> None:
    """The session cookie's flags and the secret that signs it."""
    # The console is the app's only user of Flask's session.
    app.config["SESSION_COOKIE_NAME"] = "console_session"
    app.config["SESSION_COOKIE_PATH"] = "/admin"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Strict"
    app.config["SESSION_COOKIE_SECURE"] = bool(app.config.get("CONSOLE_SECURE_COOKIE", True))
    app.config["SESSION_REFRESH_EACH_REQUEST"] = True
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = kept_secret(Path(app.config["KEYS_DIR"]) / SECRET_FILE)


def now() -> float:
    """Seconds since the epoch, from the app's console clock when one is set (tests)."""
    clock = current_app.extensions.get("console_clock", time.time)
    return float(clock())


def start_session(user: ConsoleUser, **identity: Any) -> None:
    """A new session for `user` (a fresh CSRF token; nothing of an earlier session is kept)."""
    session.clear()
    moment = now()
    session.update(
        {
            "user": {"role": user.role, "site": user.site, "name": user.name, "via": user.via},
            "identity": identity,
            "since": moment,
            "seen": moment,
            "csrf": secrets.token_urlsafe(32),
        }
    )


def end_session() -> None:
    """Forget everything; a new CSRF token is made for the next form."""
    session.clear()


def current_user() -> tuple[ConsoleUser | None, bool]:
    """The signed-in user (or None) and whether a session has just expired or been revoked."""
    data = session.get("user")
    if not isinstance(data, dict):
        return None, False
    moment = now()
    idle = float(current_app.config["CONSOLE_IDLE_MINUTES"]) * 60
    lifetime = float(current_app.config["CONSOLE_MAX_HOURS"]) * 3600
    try:
        since, seen = float(session["since"]), float(session["seen"])
    except (KeyError, TypeError, ValueError):
        end_session()
        return None, True
    if moment - seen > idle or moment - since > lifetime:
        end_session()
        return None, True
    user = _still_valid(data, session.get("identity") or {})
    if user is None:
        end_session()
        return None, True
    session["seen"] = moment
    return user, False


def _still_valid(data: dict[str, Any], identity: dict[str, Any]) -> ConsoleUser | None:
    """The user as their token or OIDC mapping says now (revoked, unmapped: None)."""
    if data.get("via") == "token":
        token = db.session.get(ApiToken, identity.get("token_id"))
        if token is None or token.revoked_at is not None:
            return None
        site = token.site.key if token.site else None
        return ConsoleUser(token.role, site, data.get("name", ""), "token")
    if data.get("via") == "oidc":
        from consent_server.console.oidc import map_claims

        return map_claims(identity)
    return None


def csrf_token() -> str:
    """This session's CSRF token, made on first use."""
    if not session.get("csrf"):
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def csrf_ok(presented: str | None) -> bool:
    """Whether a form's CSRF token is this session's."""
    expected = session.get("csrf")
    if not expected or not presented:
        return False
    return hmac.compare_digest(str(expected).encode(), presented.encode("utf-8", "replace"))


def valid_role(role: object) -> bool:
    """Whether `role` is one of the API's roles."""
    return role in ROLES
