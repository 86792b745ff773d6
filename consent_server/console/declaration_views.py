"""The console's declaration pages: a site's revisions and the differences between two."""

from __future__ import annotations

from typing import Any

import orjson
from flask import render_template, request

from consent_server.clock import as_utc
from consent_server.console.views import bp, signed_in, visible_site
from consent_server.sites.models import Site
from consent_server.sites.service import RevisionNotFound, list_revisions, revision_diff

# How many characters of a revision's content hash the list shows (the full hash is its title).
SHORT_HASH = 12


def shown(value: Any) -> str:
    """A declared value as one line of text: strings as they are, the rest as compact JSON."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def entry_label(entry: dict[str, Any]) -> str:
    """What an added or removed category or cookie is called: its key, name or pattern."""
    label = entry.get("key") or entry.get("name") or f"/{entry.get('name_pattern')}/"
    if entry.get("domain"):
        label += f" @{entry['domain']}"
    return str(label)


def _revision_number(name: str) -> int | None:
    """The query argument `name` as a revision number; None when missing or not a number."""
    raw = request.args.get(name, "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None


def _list_page(
    site: Site, error: str | None = None, status: int = 200, **values: Any
) -> tuple[str, int]:
    revisions = [
        {
            "number": rev.number,
            "hash": rev.content_hash,
            "at": as_utc(rev.created_at),
            "by": rev.applied_by,
            "current": rev.id == site.current_revision_id,
        }
        for rev in list_revisions(site.key)
    ]
    numbers = [r["number"] for r in revisions]
    # The form starts on the newest change: from the revision before the newest to the newest.
    chosen_b = values.pop("chosen_b", None) or (numbers[0] if numbers else None)
    chosen_a = values.pop("chosen_a", None) or (numbers[1] if len(numbers) > 1 else chosen_b)
    html = render_template(
        "console/declaration.html",
        user=signed_in(),
        site=site,
        revisions=revisions,
        short=SHORT_HASH,
        chosen_a=chosen_a,
        chosen_b=chosen_b,
        error=error,
        error_values=values,
    )
    return html, status


@bp.get("/sites/<string:key>/declaration")
def declaration(key: str) -> tuple[str, int]:
    """The site's declaration revisions, newest first, and a form to compare two of them."""
    return _list_page(visible_site(key))


@bp.get("/sites/<string:key>/declaration/diff")
def declaration_diff(key: str) -> tuple[str, int]:
    """What changed from revision `a` to revision `b`; a bad number is a 400, a missing one a 404."""
    site = visible_site(key)
    a, b = _revision_number("a"), _revision_number("b")
    if a is None or b is None:
        return _list_page(site, "declaration.bad_number", 400)
    try:
        diff = revision_diff(site.key, a, b)
    except RevisionNotFound as exc:
        return _list_page(
            site, "declaration.no_revision", 404, number=exc.args[0], chosen_a=a, chosen_b=b
        )
    html = render_template(
        "console/declaration_diff.html",
        user=signed_in(),
        site=site,
        diff=diff,
        a=a,
        b=b,
        shown=shown,
        entry_label=entry_label,
    )
    return html, 200
