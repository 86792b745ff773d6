"""What a policy states about cookies: claims, each resting on sentences a person can check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from declaration.constants import PURPOSES

LIFETIMES = ("session", "persistent")
# Ways of obtaining consent that are no valid consent: the visitor never chose.
IMPLIED_CONSENT = ("continued_use", "accepting_terms", "browser_settings")

# The problems a policy can have: finding type -> (severity, what is wrong).
PROBLEMS = {
    "policy_implied_consent": (
        "medium",
        "the policy claims consent from continued use of the site (or from accepting its terms); "
        "that is not valid consent to cookies under the GDPR and the ePrivacy rules",
    ),
    "policy_browser_settings_consent": (
        "medium",
        "the policy relies on browser settings to give, refuse or withdraw consent to cookies; "
        "browser settings are not a valid, specific consent",
    ),
    "policy_no_withdrawal": (
        "medium",
        "the policy describes cookies but offers no way at all to withdraw consent to them: no "
        "cookie settings or banner, no contact, not even browser settings; GDPR Art. 7(3) "
        "requires that consent can be withdrawn at any time, as easily as it was given, and "
        "that the visitor is told how before consenting",
    ),
    "policy_browser_only_withdrawal": (
        "low",
        "the policy offers withdrawal of consent only through the browser; that is a route, but "
        "weaker than the banner: GDPR Art. 7(3) requires withdrawing to be as easy as giving "
        "consent, and browser settings differ per browser and device, act on every site's "
        "cookies at once and leave the consent the site recorded in place",
    ),
    "policy_outdated_reference": (
        "low",
        "the policy refers to repealed or renamed law or authorities",
    ),
    "policy_transfer_outside_eea": (
        "info",
        "the policy says personal data may be transferred to countries outside the EU/EEA",
    ),
}


class PolicyError(Exception):
    """A policy that cannot be read (missing file, unreachable URL, unknown format)."""


@dataclass(frozen=True)
class Evidence:
    """A sentence (or heading) of the normalized policy text: `text == statement.text[start:end]`."""

    start: int
    end: int
    text: str
    section: str | None = None  # the heading it stands under

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"start": self.start, "end": self.end, "text": self.text, "section": self.section}


@dataclass
class Claim:
    """One thing the policy says, with the words that triggered the rule and the sentences."""

    value: str  # a category, a lifetime class, a service name, a problem type, ...
    evidence: list[Evidence]
    terms: list[str] = field(default_factory=list)
    rule: str = ""  # which rule made it: "sentence", "heading", "refers back", ...
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "value": self.value,
            "rule": self.rule,
            "terms": list(self.terms),
            **self.detail,
            "evidence": [e.to_dict() for e in self.evidence],
        }


@dataclass
class PolicyStatement:
    """The structured statement of one privacy policy about cookies and consent."""

    text: str  # the normalized text every offset refers to
    language: str  # "sv" or "en"
    source: str | None = None
    technologies: list[Claim] = field(default_factory=list)  # cookies, local storage, pixels, ...
    cookie_denials: list[Claim] = field(default_factory=list)  # "we do not use cookies"
    purposes: list[Claim] = field(default_factory=list)
    purposes_denied: list[Claim] = field(default_factory=list)  # "no marketing cookies"
    lifetimes: list[Claim] = field(default_factory=list)
    durations: list[Claim] = field(default_factory=list)  # detail: seconds
    third_parties: list[Claim] = field(default_factory=list)  # detail: category
    partner_sharing: list[Claim] = field(default_factory=list)  # detail: purposes
    transfers: list[Claim] = field(default_factory=list)  # outside the EU/EEA
    consent: list[Claim] = field(default_factory=list)  # how consent is obtained
    withdrawal: list[Claim] = field(default_factory=list)  # how it is withdrawn (detail: via)
    problems: list[Claim] = field(default_factory=list)  # value: finding type

    @property
    def mentions_cookies(self) -> bool:
        """Whether cookies or similar technologies are mentioned at all."""
        return bool(self.technologies)

    @property
    def denies_cookies(self) -> bool:
        """The policy says no cookies are used and declares nothing about them."""
        return bool(self.cookie_denials) and not self.purposes and not self.lifetimes

    @property
    def declared_purposes(self) -> list[str]:
        """Categories declared for cookies, in the canonical order."""
        found = {c.value for c in self.purposes}
        return [p for p in PURPOSES if p in found]

    @property
    def denied_purposes(self) -> list[str]:
        """Categories the policy says cookies are not used for (and not declared elsewhere)."""
        found = {c.value for c in self.purposes_denied} - set(self.declared_purposes)
        return [p for p in PURPOSES if p in found]

    @property
    def declared_lifetimes(self) -> list[str]:
        """'session' and/or 'persistent'."""
        found = {c.value for c in self.lifetimes}
        return [x for x in LIFETIMES if x in found]

    @property
    def implied_consent(self) -> bool:
        """Consent said to follow from continued use, accepted terms or browser settings."""
        return any(c.value in IMPLIED_CONSENT for c in self.consent)

    @property
    def withdrawal_route(self) -> str:
        """'site' (settings, banner, link, contact), 'browser_only' or 'none'."""
        routes = {c.value for c in self.withdrawal}
        if routes - {"browser"}:
            return "site"
        return "browser_only" if routes else "none"

    @property
    def transfers_outside_eea(self) -> bool:
        """Whether the policy says data goes to countries outside the EU/EEA."""
        return bool(self.transfers)

    def problem(self, kind: str) -> list[Claim]:
        """The problems of one type (a finding type such as 'policy_implied_consent')."""
        return [p for p in self.problems if p.value == kind]

    def summary(self) -> dict[str, Any]:
        """The statement in a few fields, without evidence."""
        return {
            "mentions_cookies": self.mentions_cookies,
            "denies_cookies": self.denies_cookies,
            "technologies": sorted({c.value for c in self.technologies}),
            "lifetimes": self.declared_lifetimes,
            "durations": [c.detail["duration"] for c in self.durations],
            "purposes": self.declared_purposes,
            "purposes_denied": self.denied_purposes,
            "third_parties": list(dict.fromkeys(c.value for c in self.third_parties)),
            "shares_with_partners": bool(self.partner_sharing),
            "transfers_outside_eea": self.transfers_outside_eea,
            "consent": list(dict.fromkeys(c.value for c in self.consent)),
            "implied_consent": self.implied_consent,
            "withdrawal": list(dict.fromkeys(c.value for c in self.withdrawal)),
            "withdrawal_route": self.withdrawal_route,
            "problems": list(dict.fromkeys(c.value for c in self.problems)),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: summary, every claim with its evidence, and the normalized text."""
        claims = (
            "technologies",
            "cookie_denials",
            "purposes",
            "purposes_denied",
            "lifetimes",
            "durations",
            "third_parties",
            "partner_sharing",
            "transfers",
            "consent",
            "withdrawal",
            "problems",
        )
        return {
            "source": self.source,
            "language": self.language,
            "summary": self.summary(),
            **{name: [c.to_dict() for c in getattr(self, name)] for name in claims},
            "text": self.text,
        }
