"""Privacy-policy analysis: the five Swedish seed policies give exactly the table of
../shared/seeds/README.md, English and tricky policies written here give what a careful reader
finds, every claim cites sentences whose offsets slice the normalized text back, and the
policy is compared with a scan's cookies (policy_findings, `cookie-scan URL --policy`,
`cookie-scan policy`)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from scanner.cli import main
from scanner.model import Classification, CookieReport, Finding
from scanner.policy import (
    Evidence,
    PolicyError,
    PolicyStatement,
    analyze_html,
    analyze_text,
    load_policy,
    policy_findings,
)
from scanner.policy.text import detect_language, segment
from tests.conftest import _missing

# The seeds are shared test data next to the repository: read in place, never copied.
SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
DAY = 86400


def seed(stem: str) -> Path:
    """One seed policy file, or a skip (a failure with CI=true) when the folder is missing."""
    if not SEEDS.is_dir():
        _missing(f"the seed policies are not at {SEEDS} (../shared/seeds next to the repository)")
    path = SEEDS / f"{stem}.txt"
    if not path.is_file():
        _missing(f"seed policy {path} is missing")
    return path


@dataclass(frozen=True)
class Row:
    """One row of the seeds' README table, plus the problems a careful reader flags."""

    mentions_cookies: bool
    lifetimes: list[str]
    purposes: list[str]
    problems: set[str]
    outdated: set[str]  # kinds of policy_outdated_reference
    transfers: bool
    partners: bool


TABLE = {
    # Cookies in their own section; marketing is declared only for contact data. Also true:
    # it follows "dataskyddsdirektivet" (95/46, repealed), sends complaints to Datainspektionen,
    # keeps data in cloud services outside the EU, and says nothing of withdrawing consent.
    "000_9cf1462c8fe6c01d": Row(
        True,
        ["session", "persistent"],
        ["preferences", "analytics"],
        {"policy_no_withdrawal", "policy_outdated_reference", "policy_transfer_outside_eea"},
        {"directive_95_46", "datainspektionen"},
        True,
        False,
    ),
    # Consent by continued use and by browser settings, cites PuL; also transfers "i hela
    # världen". Datainspektionen appears only as the past issuer of a licence (not flagged).
    "001_5bc9d5d86c9a4940": Row(
        True,
        ["session", "persistent"],
        ["necessary", "preferences", "analytics", "marketing"],
        {
            "policy_implied_consent",
            "policy_browser_settings_consent",
            "policy_outdated_reference",
            "policy_transfer_outside_eea",
        },
        {"personuppgiftslagen"},
        True,
        False,
    ),
    # Cookie statements in purpose sections; data shared with marketing partners; complaints
    # to Datainspektionen (in a text updated in 2024); no way to withdraw.
    "002_c181fe22c8c0e451": Row(
        True,
        [],
        ["preferences", "analytics", "marketing"],
        {"policy_no_withdrawal", "policy_outdated_reference"},
        {"datainspektionen"},
        False,
        True,
    ),
    # No cookies at all (it names IMY, the current authority, correctly).
    "003_1777b2295b36bbe6": Row(False, [], [], set(), set(), False, True),
    # One cookie sentence referring back; transfers outside the EU/EEA; "personuppgiftsombud".
    "004_341820bca543b2fe": Row(
        True,
        [],
        ["analytics", "marketing"],
        {"policy_outdated_reference", "policy_transfer_outside_eea"},
        {"personuppgiftsombud"},
        True,
        False,
    ),
}


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


@pytest.fixture(scope="module")
def seeds() -> dict[str, PolicyStatement]:
    return {stem: load_policy(seed(stem)) for stem in TABLE}


# -- the seeds: the table, exactly ------------------------------------------------------------


@pytest.mark.parametrize("stem", sorted(TABLE))
def test_seed_gives_exactly_its_table_row(seeds: dict[str, PolicyStatement], stem: str) -> None:
    st, row = seeds[stem], TABLE[stem]
    assert st.language == "sv"
    assert st.mentions_cookies is row.mentions_cookies
    assert st.declared_lifetimes == row.lifetimes
    assert st.declared_purposes == row.purposes
    assert {p.value for p in st.problems} == row.problems
    outdated = {p.detail["reference"] for p in st.problem("policy_outdated_reference")}
    assert outdated == row.outdated
    assert st.transfers_outside_eea is row.transfers
    assert bool(st.partner_sharing) is row.partners
    assert st.durations == []  # no seed states how long its cookies live


@pytest.mark.parametrize("stem", sorted(TABLE))
def test_seed_evidence_offsets_slice_back_to_the_cited_sentence(
    seeds: dict[str, PolicyStatement], stem: str
) -> None:
    st = seeds[stem]
    assert_evidence_slices_back(st)
    # Claims and problems cite at least one sentence each.
    for claim in st.purposes + st.lifetimes + st.problems + st.transfers + st.technologies:
        assert claim.evidence, claim


@pytest.mark.parametrize("stem", sorted(TABLE))
def test_seed_is_analysed_well_under_a_second(stem: str) -> None:
    text = seed(stem).read_text(encoding="utf-8")
    # CPU time of this process: a sanity bound that a busy machine (browsers of other tests)
    # does not turn into a flaky one. Not a benchmark.
    started = time.process_time()
    analyze_text(text)
    assert time.process_time() - started < 0.2


def test_seed_000_marketing_to_contacts_is_no_marketing_cookie(
    seeds: dict[str, PolicyStatement],
) -> None:
    st = seeds["000_9cf1462c8fe6c01d"]
    assert "marketing" not in st.declared_purposes
    assert "direktmarknadsföringsåtgärder" in st.text  # the contact-data sentence is there
    assert not any("direktmarknadsföring" in text for text in (e.text for e in all_evidence(st)))
    assert any("analys av besöken" in t for t in cited(st, "purposes", "analytics"))
    assert any("anonym demografisk profilering" in t for t in cited(st, "purposes", "analytics"))
    assert any("funktionerna" in t for t in cited(st, "purposes", "preferences"))
    assert any("sessionskakor" in t for t in cited(st, "lifetimes", "session"))
    assert any("utgångsdatum" in t for t in cited(st, "lifetimes", "persistent"))
    # Customer data kept "i två år" is not a cookie duration.
    assert st.durations == []
    assert any("dataskyddsdirektivet" in t for t in problem_texts(st, "policy_outdated_reference"))
    assert any(
        "kontakta Datainspektionen" in t for t in problem_texts(st, "policy_outdated_reference")
    )
    assert any("utanför EU" in t for t in problem_texts(st, "policy_transfer_outside_eea"))
    assert st.withdrawal == []
    # The link to www.minacookies.se is no mention of cookies.
    assert not any("minacookies" in e.text for c in st.technologies for e in c.evidence)


def test_seed_001_implied_consent_browser_settings_and_pul(
    seeds: dict[str, PolicyStatement],
) -> None:
    st = seeds["001_5bc9d5d86c9a4940"]
    implied = problem_texts(st, "policy_implied_consent")
    assert len(implied) == 1
    assert "genom att använda Inkassograms webbplats samtycker du" in implied[0]
    browser = problem_texts(st, "policy_browser_settings_consent")
    assert any("stänga av cookies i din webbläsares säkerhetsinställningar" in t for t in browser)
    assert any(
        "personuppgiftslagen (PuL)" in t for t in problem_texts(st, "policy_outdated_reference")
    )
    assert any("i hela världen" in t for t in problem_texts(st, "policy_transfer_outside_eea"))
    # The only way out offered is deleting cookies in the browser.
    assert {c.value for c in st.withdrawal} == {"browser"}
    # The purposes, sentence by sentence.
    assert any("loggat in" in t for t in cited(st, "purposes", "necessary"))
    assert any("personliga inställningar" in t for t in cited(st, "purposes", "preferences"))
    assert any("registrera statistik" in t for t in cited(st, "purposes", "analytics"))
    assert any("marknadsföring så relevant" in t for t in cited(st, "purposes", "marketing"))


def test_seed_001_glossary_first_person_counts_definitions_do_not(
    seeds: dict[str, PolicyStatement],
) -> None:
    st = seeds["001_5bc9d5d86c9a4940"]
    marketing = cited(st, "purposes", "marketing")
    assert any(
        t.startswith("Vi kan placera cookies") and "visar våra annonser" in t for t in marketing
    )
    purpose_texts = {e.text for c in st.purposes for e in c.evidence}
    assert not any("en cookie är en liten textfil" in t for t in purpose_texts)
    assert not any(t.startswith("Cookies är små textfiler") for t in purpose_texts)
    # "Datainspektionen" as the issuer of the debt-collection licence is history, not advice.
    assert not any("Datainspektionen" in t for t in problem_texts(st, "policy_outdated_reference"))
    # Pixels and web beacons are named in the glossary.
    assert {"cookies", "pixels", "web_beacons", "similar_technologies"} <= {
        c.value for c in st.technologies
    }


def test_seed_002_purpose_headings_and_the_tracking_service(
    seeds: dict[str, PolicyStatement],
) -> None:
    st = seeds["002_c181fe22c8c0e451"]
    tracking = cited(st, "technologies", "tracking_service")
    assert len(tracking) == 1 and "musklick och besökstider" in tracking[0]
    assert "cookie" not in tracking[0].lower()
    assert any("musklick" in t for t in cited(st, "purposes", "analytics"))
    headings = {c.evidence[0].text for c in st.purposes if c.rule == "heading"}
    assert headings == {
        "För marknadsföring och personliggjorda erbjudanden",
        "För att erbjuda en anpassad upplevelse",
        "För att förstå besökares beteenden",
    }
    assert any("rekommendationer" in t for t in cited(st, "purposes", "preferences"))
    marketing_partners = [c for c in st.partner_sharing if "marketing" in c.detail["purposes"]]
    assert any(
        "samarbetspartners för marknadsföring" in e.text
        for c in marketing_partners
        for e in c.evidence
    )
    assert problem_texts(st, "policy_outdated_reference") == [
        "Klagomål kan lämnas till Datainspektionen."
    ]
    # "Du har rätt att invända mot marknadsföring" is an objection, not a withdrawal of consent.
    assert st.withdrawal == []


def test_seed_003_mentions_no_cookies(seeds: dict[str, PolicyStatement]) -> None:
    st = seeds["003_1777b2295b36bbe6"]
    assert st.technologies == [] and st.purposes == [] and st.lifetimes == []
    assert st.problems == []
    # "Vi lämnar aldrig ut dina personuppgifter ... för marknadsföringsändamål" is a negation.
    assert not any("aldrig" in e.text for c in st.partner_sharing for e in c.evidence)
    assert {c.value for c in st.withdrawal} == {"unspecified"}


def test_seed_004_the_cookie_sentence_refers_back_to_its_paragraph(
    seeds: dict[str, PolicyStatement],
) -> None:
    st = seeds["004_341820bca543b2fe"]
    cookie_sentence = (
        "Detta kan även omfatta information vi får genom cookies och plugin på vår hemsida."
    )
    for claim in st.purposes:
        assert claim.rule == "refers back"
        assert claim.evidence[-1].text == cookie_sentence
    analytics = cited(st, "purposes", "analytics")
    marketing = cited(st, "purposes", "marketing")
    assert any("som grund för statistik, marknadsföring" in t for t in analytics)
    assert any("så kallad profilering" in t for t in marketing)
    transfers = problem_texts(st, "policy_transfer_outside_eea")
    assert any("utanför Sverige eller EU/EES" in t for t in transfers)
    assert any("tredje land" in t for t in transfers)
    # Customer data kept "36 månader" is not a cookie duration.
    assert st.durations == []
    assert {c.value for c in st.withdrawal} == {"unspecified"}


# -- English and tricky policies ------------------------------------------------------------------

EN_FULL = """Privacy Policy

Cookies

We use cookies and similar technologies such as local storage and web beacons on our website.
Strictly necessary cookies keep you logged in and remember the contents of your shopping cart. These cookies are session cookies and are deleted when you close your browser.
We use Google Analytics to collect statistics about how visitors use the website. The _ga cookie is stored for two years.
We do not use cookies for advertising.
Google Analytics is provided by Google LLC. Your data may be transferred to the United States.

Your choices

When you first visit, our cookie banner asks for your consent. You can withdraw your consent at any time by clicking "Cookie settings" at the bottom of every page. You can also delete cookies in your browser.
"""


def test_english_policy_with_google_analytics_and_transfers_to_the_us() -> None:
    st = analyze_text(EN_FULL)
    assert st.language == "en"
    assert st.mentions_cookies
    assert {"cookies", "local_storage", "web_beacons"} <= {c.value for c in st.technologies}
    assert st.declared_purposes == ["necessary", "analytics"]
    assert st.denied_purposes == ["marketing"]
    assert cited(st, "purposes_denied", "marketing") == ["We do not use cookies for advertising."]
    assert st.declared_lifetimes == ["session", "persistent"]
    assert [(c.detail["duration"], c.detail["seconds"]) for c in st.durations] == [
        ("two years", 2 * 365 * DAY)
    ]
    ga = next(c for c in st.third_parties if c.value == "Google Analytics")
    assert ga.detail["category"] == "analytics" and ga.detail["cookie_context"]
    assert cited(st, "transfers", "outside_eea") == [
        "Your data may be transferred to the United States."
    ]
    assert {c.value for c in st.consent} == {"consent_tool"}
    assert {c.value for c in st.withdrawal} == {"site", "browser"}
    assert [p.value for p in st.problems] == ["policy_transfer_outside_eea"]
    assert_evidence_slices_back(st)


@pytest.mark.parametrize(
    ("text", "declared", "denied"),
    [
        ("Cookies\n\nWe do not use marketing cookies. We use cookies for statistics.", ["analytics"], ["marketing"]),
        ("Cookies\n\nVi använder inte cookies för marknadsföring. Vi använder cookies för statistik.", ["analytics"], ["marketing"]),
        ("Cookies\n\nVi använder inte cookies för marknadsföring, utan endast för statistik.", ["analytics"], ["marketing"]),
        ("Cookies\n\nWe never use cookies for advertising or profiling.", [], ["marketing"]),
    ],
)  # fmt: skip
def test_a_negated_purpose_is_denied_not_declared(
    text: str, declared: list[str], denied: list[str]
) -> None:
    st = analyze_text(text)
    assert st.declared_purposes == declared
    assert st.denied_purposes == denied
    assert_evidence_slices_back(st)


def test_a_policy_that_denies_cookies() -> None:
    st = analyze_text("Integritetspolicy\n\nVi använder inte cookies på vår webbplats.")
    assert st.mentions_cookies and st.denies_cookies
    assert st.declared_purposes == [] and st.problems == []
    necessary = cookie("sessionid", "necessary", "session")
    [f] = by_type(policy_findings(st, [necessary]), "policy_undeclared_category")
    assert f.evidence["category"] == "necessary" and "says no cookies are used" in f.message
    assert_policy_evidence(st, f.evidence["policy"]["cookie_mentions"][-1]["evidence"])


def test_a_named_analytics_service_is_a_tracking_technology() -> None:
    st = analyze_text(
        "We use Google Analytics to collect statistics about how visitors use the website. "
        "Follow us on Facebook."
    )
    assert st.declared_purposes == ["analytics"]
    assert cited(st, "technologies", "tracking_service") == [
        "We use Google Analytics to collect statistics about how visitors use the website."
    ]
    assert [c.value for c in st.third_parties] == ["Google Analytics", "Meta"]


GLOSSARY_ONLY = """Privacy notice

We process your name and e-mail address to answer your questions. We keep them for two years.

Glossary

Cookie \N{EN DASH} a small text file that a website stores on your device. Session cookie \N{EN DASH} a cookie that is deleted when you close the browser. Persistent cookie \N{EN DASH} a cookie that remains for a set period, for example 13 months. Advertising cookie \N{EN DASH} a cookie used to show ads.

Contact

Write to privacy@example.com.
"""


def test_cookies_only_in_a_glossary_definition_declare_nothing() -> None:
    st = analyze_text(GLOSSARY_ONLY)
    assert st.mentions_cookies  # mentioned, in definitions
    assert st.declared_purposes == [] and st.declared_lifetimes == [] and st.durations == []
    assert st.problems == []  # a definition is no use of cookies that would need a withdrawal


def test_a_policy_without_any_cookie_section() -> None:
    st = analyze_text(
        "Privacy policy\n\nWe process the personal data you give us to deliver our services. "
        "We use your e-mail address for marketing newsletters; you can unsubscribe at any time. "
        "Complaints can be made to the Swedish Data Protection Authority (Datainspektionen)."
    )
    assert not st.mentions_cookies
    assert st.declared_purposes == []  # e-mail marketing is no marketing cookie
    assert [p.detail["reference"] for p in st.problems] == ["datainspektionen"]


def test_a_withdrawal_instruction_and_durations_in_swedish() -> None:
    st = analyze_text(
        "Cookies\n\nVi använder cookies för statistik. Statistikcookies sparas i 13 månader, "
        "språkvalet i ett år.\nDu kan när som helst ändra ditt samtycke via länken "
        "Cookieinställningar i sidfoten."
    )
    assert st.language == "sv"
    assert [(c.detail["duration"], c.detail["seconds"]) for c in st.durations] == [
        ("13 månader", 13 * 30 * DAY),
        ("ett år", 365 * DAY),
    ]
    assert st.declared_lifetimes == ["persistent"]
    assert st.declared_purposes == ["preferences", "analytics"]
    assert {c.value for c in st.withdrawal} == {"site"}
    assert {c.value for c in st.consent} == {"consent_tool"}
    assert "policy_no_withdrawal" not in {p.value for p in st.problems}


def test_english_implied_consent_and_browser_settings() -> None:
    st = analyze_text(
        "Cookie policy\n\nOur website uses cookies for analytics and advertising. By continuing "
        "to use this website you agree to our use of cookies. If you do not want cookies, you can "
        "disable them in your browser settings."
    )
    assert [p.value for p in st.problems] == [
        "policy_implied_consent",
        "policy_browser_settings_consent",
        "policy_no_withdrawal",
    ]
    assert problem_texts(st, "policy_implied_consent") == [
        "By continuing to use this website you agree to our use of cookies."
    ]


def test_browser_advice_next_to_a_consent_tool_is_no_problem() -> None:
    st = analyze_text(
        "Cookies\n\nNon-essential cookies, such as analytics cookies, are set only if you "
        "accept them in our cookie banner. "
        "You can also block cookies in your browser settings. You can withdraw your consent "
        "via the Cookie settings link."
    )
    assert st.problems == []
    assert st.declared_purposes == ["analytics"]  # "non-essential" is not necessary


MODERN_SV = """Cookiepolicy

Vad är cookies?
En cookie är en liten textfil som lagras i din webbläsare. Vi använder också liknande tekniker, till exempel localStorage och pixlar.

Vilka cookies använder vi?
Nödvändiga cookies behövs för att webbplatsen ska fungera, till exempel för att komma ihåg vad du lagt i varukorgen. De kräver inte ditt samtycke.
Analyscookies: vi använder Google Analytics för att förstå hur besökare använder webbplatsen. Cookien _ga sparas i 2 år.
Marknadsföringscookies: Meta-pixeln används för att visa annonser för dig på Facebook och Instagram. Uppgifterna kan överföras till USA.
Sessionscookies raderas när du stänger webbläsaren.

Ditt samtycke
När du besöker webbplatsen första gången ber vi om ditt samtycke i vår cookiebanner. Icke-nödvändiga cookies sätts bara om du godkänner dem. Du kan när som helst ändra eller återkalla ditt samtycke via länken "Cookieinställningar" längst ned på varje sida.

Klagomål
Du kan lämna klagomål till Integritetsskyddsmyndigheten (IMY).
"""


def test_a_modern_swedish_cookie_policy_has_no_problem_but_its_transfer() -> None:
    st = analyze_text(MODERN_SV)
    assert {"cookies", "local_storage", "pixels"} <= {c.value for c in st.technologies}
    assert st.declared_purposes == ["necessary", "analytics", "marketing"]
    assert st.declared_lifetimes == ["session", "persistent"]
    assert [(c.detail["duration"], c.detail["seconds"]) for c in st.durations] == [
        ("2 år", 2 * 365 * DAY)
    ]
    assert [c.value for c in st.third_parties] == ["Google Analytics", "Meta"]
    assert {c.value for c in st.consent} == {"consent_tool", "on_acceptance"}
    assert {c.value for c in st.withdrawal} == {"site"}
    assert [p.value for p in st.problems] == ["policy_transfer_outside_eea"]
    # "Icke-nödvändiga cookies" declares nothing necessary; the definition declares nothing.
    assert not any("Icke-nödvändiga" in t for t in cited(st, "purposes", "necessary"))
    assert_evidence_slices_back(st)


def test_consent_through_browser_settings_is_a_problem_even_with_a_banner() -> None:
    st = analyze_text(
        "Cookies\n\nWe show a cookie banner. If your browser is set to accept cookies, you "
        "consent to our use of them."
    )
    assert "policy_browser_settings_consent" in {p.value for p in st.problems}


def test_a_renamed_authority_mentioned_with_its_new_name_is_fine() -> None:
    st = analyze_text("Du kan klaga hos Integritetsskyddsmyndigheten (tidigare Datainspektionen).")
    assert st.problems == []


def test_language_is_detected_and_can_be_given() -> None:
    assert detect_language(EN_FULL) == "en"
    assert detect_language("Vi använder cookies för att förbättra våra tjänster.") == "sv"
    assert analyze_text("Cookies", language="sv").language == "sv"
    with pytest.raises(ValueError):
        analyze_text("x", language="de")


POLICY_HTML = """<!doctype html><html lang="sv"><head><title>Cookies och integritet</title>
<script>document.title = "cookies för marknadsföring";</script><style>p{color:red}</style></head>
<body><nav><a href="/cookies">Cookies</a> <a href="/kontakt">Kontakt</a></nav>
<div id="cm-banner"><p>Vi använder cookies för marknadsföring.</p><button>Acceptera alla</button></div>
<main>
<h1>Integritetspolicy</h1>
<p>Vi på Exempel AB behandlar personuppgifter för att leverera våra tjänster, svara på frågor
och uppfylla våra skyldigheter enligt lag. Här beskriver vi hur det går till och vilka
rättigheter du har.</p>
<h2>Cookies</h2>
<p>Vi anv&auml;nder cookies f&ouml;r att m&auml;ta hur webbplatsen anv&auml;nds.</p>
<ul><li>_ga sparas i två år.</li><li>Sessionscookies raderas när du stänger webbläsaren.</li></ul>
</main>
<footer><p>Cookies | Integritetspolicy | © Exempel AB</p></footer></body></html>"""


def test_html_main_content_headings_and_no_banner() -> None:
    st = analyze_html(POLICY_HTML)
    assert st.language == "sv"
    assert "Acceptera alla" not in st.text and "Kontakt" not in st.text and "color" not in st.text
    assert "mäta hur webbplatsen används" in st.text  # entities decoded
    assert st.declared_purposes == ["analytics"]  # not the banner's marketing
    assert st.declared_lifetimes == ["session", "persistent"]
    assert [c.detail["duration"] for c in st.durations] == ["två år"]
    doc = segment(st.text, headings=frozenset({"Integritetspolicy", "Cookies"}))
    assert [s.text for s in doc.sentences if s.heading] == ["Integritetspolicy", "Cookies"]
    assert_evidence_slices_back(st)
    # </head> may be left out; the body still counts.
    bare = analyze_html("<html><head><title>x</title><body><h2>Cookies</h2><p>Vi mäter besök.</p>")
    assert bare.text == "Cookies\n\nVi mäter besök." and bare.declared_purposes == ["analytics"]


def test_load_policy_reads_files_and_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    html = tmp_path / "policy.htm"
    html.write_text(POLICY_HTML, encoding="utf-8")
    assert load_policy(html).declared_purposes == ["analytics"]
    latin = tmp_path / "policy.txt"
    latin.write_bytes("Cookies\n\nVi använder cookies för statistik.".encode("cp1252"))
    assert load_policy(latin).declared_purposes == ["analytics"]
    with pytest.raises(PolicyError, match="no such policy file"):
        load_policy(tmp_path / "missing.txt")
    with pytest.raises(PolicyError, match="no such policy file"):
        load_policy(tmp_path)


def test_load_policy_uses_the_given_fetch_for_urls() -> None:
    asked = []

    def fetch(url: str) -> str:
        asked.append(url)
        return POLICY_HTML

    st = load_policy("https://www.example.se/integritetspolicy", fetch=fetch)
    assert asked == ["https://www.example.se/integritetspolicy"]
    assert st.source == "https://www.example.se/integritetspolicy"
    assert st.declared_purposes == ["analytics"]


def test_to_dict_is_json_with_summary_claims_and_text(seeds: dict[str, PolicyStatement]) -> None:
    data = json.loads(json.dumps(seeds["001_5bc9d5d86c9a4940"].to_dict()))
    assert data["summary"]["purposes"] == ["necessary", "preferences", "analytics", "marketing"]
    assert data["summary"]["lifetimes"] == ["session", "persistent"]
    problem = next(p for p in data["problems"] if p["value"] == "policy_implied_consent")
    assert problem["severity"] == "medium"
    e = problem["evidence"][0]
    assert data["text"][e["start"] : e["end"]] == e["text"]


# -- the policy against a scan's cookies --------------------------------------------------------


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


def test_a_policy_without_cookies_leaves_every_observed_category_undeclared(
    seeds: dict[str, PolicyStatement],
) -> None:
    st = seeds["003_1777b2295b36bbe6"]
    findings = policy_findings(st, [SESSIONID, LANG, GA, FBP])
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
    assert findings == undeclared + lifetime  # 003 has no problems of its own


def test_categories_declared_for_cookies_are_not_findings(
    seeds: dict[str, PolicyStatement],
) -> None:
    st = seeds["000_9cf1462c8fe6c01d"]  # preferences and analytics, session and persistent
    findings = policy_findings(st, [SESSIONID, LANG, GA, FBP])
    undeclared = by_type(findings, "policy_undeclared_category")
    # Necessary cookies are covered by a policy that speaks of cookies at all.
    assert [f.evidence["category"] for f in undeclared] == ["marketing"]
    f = undeclared[0]
    assert "declares preferences, analytics for cookies, not marketing" in f.message
    policy_side = f.evidence["policy"]["declared_purposes"]
    assert {c["value"] for c in policy_side} == {"preferences", "analytics"}
    for claim in policy_side:
        assert_policy_evidence(st, claim["evidence"])
    assert by_type(findings, "policy_undeclared_lifetime") == []


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


def test_policy_problems_become_findings_with_both_sides_of_evidence(
    seeds: dict[str, PolicyStatement],
) -> None:
    st = seeds["001_5bc9d5d86c9a4940"]
    findings = policy_findings(st, [SESSIONID, GA, FBP])
    assert {f.type for f in findings} == {
        "policy_implied_consent",
        "policy_browser_settings_consent",
        "policy_outdated_reference",
        "policy_transfer_outside_eea",
    }
    [implied] = by_type(findings, "policy_implied_consent")
    assert implied.severity == "medium"
    assert "2 cookie(s) that need consent observed, 2 of them before any choice" in implied.message
    assert [o["name"] for o in implied.evidence["observed"]] == ["_ga", "_fbp"]
    assert_policy_evidence(st, implied.evidence["policy"])
    [transfer] = by_type(findings, "policy_transfer_outside_eea")
    assert transfer.severity == "info"
    assert [o["name"] for o in transfer.evidence["observed"]] == ["_fbp"]  # third party
    [outdated] = by_type(findings, "policy_outdated_reference")
    assert outdated.severity == "low" and outdated.evidence["reference"] == "personuppgiftslagen"
    assert outdated.evidence["observed"] == []


# -- command line ---------------------------------------------------------------------------------


def test_cli_policy_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", str(seed("004_341820bca543b2fe")), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["language"] == "sv"
    assert data["summary"]["mentions_cookies"] is True
    assert data["summary"]["purposes"] == ["analytics", "marketing"]
    assert data["summary"]["transfers_outside_eea"] is True
    for claim in data["purposes"]:
        for e in claim["evidence"]:
            assert data["text"][e["start"] : e["end"]] == e["text"]


def test_cli_policy_prints_a_readable_statement(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", str(seed("001_5bc9d5d86c9a4940"))]) == 0
    out = capsys.readouterr().out
    assert "Purposes declared for cookies: necessary, preferences, analytics, marketing" in out
    assert "Lifetimes declared: session, persistent" in out
    assert "policy_implied_consent" in out and "genom att använda Inkassograms webbplats" in out


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
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


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
        [
            f"{policy_site}/",
            "--policy",
            f"{policy_site}/policy.html",
            "--chromium",
            chromium_path,
            "--allow-private",
            "--phases",
            "pre-consent",
            "--max-pages",
            "1",
            "--no-sitemap",
            "--wait",
            "300",
            "--quiet",
            "--json",
            str(out),
            "--fail-on",
            "critical",
        ]
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
