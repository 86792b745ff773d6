"""The consent-server command: sites, tokens and keys, run through Flask's CLI runner."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from flask import Flask
from flask.testing import FlaskCliRunner

from consent_server.extensions import db
from consent_server.sites.models import ApiToken, Site
from consent_server.sites.tokens import authenticate
from tests.support.apps import EXAMPLE

SECRET_RE = re.compile(r"cm_[A-Za-z0-9_-]{40,}")


def write_site(tmp_path: Path, key: str, **changes) -> Path:
    """A copy of the example declaration for another site key."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["site"] = key
    data.update(changes)
    path = tmp_path / f"{key}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def site_keys(app: Flask) -> list[str]:
    with app.app_context():
        return [s.key for s in db.session.query(Site).order_by(Site.key)]


# -- sites -------------------------------------------------------------------------------------


def test_sites_apply_creates_then_reports_unchanged(runner: FlaskCliRunner, app: Flask):
    first = runner.invoke(args=["sites", "apply", str(EXAMPLE)])
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == "demo-shop: created, revision 1"
    again = runner.invoke(args=["sites", "apply", str(EXAMPLE)])
    assert again.exit_code == 0
    assert again.stdout.strip() == "demo-shop: unchanged, revision 1"
    assert site_keys(app) == ["demo-shop"]


def test_sites_apply_reports_new_revision_and_in_place_update(
    runner: FlaskCliRunner, app: Flask, tmp_path: Path
):
    runner.invoke(args=["sites", "apply", str(EXAMPLE)])
    changed = write_site(tmp_path, "demo-shop", consent_lifetime="P6M")
    result = runner.invoke(args=["sites", "apply", str(changed)])
    assert result.exit_code == 0
    assert result.stdout.strip() == (
        "demo-shop: updated, new revision 2 (visitors will be asked again)"
    )
    moved = write_site(tmp_path, "demo-shop", consent_lifetime="P6M", domains=["shop.example.se"])
    result = runner.invoke(args=["sites", "apply", str(moved)])
    assert result.stdout.strip() == (
        "demo-shop: updated (domains or scan settings), revision 2 unchanged"
    )


def test_sites_apply_takes_several_files(runner: FlaskCliRunner, app: Flask, tmp_path: Path):
    other = write_site(tmp_path, "other-shop", domains=["other.example.se"])
    result = runner.invoke(args=["sites", "apply", str(EXAMPLE), str(other)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "demo-shop: created, revision 1",
        "other-shop: created, revision 1",
    ]
    assert site_keys(app) == ["demo-shop", "other-shop"]


def test_sites_apply_with_a_bad_file_names_the_field_and_applies_nothing(
    runner: FlaskCliRunner, app: Flask, tmp_path: Path
):
    good = write_site(tmp_path, "good-shop")
    bad = write_site(tmp_path, "bad-shop", consent_lifetime="a year")
    result = runner.invoke(args=["sites", "apply", str(good), str(bad)])
    assert result.exit_code == 2
    assert str(bad) in result.stderr
    assert "consent_lifetime:" in result.stderr
    assert "ISO-8601 duration" in result.stderr
    assert result.stdout == ""
    # Every file is validated before any is applied.
    assert site_keys(app) == []


def test_sites_apply_with_invalid_yaml_gives_the_line(
    runner: FlaskCliRunner, app: Flask, tmp_path: Path
):
    bad = tmp_path / "broken.yaml"
    bad.write_text("site: broken\nname: [oops\ndomains: [a.se]\n", encoding="utf-8")
    result = runner.invoke(args=["sites", "apply", str(bad)])
    assert result.exit_code == 2
    assert "Not valid YAML at line 3" in result.stderr


def test_sites_apply_with_a_missing_file_exits_2(runner: FlaskCliRunner, tmp_path: Path):
    result = runner.invoke(args=["sites", "apply", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "Cannot read the file" in result.stderr


def test_sites_apply_needs_a_file(runner: FlaskCliRunner):
    result = runner.invoke(args=["sites", "apply"])
    assert result.exit_code == 2
    assert "Missing argument" in result.output


def test_sites_list_shows_key_revision_name_and_domains(
    runner: FlaskCliRunner, app: Flask, tmp_path: Path
):
    empty = runner.invoke(args=["sites", "list"])
    assert empty.exit_code == 0
    assert "No sites yet" in empty.stdout
    runner.invoke(args=["sites", "apply", str(EXAMPLE), str(write_site(tmp_path, "b-shop"))])
    lines = runner.invoke(args=["sites", "list"]).stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[:3] == ["b-shop", "rev", "1"]
    assert lines[1].split()[:3] == ["demo-shop", "rev", "1"]
    assert "Demo Shop AB" in lines[1]
    assert "[127.0.0.1, localhost, demo.example.se]" in lines[1]


def test_sites_show_prints_the_site_as_json(runner: FlaskCliRunner, demo_site: str):
    result = runner.invoke(args=["sites", "show", demo_site])
    assert result.exit_code == 0
    shown = json.loads(result.stdout)
    assert shown["site"] == "demo-shop"
    assert shown["revision"] == 1
    assert len(shown["revision_hash"]) == 64
    assert shown["domains"] == ["127.0.0.1", "localhost", "demo.example.se"]
    assert [c["key"] for c in shown["declaration"]["categories"]] == [
        "necessary",
        "preferences",
        "analytics",
        "marketing",
    ]


def test_sites_show_of_an_unknown_site_exits_2(runner: FlaskCliRunner, demo_site: str):
    result = runner.invoke(args=["sites", "show", "no-such-site"])
    assert result.exit_code == 2
    assert "Unknown site 'no-such-site'" in result.stderr


# -- tokens ------------------------------------------------------------------------------------


def test_tokens_create_prints_the_secret_once_and_stores_only_its_hash(
    runner: FlaskCliRunner, app: Flask, demo_site: str
):
    result = runner.invoke(
        args=["tokens", "create", "--site", demo_site, "--role", "auditor", "--label", "DPO"]
    )
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert SECRET_RE.fullmatch(secret)
    assert secret not in result.stderr
    assert "auditor of site demo-shop; shown only now" in result.stderr
    with app.app_context():
        row = db.session.query(ApiToken).one()
        assert row.label == "DPO" and row.role == "auditor"
        assert secret not in (row.token_hash, row.prefix) and secret.startswith(row.prefix)
        info = authenticate(secret)
        assert (info.site, info.role) == ("demo-shop", "auditor")


def test_tokens_create_operator_token(runner: FlaskCliRunner, app: Flask):
    result = runner.invoke(args=["tokens", "create", "--operator", "--role", "admin"])
    assert result.exit_code == 0, result.output
    assert "admin of all sites" in result.stderr
    with app.app_context():
        info = authenticate(result.stdout.strip())
        assert (info.site, info.role) == (None, "admin")


def test_tokens_create_needs_exactly_one_scope(runner: FlaskCliRunner, demo_site: str):
    neither = runner.invoke(args=["tokens", "create", "--role", "admin"])
    assert neither.exit_code == 2 and "exactly one of --site" in neither.stderr
    both = runner.invoke(
        args=["tokens", "create", "--site", demo_site, "--operator", "--role", "admin"]
    )
    assert both.exit_code == 2 and "exactly one of --site" in both.stderr


def test_tokens_create_refuses_unknown_site_role_and_bad_label(
    runner: FlaskCliRunner, app: Flask, demo_site: str
):
    unknown = runner.invoke(args=["tokens", "create", "--site", "nope-shop", "--role", "admin"])
    assert unknown.exit_code == 2 and "Unknown site 'nope-shop'" in unknown.stderr
    role = runner.invoke(args=["tokens", "create", "--site", demo_site, "--role", "owner"])
    assert role.exit_code == 2 and "'owner' is not one of" in role.output
    label = runner.invoke(
        args=["tokens", "create", "--site", demo_site, "--role", "admin", "--label", "x" * 201]
    )
    assert label.exit_code == 2 and "Invalid --label" in label.stderr
    with app.app_context():
        assert db.session.query(ApiToken).count() == 0


def test_tokens_list_never_prints_secrets(runner: FlaskCliRunner, app: Flask, demo_site: str):
    secrets = [
        runner.invoke(args=["tokens", "create", "--site", demo_site, "--role", "admin"]).stdout,
        runner.invoke(args=["tokens", "create", "--operator", "--role", "auditor"]).stdout,
    ]
    secrets = [s.strip() for s in secrets]
    result = runner.invoke(args=["tokens", "list"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for secret in secrets:
        assert secret not in result.output
        assert secret[:10] + "..." in result.stdout
    assert not SECRET_RE.search(result.stdout)
    # Newest first: the operator token, then the site token.
    assert lines[0].split()[2:5] == ["auditor", "*", "live"]
    assert lines[1].split()[2:5] == ["admin", "demo-shop", "live"]


def test_tokens_revoke_by_prefix_and_by_id(runner: FlaskCliRunner, app: Flask, demo_site: str):
    first = runner.invoke(args=["tokens", "create", "--site", demo_site, "--role", "admin"])
    second = runner.invoke(args=["tokens", "create", "--site", demo_site, "--role", "auditor"])
    first_secret, second_secret = first.stdout.strip(), second.stdout.strip()
    with app.app_context():
        second_id = authenticate(second_secret).id

    by_prefix = runner.invoke(args=["tokens", "revoke", first_secret[:10]])
    assert by_prefix.exit_code == 0 and by_prefix.stdout.strip() == "revoked 1 token(s)"
    by_id = runner.invoke(args=["tokens", "revoke", str(second_id)])
    assert by_id.exit_code == 0 and by_id.stdout.strip() == "revoked 1 token(s)"
    with app.app_context():
        assert authenticate(first_secret) is None
        assert authenticate(second_secret) is None
    listed = runner.invoke(args=["tokens", "list"]).stdout
    assert listed.count(" revoked ") == 2 and " live " not in listed

    again = runner.invoke(args=["tokens", "revoke", str(second_id)])
    assert again.exit_code == 1 and "No live token matches" in again.stderr
    huge = runner.invoke(args=["tokens", "revoke", "9" * 30])
    assert huge.exit_code == 1 and "No live token matches" in huge.stderr


def test_a_revoked_token_gets_401(runner: FlaskCliRunner, app: Flask, demo_site: str):
    secret = runner.invoke(
        args=["tokens", "create", "--site", demo_site, "--role", "auditor"]
    ).stdout.strip()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get(f"/api/v1/sites/{demo_site}", headers=headers).status_code == 200
    runner.invoke(args=["tokens", "revoke", secret])
    resp = client.get(f"/api/v1/sites/{demo_site}", headers=headers)
    assert resp.status_code == 401
    assert resp.get_json()["message"] == "The token is unknown or revoked."


# -- keys --------------------------------------------------------------------------------------


def test_keys_rotate_and_list(runner: FlaskCliRunner, app: Flask):
    with app.app_context():
        first_kid = app.extensions["consent_keys"].current().kid
    listed = runner.invoke(args=["keys", "list"])
    assert listed.exit_code == 0
    assert listed.stdout.splitlines() == [f"{first_kid}  (current)"]

    rotated = runner.invoke(args=["keys", "rotate"])
    assert rotated.exit_code == 0
    new_kid = rotated.stdout.strip().removeprefix("new signing key ")
    assert new_kid != first_kid and len(new_kid) == 43

    listed = runner.invoke(args=["keys", "list"]).stdout.splitlines()
    assert listed[0] == f"{new_kid}  (current)"
    assert f"{first_kid}" in listed[1:]
    jwks = app.test_client().get("/.well-known/jwks.json").get_json()
    assert [k["kid"] for k in jwks["keys"]][:1] == [new_kid]
    assert first_kid in [k["kid"] for k in jwks["keys"]]


def test_receipts_are_signed_with_the_rotated_key(
    runner: FlaskCliRunner, app: Flask, demo_site: str
):
    import jwt

    from tests.support.consent import consent_body

    new_kid = runner.invoke(args=["keys", "rotate"]).stdout.strip().split()[-1]
    resp = app.test_client().post(f"/api/v1/sites/{demo_site}/consents", json=consent_body())
    assert resp.status_code == 201
    assert jwt.get_unverified_header(resp.get_json()["receipt"])["kid"] == new_kid
