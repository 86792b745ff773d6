"""Sites and their revisions: apply declarations, look sites up fast."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select

from consent_server.clock import utcnow
from consent_server.extensions import db
from consent_server.sites.cookie_policy import refresh_cookie_policies
from consent_server.sites.models import Site, SiteRevision
from consent_server.sites.schemas import SiteSchema
from consent_server.tx import transaction
from declaration.constants import SITE_KEY_RE
from declaration.loader import Declaration

_SITE_KEY = re.compile(SITE_KEY_RE)


def _valid_key(key: str) -> bool:
    # A key that cannot exist never reaches the database (NUL bytes break PostgreSQL queries).
    return bool(_SITE_KEY.fullmatch(key))


class SiteNotFound(LookupError):
    """No site with that key."""


class RevisionNotFound(LookupError):
    """The site has no revision with that number."""


@dataclass(frozen=True)
class RevisionView:
    """An immutable revision as the request path needs it."""

    id: int
    number: int
    content_hash: str
    content: dict[str, Any]
    categories: tuple[str, ...]
    required: frozenset[str]


@dataclass(frozen=True)
class SiteView:
    """A site as the request path needs it, safe to share between threads."""

    id: int
    key: str
    name: str
    domains: frozenset[str]
    current: RevisionView | None


@dataclass(frozen=True)
class ApplyResult:
    """What `apply_declaration` did."""

    site: str
    created: bool
    revision: int
    new_revision: bool
    changed: bool


def _revision_view(rev: SiteRevision) -> RevisionView:
    cats = rev.content["categories"]
    return RevisionView(
        id=rev.id,
        number=rev.number,
        content_hash=rev.content_hash,
        content=rev.content,
        categories=tuple(c["key"] for c in cats),
        required=frozenset(c["key"] for c in cats if c.get("required")),
    )


class _SiteCache:
    """Per-process cache of sites; revisions never change, so only the site row expires."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sites: dict[str, tuple[float, SiteView]] = {}
        self._revisions: dict[tuple[int, int], RevisionView] = {}

    def clear(self) -> None:
        with self._lock:
            self._sites.clear()
            self._revisions.clear()

    def get(self, key: str, ttl: float) -> SiteView | None:
        hit = self._sites.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        return None

    def put(self, view: SiteView, ttl: float) -> None:
        if ttl > 0:
            with self._lock:
                self._sites[view.key] = (time.monotonic() + ttl, view)

    def revision(self, site_id: int, number: int) -> RevisionView | None:
        return self._revisions.get((site_id, number))

    def put_revision(self, site_id: int, view: RevisionView) -> None:
        with self._lock:
            self._revisions[(site_id, view.number)] = view


cache = _SiteCache()


def get_site_view(key: str) -> SiteView:
    """The site with its current revision, from the per-process cache when fresh."""
    ttl = float(current_app.config["SITE_CACHE_SECONDS"])
    view = cache.get(key, ttl)
    if view is not None:
        return view
    if not _valid_key(key):
        raise SiteNotFound(key)
    site = db.session.execute(select(Site).where(Site.key == key)).scalar_one_or_none()
    if site is None:
        raise SiteNotFound(key)
    current = _revision_view(site.current_revision) if site.current_revision else None
    view = SiteView(site.id, site.key, site.name, frozenset(site.domains), current)
    if current:
        cache.put_revision(site.id, current)
    cache.put(view, ttl)
    return view


def get_revision(site: SiteView, number: int) -> RevisionView:
    """A revision of the site by number (older revisions stay valid for late receipts)."""
    if site.current and site.current.number == number:
        return site.current
    hit = cache.revision(site.id, number)
    if hit:
        return hit
    rev = db.session.execute(
        select(SiteRevision).where(SiteRevision.site_id == site.id, SiteRevision.number == number)
    ).scalar_one_or_none()
    if rev is None:
        raise RevisionNotFound(number)
    view = _revision_view(rev)
    cache.put_revision(site.id, view)
    return view


def apply_declaration(decl: Declaration) -> ApplyResult:
    """Create or update a site; a new revision only when what visitors see has changed."""
    content = decl.revision_content()
    digest = decl.content_hash()
    data = decl.data
    with transaction():
        site = db.session.execute(
            select(Site).where(Site.key == decl.site).with_for_update()
        ).scalar_one_or_none()
        created = site is None
        if site is None:
            site = Site(
                key=decl.site, name=data["name"], domains=data["domains"], scan=data["scan"]
            )
            db.session.add(site)
            db.session.flush()
        current = site.current_revision
        changed = created or (
            site.name != data["name"]
            or site.domains != data["domains"]
            or site.scan != data["scan"]
        )
        new_revision = current is None or current.content_hash != digest
        if new_revision:
            number = (current.number if current else 0) + 1
            rev = SiteRevision(site_id=site.id, number=number, content_hash=digest, content=content)
            db.session.add(rev)
            db.session.flush()
            site.current_revision = rev
            changed = True
        site.name = data["name"]
        site.domains = data["domains"]
        site.scan = data["scan"]
        if changed:
            site.updated_at = utcnow()
        revision = site.current_revision.number
    cache.clear()
    if new_revision:
        refresh_cookie_policies(decl.site)
    return ApplyResult(decl.site, created, revision, new_revision, changed)


def list_sites() -> list[Site]:
    """All sites, by key."""
    return list(db.session.execute(select(Site).order_by(Site.key)).scalars())


def get_site(key: str) -> Site:
    """The site row by key."""
    if not _valid_key(key):
        raise SiteNotFound(key)
    site = db.session.execute(select(Site).where(Site.key == key)).scalar_one_or_none()
    if site is None:
        raise SiteNotFound(key)
    return site


def describe_site(site: Site) -> dict[str, Any]:
    """A JSON-ready description of a site and its current revision (SiteSchema)."""
    return SiteSchema().dump(site)
