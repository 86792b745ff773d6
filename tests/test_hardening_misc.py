"""Hardening: /metrics only for operators and the scrape token, the SQLite database private to
its owner, and CSV cells a spreadsheet would run as formulas neutralised."""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import stat
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from consent_server.consent_log.export import CSV_COLUMNS, csv_cell
from consent_server.sites.tokens import create_token
from tests.support.apps import make_app, release, reset_database
from tests.support.consent import consent_body
from tests.support.live import LiveServer
from tests.support.log import CONSENTS, cli, jsonl

# -- /metrics ----------------------------------------------------------------------------------


def _scrape(url: str, secret: str | None = None) -> tuple[int, str]:
    """GET url over HTTP as Prometheus does, with its `authorization` bearer credentials."""
    request = urllib.request.Request(url)
    if secret is not None:
        request.add_header("Authorization", f"Bearer {secret}")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_metrics_need_an_operator_token_by_default(
    app: Flask, client: FlaskClient, tokens: dict[str, str]
):
    with app.app_context():
        operator_auditor = create_token(None, "auditor")[1]
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer cm_unknown"}).status_code == 401
    # A site's token, even an admin's, does not see the counters of every site.
    for role in ("auditor", "admin"):
        resp = client.get("/metrics", headers={"Authorization": f"Bearer {tokens[role]}"})
        assert resp.status_code == 403, role
    for secret in (tokens["operator"], operator_auditor):
        resp = client.get("/metrics", headers={"Authorization": f"Bearer {secret}"})
        assert resp.status_code == 200
        assert "consent_seal_lag_receipts " in resp.data.decode()
    # Health stays public, for load balancers and orchestrators.
    assert client.get("/healthz").status_code == 200


def test_metrics_scrape_token_and_public_switch(app: Flask, demo_site: str):
    with LiveServer(app) as server:
        url = server.url + "/metrics"
        assert _scrape(url)[0] == 401
        assert _scrape(url, "a-prometheus-secret-of-some-length")[0] == 401

        app.config["METRICS_TOKEN"] = "a-prometheus-secret-of-some-length"
        status, body = _scrape(url, "a-prometheus-secret-of-some-length")
        assert status == 200 and "consent_seal_lag_seconds " in body
        assert _scrape(url, "a-prometheus-secret-of-some-lengtX")[0] == 401
        assert _scrape(url)[0] == 401
        # An empty scrape token configured is no token: it never lets an empty secret in.
        app.config["METRICS_TOKEN"] = ""
        assert _scrape(url, "")[0] == 401

        app.config["METRICS_PUBLIC"] = True
        status, body = _scrape(url)
        assert status == 200 and "consent_seal_lag_receipts " in body


# -- the SQLite file ---------------------------------------------------------------------------


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, under which new files are readable by everyone."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sqlite_database_is_created_private_to_its_owner(tmp_path: Path, umask_022: None):
    folder = tmp_path / "instance"
    database = folder / "consent.sqlite3"
    app = make_app(tmp_path, f"sqlite:///{database}")
    try:
        reset_database(app)
        with app.app_context():
            create_token(None, "admin")  # a write
        assert _mode(folder) == 0o700
        assert _mode(database) == 0o600
        # SQLite gives its journal, WAL and shared-memory files the database file's mode.
        conn = sqlite3.connect(database, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE api_tokens SET label = 'x'")
            assert _mode(Path(f"{database}-journal")) == 0o600
            conn.execute("ROLLBACK")
            assert conn.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)
            conn.execute("UPDATE api_tokens SET label = 'y'")
            assert _mode(Path(f"{database}-wal")) == 0o600
            assert _mode(Path(f"{database}-shm")) == 0o600
        finally:
            conn.close()
    finally:
        release(app)
    # A database file that exists already is left as its owner set it.
    database.chmod(0o640)
    release(make_app(tmp_path, f"sqlite:///{database}"))
    assert _mode(database) == 0o640


# -- CSV cells ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cell_neutralises_what_a_spreadsheet_would_run(lead: str):
    assert csv_cell(f"{lead}HYPERLINK(1)") == f"'{lead}HYPERLINK(1)"
    assert csv_cell("https://demo.example.se/") == "https://demo.example.se/"
    assert csv_cell('{"necessary":true}') == '{"necessary":true}'
    assert csv_cell(7) == 7 and csv_cell(None) == ""


def test_csv_export_neutralises_a_visitor_controlled_cell(
    client: FlaskClient, runner: FlaskCliRunner, tokens: dict[str, str], tmp_path: Path
):
    # The browser family comes from the visitor's User-Agent header; this one starts with "-".
    hostile = "Mozilla/5.0 (compatible; -cmd Crawler/1.0)"
    resp = client.post(CONSENTS, json=consent_body(), headers={"User-Agent": hostile})
    assert resp.status_code == 201, resp.get_json()
    receipt_id = resp.get_json()["receipt_id"]
    cli(runner, "log", "seal")
    auth = {"Authorization": f"Bearer {tokens['auditor']}"}

    record = jsonl(client.get(CONSENTS + "?format=jsonl", headers=auth).data)[0]["record"]
    assert record["receipt_id"] == receipt_id
    assert record["user_agent_family"] == "-cmd Crawler"  # the receipt itself is as recorded

    via_api = client.get(CONSENTS + "?format=csv", headers=auth).data.decode()
    out = tmp_path / "log.csv"
    cli(runner, "log", "export", "--site", "demo-shop", "--format", "csv", "-o", str(out))
    assert out.read_text(encoding="utf-8") == via_api
    header, row = list(csv.reader(io.StringIO(via_api)))
    assert tuple(header) == CSV_COLUMNS
    cells = dict(zip(header, row, strict=True))
    assert cells["user_agent_family"] == "'-cmd Crawler"
    assert cells["page_url"] == record["page_url"]
    assert cells["receipt_id"] == receipt_id
    assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in row)
