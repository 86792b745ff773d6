"""Shared by the policy-analysis tests: where the policy texts are, the expected-row shape,
helpers that read claims and their evidence, and the cookies of a made-up scan."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scanner.model import Classification, CookieReport, Finding
from scanner.policy import Evidence, PolicyStatement
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
