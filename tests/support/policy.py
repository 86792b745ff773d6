"""Shared by the policy-analysis tests: where the policy texts are, the expected-row shape,
helpers that read claims and their evidence, the checks every policy corpus gets (its row of the
table, cited evidence, analysis time), and the cookies of a made-up scan."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scanner.cli import main
from scanner.model import Classification, CookieReport, Finding
from scanner.policy import Evidence, PolicyStatement, analyze_text, policy_findings
from scanner.policy.text import segment

ROOT = Path(__file__).resolve().parents[2]
DAY = 86400

# Policies written for this project (fictional companies): always present.
FIXTURES = ROOT / "tests" / "fixtures" / "policies"

# Real policies: shared test data next to the repository, read in place and never copied.
# An extra check when present; CONSENT_SEEDS_DIR points elsewhere.
SEEDS = Path(os.environ.get("CONSENT_SEEDS_DIR") or ROOT.parent / "shared" / "seeds")


def project_policy(stem: str) -> Path:
    """One of the project's own policy texts (tests/fixtures/policies)."""
    path = FIXTURES / f"{stem}.txt"
    assert path.is_file(), f"fixture policy {path} is missing"
    return path


def seed(stem: str) -> Path:
    """One seed policy file, or a skip when the seed folder is absent (with CI=true too: the
    project's own fixtures cover the same behaviour, so the seeds are never required)."""
    if not SEEDS.is_dir():
        pytest.skip(f"the seed policies are not at {SEEDS} (set CONSENT_SEEDS_DIR to use them)")
    path = SEEDS / f"{stem}.txt"
    if not path.is_file():
        pytest.skip(f"seed policy {path} is missing")
    return path


@dataclass(frozen=True)
class Row:
    """What a careful reader finds about cookies in one policy, and the problems flagged."""

    mentions_cookies: bool
    lifetimes: list[str]
    purposes: list[str]
    problems: set[str]
    outdated: set[str]  # kinds of policy_outdated_reference
    transfers: bool
    partners: bool
    language: str = "sv"
    durations: tuple[str, ...] = ()  # cookie durations as written in the policy


def all_evidence(statement: PolicyStatement) -> list[Evidence]:
    """Every sentence any claim of the statement cites."""
    claims = (
        statement.technologies
        + statement.cookie_denials
        + statement.purposes
        + statement.purposes_denied
        + statement.lifetimes
        + statement.durations
        + statement.third_parties
        + statement.partner_sharing
        + statement.transfers
        + statement.consent
        + statement.withdrawal
        + statement.problems
    )
    return [e for c in claims for e in c.evidence]


def assert_evidence_slices_back(statement: PolicyStatement) -> None:
    """Each cited span is exactly one sentence (or heading) of the normalized text."""
    doc = segment(statement.text, language=statement.language)
    spans = {(s.start, s.end) for s in doc.sentences}
    for e in all_evidence(statement):
        assert statement.text[e.start : e.end] == e.text
        assert (e.start, e.end) in spans, e


def assert_row(statement: PolicyStatement, row: Row) -> None:
    """The statement gives exactly its row of a table."""
    assert statement.language == row.language
    assert statement.mentions_cookies is row.mentions_cookies
    assert statement.declared_lifetimes == row.lifetimes
    assert statement.declared_purposes == row.purposes
    assert {p.value for p in statement.problems} == row.problems
    outdated = {p.detail["reference"] for p in statement.problem("policy_outdated_reference")}
    assert outdated == row.outdated
    assert statement.transfers_outside_eea is row.transfers
    assert bool(statement.partner_sharing) is row.partners
    assert tuple(c.detail["duration"] for c in statement.durations) == row.durations


def assert_evidence_cited(statement: PolicyStatement) -> None:
    """Evidence offsets slice back to the cited sentence, and claims and problems cite at least
    one sentence each."""
    assert_evidence_slices_back(statement)
    for claim in (
        statement.purposes
        + statement.lifetimes
        + statement.problems
        + statement.transfers
        + statement.technologies
    ):
        assert claim.evidence, claim


def assert_fast(text: str) -> None:
    """A policy text is analysed well under a second. CPU time of this process: a sanity bound
    that a busy machine (browsers of other tests) does not turn into a flaky one; not a
    benchmark."""
    started = time.process_time()
    analyze_text(text)
    assert time.process_time() - started < 0.2


def cited(statement: PolicyStatement, attr: str, value: str) -> list[str]:
    """Texts cited by the claims of one value."""
    return [e.text for c in getattr(statement, attr) if c.value == value for e in c.evidence]


def problem_texts(statement: PolicyStatement, kind: str) -> list[str]:
    return [e.text for p in statement.problem(kind) for e in p.evidence]


# -- a scan's cookies ---------------------------------------------------------------------------


def cookie(
    name: str,
    category: str,
    lifetime: str = "persistent",
    *,
    party: str = "first",
    phases: tuple[str, ...] = ("pre-consent",),
) -> CookieReport:
    return CookieReport(
        name=name,
        domain="www.example.se" if party == "first" else "tracker.example",
        party=party,
        registrable_domain="example.se" if party == "first" else "tracker.example",
        lifetime_class=lifetime,
        requested_seconds=None if lifetime == "session" else 365 * DAY,
        stored_seconds=None,
        classification=Classification(category=category, source="knowledge"),
        phases=list(phases),
        refused=False,
        refused_reasons=[],
        sources=["header"],
        setters=["https://www.example.se/"],
        pages=["https://www.example.se/"],
        first_seen={"phase": phases[0], "page": "https://www.example.se/", "setter": None},
    )


SESSIONID = cookie("sessionid", "necessary", "session")
LANG = cookie("lang", "preferences")
GA = cookie("_ga", "analytics")
FBP = cookie("_fbp", "marketing", party="third")


def by_type(findings: list[Finding], kind: str) -> list[Finding]:
    return [f for f in findings if f.type == kind]


def assert_policy_evidence(statement: PolicyStatement, evidence: list[dict[str, Any]]) -> None:
    for e in evidence:
        assert statement.text[e["start"] : e["end"]] == e["text"]


# -- checks both corpora share: policies of the same kind read the same -------------------------


def assert_no_cookie_findings(statement: PolicyStatement) -> None:
    """A policy that never mentions cookies leaves every observed category undeclared (necessary,
    preferences, analytics, marketing) and the lifetimes too, and has no problems of its own."""
    findings = policy_findings(statement, [SESSIONID, LANG, GA, FBP])
    undeclared = by_type(findings, "policy_undeclared_category")
    assert [f.evidence["category"] for f in undeclared] == [
        "necessary",
        "preferences",
        "analytics",
        "marketing",
    ]
    assert {
        f.severity for f in undeclared if f.evidence["category"] in ("analytics", "marketing")
    } == {"medium"}
    marketing = undeclared[-1]
    assert marketing.cookie == "_fbp" and "never mentions cookies" in marketing.message
    assert [o["name"] for o in marketing.evidence["observed"]] == ["_fbp"]
    lifetime = by_type(findings, "policy_undeclared_lifetime")
    assert [f.severity for f in lifetime] == ["low"]
    assert lifetime[0].evidence["observed_count"] == 4
    assert findings == undeclared + lifetime  # no problems of its own


def assert_own_cookie_section_findings(statement: PolicyStatement) -> None:
    """A policy that declares preferences and analytics for cookies, session and persistent:
    of the observed categories only marketing is undeclared, and no lifetime is."""
    findings = policy_findings(statement, [SESSIONID, LANG, GA, FBP])
    undeclared = by_type(findings, "policy_undeclared_category")
    # Necessary cookies are covered by a policy that speaks of cookies at all.
    assert [f.evidence["category"] for f in undeclared] == ["marketing"]
    f = undeclared[0]
    assert "declares preferences, analytics for cookies, not marketing" in f.message
    policy_side = f.evidence["policy"]["declared_purposes"]
    assert {c["value"] for c in policy_side} == {"preferences", "analytics"}
    for claim in policy_side:
        assert_policy_evidence(statement, claim["evidence"])
    assert by_type(findings, "policy_undeclared_lifetime") == []


def assert_continued_use_findings(statement: PolicyStatement) -> None:
    """Compared with a session cookie, _ga and a third-party _fbp, the policy's problems become
    findings with both sides of the evidence: the policy's sentences and the observed cookies."""
    findings = policy_findings(statement, [SESSIONID, GA, FBP])
    assert {f.type for f in findings} == {
        "policy_implied_consent",
        "policy_browser_settings_consent",
        "policy_browser_only_withdrawal",  # deleting cookies in the browser is all it offers
        "policy_outdated_reference",
        "policy_transfer_outside_eea",
    }
    [implied] = by_type(findings, "policy_implied_consent")
    assert implied.severity == "medium"
    assert "2 cookie(s) that need consent observed, 2 of them before any choice" in implied.message
    assert [o["name"] for o in implied.evidence["observed"]] == ["_ga", "_fbp"]
    assert_policy_evidence(statement, implied.evidence["policy"])
    [transfer] = by_type(findings, "policy_transfer_outside_eea")
    assert transfer.severity == "info"
    assert [o["name"] for o in transfer.evidence["observed"]] == ["_fbp"]  # third party
    [outdated] = by_type(findings, "policy_outdated_reference")
    assert outdated.severity == "low" and outdated.evidence["reference"] == "personuppgiftslagen"
    assert outdated.evidence["observed"] == []


def assert_continued_use_to_dict(statement: PolicyStatement) -> None:
    """to_dict() is JSON with the summary, the claims and the text their offsets slice."""
    data = json.loads(json.dumps(statement.to_dict()))
    assert data["summary"]["purposes"] == ["necessary", "preferences", "analytics", "marketing"]
    assert data["summary"]["lifetimes"] == ["session", "persistent"]
    problem = next(p for p in data["problems"] if p["value"] == "policy_implied_consent")
    assert problem["severity"] == "medium"
    e = problem["evidence"][0]
    assert data["text"][e["start"] : e["end"]] == e["text"]


def assert_one_cookie_sentence_cli_json(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`cookie-scan policy PATH --json` of a Swedish policy whose one cookie sentence refers back
    to statistics and marketing, and which transfers data outside the EEA."""
    assert main(["policy", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["language"] == "sv"
    assert data["summary"]["mentions_cookies"] is True
    assert data["summary"]["purposes"] == ["analytics", "marketing"]
    assert data["summary"]["transfers_outside_eea"] is True
    for claim in data["purposes"]:
        for e in claim["evidence"]:
            assert data["text"][e["start"] : e["end"]] == e["text"]
