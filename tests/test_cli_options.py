"""Options both commands share: `--version`, `--json [FILE]` on every command that prints data,
and one duration syntax for purging (`--older-than P30D`)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import update

from consent_server.extensions import db
from consent_server.scans.models import Scan
from scanner.cli import main as cookie_scan
from tests.support.browsers import one_page_scan
from tests.support.live import serve_html
from tests.support.log import cli
from tests.support.policy import FIXTURES
from tests.support.scans import apply, cookie, declaration, fake_report, finding, finish

POLICY = FIXTURES / "sv_one_cookie_sentence.txt"
BIN = Path(sys.executable).parent  # the console scripts sit next to the interpreter
VERSION = version("consent-manager")


def run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    """A console script of this installation, as a user runs it."""
    return subprocess.run(
        [str(BIN / str(argv[0])), *map(str, argv[1:])],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def json_everywhere(runner: FlaskCliRunner, tmp_path: Path, *args: str) -> Any:
    """Run a command with `--json`, `--json -` and `--json FILE`; check that stdout holds the
    JSON alone, that the file holds the same bytes, and that with a file stdout keeps the text;
    return the parsed JSON."""
    bare = cli(runner, *args, "--json")
    assert bare.stderr == "" and bare.output == bare.stdout  # nothing but JSON
    dash = cli(runner, *args, "--json", "-")
    assert dash.stdout == bare.stdout
    target = tmp_path / f"{uuid.uuid4().hex}.json"
    to_file = cli(runner, *args, "--json", target)
    assert target.read_text(encoding="utf-8") == bare.stdout
    assert to_file.stdout == cli(runner, *args).stdout  # the text, as without --json
    return json.loads(bare.stdout)


def stored_scan(site: str, *names: str) -> int:
    """A finished scan of the site with these cookies, each set before consent, stored as a
    worker stores it (no browser); its id."""
    domain = f"{site}.example"
    report = fake_report(
        [cookie(name, domain=domain) for name in names],
        [finding("pre_consent", "high", name, domain=domain) for name in names],
        url=f"https://{domain}/",
    )
    return finish(site, report)


@pytest.fixture
def scanned(app: Flask) -> dict[str, int]:
    """Two sites, one on a weekly schedule; two scans of the first, one of the second."""
    with app.app_context():
        apply(
            declaration(
                "alpha-shop",
                domains=["alpha-shop.example"],
                schedule="0 3 * * 1",
                timezone="Europe/Stockholm",
            )
        )
        apply(declaration("beta-shop", domains=["beta-shop.example"]))
        from consent_server.scans.schedule import sync_schedules

        sync_schedules()
        return {
            "first": stored_scan("alpha-shop", "_fbp"),
            "second": stored_scan("alpha-shop", "_fbp", "_gcl_au"),
            "other": stored_scan("beta-shop"),
        }


# -- --version -------------------------------------------------------------------------------


def test_both_commands_print_the_distribution_version():
    scan = run("cookie-scan", "--version")
    server = run("consent-server", "--version")
    assert (scan.returncode, scan.stdout, scan.stderr) == (
        0,
        f"cookie-scan, version {VERSION}\n",
        "",
    )
    assert (server.returncode, server.stdout) == (0, f"consent-server, version {VERSION}\n")
    as_module = subprocess.run(
        [sys.executable, "-m", "scanner", "--version"], capture_output=True, text=True, check=False
    )
    assert as_module.stdout == scan.stdout
    import scanner

    assert scanner.__version__ == VERSION


# -- --json [FILE] on the list commands --------------------------------------------------------


def test_sites_list_json(runner: FlaskCliRunner, scanned: dict[str, int], tmp_path: Path):
    sites = json_everywhere(runner, tmp_path, "sites", "list")
    assert [s["site"] for s in sites] == ["alpha-shop", "beta-shop"]
    alpha, beta = sites
    assert alpha["name"] == "Demo Shop AB" and alpha["domains"] == ["alpha-shop.example"]
    assert alpha["revision"] == 1 and len(alpha["revision_hash"]) == 64
    assert alpha["scan_url"] == "https://alpha-shop.example/"
    assert alpha["schedule"]["cron"] == "0 3 * * 1"
    assert alpha["schedule"]["timezone"] == "Europe/Stockholm"
    assert dt.datetime.fromisoformat(alpha["schedule"]["next_run_at"]).utcoffset() == dt.timedelta(
        0
    )
    assert dt.datetime.fromisoformat(alpha["created_at"]).tzinfo is not None
    assert beta["schedule"] is None


def test_sites_list_json_without_sites_is_an_empty_array(runner: FlaskCliRunner):
    empty = cli(runner, "sites", "list", "--json")
    assert json.loads(empty.stdout) == [] and "No sites yet" not in empty.output
    assert "No sites yet" in cli(runner, "sites", "list").stdout


def test_tokens_list_json_never_holds_secrets_or_hashes(
    runner: FlaskCliRunner, app: Flask, demo_site: str, tmp_path: Path
):
    site_secret = cli(
        runner, "tokens", "create", "--site", demo_site, "--role", "auditor", "--label", "DPO"
    ).stdout.strip()
    operator_secret = cli(runner, "tokens", "create", "--operator", "--role", "admin").stdout
    cli(runner, "tokens", "revoke", operator_secret.strip())
    listed = json_everywhere(runner, tmp_path, "tokens", "list")
    from consent_server.sites.models import ApiToken

    with app.app_context():
        hashes = [t.token_hash for t in db.session.query(ApiToken)]
    raw = json.dumps(listed)
    for secret in (site_secret, operator_secret.strip(), *hashes):
        assert secret not in raw
    # Newest first, as the text.
    operator, site = listed
    assert set(site) == {
        "id",
        "prefix",
        "role",
        "site",
        "label",
        "state",
        "created_at",
        "revoked_at",
    }
    assert (site["role"], site["site"], site["label"], site["state"]) == (
        "auditor",
        "demo-shop",
        "DPO",
        "live",
    )
    assert site_secret.startswith(site["prefix"]) and site["revoked_at"] is None
    assert (operator["site"], operator["state"]) == (None, "revoked")
    assert operator["revoked_at"] is not None


def test_keys_list_json(runner: FlaskCliRunner, app: Flask, tmp_path: Path):
    first = cli(runner, "keys", "list").stdout.split()[0]
    new = cli(runner, "keys", "rotate").stdout.split()[-1]
    listed = json_everywhere(runner, tmp_path, "keys", "list")
    assert [(k["kid"], k["current"]) for k in listed] == [(new, True), (first, False)]
    jwks = app.test_client().get("/.well-known/jwks.json").get_json()["keys"]
    assert [{k: v for k, v in key.items() if k != "current"} for key in listed] == jwks
    assert all(set(key) >= {"kty", "crv", "x", "alg"} and "d" not in key for key in listed)


def test_scans_list_json(runner: FlaskCliRunner, scanned: dict[str, int], tmp_path: Path):
    listed = json_everywhere(runner, tmp_path, "scans", "list")
    assert [s["id"] for s in listed] == [scanned["other"], scanned["second"], scanned["first"]]
    second = listed[1]
    assert (second["site"], second["status"], second["trigger"]) == ("alpha-shop", "done", "manual")
    assert (second["pages"], second["cookies"]) == (1, 2)
    assert second["finding_counts"]["high"] == 2
    assert second["url"] == "https://alpha-shop.example/"
    one_site = json_everywhere(runner, tmp_path, "scans", "list", "beta-shop", "--limit", "5")
    assert [s["id"] for s in one_site] == [scanned["other"]]


# -- --json [FILE] on show, diff and verify: old forms keep working ---------------------------


def test_scans_show_and_diff_json_before_or_after_the_id(
    runner: FlaskCliRunner, scanned: dict[str, int], tmp_path: Path
):
    scan_id = str(scanned["second"])
    shown = json_everywhere(runner, tmp_path, "scans", "show", scan_id)
    assert shown["id"] == scanned["second"] and shown["report"]["summary"]["cookies"] == 2
    # The flag before the argument, as before --json took a FILE.
    before = cli(runner, "scans", "show", "--json", scan_id)
    assert before.stdout == cli(runner, "scans", "show", scan_id, "--json").stdout
    assert not (Path.cwd() / scan_id).exists()
    diff = json_everywhere(runner, tmp_path, "scans", "diff", scan_id)
    assert [c["name"] for c in diff["cookies"]["new"]] == ["_gcl_au"]
    assert json.loads(cli(runner, "scans", "diff", "--json", scan_id).stdout) == diff


def test_log_verify_json_before_or_after_the_path(
    runner: FlaskCliRunner, client: FlaskClient, demo_site: str, tmp_path: Path
):
    for _ in range(2):
        body = {
            "consent_id": str(uuid.uuid4()),
            "revision": 1,
            "decisions": {"necessary": True, "preferences": False, "analytics": False},
            "method": "custom",
            "language": "sv",
            "page_url": "https://demo.example.se/",
            "gpc": False,
        }
        resp = client.post(f"/api/v1/sites/{demo_site}/consents", json=body)
        assert resp.status_code == 201, resp.get_json()
    bundle = tmp_path / "audit.zip"
    cli(runner, "log", "export", "--site", demo_site, "--bundle", bundle)
    report = json_everywhere(runner, tmp_path, "log", "verify", str(bundle))
    assert report["ok"] is True and report["receipts"] == 2
    before = cli(runner, "log", "verify", "--json", bundle)
    assert json.loads(before.stdout) == report
    text = cli(runner, "log", "verify", bundle).stdout
    assert "OK: the export is intact." in text


def test_a_value_that_is_not_the_missing_argument_is_a_file(
    runner: FlaskCliRunner, scanned: dict[str, int], tmp_path: Path
):
    # `scans list` takes an optional SITE: after --json a value is the file.
    target = tmp_path / "scans.json"
    result = cli(runner, "scans", "list", "--json", target)
    assert [s["id"] for s in json.loads(target.read_text())][-1] == scanned["first"]
    assert result.stdout.startswith(f"{scanned['other']:>6} beta-shop")
    # A value that looks like an option is not taken: JSON on stdout.
    limited = cli(runner, "scans", "list", "--json", "--limit", "1")
    assert [s["id"] for s in json.loads(limited.stdout)] == [scanned["other"]]


def test_an_unwritable_json_file_is_an_error(runner: FlaskCliRunner, app: Flask, tmp_path: Path):
    result = cli(runner, "keys", "list", "--json", tmp_path / "missing" / "keys.json", code=2)
    assert "Cannot write" in result.stderr


# -- purge durations -------------------------------------------------------------------------


def _age_scans(app: Flask, days: int) -> None:
    with app.app_context():
        db.session.execute(
            update(Scan).values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=days))
        )
        db.session.commit()


def test_scans_purge_takes_an_iso_duration(
    runner: FlaskCliRunner, app: Flask, scanned: dict[str, int]
):
    _age_scans(app, 100)
    assert cli(runner, "scans", "purge", "--older-than", "P6M").stdout == (
        "deleted 0 scans older than P6M\n"
    )
    dry = cli(runner, "scans", "purge", "--older-than", "P30D", "--dry-run")
    assert dry.stdout == "would delete 1 scans older than P30D\n" and dry.stderr == ""
    assert cli(runner, "scans", "purge", "--older-than", "P30D").stdout == (
        "deleted 1 scans older than P30D\n"
    )
    ids = [s["id"] for s in json.loads(cli(runner, "scans", "list", "--json").stdout)]
    assert ids == [scanned["other"], scanned["second"]]  # each site's latest stays
    for bad in ("30", "P0D", "-P1D", "P1X"):
        refused = cli(runner, "scans", "purge", "--older-than", bad, code=2)
        assert "duration" in refused.stderr


def test_scans_purge_older_than_days_still_works_with_a_note(
    runner: FlaskCliRunner, app: Flask, scanned: dict[str, int]
):
    _age_scans(app, 100)
    old = cli(runner, "scans", "purge", "--older-than-days", "30")
    assert old.stdout == "deleted 1 scans older than 30 days\n"
    assert old.stderr == "--older-than-days is deprecated: use --older-than P30D\n"
    assert cli(runner, "scans", "purge", "--older-than-days", "0", code=2).exit_code == 2
    both = cli(runner, "scans", "purge", "--older-than", "P30D", "--older-than-days", "30", code=2)
    assert "--older-than only" in both.stderr
    helped = cli(runner, "scans", "purge", "--help").stdout
    assert "--older-than DURATION" in helped and "--older-than-days" not in helped


def test_scans_purge_defaults_to_the_configured_retention(
    runner: FlaskCliRunner, app: Flask, scanned: dict[str, int]
):
    _age_scans(app, 100)
    app.config["SCAN_RETENTION_DAYS"] = 365
    assert cli(runner, "scans", "purge").stdout == "deleted 0 scans older than 365 days\n"
    app.config["SCAN_RETENTION_DAYS"] = 90
    assert cli(runner, "scans", "purge").stdout == "deleted 1 scans older than 90 days\n"
    app.config["SCAN_RETENTION_DAYS"] = 0
    assert "No retention period" in cli(runner, "scans", "purge", code=2).stderr


# -- cookie-scan --json [FILE] ---------------------------------------------------------------


def test_cookie_scan_policy_json_to_stdout_or_file(tmp_path: Path):
    bare = run("cookie-scan", "policy", POLICY, "--json")
    assert bare.returncode == 0, bare.stderr
    statement = json.loads(bare.stdout)
    assert statement["language"] == "sv"
    assert run("cookie-scan", "policy", POLICY, "--json", "-").stdout == bare.stdout
    # Before the source, as when --json was a flag.
    assert run("cookie-scan", "policy", "--json", POLICY).stdout == bare.stdout
    target = tmp_path / "policy.json"
    to_file = run("cookie-scan", "policy", POLICY, "--json", target)
    assert target.read_text(encoding="utf-8") == bare.stdout
    assert to_file.stdout == run("cookie-scan", "policy", POLICY).stdout
    assert to_file.stdout.startswith(f"Policy: {POLICY}")


def test_cookie_scan_policy_lang_and_its_old_spelling(tmp_path: Path):
    for option in ("--lang", "--language"):
        out = run("cookie-scan", "policy", POLICY, option, "en", "--json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["language"] == "en"
    helped = run("cookie-scan", "policy", "--help").stdout
    assert "--lang {sv,en}" in helped and "--language" not in helped
    assert "--json [FILE]" in helped and "source\n" in helped


def test_cookie_scan_json_takes_the_url_when_it_is_missing(capsys: pytest.CaptureFixture[str]):
    # The URL after --json is the URL (refused here as a loopback target, before any browser).
    assert cookie_scan(["--json", "https://127.0.0.1/"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cookie-scan: ") and "required" not in err
    assert cookie_scan(["--json"]) == 2
    assert "the following arguments are required: url" in capsys.readouterr().err
    assert cookie_scan(["--help"]) == 0
    helped = capsys.readouterr().out
    assert "--json [FILE]" in helped and "[url]" not in helped


@pytest.fixture
def shop() -> Iterator[str]:
    page = "<!doctype html><title>shop</title><p>Hello</p>"
    cookie = ("Set-Cookie", "_fbp=fb.1.1; Max-Age=7776000; Path=/")
    with serve_html(page, (cookie,)) as served:
        yield f"{served.url}/"


@pytest.mark.browser
def test_cookie_scan_json_on_stdout_sends_the_summary_to_stderr(
    shop: str, chromium_path: str, tmp_path: Path
):
    args = ["cookie-scan", *one_page_scan(shop, chromium_path, "--fail-on", "critical", wait_ms=0)]
    on_stdout = run(*args, "--json")
    assert on_stdout.returncode == 0, on_stdout.stderr
    report = json.loads(on_stdout.stdout)
    assert report["url"] == shop and [c["name"] for c in report["cookies"]] == ["_fbp"]
    assert on_stdout.stderr.startswith(f"{shop}: 1 page loads, 1 cookies")
    assert "pre_consent" in on_stdout.stderr  # the findings, on stderr

    target = tmp_path / "scan.json"
    to_file = run(*args, "--json", target)
    assert to_file.returncode == 0, to_file.stderr
    assert json.loads(target.read_text(encoding="utf-8"))["cookies"] == report["cookies"]
    assert to_file.stdout.startswith(f"{shop}: 1 page loads, 1 cookies")
    assert to_file.stderr == ""
