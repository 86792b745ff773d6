"""A policy compared with a scan's cookies (policy_findings), and the policy from the command
line (`cookie-scan policy`, `cookie-scan URL --policy`), on the project's own policy texts and
on pages served here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from scanner.cli import main
from scanner.policy import PolicyStatement, analyze_text, load_policy, policy_findings
from tests.support.browsers import one_page_scan
from tests.support.live import serve_http
from tests.support.policy import (
    DAY,
    FBP,
    GA,
    LANG,
    SESSIONID,
    assert_continued_use_findings,
    assert_no_cookie_findings,
    assert_one_cookie_sentence_cli_json,
    assert_own_cookie_section_findings,
    assert_policy_evidence,
    by_type,
    project_policy,
)


def project(stem: str) -> PolicyStatement:
    return load_policy(project_policy(stem))


# -- the policy against a scan's cookies --------------------------------------------------------


def test_a_policy_without_cookies_leaves_every_observed_category_undeclared() -> None:
    assert_no_cookie_findings(project("sv_no_cookies"))


def test_categories_declared_for_cookies_are_not_findings() -> None:
    # preferences and analytics, session and persistent
    assert_own_cookie_section_findings(project("sv_own_cookie_section"))


def test_a_denied_purpose_observed_says_so() -> None:
    st = analyze_text("Cookies\n\nVi använder cookies för statistik men inte för marknadsföring.")
    [f] = by_type(policy_findings(st, [GA, FBP]), "policy_undeclared_category")
    assert f.evidence["category"] == "marketing"
    assert "says cookies are not used for marketing" in f.message
    assert_policy_evidence(st, f.evidence["policy"]["denied"][0]["evidence"])


def test_lifetime_mismatches_both_ways() -> None:
    session_only = analyze_text("Cookies\n\nVi använder bara sessionscookies, för statistik.")
    assert session_only.declared_lifetimes == ["session"]
    [f] = by_type(policy_findings(session_only, [SESSIONID, GA]), "policy_undeclared_lifetime")
    assert (f.severity, f.cookie, f.evidence["lifetime"]) == ("medium", "_ga", "persistent")
    assert_policy_evidence(session_only, f.evidence["policy"]["declared_lifetimes"][0]["evidence"])
    persistent_only = analyze_text("Cookies\n\nVåra cookies för statistik sparas i 13 månader.")
    assert persistent_only.declared_lifetimes == ["persistent"]
    [f] = by_type(policy_findings(persistent_only, [SESSIONID, GA]), "policy_undeclared_lifetime")
    assert (f.severity, f.cookie, f.evidence["lifetime"]) == ("low", "sessionid", "session")
    assert f.evidence["policy"]["durations"][0]["seconds"] == 13 * 30 * DAY
    # Nothing observed, nothing to compare (the policy's own problems stay).
    assert by_type(policy_findings(persistent_only, []), "policy_undeclared_lifetime") == []


def test_policy_problems_become_findings_with_both_sides_of_evidence() -> None:
    assert_continued_use_findings(project("sv_continued_use_and_pul"))


def test_a_policy_that_declares_what_is_observed_leaves_only_its_own_problems() -> None:
    st = project("en_consent_banner")  # necessary, analytics, marketing; session and persistent
    findings = policy_findings(st, [SESSIONID, GA, FBP])
    assert [f.type for f in findings] == ["policy_transfer_outside_eea"]
    [transfer] = findings
    assert transfer.severity == "info"
    assert [o["name"] for o in transfer.evidence["observed"]] == ["_fbp"]  # third party
    assert_policy_evidence(st, transfer.evidence["policy"])
    # A preference cookie is still undeclared: the policy names no such purpose.
    [f] = by_type(policy_findings(st, [LANG]), "policy_undeclared_category")
    assert f.evidence["category"] == "preferences" and f.cookie == "lang"


# -- command line ---------------------------------------------------------------------------------


def test_cli_policy_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_cookie_sentence_cli_json(project_policy("sv_one_cookie_sentence"), capsys)


def test_cli_policy_prints_a_readable_statement(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", str(project_policy("sv_continued_use_and_pul"))]) == 0
    out = capsys.readouterr().out
    assert "Purposes declared for cookies: necessary, preferences, analytics, marketing" in out
    assert "Lifetimes declared: session, persistent" in out
    assert "policy_implied_consent" in out and "Genom att fortsätta använda webbplatsen" in out


def test_cli_policy_unreadable_input_is_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", str(tmp_path / "missing.txt")]) == 2
    assert "no such policy file" in capsys.readouterr().err
    assert main(["policy", "http://127.0.0.1:9/policy"]) == 2  # nothing listens on port 9
    assert "cannot fetch" in capsys.readouterr().err
    assert main(["policy"]) == 2


class _Pages(BaseHTTPRequestHandler):
    """A site that sets three cookies, and its privacy policy, written by a script."""

    PAGES = {
        "/": (
            "<!doctype html><html><body><p>Exempel</p><script>"
            "document.cookie = '_ga=GA1.1.1.1; max-age=63072000; path=/';"
            "document.cookie = '_fbp=fb.1.1.1; max-age=7776000; path=/';</script></body></html>"
        ),
        "/policy.html": (
            "<!doctype html><html><body><main id='policy'></main><script>"
            "document.getElementById('policy').innerHTML = '<h1>Integritetspolicy</h1>"
            "<h2>Cookies</h2><p>Vi använder cookies för statistik.</p>';</script></body></html>"
        ),
        "/static.html": (
            "<!doctype html><html><body><h2>Cookies</h2><p>Vi använder cookies för statistik "
            "och marknadsföring.</p></body></html>"
        ),
    }

    def do_GET(self) -> None:
        body = self.PAGES.get(self.path.split("?")[0])
        if body is None:
            self.send_error(404)
            return
        data = body.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if self.path == "/":
            self.send_header("Set-Cookie", "PHPSESSID=abc; Path=/; HttpOnly")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def policy_site() -> Iterator[str]:
    with serve_http(_Pages) as served:
        yield served.url


def test_cli_policy_url_with_a_plain_get(
    policy_site: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", f"{policy_site}/static.html", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["purposes"] == ["analytics", "marketing"]
    assert main(["policy", f"{policy_site}/missing.html"]) == 2
    assert "HTTP 404" in capsys.readouterr().err


@pytest.mark.browser
def test_cli_policy_browser_reads_a_page_built_by_script(
    policy_site: str, chromium_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"{policy_site}/policy.html"
    args = ["policy", url, "--json", "--browser", "--allow-private", "--chromium", chromium_path]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["purposes"] == ["analytics"]
    assert main(["policy", url, "--browser", "--chromium", chromium_path]) == 2  # private target
    assert "--allow-private" in capsys.readouterr().err


@pytest.mark.browser
def test_scan_with_a_policy_url_adds_the_statement_and_its_findings(
    policy_site: str, chromium_path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scan.json"
    status = main(
        one_page_scan(
            f"{policy_site}/",
            chromium_path,
            "--policy",
            f"{policy_site}/policy.html",
            "--json",
            str(out),
            "--fail-on",
            "critical",
        )
    )
    assert status == 0
    assert "policy (sv): cookies mentioned; purposes: analytics" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["policy"]["source"] == f"{policy_site}/policy.html"
    assert report["policy"]["summary"]["purposes"] == ["analytics"]  # built by the page's script
    findings = {(f["type"], f["evidence"].get("category")) for f in report["findings"]}
    assert ("policy_undeclared_category", "marketing") in findings  # _fbp
    assert ("policy_undeclared_category", "analytics") not in findings  # _ga is declared
    assert ("policy_undeclared_category", "necessary") not in findings  # PHPSESSID
    assert ("policy_undeclared_lifetime", None) in findings
    assert ("policy_no_withdrawal", None) in findings
    marketing = next(
        f
        for f in report["findings"]
        if f["type"] == "policy_undeclared_category" and f["evidence"]["category"] == "marketing"
    )
    assert marketing["cookie"] == "_fbp"
    assert [o["name"] for o in marketing["evidence"]["observed"]] == ["_fbp"]


def test_scan_refuses_an_unreadable_policy_before_starting_a_browser(
    tmp_path: Path, chromium_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        [
            "http://127.0.0.1:9/",
            "--allow-private",
            "--policy",
            str(tmp_path / "missing.txt"),
            "--chromium",
            chromium_path,
        ]
    )
    assert status == 2
    assert "policy: no such policy file" in capsys.readouterr().err
