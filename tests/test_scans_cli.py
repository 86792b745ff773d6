"""The scan commands (`scans list|show|diff|propose|run|purge|webhook-secret`) and
`scheduler --once`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from consent_server.extensions import db
from consent_server.scans.alerts import webhook_secret
from consent_server.scans.models import Scan
from tests.support.consent import consent_body
from tests.support.scans import NOW


def test_scans_commands(app: Flask, scan_api: dict[str, Any], tmp_path: Path):
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["scans", "list", "demo-shop"])
    assert listed.exit_code == 0 and f"{scan_api['second']:>6} demo-shop" in listed.output
    shown = runner.invoke(
        args=["scans", "show", str(scan_api["second"]), "--html", str(tmp_path / "r.html")]
    )
    assert shown.exit_code == 0 and "[high] pre_consent" in shown.output
    assert (tmp_path / "r.html").read_text().startswith("<!doctype html>")
    as_json = json.loads(
        runner.invoke(args=["scans", "show", str(scan_api["second"]), "--json"]).output
    )
    assert as_json["id"] == scan_api["second"]
    diff = runner.invoke(args=["scans", "diff", str(scan_api["second"])])
    assert "+ finding [medium]" in diff.output
    proposed = runner.invoke(args=["scans", "propose", str(scan_api["second"])])
    assert proposed.exit_code == 0 and proposed.output.startswith("# Proposed additions")
    assert runner.invoke(args=["scans", "show", "424242"]).exit_code == 2
    secret = runner.invoke(args=["scans", "webhook-secret", "demo-shop"]).output.strip()
    with app.app_context():
        assert secret == webhook_secret("demo-shop")
    queued = runner.invoke(args=["scans", "run", "demo-shop", "--queue"])
    assert queued.exit_code == 0 and "queued" in queued.output
    assert runner.invoke(args=["scans", "run", "nope-shop"]).exit_code == 2
    with app.app_context():
        db.session.execute(update(Scan).values(created_at=NOW - dt.timedelta(days=100)))
        db.session.commit()
    purged = runner.invoke(args=["scans", "purge", "--older-than-days", "30"])
    assert purged.exit_code == 0 and "deleted 1 scans" in purged.output
    assert runner.invoke(args=["scans", "purge", "--older-than-days", "0"]).exit_code == 2


def test_scheduler_once_seals_the_consent_log(app: Flask, demo_site: str, client: FlaskClient):
    assert (
        client.post(f"/api/v1/sites/{demo_site}/consents", json=consent_body()).status_code == 201
    )
    result = app.test_cli_runner().invoke(args=["scheduler", "--once"])
    assert result.exit_code == 0, result.output
    assert "created 0" in result.output and "sealed 1" in result.output
