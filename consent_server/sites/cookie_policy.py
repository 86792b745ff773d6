"""The cookie section of a site's privacy policy, written from its declaration and latest scan.

The public page is built when what it says changes (a declaration applied, a scan stored) and
kept in the cookie_policies table; a request only reads it. A request finds no current page
only when the write failed or lost a race: it then builds the page within a time budget.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from consent_server.clock import utcnow
from consent_server.extensions import db
from consent_server.sites.models import CookiePolicyPage, Site
from consent_server.tx import transaction
from declaration.policy_text import (
    TEXTS,
    PolicyBudgetExceeded,
    build_policy,
    render_html,
    render_markdown,
)

__all__ = [
    "FORMATS",
    "LANGUAGES",
    "PolicyBudgetExceeded",
    "PolicyPage",
    "cookie_policy",
    "latest_scan_report",
    "refresh_cookie_policies",
    "served_cookie_policy",
]

log = logging.getLogger(__name__)

FORMATS = ("html", "markdown")
LANGUAGES = tuple(TEXTS)


@dataclass(frozen=True)
class PolicyPage:
    """A page as the request serves it."""

    body: str
    etag: str


def latest_scan_report(site_key: str) -> dict[str, Any] | None:
    """The report of the site's latest finished scan, when the server keeps scans."""
    from consent_server.scans.results import latest_report

    return latest_report(site_key)


def cookie_policy(
    declaration: dict[str, Any],
    lang: str,
    fmt: str,
    scan_report: dict[str, Any] | None = None,
    *,
    deadline: float | None = None,
) -> str:
    """Render the section in `lang` (sv or en) as `fmt` (html or markdown)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    policy = build_policy(declaration, lang, scan_report, deadline=deadline)
    return render_html(policy) if fmt == "html" else render_markdown(policy)


def _etag(body: str) -> str:
    return '"' + hashlib.sha256(body.encode("utf-8")).hexdigest()[:32] + '"'


def _latest_scan_id(site_id: int) -> int | None:
    """The id of the site's latest finished scan (as latest_report chooses it), or None."""
    from consent_server.scans.models import Scan
    from consent_server.scans.queue import DONE

    return db.session.execute(
        select(Scan.id)
        .where(Scan.site_id == site_id, Scan.status == DONE, Scan.report.is_not(None))
        .order_by(Scan.finished_at.desc(), Scan.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def _report(scan_id: int | None) -> dict[str, Any] | None:
    from consent_server.scans.models import Scan

    if scan_id is None:
        return None
    return db.session.execute(select(Scan.report).where(Scan.id == scan_id)).scalar_one_or_none()


def _store(pages: list[CookiePolicyPage]) -> None:
    """Insert or replace the pages; a page of an older revision never replaces a newer one."""
    if not pages:
        return
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    columns = ("site_id", "lang", "fmt", "revision", "scan_id", "body", "etag", "built_at")
    rows = [{c: getattr(p, c) for c in columns} for p in pages]
    statement = insert(CookiePolicyPage).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["site_id", "lang", "fmt"],
        set_={c: getattr(statement.excluded, c) for c in columns[3:]},
        # A writer that read the site before a newer declaration was applied loses the race.
        where=CookiePolicyPage.revision <= statement.excluded.revision,
    )
    with transaction():
        db.session.execute(statement)


def _page(
    site_id: int, revision: int, scan_id: int | None, lang: str, fmt: str, body: str
) -> CookiePolicyPage:
    return CookiePolicyPage(
        site_id=site_id,
        lang=lang,
        fmt=fmt,
        revision=revision,
        scan_id=scan_id,
        body=body,
        etag=_etag(body),
        built_at=utcnow(),
    )


def refresh_cookie_policies(site_key: str) -> None:
    """Write the site's page in every language and format from its current state.

    Called after a declaration is applied and after a scan is stored, once those have
    committed; a failure is logged, not raised: what changed is stored, and the public request
    builds a page that is not current itself.
    """
    try:
        site = db.session.execute(select(Site).where(Site.key == site_key)).scalar_one_or_none()
        if site is None or site.current_revision is None:
            return
        revision = site.current_revision
        scan_id = _latest_scan_id(site.id)
        report = _report(scan_id)
        pages = [
            _page(site.id, revision.number, scan_id, lang, fmt, body)
            for lang in LANGUAGES
            for fmt in FORMATS
            for body in [cookie_policy(revision.content, lang, fmt, report)]
        ]
        _store(pages)
    except Exception:
        db.session.rollback()
        log.exception("could not write the cookie policy of %s", site_key)


def served_cookie_policy(
    site_id: int, revision: int, content: dict[str, Any], lang: str, fmt: str, budget: float
) -> PolicyPage:
    """The stored page when it is current; else built within `budget` seconds and stored.

    Raises PolicyBudgetExceeded when the build takes longer.
    """
    deadline = time.monotonic() + budget
    scan_id = _latest_scan_id(site_id)
    stored = db.session.get(CookiePolicyPage, (site_id, lang, fmt))
    # A newer revision than the caller's (its site cache lags a few seconds) is current too.
    if stored is not None and stored.revision >= revision and stored.scan_id == scan_id:
        return PolicyPage(stored.body, stored.etag)
    body = cookie_policy(content, lang, fmt, _report(scan_id), deadline=deadline)
    page = _page(site_id, revision, scan_id, lang, fmt, body)
    _store([page])
    return PolicyPage(page.body, page.etag)
