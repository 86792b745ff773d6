"""Sites and their revisions: apply declarations, look sites up fast."""

from __future__ import annotations

import difflib
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import yaml
from flask import current_app
from sqlalchemy import select

from consent_server.clock import utcnow
from consent_server.extensions import db
from consent_server.sites.cookie_policy import refresh_cookie_policies
from consent_server.sites.models import ApiToken, Site, SiteRevision
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


def apply_declaration(decl: Declaration, applied_by: str | None = None) -> ApplyResult:
    """Create or update a site; a new revision only when what visitors see has changed.

    `applied_by` ("token:<prefix> <label>", "cli", "console:<user>") is recorded on a new
    revision; an apply that changes nothing visitors see makes no revision to record it on.
    """
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
            rev = SiteRevision(
                site_id=site.id,
                number=number,
                content_hash=digest,
                content=content,
                applied_by=applied_by,
            )
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


def token_actor(token_id: int) -> str:
    """How a token is named in audit records: "token:<prefix> <label>"."""
    token = db.session.get(ApiToken, token_id)
    if token is None:
        return f"token:#{token_id}"
    return f"token:{token.prefix} {token.label}".strip()


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


# -- revisions: history and differences ------------------------------------------------------


def list_revisions(key: str) -> list[SiteRevision]:
    """The site's revisions, newest first."""
    site = get_site(key)
    return list(
        db.session.execute(
            select(SiteRevision)
            .where(SiteRevision.site_id == site.id)
            .order_by(SiteRevision.number.desc())
        ).scalars()
    )


def _stored_revision(site: Site, number: int) -> SiteRevision:
    rev = (
        db.session.execute(
            select(SiteRevision).where(
                SiteRevision.site_id == site.id, SiteRevision.number == number
            )
        ).scalar_one_or_none()
        if 0 < number < 2**31
        else None
    )
    if rev is None:
        raise RevisionNotFound(number)
    return rev


def _keyed(entries: list[dict[str, Any]] | None, key: Any) -> dict[str, dict[str, Any]]:
    return {key(e): e for e in entries or []}


def _cookie_key(cookie: dict[str, Any]) -> str:
    # What a declared entry stands for; its provider, category, lifetime and purpose may change.
    key = cookie.get("name") or f"/{cookie.get('name_pattern')}/"
    if cookie.get("domain"):
        key += f" @{cookie['domain']}"
    if cookie.get("storage", "cookie") != "cookie":
        key += f" [{cookie['storage']}]"
    return key


def _changed_fields(a: dict[str, Any], b: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        k: {"from": a.get(k), "to": b.get(k)}
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    }


def _entries_diff(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "added": [b[k] for k in b if k not in a],
        "removed": [a[k] for k in a if k not in b],
        "changed": [
            {"key": k, "fields": _changed_fields(a[k], b[k])} for k in b if k in a and a[k] != b[k]
        ],
    }


def _yaml(content: dict[str, Any]) -> list[str]:
    # Sorted keys: a revision PUT as JSON may be stored in another key order than one
    # applied from YAML, and the diff should show changes, not reordering.
    return yaml.safe_dump(
        content, allow_unicode=True, sort_keys=True, default_flow_style=False, width=100
    ).splitlines(keepends=True)


def revision_diff(key: str, a: int, b: int) -> dict[str, Any]:
    """What changed from revision `a` to revision `b` of the site, structured and as text.

    Categories by key, cookies by name (or pattern), domain and storage, texts per language, the
    other fields one by one; `unified` is a unified diff of the two contents as YAML.
    """
    site = get_site(key)
    old, new = _stored_revision(site, a), _stored_revision(site, b)
    before, after = old.content, new.content
    texts_a, texts_b = before.get("texts") or {}, after.get("texts") or {}
    texts = {
        lang: _changed_fields(texts_a.get(lang) or {}, texts_b.get(lang) or {})
        for lang in sorted(set(texts_a) | set(texts_b))
        if texts_a.get(lang) != texts_b.get(lang)
    }
    listed = ("categories", "cookies", "texts")
    unified = difflib.unified_diff(
        _yaml(before), _yaml(after), fromfile=f"revision {a}", tofile=f"revision {b}"
    )
    return {
        "site": site.key,
        "from": {"number": old.number, "hash": old.content_hash},
        "to": {"number": new.number, "hash": new.content_hash},
        "categories": _entries_diff(
            _keyed(before.get("categories"), lambda c: c["key"]),
            _keyed(after.get("categories"), lambda c: c["key"]),
        ),
        "cookies": _entries_diff(
            _keyed(before.get("cookies"), _cookie_key), _keyed(after.get("cookies"), _cookie_key)
        ),
        "texts": texts,
        "fields": _changed_fields(
            {k: v for k, v in before.items() if k not in listed},
            {k: v for k, v in after.items() if k not in listed},
        ),
        "unified": "".join(unified),
    }
