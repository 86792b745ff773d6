"""Request and response schemas of the sites area."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields


class BannerConfigSchema(Schema):
    """The banner configuration of one revision in one language."""

    site = fields.String()
    name = fields.String()
    revision = fields.Integer()
    revision_hash = fields.String()
    language = fields.String()
    languages = fields.List(fields.String())
    policy_url = fields.String(allow_none=True)
    consent_lifetime = fields.String()
    consent_lifetime_days = fields.Integer()
    categories = fields.List(fields.Dict())
    cookies = fields.List(fields.Dict())
    texts = fields.Dict(metadata={"description": "all keys; with ?texts=own the site's own only"})
    layout = fields.String(metadata={"description": "bar, box or modal"})
    cookie_domain = fields.String(
        allow_none=True, metadata={"description": "Domain of the consent cookie, if declared."}
    )
    region_lookup = fields.Boolean(
        metadata={"description": "Ask /sites/{site}/region before asking a new visitor."}
    )


class ApplyResultSchema(Schema):
    """What applying a declaration did."""

    site = fields.String()
    created = fields.Boolean()
    revision = fields.Integer()
    new_revision = fields.Boolean()
    changed = fields.Boolean()


class SiteSchema(Schema):
    """A site with its current revision (dumped from the stored site)."""

    site = fields.String(attribute="key")
    name = fields.String()
    domains = fields.List(fields.String())
    scan = fields.Dict(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    revision = fields.Function(lambda s: _current(s, "number"), allow_none=True)
    revision_hash = fields.Function(lambda s: _current(s, "content_hash"), allow_none=True)
    revision_created_at = fields.Function(
        lambda s: _iso(_current(s, "created_at")), allow_none=True
    )
    declaration = fields.Function(lambda s: _current(s, "content"), allow_none=True)


def _current(site: Any, name: str) -> Any:
    rev = site.current_revision
    return getattr(rev, name) if rev is not None else None


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None
