"""Privacy-policy analysis on texts written here: English and tricky policies give what a
careful reader finds (negations, glossaries, consent claims, renamed authorities), HTML pages
are read by their main content, policies load from files and URLs, and every claim cites
sentences whose offsets slice the normalized text back."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.policy import PolicyError, analyze_html, analyze_text, load_policy, policy_findings
from scanner.policy.text import detect_language, segment
from tests.support.policy import (
    DAY,
    assert_continued_use_to_dict,
    assert_evidence_slices_back,
    assert_policy_evidence,
    by_type,
    cited,
    cookie,
    problem_texts,
    project_policy,
)

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
    # Disabling cookies in the browser is a way to withdraw, if a weak one: not "no withdrawal".
    assert [p.value for p in st.problems] == [
        "policy_implied_consent",
        "policy_browser_settings_consent",
        "policy_browser_only_withdrawal",
    ]
    assert problem_texts(st, "policy_implied_consent") == [
        "By continuing to use this website you agree to our use of cookies."
    ]
    assert st.problem("policy_browser_only_withdrawal")[0].detail["offers"] == "browser_settings"


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


def test_to_dict_is_json_with_summary_claims_and_text() -> None:
    assert_continued_use_to_dict(load_policy(project_policy("sv_continued_use_and_pul")))
