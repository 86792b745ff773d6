"""From observations to conclusions: distinct cookies, their class, and the findings."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from declaration.constants import SEVERITIES
from declaration.durations import parse_duration
from declaration.loader import Declaration
from declaration.patterns import name_matches
from scanner.classify import classify, party
from scanner.model import (
    STORAGE_LABELS,
    Classification,
    CookieEvent,
    CookieReport,
    Finding,
    PhaseResult,
    StorageItem,
)
from scanner.observe import MAX_STORED_SECONDS, cookie_key, host_of, storage_ident

LIFETIME_TOLERANCE = 1.5
CONSENT_SEVERITY = {
    "marketing": "high",
    "analytics": "high",
    "preferences": "medium",
    "unknown": "medium",
}


@dataclass
class StorageReport:
    """One distinct storage key (kind, origin, key) across the scan."""

    kind: str
    origin: str
    key: str
    party: str
    classification: Classification
    phases: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)
    setter: str | None = None  # the script that first wrote the key, when the probe saw it


def _set_events(phase: PhaseResult) -> Iterable[CookieEvent]:
    """Events that set (not delete, not refused) a cookie in this phase's meaning."""
    if phase.action_at is not None and not phase.banner.clicked:
        # No banner was operated, so nothing here happened "after a reject" (or an accept);
        # the report says the banner was not found instead of blaming cookies on a click.
        return
    for visit in phase.pages:
        for event in visit.events:
            if event.refused or event.deletion:
                continue
            if phase.action_at is not None:
                if event.at < phase.action_at:
                    continue  # before the click: that is pre-consent behaviour
                # Set after the action only if new or changed; a cookie that was already there
                # and is merely re-sent unchanged was not set by the reject or accept.
                before = phase.before_action.get(cookie_key(event.name, event.domain, event.path))
                if before is not None and before == event.value:
                    continue
            yield event


def _jar_events(phase: PhaseResult) -> Iterable[CookieEvent]:
    """Cookies in the phase's jars that no observed write explains, as events of source "jar".

    The engines see Set-Cookie headers and page scripts; a service worker's CookieStore, or a
    path an engine misses, still leaves the cookie in the jar, which is read after every page.
    """
    if phase.action_at is not None and not phase.banner.clicked:
        return
    explained = {(e.name, e.domain) for v in phase.pages for e in v.events if not e.refused}
    for visit in phase.pages:
        for cookie in visit.jar:
            key = (cookie.name, cookie.domain)
            if key in explained:
                continue
            explained.add(key)  # the first page whose jar held it is where it was set
            if phase.action_at is not None:
                # Action phases read their jars after the click (the start page's again): an
                # unchanged value from before the click was not set by the reject or accept.
                before = phase.before_action.get(
                    cookie_key(cookie.name, cookie.domain, cookie.path)
                )
                if before is not None and before == cookie.value:
                    continue
            yield CookieEvent(
                name=cookie.name,
                value=cookie.value,
                domain=cookie.domain,
                path=cookie.path,
                source="jar",
                page_url=visit.final_url,
                frame_url=visit.final_url,
                secure=cookie.secure,
                http_only=cookie.http_only,
                same_site=cookie.same_site,
                # The jar holds the expiry it stored (at most 400 days), not the one asked for:
                # no requested lifetime, only whether there is one.
                jar_persistent=cookie.expires is not None,
                at=phase.action_at or 0.0,
            )


def _declared_lifetime_seconds(value: str | None) -> float | None:
    if not value or value == "session":
        return None
    return parse_duration(value).total_seconds()


class Analysis:
    """Builds the cookie table and the findings of a scan."""

    def __init__(
        self,
        start_url: str,
        phases: list[PhaseResult],
        declaration: Declaration | None = None,
        knowledge: Any = None,
    ) -> None:
        self.start_url = start_url
        self.site_host = host_of(start_url)
        self.phases = phases
        self.declaration = declaration
        self.knowledge = knowledge
        self.cookies: dict[tuple[str, str], CookieReport] = {}
        self.storage: dict[tuple[str, str, str], StorageReport] = {}
        self.refused: list[CookieEvent] = []
        self.findings: list[Finding] = []
        # The first event that set each cookie in each phase: where a phase's finding points.
        self.first_in_phase: dict[tuple[str, str, str], CookieEvent] = {}
        # Without a declaration the scanned host is the site: a third party's "sid" or
        # "lang" then says nothing about its purpose, as with declared domains.
        self.site_domains = tuple(declaration.data["domains"] if declaration else (self.site_host,))

    def classify(
        self,
        name: str,
        domain: str,
        storage: str = "cookie",
        setter: str | None = None,
        session: bool | None = None,
        value: str | None = None,
    ) -> Classification:
        """Category of one cookie or storage key (`setter`: the script that wrote it)."""
        return classify(
            name,
            domain,
            storage,
            declaration=self.declaration,
            knowledge=self.knowledge,
            site_domains=self.site_domains,
            setter=setter,
            session=session,
            value=value,
        )

    def run(self) -> Analysis:
        """Collect cookies and storage, then derive every finding."""
        for phase in self.phases:
            for event in _set_events(phase):
                self._add_cookie(event, phase.phase)
            for event in _jar_events(phase):
                self._add_cookie(event, phase.phase)
            for visit in phase.pages:
                self.refused.extend(e for e in visit.events if e.refused)
                for item in visit.storage:
                    self._add_storage(item, phase, visit.storage_setters)
        self._add_stored_lifetimes()
        self._findings()
        return self

    def _add_cookie(self, event: CookieEvent, phase: str) -> None:
        key = (event.name, event.domain)
        self.first_in_phase.setdefault((event.name, event.domain, phase), event)
        report = self.cookies.get(key)
        if report is None:
            which, registrable = party(event.domain, self.site_host)
            session = event.requested_seconds is None and not event.jar_persistent
            report = CookieReport(
                name=event.name,
                domain=event.domain,
                party=which,
                registrable_domain=registrable,
                lifetime_class="session" if session else "persistent",
                requested_seconds=event.requested_seconds,
                stored_seconds=None,
                classification=self.classify(
                    event.name,
                    event.domain,
                    setter=event.setter,
                    session=session,
                    value=event.value,
                ),
                phases=[],
                refused=False,
                refused_reasons=[],
                sources=[],
                setters=[],
                pages=[],
                first_seen={
                    "phase": phase,
                    "page": event.page_url,
                    "frame": event.frame_url,
                    "source": event.source,
                    "setter": event.setter or event.request_url,
                    "raw": event.raw,
                },
            )
            self.cookies[key] = report
        longer = event.requested_seconds is not None and (
            report.requested_seconds is None or event.requested_seconds > report.requested_seconds
        )
        if longer:
            report.requested_seconds = event.requested_seconds
        if (longer or event.jar_persistent) and report.lifetime_class == "session":
            report.lifetime_class = "persistent"
            if report.classification.guess is not None:
                # The guess rested on a session cookie, and this write gave it an expiry.
                report.classification = self.classify(
                    event.name, event.domain, setter=event.setter, session=False, value=event.value
                )
        for attr, value in (
            ("phases", phase),
            ("sources", event.source),
            ("setters", event.setter or event.request_url),
            ("pages", event.page_url),
        ):
            items = getattr(report, attr)
            if value and value not in items:
                items.append(value)

    def _add_storage(self, item: StorageItem, phase: PhaseResult, setters: dict[str, str]) -> None:
        ident = storage_ident(item.origin, item.kind, item.key)
        if phase.action_at is not None and ident in phase.storage_before_action:
            return
        key = (item.kind, item.origin, item.key)
        report = self.storage.get(key)
        if report is None:
            host = host_of(item.origin)
            setter = setters.get(ident)
            report = StorageReport(
                item.kind,
                item.origin,
                item.key,
                party(host, self.site_host)[0],
                self.classify(item.key, host, item.kind, setter=setter),
                setter=setter,
            )
            self.storage[key] = report
        if phase.phase not in report.phases:
            report.phases.append(phase.phase)
        if item.page_url not in report.pages:
            report.pages.append(item.page_url)

    def _add_stored_lifetimes(self) -> None:
        # The stored lifetime counts from when the cookie was set, not from the end of the
        # scan: events carry monotonic times, jars carry epoch expiries.
        epoch_offset = time.time() - time.monotonic()
        for phase in self.phases:
            for visit in phase.pages:
                set_at: dict[tuple[str, str], float] = {}
                for event in visit.events:
                    if not event.refused and not event.deletion:
                        key = (event.name, event.domain)
                        set_at[key] = max(set_at.get(key, 0.0), event.at + epoch_offset)
                for cookie in visit.jar:
                    key = (cookie.name, cookie.domain)
                    report = self.cookies.get(key)
                    if report is None or cookie.expires is None:
                        continue
                    if key in set_at:
                        start = set_at[key]
                    elif "jar" in report.sources:
                        start = time.time()  # no write seen: what it has left as the scan ends
                    else:
                        continue
                    # Whole seconds: the clocks of browser and scanner differ by milliseconds.
                    stored = min(MAX_STORED_SECONDS, max(0, round(cookie.expires - start)))
                    report.stored_seconds = max(report.stored_seconds or 0, stored)

    # -- findings ---------------------------------------------------------------------------

    def _add(self, finding: Finding) -> None:
        self.findings.append(finding)

    def _findings(self) -> None:
        for report in self.cookies.values():
            self._consent_findings(report)
            if self.declaration is not None:
                self._declaration_findings(report)
            if report.classification.category == "unknown":
                guess = report.classification.guess
                self._add(
                    Finding(
                        "unclassified",
                        "low",
                        f"{report.name} ({report.domain}) could not be classified"
                        + (f" (best guess: {guess})" if guess else ""),
                        cookie=report.name,
                        domain=report.domain,
                        phase=report.phases[0],
                        page=report.first_seen["page"],
                        setter=report.first_seen["setter"],
                        evidence={"guess": guess, "reason": report.classification.reason}
                        if guess
                        else {},
                    )
                )
            self._third_party_write(report)
        for item in self.storage.values():
            category = item.classification.category
            if category in ("analytics", "marketing"):
                for phase in item.phases:
                    if phase in ("pre-consent", "after-reject"):
                        self._add(
                            Finding(
                                "pre_consent" if phase == "pre-consent" else "after_reject",
                                CONSENT_SEVERITY[category],
                                f"{STORAGE_LABELS[item.kind]} {item.key} ({category}) written "
                                + (
                                    "before consent" if phase == "pre-consent" else "after a reject"
                                ),
                                cookie=item.key,
                                domain=host_of(item.origin),
                                phase=phase,
                                page=item.pages[0],
                                evidence={"storage": item.kind, "origin": item.origin},
                            )
                        )
        if self.declaration is not None:
            self._declared_not_found()
        self._banner_findings()
        self.findings.sort(key=lambda f: (-SEVERITIES.index(f.severity), f.type, f.cookie or ""))

    def _banner_findings(self) -> None:
        # Once per scan: the first phase whose banner showed accept but no reject it knows.
        for phase in self.phases:
            banner = phase.banner
            if banner.found and banner.reject_on_first_layer is False:
                self._add(
                    Finding(
                        "no_reject_on_first_layer",
                        "medium",
                        "the banner's first layer has an accept button but no reject button "
                        "the scanner recognises: refusing takes more steps than accepting",
                        phase=phase.phase,
                        page=phase.pages[0].url if phase.pages else None,
                        evidence={"kind": banner.kind},
                    )
                )
                return

    def _consent_findings(self, report: CookieReport) -> None:
        category = report.classification.category
        if category == "necessary":
            return
        for phase, kind, when in (
            ("pre-consent", "pre_consent", "before any consent"),
            ("after-reject", "after_reject", "after the visitor rejected"),
        ):
            if phase in report.phases:
                first = self.first_in_phase.get((report.name, report.domain, phase))
                self._add(
                    Finding(
                        kind,
                        CONSENT_SEVERITY[category],
                        f"{report.name} ({category}, {report.party} party) was set {when}",
                        cookie=report.name,
                        domain=report.domain,
                        phase=phase,
                        page=first.page_url if first else None,
                        setter=(first.setter or first.request_url) if first else None,
                        evidence={
                            "category": category,
                            "classified_by": report.classification.source,
                            "vendor": report.classification.vendor,
                            "sources": report.sources,
                            "setters": report.setters,
                        },
                    )
                )

    def _declaration_findings(self, report: CookieReport) -> None:
        cls = report.classification
        if cls.source != "declared":
            self._add(
                Finding(
                    "undeclared",
                    "medium",
                    f"{report.name} ({report.domain}) is set but not declared",
                    cookie=report.name,
                    domain=report.domain,
                    phase=report.phases[0],
                    page=report.first_seen["page"],
                    setter=report.first_seen["setter"],
                    evidence={"observed_category": cls.category, "vendor": cls.vendor},
                )
            )
            return
        known = self.knowledge.lookup(report.name, report.domain) if self.knowledge else None
        if known is not None and known.category != cls.declared_category:
            self._add(
                Finding(
                    "category_mismatch",
                    "medium",
                    f"{report.name} is declared {cls.declared_category} but is a {known.category} "
                    f"cookie ({known.vendor})",
                    cookie=report.name,
                    domain=report.domain,
                    phase=report.phases[0],
                    evidence={
                        "declared": cls.declared_category,
                        "observed": known.category,
                        "vendor": known.vendor,
                    },
                )
            )
        declared = _declared_lifetime_seconds(cls.declared_lifetime)
        requested = report.requested_seconds
        session = report.lifetime_class == "session"
        # A cookie seen only in the jar has no requested lifetime; what the jar holds is the
        # least it asked for.
        lives = requested if requested is not None else report.stored_seconds
        problem = None
        if declared is None and not session:
            problem = "declared as a session cookie but is persistent"
        elif declared is not None and session:
            problem = "declared persistent but is a session cookie"
        elif declared is not None and lives is not None and lives > declared * LIFETIME_TOLERANCE:
            problem = f"lives {lives / 86400:.0f} days, declared {cls.declared_lifetime}"
        if problem:
            self._add(
                Finding(
                    "lifetime_mismatch",
                    "medium",
                    f"{report.name} {problem}",
                    cookie=report.name,
                    domain=report.domain,
                    phase=report.phases[0],
                    evidence={
                        "declared": cls.declared_lifetime,
                        "requested_seconds": requested,
                        "stored_seconds": report.stored_seconds,
                    },
                )
            )

    def _third_party_write(self, report: CookieReport) -> None:
        if report.party != "first":
            return
        for setter in report.setters:
            if "script" not in report.sources and "cookiestore" not in report.sources:
                return
            host = host_of(setter)
            if host and party(host, self.site_host)[0] == "third":
                self._add(
                    Finding(
                        "third_party_first_party_write",
                        "low",
                        f"{report.name} is a first-party cookie written by a third-party script "
                        f"from {host}",
                        cookie=report.name,
                        domain=report.domain,
                        phase=report.phases[0],
                        setter=setter,
                        evidence={"script_host": host},
                    )
                )
                return

    def _declared_not_found(self) -> None:
        names = {name for name, _ in self.cookies}
        for i, cookie in enumerate(self.declaration.data.get("cookies") or []):
            if cookie.get("storage", "cookie") != "cookie":
                keys = {key for _, _, key in self.storage}
                if cookie.get("name") in keys or (
                    cookie.get("name_pattern")
                    and any(name_matches(cookie["name_pattern"], k) for k in keys)
                ):
                    continue
            elif cookie.get("name") in names or (
                cookie.get("name_pattern")
                and any(name_matches(cookie["name_pattern"], n) for n in names)
            ):
                continue
            label = cookie.get("name") or cookie.get("name_pattern")
            self._add(
                Finding(
                    "declared_not_found",
                    "low",
                    f"{label} is declared but was not seen in any phase",
                    cookie=label,
                    evidence={"declaration_index": i, "category": cookie.get("category")},
                )
            )
