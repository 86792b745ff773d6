"""Policy against scan: what the site was seen doing that its policy does not declare.

Every finding carries evidence on both sides: `evidence.policy` (the sentences, with offsets
into `report.policy.text`) and `evidence.observed` (the cookies the scan saw).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from declaration.constants import PURPOSES
from scanner.model import CookieReport, Finding
from scanner.policy.model import PROBLEMS, Claim, Evidence, PolicyStatement

MAX_OBSERVED = 25  # cookies listed in one finding's evidence; the count says how many in all
CATEGORY_SEVERITY = {
    "marketing": "medium",
    "analytics": "medium",
    "preferences": "low",
    "necessary": "low",
}


def _observed(cookies: list[CookieReport]) -> dict[str, Any]:
    return {
        "observed": [
            {
                "name": c.name,
                "domain": c.domain,
                "party": c.party,
                "category": c.classification.category,
                "classified_by": c.classification.source,
                "vendor": c.classification.vendor,
                "lifetime_class": c.lifetime_class,
                "requested_seconds": c.requested_seconds,
                "phases": list(c.phases),
            }
            for c in cookies[:MAX_OBSERVED]
        ],
        "observed_count": len(cookies),
    }


def _cited(evidence: Iterable[Evidence]) -> list[dict[str, Any]]:
    return [e.to_dict() for e in dict.fromkeys(evidence)]


def _claims(claims: list[Claim]) -> list[dict[str, Any]]:
    return [
        {"value": c.value, "rule": c.rule, "terms": c.terms, "evidence": _cited(c.evidence)}
        for c in claims
    ]


def _names(cookies: list[CookieReport], limit: int = 5) -> str:
    names = list(dict.fromkeys(c.name for c in cookies))
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _one(cookies: list[CookieReport]) -> dict[str, Any]:
    """cookie/domain/phase/page of a finding about exactly one cookie."""
    if len(cookies) != 1:
        return {}
    c = cookies[0]
    return {
        "cookie": c.name,
        "domain": c.domain,
        "phase": c.phases[0] if c.phases else None,
        "page": c.first_seen.get("page"),
        "setter": c.first_seen.get("setter"),
    }


def policy_findings(
    statement: PolicyStatement, cookie_reports: Iterable[CookieReport]
) -> list[Finding]:
    """Findings of a policy against the cookies a scan observed (and the policy's own problems)."""
    cookies = [c for c in cookie_reports if not c.refused]
    findings = _category_findings(statement, cookies) + _lifetime_findings(statement, cookies)
    for problem in statement.problems:
        findings.append(_problem_finding(problem, cookies))
    return findings


def _category_findings(statement: PolicyStatement, cookies: list[CookieReport]) -> list[Finding]:
    out = []
    declared = set(statement.declared_purposes)
    silent = not statement.mentions_cookies or statement.denies_cookies
    for category in PURPOSES:
        seen = [c for c in cookies if c.classification.category == category]
        if not seen:
            continue
        if category == "necessary":
            # Necessary cookies need no consent; a policy that speaks of cookies at all has
            # room for them. One that never mentions cookies (or denies them) does not.
            if not silent:
                continue
        elif category in declared:
            continue
        denied = [c for c in statement.purposes_denied if c.value == category]
        if silent:
            why = (
                "never mentions cookies"
                if not statement.cookie_denials
                else "says no cookies are used"
            )
        elif denied:
            why = f"says cookies are not used for {category}"
        else:
            listed = ", ".join(statement.declared_purposes) or "no purpose"
            why = f"declares {listed} for cookies, not {category}"
        policy_side: dict[str, Any] = {
            "declared_purposes": _claims(statement.purposes),
            "denied": _claims(denied),
        }
        if silent:
            policy_side["cookie_mentions"] = _claims(
                statement.technologies + statement.cookie_denials
            )
        out.append(
            Finding(
                "policy_undeclared_category",
                CATEGORY_SEVERITY[category],
                f"{len(seen)} {category} cookie(s) observed ({_names(seen)}) but the policy {why}",
                **_one(seen),
                evidence={"category": category, "policy": policy_side, **_observed(seen)},
            )
        )
    return out


def _lifetime_findings(statement: PolicyStatement, cookies: list[CookieReport]) -> list[Finding]:
    if not cookies:
        return []
    declared = set(statement.declared_lifetimes)
    persistent = [c for c in cookies if c.lifetime_class == "persistent"]
    session = [c for c in cookies if c.lifetime_class == "session"]
    policy_side = {
        "declared_lifetimes": _claims(statement.lifetimes),
        "durations": [
            {
                "duration": c.detail["duration"],
                "seconds": c.detail["seconds"],
                "evidence": _cited(c.evidence),
            }
            for c in statement.durations
        ],
    }
    out = []
    if not declared:
        out.append(
            Finding(
                "policy_undeclared_lifetime",
                "low",
                f"{len(cookies)} cookie(s) observed but the policy declares no cookie lifetime "
                "(session or persistent)",
                evidence={"declared": [], "policy": policy_side, **_observed(cookies)},
            )
        )
        return out
    if persistent and "persistent" not in declared:
        out.append(
            Finding(
                "policy_undeclared_lifetime",
                "medium",
                f"{len(persistent)} persistent cookie(s) observed ({_names(persistent)}) but the "
                "policy declares only session cookies",
                **_one(persistent),
                evidence={
                    "declared": sorted(declared),
                    "lifetime": "persistent",
                    "policy": policy_side,
                    **_observed(persistent),
                },
            )
        )
    if session and "session" not in declared:
        out.append(
            Finding(
                "policy_undeclared_lifetime",
                "low",
                f"{len(session)} session cookie(s) observed ({_names(session)}) but the policy "
                "declares only persistent cookies",
                **_one(session),
                evidence={
                    "declared": sorted(declared),
                    "lifetime": "session",
                    "policy": policy_side,
                    **_observed(session),
                },
            )
        )
    return out


def _problem_finding(problem: Claim, cookies: list[CookieReport]) -> Finding:
    kind = problem.value
    severity = problem.detail.get("severity") or PROBLEMS[kind][0]
    message = problem.detail.get("message") or PROBLEMS[kind][1]
    if kind == "policy_transfer_outside_eea":
        relevant = [c for c in cookies if c.party == "third"]
        note = f"; {len(relevant)} third-party cookie(s) observed" if relevant else ""
    elif kind == "policy_outdated_reference":
        relevant, note = [], ""
    else:
        # Consent problems matter for the cookies that need consent.
        relevant = [c for c in cookies if c.classification.category != "necessary"]
        before = [c for c in relevant if "pre-consent" in c.phases]
        note = f"; {len(relevant)} cookie(s) that need consent observed" if relevant else ""
        if before:
            note += f", {len(before)} of them before any choice"
    evidence: dict[str, Any] = {
        "policy": _cited(problem.evidence),
        "terms": problem.terms,
        **{k: v for k, v in problem.detail.items() if k not in ("severity", "message")},
        **_observed(relevant),
    }
    return Finding(kind, severity, message[0].upper() + message[1:] + note, evidence=evidence)
