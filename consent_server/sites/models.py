"""Sites, their declaration revisions and API tokens."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent_server.clock import utcnow
from consent_server.extensions import db


class Site(db.Model):
    """A website that embeds the banner."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    domains: Mapped[list[str]] = mapped_column(JSON)
    scan: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    current_revision_id: Mapped[int | None] = mapped_column(
        ForeignKey("site_revisions.id", use_alter=True), nullable=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    current_revision: Mapped[SiteRevision | None] = relationship(
        foreign_keys=[current_revision_id], post_update=True
    )


class SiteRevision(db.Model):
    """An immutable snapshot of what visitors are shown: categories, texts, cookies."""

    __tablename__ = "site_revisions"
    __table_args__ = (UniqueConstraint("site_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # "token:<prefix> <label>", "cli" or "console:<user>"; None before it was recorded.
    applied_by: Mapped[str | None] = mapped_column(Text, nullable=True)

    site: Mapped[Site] = relationship(foreign_keys=[site_id])


class ApiToken(db.Model):
    """An admin API token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), nullable=True, index=True)
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    site: Mapped[Site | None] = relationship()


class CookiePolicyPage(db.Model):
    """A site's cookie-policy page in one language and format, written whenever it changes."""

    __tablename__ = "cookie_policies"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    lang: Mapped[str] = mapped_column(String(8), primary_key=True)
    fmt: Mapped[str] = mapped_column(String(16), primary_key=True)
    # What the page was built from: the request serves it only while both are still current.
    revision: Mapped[int] = mapped_column(Integer)
    # No foreign key: the page is a cache, and a scan purge must not wait for its rewrite.
    scan_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    body: Mapped[str] = mapped_column(Text)
    etag: Mapped[str] = mapped_column(String(80))
    built_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
