"""Privacy-policy analysis on the project's own policy texts (tests/fixtures/policies): each
gives exactly its row of TABLE, cites sentences whose offsets slice the normalized text back,
and is read sentence by sentence the way a careful reader reads it.

The texts are written for the tests, for fictional companies, in the styles real policies use.
Together they cover what the five real seed policies of test_policy_seeds.py show: a cookie
section next to e-mail marketing to customers, consent claimed by continued use and browser
settings under a repealed law, cookie statements only in purpose sections with marketing
partners, no cookies at all, and one cookie sentence that refers back to its paragraph; plus an
English policy with a consent banner."""

from __future__ import annotations

import pytest

from scanner.policy import PolicyStatement, load_policy
from tests.support.policy import (
    DAY,
    FIXTURES,
    Row,
    all_evidence,
    assert_evidence_cited,
    assert_fast,
    assert_row,
    cited,
    problem_texts,
    project_policy,
)

TABLE = {
    # Its own cookie section (session and persistent; functionality, visit analysis and
    # anonymised profiling); marketing only by e-mail to customers. Also: built on directive
    # 95/46, complaints to Datainspektionen, servers outside the EU, no way to withdraw.
    "sv_own_cookie_section": Row(
        True,
        ["session", "persistent"],
        ["preferences", "analytics"],
        {"policy_no_withdrawal", "policy_outdated_reference", "policy_transfer_outside_eea"},
        {"directive_95_46", "datainspektionen"},
        True,
        False,
    ),
    # A cookie section and a glossary; consent by continued use and by browser settings; cites
    # PuL; a supplier in the USA. Datainspektionen appears only as the past issuer of a licence.
    "sv_continued_use_and_pul": Row(
        True,
        ["session", "persistent"],
        ["necessary", "preferences", "analytics", "marketing"],
        {
            "policy_implied_consent",
            "policy_browser_settings_consent",
            "policy_browser_only_withdrawal",
            "policy_outdated_reference",
            "policy_transfer_outside_eea",
        },
        {"personuppgiftslagen"},
        True,
        False,
    ),
    # Cookie statements only in purpose sections; an analysis tool that never says "cookie";
    # data shared with marketing partners; complaints to Datainspektionen in a 2024 text.
    "sv_cookies_in_purpose_sections": Row(
        True,
        [],
        ["preferences", "analytics", "marketing"],
        {"policy_no_withdrawal", "policy_outdated_reference"},
        {"datainspektionen"},
        False,
        True,
    ),
    # No cookies at all; shares data with third parties; names IMY; transfers denied.
    "sv_no_cookies": Row(False, [], [], set(), set(), False, True),
    # One cookie sentence referring back to statistics, marketing and profiling; transfers
    # outside the EU/EEA; a "personuppgiftsombud".
    "sv_one_cookie_sentence": Row(
        True,
        [],
        ["analytics", "marketing"],
        {"policy_outdated_reference", "policy_transfer_outside_eea"},
        {"personuppgiftsombud"},
        True,
        False,
    ),
    # A consent banner, a settings link and durations per cookie; an advertising partner in
    # the United States is its only problem.
    "en_consent_banner": Row(
        True,
        ["session", "persistent"],
        ["necessary", "analytics", "marketing"],
        {"policy_transfer_outside_eea"},
        set(),
        True,
        True,
        language="en",
        durations=("13 months", "90 days"),
    ),
}


@pytest.fixture(scope="module")
def policies() -> dict[str, PolicyStatement]:
    return {stem: load_policy(project_policy(stem)) for stem in TABLE}


# -- every fixture: the table, exactly ------------------------------------------------------------


def test_every_fixture_policy_has_a_table_row() -> None:
    assert sorted(p.stem for p in FIXTURES.glob("*.txt")) == sorted(TABLE)


@pytest.mark.parametrize("stem", sorted(TABLE))
def test_fixture_gives_exactly_its_table_row(
    policies: dict[str, PolicyStatement], stem: str
) -> None:
    assert_row(policies[stem], TABLE[stem])


@pytest.mark.parametrize("stem", sorted(TABLE))
def test_fixture_evidence_offsets_slice_back_to_the_cited_sentence(
    policies: dict[str, PolicyStatement], stem: str
) -> None:
    assert_evidence_cited(policies[stem])


@pytest.mark.parametrize("stem", sorted(TABLE))
def test_fixture_is_analysed_well_under_a_second(stem: str) -> None:
    assert_fast(project_policy(stem).read_text(encoding="utf-8"))


# -- each fixture, sentence by sentence ---------------------------------------------------------


def test_marketing_by_email_to_customers_is_no_marketing_cookie(
    policies: dict[str, PolicyStatement],
) -> None:
    st = policies["sv_own_cookie_section"]
    assert "marketing" not in st.declared_purposes
    assert "direkt marknadsföring" in st.text  # the e-mail sentence is there
    assert not any("marknadsföring" in e.text for e in all_evidence(st))
    assert any("vissa funktioner på webbplatsen" in t for t in cited(st, "purposes", "preferences"))
    assert any("analysera besöken" in t for t in cited(st, "purposes", "analytics"))
    assert any("anonymiserad profilering" in t for t in cited(st, "purposes", "analytics"))
    assert any("Sessionscookies försvinner" in t for t in cited(st, "lifetimes", "session"))
    assert any("utgångsdatum" in t for t in cited(st, "lifetimes", "persistent"))
    # Accounts kept "i sju år" and contacts "två år" are no cookie durations.
    assert "sparar vi i sju år" in st.text and st.durations == []
    # The definition says what a cookie is, not what the site does with one.
    assert not any("kort textfil" in e.text for c in st.purposes for e in c.evidence)


def test_own_cookie_section_problems_cite_directive_authority_and_servers(
    policies: dict[str, PolicyStatement],
) -> None:
    st = policies["sv_own_cookie_section"]
    outdated = problem_texts(st, "policy_outdated_reference")
    assert any("EG-direktivet 95/46/EG" in t for t in outdated)
    assert any("klagomål till Datainspektionen" in t for t in outdated)
    assert problem_texts(st, "policy_transfer_outside_eea") == [
        "Vårt ekonomisystem och vår e-post drivs av leverantörer som har servrar både inom och "
        "utanför EU."
    ]
    assert st.withdrawal == []
    # "tacka nej till fler utskick" declines e-mail, it does not withdraw consent to cookies.
    assert problem_texts(st, "policy_no_withdrawal")
    # The link to www.cookieguiden.se is no mention of cookies.
    assert not any("cookieguiden" in e.text for c in st.technologies for e in c.evidence)


def test_continued_use_browser_settings_and_pul(policies: dict[str, PolicyStatement]) -> None:
    st = policies["sv_continued_use_and_pul"]
    implied = problem_texts(st, "policy_implied_consent")
    assert len(implied) == 1
    assert implied[0].startswith("Genom att fortsätta använda webbplatsen")
    browser = problem_texts(st, "policy_browser_settings_consent")
    assert browser == [
        "Om du inte vill att vi använder cookies kan du stänga av dem i din webbläsares "
        "inställningar, men då kan delar av kundportalen sluta fungera."
    ]
    assert problem_texts(st, "policy_outdated_reference") == [
        "Vi hanterar dina personuppgifter i enlighet med personuppgiftslagen (PuL) och god "
        "inkassosed."
    ]
    assert any("servrar finns i USA" in t for t in problem_texts(st, "policy_transfer_outside_eea"))
    # The only ways out offered are the browser's: switching cookies off, deleting them.
    assert {c.value for c in st.withdrawal} == {"browser"}
    assert cited(st, "withdrawal", "browser") == [
        "Om du inte vill att vi använder cookies kan du stänga av dem i din webbläsares "
        "inställningar, men då kan delar av kundportalen sluta fungera.",
        "Du kan när som helst radera sparade cookies via webbläsarens inställningar eller historik.",
    ]
    [weak] = st.problem("policy_browser_only_withdrawal")
    assert weak.detail["offers"] == "browser_settings_and_deleting_cookies"
    assert weak.detail["severity"] == "low" and "Art. 7(3)" in weak.detail["message"]
    # The purposes, sentence by sentence.
    assert any("förblir inloggad" in t for t in cited(st, "purposes", "necessary"))
    assert any("personliga inställningar" in t for t in cited(st, "purposes", "preferences"))
    assert any("statistik över hur många" in t for t in cited(st, "purposes", "analytics"))
    assert any("marknadsföring mer relevant" in t for t in cited(st, "purposes", "marketing"))


def test_glossary_first_person_counts_definitions_do_not(
    policies: dict[str, PolicyStatement],
) -> None:
    st = policies["sv_continued_use_and_pul"]
    marketing = cited(st, "purposes", "marketing")
    assert any(t.startswith("Vi använder annonscookies") for t in marketing)
    purpose_texts = {e.text for c in st.purposes for e in c.evidence}
    assert not any("en cookie är en textfil" in t for t in purpose_texts)
    assert not any("Pixel \N{EN DASH}" in t for t in purpose_texts)
    # "Cookies är små textfiler som ... hjälper oss att föra statistik": a definition.
    assert not any(t.startswith("Cookies är små textfiler") for t in purpose_texts)
    # Glossary entries on lifetimes declare nothing either: "tas bort" is no withdrawal.
    assert not any("Sessionscookie \N{EN DASH}" in e.text for c in st.lifetimes for e in c.evidence)
    assert not any(
        "Permanent cookie \N{EN DASH}" in e.text for c in st.withdrawal for e in c.evidence
    )
    # "Datainspektionen" as the issuer of the licence is history, not advice.
    assert "dåvarande Datainspektionen" in st.text
    assert not any("Datainspektionen" in t for t in problem_texts(st, "policy_outdated_reference"))
    # Pixels, web beacons, local storage and similar technologies are named in the glossary.
    assert {"cookies", "pixels", "web_beacons", "local_storage", "similar_technologies"} <= {
        c.value for c in st.technologies
    }


def test_purpose_headings_and_the_tracking_tool(policies: dict[str, PolicyStatement]) -> None:
    st = policies["sv_cookies_in_purpose_sections"]
    tracking = cited(st, "technologies", "tracking_service")
    assert len(tracking) == 1 and "analysverktyg som registrerar" in tracking[0]
    assert "cookie" not in tracking[0].lower()
    assert any("hur besökare navigerar" in t for t in cited(st, "purposes", "analytics"))
    headings = {c.evidence[0].text for c in st.purposes if c.rule == "heading"}
    assert headings == {
        "Erbjudanden och annonser",
        "En anpassad upplevelse i webbutiken",
        "Statistik och besöksanalys",
    }
    assert any("rekommendationer" in t for t in cited(st, "purposes", "preferences"))
    # "Därför använder vi uppgifterna" names no cookies: "reklamationer" and "bedrägerier"
    # under it declare no cookie purpose.
    assert not any("reklamationer" in e.text for c in st.purposes for e in c.evidence)
    assert "necessary" not in st.declared_purposes


def test_marketing_partners_and_an_objection_that_is_no_withdrawal(
    policies: dict[str, PolicyStatement],
) -> None:
    st = policies["sv_cookies_in_purpose_sections"]
    marketing_partners = [c for c in st.partner_sharing if "marketing" in c.detail["purposes"]]
    assert any(
        "samarbetspartners som hjälper oss med marknadsföring" in e.text
        for c in marketing_partners
        for e in c.evidence
    )
    assert any(c.detail["cookie_context"] for c in marketing_partners)  # the ads sentence
    assert problem_texts(st, "policy_outdated_reference") == [
        "Tycker du att vi hanterar dina uppgifter på fel sätt kan du lämna ett klagomål till "
        "Datainspektionen."
    ]
    # "rätt ... att invända mot ... direktmarknadsföring" is an objection, not a withdrawal.
    assert st.withdrawal == []
    # A shop "utanför Norrtälje" is no transfer outside the EU.
    assert st.transfers == []


def test_a_policy_without_cookies_declares_nothing_and_negations_hold(
    policies: dict[str, PolicyStatement],
) -> None:
    st = policies["sv_no_cookies"]
    assert st.technologies == [] and st.purposes == [] and st.lifetimes == []
    assert st.problems == []
    # "Vi säljer aldrig personuppgifter till annonsörer ..." is a negation.
    assert not any("aldrig" in e.text for c in st.partner_sharing for e in c.evidence)
    assert any("tredje part" in t for t in cited(st, "partner_sharing", "partners"))
    # "vi för inte över personuppgifter till länder utanför EU/EES" denies a transfer.
    assert "utanför EU/EES" in st.text and st.transfers == []
    # IMY is the current authority: no outdated reference.
    assert "Integritetsskyddsmyndigheten (IMY)" in st.text
    assert {c.value for c in st.withdrawal} == {"unspecified"}


def test_the_cookie_sentence_refers_back_to_its_paragraph(
    policies: dict[str, PolicyStatement],
) -> None:
    st = policies["sv_one_cookie_sentence"]
    cookie_sentence = (
        "Det kan även gälla uppgifter som vi får via cookies när du besöker vår webbplats."
    )
    for claim in st.purposes:
        assert claim.rule == "refers back"
        assert claim.evidence[-1].text == cookie_sentence
    analytics = cited(st, "purposes", "analytics")
    marketing = cited(st, "purposes", "marketing")
    assert any("ta fram statistik" in t for t in analytics)
    assert any("så kallad profilering" in t for t in marketing)
    # "önskemål om arbetet" is in another paragraph: no preferences cookie.
    assert "önskemål" in st.text and "preferences" not in st.declared_purposes
    transfers = problem_texts(st, "policy_transfer_outside_eea")
    assert any("utanför EU/EES" in t for t in transfers)
    assert any("tredje land" in t for t in transfers)
    assert problem_texts(st, "policy_outdated_reference") == [
        "Frågor om hur vi behandlar personuppgifter besvaras av vårt personuppgiftsombud, som du "
        "når på telefon 031-390 06 45 eller på dataskydd@bergdahlbygg.se."
    ]
    # Customer data kept "24 månader" is not a cookie duration.
    assert "24 månader" in st.text and st.durations == []
    assert {c.value for c in st.withdrawal} == {"unspecified"}


def test_an_english_policy_with_a_banner_has_only_its_transfer_as_a_problem(
    policies: dict[str, PolicyStatement],
) -> None:
    st = policies["en_consent_banner"]
    assert [(c.detail["duration"], c.detail["seconds"]) for c in st.durations] == [
        ("13 months", 13 * 30 * DAY),
        ("90 days", 90 * DAY),
    ]
    assert {c.value for c in st.consent} == {"consent_tool", "on_acceptance", "refuse_in_browser"}
    assert {c.value for c in st.withdrawal} == {"site", "browser"}
    # Blocking cookies in the browser is extra advice next to the banner, not the consent.
    assert st.problem("policy_browser_settings_consent") == []
    assert [c.value for c in st.third_parties] == ["Matomo", "Meta"]
    assert {"cookies", "pixels", "similar_technologies"} <= {c.value for c in st.technologies}
    [partner] = st.partner_sharing
    assert partner.detail["purposes"] == ["marketing"] and partner.detail["cookie_context"]
    assert cited(st, "transfers", "outside_eea") == [
        "We share information about your visit with our advertising partner Meta Platforms, "
        "which may process it in the United States."
    ]
    # "A cookie is a small text file ..." is a definition, not a declaration.
    assert not any(e.text.startswith("A cookie is") for c in st.purposes for e in c.evidence)
