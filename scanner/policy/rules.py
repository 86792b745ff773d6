"""The extraction: from a segmented policy to a PolicyStatement, one explainable rule at a time.

Which sentences speak about cookies (the *cookie context*):
- a sentence that names cookies or a similar technology (local storage, pixels, web beacons,
  "similar technologies", a tool on the site that records clicks and visit times, or an
  analytics service such as Google Analytics or Hotjar);
- every sentence under a heading that names cookies ("Användning av cookies");
- a sentence that continues a cookie sentence of its paragraph ("Sådana cookies ...", "Vi kan
  använda den informationen ...").

Which of those *declare* something (statements): not headings, not definitions ("En cookie är
en liten textfil ..."), and in a glossary only first-person sentences ("Vi kan placera
cookies ..."). Purposes of a statement come from its own words, from the heading of its
section ("För marknadsföring och personliggjorda erbjudanden"), or, for a sentence that refers
back ("Detta kan även omfatta information vi får genom cookies"), from the sentences before
it in its paragraph. A purpose word under a negation in the same clause ("vi använder inte
cookies för marknadsföring") declares nothing, and is recorded as denied.

Statements about other personal data (e-mail marketing to customers, retention of customer
records) are outside the cookie context, so their purposes and durations never count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from scanner.policy.lexicon import (
    AUTHORITY_RENAMED,
    DATAINSPEKTIONEN,
    DATAINSPEKTIONEN_MESSAGE,
    DIRECTIVE_2016_680,
    LEXICONS,
    OUTDATED,
    SERVICES,
    URL,
    Lexicon,
    duration_seconds,
)
from scanner.policy.model import PROBLEMS, Claim, Evidence, PolicyStatement
from scanner.policy.text import Document, Sentence

MAX_EVIDENCE = 3  # sentences cited for a claim of absence (no withdrawal)
# A list entry or a field that starts with a label: "• Statistik: Google Analytics ...".
_LABEL = re.compile(r"^[\W\d]*([^:|]{2,40}?)\s*:\s")
_BULLET_START = re.compile(r"^\s*[\u2022\u00b7\u25aa\u25e6\u2023\u2219*\-\u2013\u2014]\s")
_LABEL_EDGES = re.compile(r"^[\W\d_]+|[\W\d_]+$")
# How a browser-only withdrawal is offered, in the finding's words.
_BROWSER_ONLY = {
    "browser_settings": "by changing browser settings",
    "deleting_cookies": "by deleting cookies in the browser",
    "browser_settings_and_deleting_cookies": "by changing browser settings or deleting cookies",
}


@dataclass
class _Hit:
    value: str
    term: str
    start: int
    end: int


@dataclass
class _Info:
    """What the rules know about one sentence."""

    sentence: Sentence
    masked: str  # the sentence with URLs and e-mail addresses blanked
    techs: list[_Hit] = field(default_factory=list)
    context: bool = False  # speaks about cookies or similar technologies
    glossary: bool = False
    first_person: bool = False
    definition: bool = False

    @property
    def statement(self) -> bool:
        """Declares what the site does with cookies (not a definition, not a glossary entry)."""
        s = self.sentence
        return self.context and not s.heading and not self.definition and self.declares

    @property
    def declares(self) -> bool:
        """Outside a glossary, or a first-person sentence in it."""
        return not self.glossary or self.first_person


def _mask(text: str) -> str:
    return URL.sub(lambda m: " " * len(m.group()), text)


def _negated(lex: Lexicon, text: str, pos: int, negation: re.Pattern[str] | None = None) -> bool:
    """A negation between the start of the clause and `pos`."""
    start = 0
    for brk in lex.clause_break.finditer(text, 0, pos):
        start = brk.end()
    return bool((negation or lex.negation).search(text, start, pos))


def _hits(table: tuple[tuple[str, re.Pattern[str]], ...], text: str) -> list[_Hit]:
    hits = [
        _Hit(value, m.group(), m.start(), m.end())
        for value, pattern in table
        for m in pattern.finditer(text)
    ]
    # The longest reading wins: "anonym demografisk profilering" is analytics, and the
    # "profilering" inside it is not also marketing.
    return [
        h
        for h in hits
        if not any(
            o is not h
            and o.value != h.value
            and o.start <= h.start
            and h.end <= o.end
            and (o.end - o.start) > (h.end - h.start)
            for o in hits
        )
    ]


class _Extractor:
    def __init__(self, doc: Document, source: str | None) -> None:
        self.doc = doc
        self.lex = LEXICONS.get(doc.language, LEXICONS["en"])
        masked = _mask(doc.text)
        self.infos = [_Info(s, masked[s.start : s.end]) for s in doc.sentences]
        self.statement = PolicyStatement(text=doc.text, language=doc.language, source=source)
        self._categories: dict[int, list[_Hit]] = {}
        self._claim_index: dict[tuple[int, str, tuple[Evidence, ...], str], Claim] = {}
        self._lists: dict[int, bool] = {}  # list entry -> whether its intro is a cookie sentence
        self._headings = [i for i in self.infos if i.sentence.heading]
        self._heading_at = {info.sentence.index: n for n, info in enumerate(self._headings)}

    # -- helpers --------------------------------------------------------------------------------

    def evidence(self, info: _Info) -> Evidence:
        s = info.sentence
        heading = self.doc.heading_of(s)
        return Evidence(s.start, s.end, s.text, heading.text if heading else None)

    def heading_info(self, info: _Info) -> _Info | None:
        s = info.sentence
        return None if s.section is None else self.infos[s.section]

    def categories(self, info: _Info) -> list[_Hit]:
        """Categories named on their own: the whole heading "Nödvändiga", a table cell
        "Targeting", the label of "• Statistik: Google Analytics ..."."""
        cached = self._categories.get(info.sentence.index)
        if cached is not None:
            return cached
        text = info.masked
        if info.sentence.heading:
            labels = [text]
        elif "|" in text:
            labels = text.split("|")
        else:
            m = _LABEL.match(text)
            # "Marknadsföring: vi använder inga sådana kakor" names the category to deny it.
            labels = [m.group(1)] if m and not self.lex.negation.search(text, m.end()) else []
        hits = []
        for label in labels:
            label = _LABEL_EDGES.sub("", label)
            for value, pattern in self.lex.category_names:
                if pattern.fullmatch(label):
                    hits.append(_Hit(value, label, 0, 0))
        self._categories[info.sentence.index] = hits
        return hits

    def cookie_heading(self, heading: _Info) -> bool:
        """A heading that names cookies, or a category heading ("Nödvändiga", "Analytics")
        standing under one: the sentences below it speak about cookies."""
        if any(h.value == "cookies" for h in heading.techs):
            return True
        if not self.categories(heading):
            return False
        headings = self._headings
        at = self._heading_at[heading.sentence.index]
        # One of a run of category headings ("Nödvändiga", "Statistik", ...): a lone
        # "Marknadsföring" after the cookie section is more likely about e-mail to customers.
        neighbours = headings[max(0, at - 1) : at] + headings[at + 1 : at + 2]
        if not any(self.categories(n) for n in neighbours):
            return False
        for other in reversed(headings[:at]):
            if not self.categories(other):
                return any(h.value == "cookies" for h in other.techs)
        return False

    def cookie_document(self) -> bool:
        """A page whose title names cookies and not personal data in general ("Cookie
        Policy", "Kakor på webbplatsen"): every sentence of it speaks about cookies."""
        first = self.infos[0] if self.infos else None
        return (
            first is not None
            and first.sentence.heading
            and any(h.value == "cookies" for h in first.techs)
            and not self.lex.privacy_title.search(first.masked)
        )

    def _add(
        self,
        claims: list[Claim],
        value: str,
        evidence: list[Evidence],
        terms: list[str],
        rule: str,
        **detail,
    ) -> Claim:
        """One claim per value and cited sentences; more terms for the same merge into it."""
        # Found through an index, not by scanning the list: a policy of thousands of list
        # entries makes thousands of claims.
        key = (id(claims), value, tuple(evidence), rule)
        claim = self._claim_index.get(key)
        if claim is not None:
            claim.terms.extend(t for t in terms if t not in claim.terms)
            return claim
        claim = Claim(value, evidence, list(dict.fromkeys(terms)), rule, dict(detail))
        claims.append(claim)
        self._claim_index[key] = claim
        return claim

    @staticmethod
    def _merge(
        claims: list[Claim], value: str, evidence: Evidence, terms: list[str], rule: str, **detail
    ) -> Claim:
        """One claim per value, citing every sentence that supports it."""
        for claim in claims:
            if claim.value == value:
                if evidence not in claim.evidence:
                    claim.evidence.append(evidence)
                claim.terms.extend(t for t in terms if t not in claim.terms)
                return claim
        claim = Claim(value, [evidence], list(dict.fromkeys(terms)), rule, dict(detail))
        claims.append(claim)
        return claim

    # -- passes ---------------------------------------------------------------------------------

    def run(self) -> PolicyStatement:
        self.context()
        self.technologies()
        self.denials()
        self.purposes()
        self.lifetimes()
        self.third_parties()
        self.transfers()
        self.partners()
        self.consent()
        self.withdrawal()
        self.problems()
        return self.statement

    def context(self) -> None:
        lex = self.lex
        for info in self.infos:
            for tech, pattern in lex.technologies:
                info.techs += [
                    _Hit(tech, m.group(), m.start(), m.end()) for m in pattern.finditer(info.masked)
                ]
            tracking = lex.tracking_service.search(info.masked)
            if tracking and not info.sentence.heading:
                info.techs.append(
                    _Hit("tracking_service", tracking.group(), tracking.start(), tracking.end())
                )
            if not info.sentence.heading:
                # An analytics service named at work ("Vi använder Google Analytics för att ...")
                # is a tracking technology on the site, like the tool of rule 1.
                for _, pattern, category in SERVICES:
                    m = pattern.search(info.masked) if category == "analytics" else None
                    if m:
                        info.techs.append(_Hit("tracking_service", m.group(), m.start(), m.end()))
            info.first_person = bool(lex.first_person.search(info.masked))
            info.definition = bool(lex.definition.search(info.masked))
        whole = self.cookie_document()
        for info in self.infos:
            s = info.sentence
            heading = self.heading_info(info)
            info.glossary = heading is not None and bool(
                lex.glossary_heading.search(heading.masked)
            )
            if info.techs:
                info.context = True
            elif whole and not s.heading:
                info.context = True  # on a page about cookies
            elif heading is not None and not s.heading and self.cookie_heading(heading):
                info.context = True  # under a heading that names cookies (or a category of them)
            elif not s.heading and s.index > 0:
                before = self.infos[s.index - 1]
                info.context = (
                    before.sentence.paragraph == s.paragraph
                    and before.context
                    and bool(lex.continues.search(info.masked))
                ) or self._listed(info)

    def _listed(self, info: _Info) -> bool:
        """A list entry under a cookie sentence that introduces the list ("We use cookies to:")."""
        index = info.sentence.index
        if not _BULLET_START.match(info.sentence.text) or index == 0:
            return False
        other = self.infos[index - 1]
        if other.sentence.heading:
            return False
        if _BULLET_START.match(other.sentence.text):
            listed = self._lists.get(index - 1, False)  # the entry before has the same intro
        else:
            listed = other.context and other.sentence.text.rstrip().endswith(":")
        self._lists[index] = listed
        return listed

    def technologies(self) -> None:
        for info in self.infos:
            for hit in info.techs:
                self._merge(
                    self.statement.technologies,
                    hit.value,
                    self.evidence(info),
                    [hit.term],
                    "mention",
                )

    def denials(self) -> None:
        lex = self.lex
        for info in self.infos:
            if info.sentence.heading or not info.declares:
                continue
            use = lex.negated_use.search(info.masked)
            if not use:
                continue
            rest = info.masked[use.start() :]
            denied = [h for h in _hits(lex.purposes, rest) if _negated(lex, rest, h.start)]
            for hit in denied:
                self._add(
                    self.statement.purposes_denied,
                    hit.value,
                    [self.evidence(info)],
                    [hit.term],
                    "negated",
                )
            if not denied and any(h.start >= use.start() for h in info.techs):
                self._add(
                    self.statement.cookie_denials,
                    "cookies",
                    [self.evidence(info)],
                    [use.group()],
                    "negated",
                )

    def _positive(self, info: _Info) -> list[_Hit]:
        return [
            h
            for h in _hits(self.lex.purposes, info.masked)
            if not _negated(self.lex, info.masked, h.start)
        ]

    def _denied(self, info: _Info) -> list[_Hit]:
        """Purposes negated right before them: "inte för marknadsföring", "no marketing cookies"."""
        lex = self.lex
        out = []
        for hit in _hits(lex.purposes, info.masked):
            before = info.masked[max(0, hit.start - 40) : hit.start]
            if lex.denial.search(before):
                out.append(hit)
        return out

    def purposes(self) -> None:
        lex = self.lex
        for info in self.infos:
            if not info.statement:
                continue
            here = self.evidence(info)
            for hit in self._denied(info):
                self._add(self.statement.purposes_denied, hit.value, [here], [hit.term], "negated")
            own = self._positive(info)
            for hit in own:
                self._add(self.statement.purposes, hit.value, [here], [hit.term], "sentence")
            for hit in self.categories(info):
                self._add(self.statement.purposes, hit.value, [here], [hit.term], "category")
            heading = self.heading_info(info)
            # "Advertising cookies" over "We do not use advertising cookies." declares nothing.
            denied = {h.value for h in _hits(lex.purposes, info.masked)} - {h.value for h in own}
            if heading is not None and not lex.negated_use.search(info.masked):
                for hit in self._positive(heading) + self.categories(heading):
                    if hit.value in denied:
                        continue
                    self._add(
                        self.statement.purposes,
                        hit.value,
                        [self.evidence(heading), here],
                        [hit.term],
                        "heading",
                    )
            s = info.sentence
            refers_back = (
                not own
                and any(h.value == "cookies" for h in info.techs)
                and lex.refers_back.search(info.masked)
                and lex.also.search(info.masked)
            )
            if refers_back:
                before = [
                    self.infos[i]
                    for i in range(s.index)
                    if self.infos[i].sentence.paragraph == s.paragraph
                    and not self.infos[i].sentence.heading
                ]
                for hit_info in before:
                    for hit in self._positive(hit_info):
                        self._add(
                            self.statement.purposes,
                            hit.value,
                            [self.evidence(hit_info), here],
                            [hit.term],
                            "refers back",
                        )

    def lifetimes(self) -> None:
        lex = self.lex
        for info in self.infos:
            if not info.context or info.sentence.heading or not info.declares:
                continue
            here = self.evidence(info)
            for hit in _hits(lex.lifetimes, info.masked):
                if not _negated(lex, info.masked, hit.start, lex.lifetime_negation):
                    self._add(self.statement.lifetimes, hit.value, [here], [hit.term], "sentence")
            for m in lex.duration.finditer(info.masked):
                number = m.group("number") or m.group("word")
                seconds = duration_seconds(lex, number, m.group("unit"))
                if seconds is None or seconds <= 0:
                    continue
                self._add(
                    self.statement.durations,
                    m.group().strip(),
                    [here],
                    [m.group().strip()],
                    "sentence",
                    duration=m.group().strip(),
                    seconds=seconds,
                )
                # A cookie kept for a stated time is a persistent cookie.
                self._add(
                    self.statement.lifetimes, "persistent", [here], [m.group().strip()], "duration"
                )

    def third_parties(self) -> None:
        for info in self.infos:
            hits = [
                _Hit(name, m.group(), m.start(), m.end())
                for name, pattern, _ in SERVICES
                for m in pattern.finditer(info.masked)
            ]
            # "Google" inside "Google Analytics" is the same service, named once.
            hits = [
                h
                for h in hits
                if not any(
                    o is not h
                    and o.start <= h.start
                    and h.end <= o.end
                    and o.end - o.start > h.end - h.start
                    for o in hits
                )
            ]
            for hit in hits:
                category = next(c for name, _, c in SERVICES if name == hit.value)
                claim = self._merge(
                    self.statement.third_parties, hit.value, self.evidence(info), [hit.term], "named",
                    category=category, cookie_context=False,
                )  # fmt: skip
                claim.detail["cookie_context"] = claim.detail["cookie_context"] or info.context

    def transfers(self) -> None:
        lex = self.lex
        for info in self.infos:
            if info.sentence.heading:
                continue
            for m in lex.transfer.finditer(info.masked):
                if not _negated(lex, info.masked, m.start()):
                    self._add(
                        self.statement.transfers,
                        "outside_eea",
                        [self.evidence(info)],
                        [m.group()],
                        "sentence",
                    )

    def partners(self) -> None:
        lex = self.lex
        for info in self.infos:
            if info.sentence.heading:
                continue
            partner = lex.partner.search(info.masked)
            if not partner or _negated(lex, info.masked, partner.start()):
                continue
            share = lex.share.search(info.masked)
            if share and _negated(lex, info.masked, share.start()):
                continue
            if share or info.context:
                purposes = sorted({h.value for h in self._positive(info)})
                terms = [partner.group()] + ([share.group()] if share else [])
                self._add(
                    self.statement.partner_sharing, "partners", [self.evidence(info)], terms,
                    "shares" if share else "cookie sentence", purposes=purposes, cookie_context=info.context,
                )  # fmt: skip

    def consent(self) -> None:
        lex = self.lex
        st = self.statement
        for info in self.infos:
            if info.sentence.heading or not info.declares:
                continue
            here = [self.evidence(info)]
            text = info.masked
            for value, pattern in (
                ("continued_use", lex.implied_consent),
                ("accepting_terms", lex.terms_consent),
            ):
                m = pattern.search(text)
                if m:
                    self._add(
                        st.consent,
                        value,
                        here,
                        [m.group()],
                        "sentence",
                        cookie_context=info.context,
                    )
            m = lex.browser_consent.search(text)
            if m:
                self._add(
                    st.consent,
                    "browser_settings",
                    here,
                    [m.group()],
                    "sentence",
                    cookie_context=info.context,
                )
            if info.context and lex.browser.search(text):
                m = lex.browser_refusal.search(text)
                if m:
                    self._add(
                        st.consent,
                        "refuse_in_browser",
                        here,
                        [m.group()],
                        "sentence",
                        cookie_context=True,
                    )
            m = lex.site_consent.search(text)
            if m and not _negated(lex, text, m.start()):
                self._add(
                    st.consent,
                    "consent_tool",
                    here,
                    [m.group()],
                    "sentence",
                    cookie_context=info.context,
                )
            m = lex.conditional_consent.search(text)
            if m and info.context:
                self._add(
                    st.consent, "on_acceptance", here, [m.group()], "sentence", cookie_context=True
                )

    def withdrawal(self) -> None:
        lex = self.lex
        for info in self.infos:
            if info.sentence.heading or not info.declares:
                continue
            text = info.masked
            here = [self.evidence(info)]
            m = lex.withdrawal.search(text)
            if m and not _negated(lex, text, m.start()):
                if lex.browser.search(text):
                    via = "browser"
                elif lex.via_site.search(text):
                    via = "site"
                elif lex.via_contact.search(text):
                    via = "contact"
                else:
                    via = "unspecified"
                self._add(
                    self.statement.withdrawal,
                    via,
                    here,
                    [m.group()],
                    "sentence",
                    cookie_context=info.context,
                )
            m = lex.cookie_removal.search(text)
            if m and info.context and lex.manual.search(text):
                self._add(
                    self.statement.withdrawal,
                    "browser",
                    here,
                    [m.group()],
                    "delete cookies",
                    cookie_context=True,
                )

    def problems(self) -> None:
        st = self.statement
        implied = [c for c in st.consent if c.value in ("continued_use", "accepting_terms")]
        if implied:
            self._problem("policy_implied_consent", implied)
        browser = [c for c in st.consent if c.value == "browser_settings"]
        refusal = [c for c in st.consent if c.value == "refuse_in_browser"]
        tool = [
            c for c in st.consent if c.value == "consent_tool" and c.detail.get("cookie_context")
        ]
        # Pointing to the browser is a problem when consent is said to come from it, or when it
        # is the only way offered to say no: with a consent tool it is merely extra advice.
        if browser or (refusal and not tool):
            self._problem("policy_browser_settings_consent", browser + ([] if tool else refusal))
        uses = [i for i in self.infos if i.statement]
        if uses and not st.withdrawal and not st.denies_cookies:
            cited = [c.evidence[-1] for c in st.purposes] or [self.evidence(i) for i in uses]
            cited = list(dict.fromkeys(cited))[:MAX_EVIDENCE]
            st.problems.append(
                Claim(
                    "policy_no_withdrawal",
                    cited,
                    [],
                    "absence",
                    self._detail("policy_no_withdrawal", offers="nothing"),
                )
            )
        elif uses and st.withdrawal_route == "browser_only":
            self._browser_only(st.withdrawal)
        self._outdated()
        if st.transfers:
            self._problem("policy_transfer_outside_eea", st.transfers)

    def _browser_only(self, routes: list[Claim]) -> None:
        """Withdrawal only through the browser: a route, weaker than the banner; the message
        says which (browser settings, deleting cookies, or both)."""
        texts = [e.text for c in routes for e in c.evidence]
        deleting = any(self.lex.deletion.search(t) for t in texts)
        settings = any(not self.lex.deletion.search(t) for t in texts) or any(
            self.lex.browser_refusal.search(t) for t in texts
        )
        offers = (
            "browser_settings_and_deleting_cookies"
            if deleting and settings
            else "deleting_cookies"
            if deleting
            else "browser_settings"
        )
        _, default = PROBLEMS["policy_browser_only_withdrawal"]
        message = default.replace("only through the browser", "only " + _BROWSER_ONLY[offers])
        claim = Claim(
            "policy_browser_only_withdrawal",
            list(dict.fromkeys(e for c in routes for e in c.evidence)),
            list(dict.fromkeys(t for c in routes for t in c.terms)),
            "sentence",
            self._detail("policy_browser_only_withdrawal", message, offers=offers),
        )
        self.statement.problems.append(claim)

    @staticmethod
    def _detail(kind: str, message: str | None = None, **extra) -> dict:
        severity, default = PROBLEMS[kind]
        return {"severity": severity, "message": message or default, **extra}

    def _problem(self, kind: str, claims: list[Claim]) -> None:
        evidence = list(dict.fromkeys(e for c in claims for e in c.evidence))
        terms = list(dict.fromkeys(t for c in claims for t in c.terms))
        self.statement.problems.append(Claim(kind, evidence, terms, "sentence", self._detail(kind)))

    def _outdated(self) -> None:
        found: dict[str, Claim] = {}

        def add(kind: str, message: str, info: _Info, term: str) -> None:
            claim = found.get(kind)
            if claim is None:
                claim = found[kind] = Claim(
                    "policy_outdated_reference", [], [], "sentence",
                    self._detail("policy_outdated_reference", message, reference=kind),
                )  # fmt: skip
            if self.evidence(info) not in claim.evidence:
                claim.evidence.append(self.evidence(info))
            if term not in claim.terms:
                claim.terms.append(term)

        for info in self.infos:
            text = info.masked
            for kind, pattern, message in OUTDATED:
                m = pattern.search(text)
                if m and not (kind == "directive_95_46" and DIRECTIVE_2016_680.search(text)):
                    add(kind, message, info, m.group())
            m = DATAINSPEKTIONEN.search(text)
            # Named as the authority to turn to today, not as history ("utfärdat av").
            if m and self.lex.complaint.search(text) and not AUTHORITY_RENAMED.search(text):
                add("datainspektionen", DATAINSPEKTIONEN_MESSAGE, info, m.group())
        self.statement.problems.extend(found.values())


def extract(doc: Document, source: str | None = None) -> PolicyStatement:
    """The statement of a segmented policy."""
    return _Extractor(doc, source).run()
