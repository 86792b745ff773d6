"""The public cookie-policy page is written when it changes (a declaration applied, a scan
stored) and served from the cookie_policies table; a request builds it only on a miss, within
a time budget."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import delete, select, update

from consent_server.extensions import db
from consent_server.sites.models import CookiePolicyPage, Site
from tests.support.apps import make_app, release, reset_database
from tests.support.scans import apply, cookie, declaration, fake_report, finish

URL = "/api/v1/sites/demo-shop/cookie-policy"


def _pages(app: Flask) -> dict[tuple[str, str], CookiePolicyPage]:
    with app.app_context():
        rows = db.session.execute(select(CookiePolicyPage)).scalars().all()
        db.session.expunge_all()
        return {(r.lang, r.fmt): r for r in rows}


def test_applying_a_declaration_writes_every_language_and_format(app: Flask):
    with app.app_context():
        apply(declaration())
    pages = _pages(app)
    assert set(pages) == {(lang, fmt) for lang in ("sv", "en") for fmt in ("html", "markdown")}
    assert {(p.revision, p.scan_id) for p in pages.values()} == {(1, None)}
    assert pages["sv", "markdown"].body.startswith("## Kakor (cookies)")


def test_the_request_serves_the_stored_page_with_an_etag(app: Flask):
    with app.app_context():
        apply(declaration())
        # Written behind the builder's back: only a request that reads the table shows this.
        db.session.execute(
            update(CookiePolicyPage)
            .where(CookiePolicyPage.lang == "en", CookiePolicyPage.fmt == "markdown")
            .values(body="## Stored, not built\n", etag='"stored"')
        )
        db.session.commit()
    client = app.test_client()
    answer = client.get(f"{URL}?lang=en&format=markdown")
    assert answer.status_code == 200
    assert answer.get_data(as_text=True) == "## Stored, not built\n"
    assert answer.headers["ETag"] == '"stored"'
    again = client.get(f"{URL}?lang=en&format=markdown", headers={"If-None-Match": '"stored"'})
    assert again.status_code == 304 and again.get_data() == b""


def test_storing_a_scan_rewrites_the_page_with_what_it_saw(app: Flask):
    with app.app_context():
        apply(declaration())
        scan_id = finish("demo-shop", fake_report([cookie("_uetvid", "marketing", vendor="MS")]))
    pages = _pages(app)
    assert {p.scan_id for p in pages.values()} == {scan_id}
    assert "\\_uetvid" in pages["en", "markdown"].body
    body = app.test_client().get(f"{URL}?lang=en&format=markdown").get_data(as_text=True)
    assert body == pages["en", "markdown"].body


def test_a_missing_or_stale_page_is_built_once_by_the_request(app: Flask):
    with app.app_context():
        apply(declaration())
        db.session.execute(delete(CookiePolicyPage))
        db.session.commit()
    answer = app.test_client().get(f"{URL}?lang=sv&format=html")
    assert answer.status_code == 200 and "<section" in answer.get_data(as_text=True)
    assert set(_pages(app)) == {("sv", "html")}
    # A page of an older revision is not served for the current one.
    with app.app_context():
        db.session.execute(update(CookiePolicyPage).values(body="old", revision=0))
        db.session.commit()
    assert app.test_client().get(f"{URL}?lang=sv&format=html").get_data(as_text=True) != "old"
    assert _pages(app)["sv", "html"].revision == 1


def test_a_miss_that_cannot_be_built_within_the_budget_answers_503(tmp_path: Path):
    app = make_app(tmp_path, f"sqlite:///{tmp_path}/db.sqlite3", COOKIE_POLICY_BUILD_SECONDS=0)
    reset_database(app)
    try:
        with app.app_context():
            apply(declaration())
            site_id = db.session.execute(select(Site.id)).scalar_one()
            db.session.execute(delete(CookiePolicyPage))
            db.session.commit()
        answer = app.test_client().get(f"{URL}?lang=en")
        assert answer.status_code == 503 and "Retry-After" in answer.headers
        assert answer.get_json()["code"] == 503, answer.get_json()
        assert _pages(app) == {}
        # Written when it changes, the page is served whatever the request budget.
        with app.app_context():
            finish("demo-shop", fake_report([cookie("_uetvid")]))
        assert app.test_client().get(f"{URL}?lang=en").status_code == 200
        assert {p.site_id for p in _pages(app).values()} == {site_id}
    finally:
        release(app)
