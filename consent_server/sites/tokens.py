"""Admin API tokens: created once, stored as SHA-256, scoped to one site or to all."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from consent_server.clock import utcnow
from consent_server.extensions import db
from consent_server.sites.models import ApiToken
from consent_server.sites.service import get_site
from consent_server.tx import transaction

ROLES = ("auditor", "admin")
TOKEN_PREFIX = "cm_"  # noqa: S105 - a public marker, not a secret


@dataclass(frozen=True)
class TokenInfo:
    """Who a presented token is: its site (None for an operator) and role."""

    id: int
    site: str | None
    role: str

    def can(self, role: str, site: str) -> bool:
        """Whether this token may act with `role` on `site`."""
        in_scope = self.site is None or self.site == site
        strong_enough = ROLES.index(self.role) >= ROLES.index(role)
        return in_scope and strong_enough


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(site: str | None, role: str, label: str = "") -> tuple[ApiToken, str]:
    """Create a token; the secret is returned once and never stored."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if len(label) > 200 or not label.isprintable():
        # The label column holds 200 characters and PostgreSQL text cannot hold NUL.
        raise ValueError("label must be at most 200 printable characters")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction():
        site_id = get_site(site).id if site else None
        token = ApiToken(
            site_id=site_id, role=role, token_hash=_digest(secret), prefix=secret[:10], label=label
        )
        db.session.add(token)
    return token, secret


def revoke_token(token_id_or_prefix: str) -> int:
    """Revoke tokens by id or by their printed prefix; return how many were revoked."""
    with transaction():
        query = select(ApiToken).where(ApiToken.revoked_at.is_(None))
        if token_id_or_prefix.isdigit() and int(token_id_or_prefix) < 2**31:
            query = query.where(ApiToken.id == int(token_id_or_prefix))
        else:
            query = query.where(ApiToken.prefix == token_id_or_prefix[:10])
        tokens = list(db.session.execute(query).scalars())
        for token in tokens:
            token.revoked_at = utcnow()
    return len(tokens)


def list_tokens() -> list[ApiToken]:
    """All tokens, newest first."""
    return list(db.session.execute(select(ApiToken).order_by(ApiToken.id.desc())).scalars())


def authenticate(secret: str) -> TokenInfo | None:
    """The token for a presented secret, or None when unknown or revoked."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = db.session.execute(
        select(ApiToken).where(ApiToken.token_hash == _digest(secret))
    ).scalar_one_or_none()
    if token is None or token.revoked_at is not None:
        return None
    return TokenInfo(token.id, token.site.key if token.site else None, token.role)
