"""Optional OpenID Connect sign-in: the Authlib client and the mapping of claims to roles."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from consent_server.console.session import ConsoleUser, valid_role

CLIENT_NAME = "console_oidc"


def init_oidc(app: Flask) -> None:
    """Register the OIDC client when CONSOLE_OIDC_ISSUER is set."""
    issuer = app.config.get("CONSOLE_OIDC_ISSUER")
    if not issuer:
        return
    from authlib.integrations.flask_client import OAuth

    oauth = OAuth(app)
    oauth.register(
        CLIENT_NAME,
        client_id=app.config["CONSOLE_OIDC_CLIENT_ID"],
        client_secret=app.config.get("CONSOLE_OIDC_CLIENT_SECRET"),
        server_metadata_url=str(issuer).rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": app.config["CONSOLE_OIDC_SCOPE"]},
    )
    app.extensions[CLIENT_NAME] = oauth


def client() -> Any:
    """The registered OIDC client, or None when OIDC sign-in is off."""
    oauth = current_app.extensions.get(CLIENT_NAME)
    return getattr(oauth, CLIENT_NAME) if oauth is not None else None


def identity_of(claims: dict[str, Any]) -> dict[str, Any]:
    """What the session keeps of an ID token: issuer, subject, e-mail and groups."""
    email_claim = current_app.config["CONSOLE_OIDC_EMAIL_CLAIM"]
    groups_claim = current_app.config["CONSOLE_OIDC_GROUPS_CLAIM"]
    email = claims.get(email_claim)
    if claims.get("email_verified") is False:
        email = None  # an address the provider has not checked proves nothing
    groups = claims.get(groups_claim)
    if isinstance(groups, str):
        groups = [groups]
    return {
        "sub": str(claims.get("sub", "")),
        "email": email.strip().lower() if isinstance(email, str) else None,
        "groups": [str(x) for x in groups] if isinstance(groups, list) else [],
    }


def map_claims(identity: dict[str, Any]) -> ConsoleUser | None:
    """The role and site scope CONSOLE_OIDC_USERS or CONSOLE_OIDC_GROUPS give an identity.

    A user entry (by e-mail) wins; else the first entry of CONSOLE_OIDC_GROUPS, in its order,
    whose group the identity has. Checked again on every request, so that removing a person
    from the settings ends their sessions.
    """
    users = {str(k).lower(): v for k, v in current_app.config["CONSOLE_OIDC_USERS"].items()}
    email = identity.get("email")
    entry = users.get(email) if email else None
    if entry is None:
        groups = set(identity.get("groups") or [])
        entry = next(
            (v for k, v in current_app.config["CONSOLE_OIDC_GROUPS"].items() if k in groups),
            None,
        )
    if not isinstance(entry, dict) or not valid_role(entry.get("role")):
        return None
    site = entry.get("site")
    if site is not None and not isinstance(site, str):
        return None
    return ConsoleUser(entry["role"], site, email or identity.get("sub", ""), "oidc")
