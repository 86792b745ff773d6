"""Declaration revisions: who applied each one, the list, and the difference between two
(API, CLI and service)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from flask import Flask
from flask.testing import FlaskClient

from consent_server.sites.service import RevisionNotFound, apply_declaration, revision_diff
from consent_server.sites.tokens import create_token
from declaration.loader import load_declaration
from tests.support.apps import example_data


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _changed() -> dict[str, Any]:
    """The example declaration with a category, a cookie and a text changed, one of each
    added and removed, and the consent lifetime shortened."""
    data = example_data()
    data["consent_lifetime"] = "P6M"
    data["categories"] = [c for c in data["categories"] if c["key"] != "preferences"]
    data["categories"][-1]["title"]["en"] = "Advertising"
    data["categories"].append(
        {
            "key": "social",
            "title": {"sv": "Sociala", "en": "Social"},
            "description": {"sv": "Delning.", "en": "Sharing."},
        }
    )
    data["cookies"] = [c for c in data["cookies"] if c.get("name") not in ("lang", "_fbp")]
    data["cookies"][0]["provider"] = "Demo Shop Ltd"
    data["cookies"].append(
        {"name": "_fbp", "provider": "Meta", "category": "social", "lifetime": "P90D"}
    )
    data["cookies"].append({"name": "_pin_unauth", "provider": "Pinterest", "category": "social"})
    data["texts"]["en"]["title"] = "Cookies, briefly"
    return data


def test_the_api_records_the_token_and_shows_revisions_and_their_diff(
    app: Flask, client: FlaskClient
):
    with app.app_context():
        token, secret = create_token(None, "admin", "release bot")
        prefix = token.prefix
        auditor = create_token(None, "auditor")[1]
    first = client.put("/api/v1/sites/demo-shop", json=example_data(), headers=_auth(secret))
    assert first.status_code == 201, first.get_json()
    body = yaml.safe_dump(_changed(), allow_unicode=True)
    second = client.put(
        "/api/v1/sites/demo-shop",
        data=body.encode(),
        content_type="application/yaml",
        headers=_auth(secret),
    )
    assert second.status_code == 200 and second.get_json()["revision"] == 2

    listed = client.get("/api/v1/sites/demo-shop/revisions", headers=_auth(auditor))
    assert listed.status_code == 200
    revisions = listed.get_json()["revisions"]
    assert [r["number"] for r in revisions] == [2, 1]
    assert {r["applied_by"] for r in revisions} == {f"token:{prefix} release bot"}
    assert all(len(r["hash"]) == 64 and r["created_at"].endswith("+00:00") for r in revisions)

    diff = client.get("/api/v1/sites/demo-shop/revisions/1/diff/2", headers=_auth(auditor))
    assert diff.status_code == 200
    d = diff.get_json()
    assert d["from"]["number"] == 1 and d["to"]["hash"] == revisions[0]["hash"]
    assert [c["key"] for c in d["categories"]["added"]] == ["social"]
    assert [c["key"] for c in d["categories"]["removed"]] == ["preferences"]
    assert d["categories"]["changed"] == [
        {
            "key": "marketing",
            "fields": {
                "title": {
                    "from": {"sv": "Marknadsföring", "en": "Marketing"},
                    "to": {"sv": "Marknadsföring", "en": "Advertising"},
                }
            },
        }
    ]
    assert [c["name"] for c in d["cookies"]["added"]] == ["_pin_unauth"]
    assert [c["name"] for c in d["cookies"]["removed"]] == ["lang"]
    changed = {c["key"]: set(c["fields"]) for c in d["cookies"]["changed"]}
    assert changed == {"sessionid": {"provider"}, "_fbp": {"category", "purpose"}}
    assert d["texts"] == {"en": {"title": {"from": "We use cookies", "to": "Cookies, briefly"}}}
    assert d["fields"] == {"consent_lifetime": {"from": "P12M", "to": "P6M"}}
    assert d["unified"].startswith("--- revision 1\n+++ revision 2\n")
    lines = d["unified"].splitlines()
    assert "-consent_lifetime: P12M" in lines and "+consent_lifetime: P6M" in lines
    # Revision 1 came as JSON, revision 2 as YAML: key order is not a change.
    assert not {"-site: demo-shop", "+site: demo-shop", "-name: Demo Shop AB"} & set(lines)

    same = client.get("/api/v1/sites/demo-shop/revisions/2/diff/2", headers=_auth(auditor))
    assert same.get_json()["unified"] == "" and same.get_json()["cookies"]["added"] == []


def test_revision_endpoints_need_a_token_of_the_site_and_refuse_bad_numbers(
    app: Flask, client: FlaskClient, tokens: dict[str, str]
):
    with app.app_context():
        apply_declaration(load_declaration(example_data(site="other-shop")))
        other = create_token("other-shop", "auditor")[1]
    url = "/api/v1/sites/demo-shop/revisions"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=_auth(other)).status_code == 403
    assert client.get(f"{url}/1/diff/1", headers=_auth(other)).status_code == 403
    assert client.get(url, headers=_auth(tokens["auditor"])).status_code == 200
    auditor = _auth(tokens["auditor"])
    assert client.get(f"{url}/1/diff/1", headers=auditor).status_code == 200
    for bad in ("1/diff/2", "0/diff/1", "99999999999/diff/1", "-1/diff/1", "a/diff/1", "1/diff"):
        resp = client.get(f"{url}/{bad}", headers=auditor)
        assert resp.status_code == 404, bad
    assert (
        client.get("/api/v1/sites/nope/revisions", headers=_auth(tokens["operator"])).status_code
        == 404
    )
    assert (
        client.get(
            "/api/v1/sites/nope/revisions/1/diff/2", headers=_auth(tokens["operator"])
        ).status_code
        == 404
    )


def test_the_cli_applies_as_cli_and_lists_and_diffs_revisions(app: Flask, tmp_path: Path):
    runner = app.test_cli_runner()
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(yaml.safe_dump(example_data(site="cli-shop"), allow_unicode=True))
    second.write_text(yaml.safe_dump({**_changed(), "site": "cli-shop"}, allow_unicode=True))
    assert runner.invoke(args=["sites", "apply", str(first)]).exit_code == 0
    assert runner.invoke(args=["sites", "apply", str(second)]).exit_code == 0

    listed = runner.invoke(args=["sites", "revisions", "cli-shop"])
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert len(lines) == 2 and lines[0].startswith("rev 2") and lines[0].endswith("  cli")
    as_json = json.loads(runner.invoke(args=["sites", "revisions", "cli-shop", "--json"]).output)
    assert [(r["number"], r["applied_by"]) for r in as_json] == [(2, "cli"), (1, "cli")]

    diff = runner.invoke(args=["sites", "diff", "cli-shop", "1", "2"])
    assert diff.exit_code == 0
    assert diff.output.startswith("--- revision 1\n+++ revision 2\n")
    assert "+consent_lifetime: P6M" in diff.output
    structured = json.loads(
        runner.invoke(args=["sites", "diff", "cli-shop", "2", "1", "--json"]).output
    )
    assert [c["key"] for c in structured["categories"]["added"]] == ["preferences"]
    assert "same content" in runner.invoke(args=["sites", "diff", "cli-shop", "1", "1"]).output

    assert runner.invoke(args=["sites", "diff", "cli-shop", "1", "3"]).exit_code == 2
    assert runner.invoke(args=["sites", "diff", "cli-shop", "0", "1"]).exit_code == 2
    assert runner.invoke(args=["sites", "diff", "nope", "1", "2"]).exit_code == 2
    assert runner.invoke(args=["sites", "revisions", "nope"]).exit_code == 2


def test_service_callers_without_an_author_leave_it_unknown(app: Flask):
    with app.app_context():
        apply_declaration(load_declaration(example_data(site="quiet-shop")))
        diff = revision_diff("quiet-shop", 1, 1)
        assert diff["fields"] == {} and diff["texts"] == {}
        try:
            revision_diff("quiet-shop", 1, 2)
        except RevisionNotFound as exc:
            assert exc.args == (2,)
        else:
            raise AssertionError("revision 2 does not exist")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["sites", "revisions", "quiet-shop"]).output.rstrip().endswith("-")
