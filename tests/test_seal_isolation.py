"""One site's bad record stops sealing that site only: the others are sealed, the failure is
reported, and `consent-server log seal` exits non-zero."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from consent_server.consent_log.models import ConsentReceipt, Seal
from consent_server.extensions import db
from consent_server.scans import scheduler
from consent_server.sites.models import Site
from tests.support.apps import apply_data, example_data
from tests.support.consent import consent_body
from tests.support.log import cli

OTHER = "other-shop"


def _two_sites_one_tampered(app: Flask, client: FlaskClient) -> None:
    """demo-shop (sealed first, by key order) with a tampered record, other-shop intact."""
    apply_data(app, example_data(site=OTHER, name="Other AB", domains=["other.example"]))
    for _ in range(2):
        resp = client.post("/api/v1/sites/demo-shop/consents", json=consent_body())
        assert resp.status_code == 201, resp.get_json()
        resp = client.post(
            f"/api/v1/sites/{OTHER}/consents",
            json=consent_body(page_url="https://other.example/"),
        )
        assert resp.status_code == 201, resp.get_json()
    with app.app_context():
        row = db.session.execute(
            sa.select(ConsentReceipt)
            .join(Site, Site.id == ConsentReceipt.site_id)
            .where(Site.key == "demo-shop")
            .limit(1)
        ).scalar_one()
        row.record = row.record.replace('"method":"accept_all"', '"method":"custom"')
        db.session.commit()


def sealed_sites(app: Flask) -> dict[str, int]:
    """Receipts sealed per site key."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(Site.key, sa.func.sum(Seal.tree_size))
            .join(Seal, Seal.site_id == Site.id)
            .group_by(Site.key)
        ).all()
    return {key: int(total) for key, total in rows}


def test_log_seal_seals_the_other_sites_and_exits_non_zero(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, demo_site: str
):
    _two_sites_one_tampered(app, client)
    result = cli(runner, "log", "seal", code=1)
    assert f"{OTHER}: seal 1 over 2 receipts" in result.output
    assert "demo-shop: not sealed" in result.output
    assert "does not match its hash" in result.output
    assert sealed_sites(app) == {OTHER: 2}


def test_the_scheduler_seal_job_keeps_sealing_the_other_sites(
    app: Flask, client: FlaskClient, demo_site: str, caplog
):
    _two_sites_one_tampered(app, client)
    assert scheduler.seal(app) == 1
    assert sealed_sites(app) == {OTHER: 2}
    assert any("demo-shop" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records), [
        r.getMessage() for r in caplog.records
    ]


def test_one_site_with_a_bad_record_is_refused_alone(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, demo_site: str
):
    _two_sites_one_tampered(app, client)
    result = cli(runner, "log", "seal", "--site", "demo-shop", code=1)
    assert "demo-shop: not sealed" in result.output
    assert sealed_sites(app) == {}
    assert f"{OTHER}: seal 1 over 2 receipts" in cli(runner, "log", "seal", "--site", OTHER).output
