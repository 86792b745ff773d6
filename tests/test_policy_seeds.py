"""Privacy-policy analysis on the five real Swedish seed policies of ../shared/seeds: each
gives exactly the table of the seeds' README, and is compared with a scan's cookies and read
through the command line.

The seeds are an extra check: they are shared test data next to the repository, not part of
it. When the folder is absent (CONSENT_SEEDS_DIR points elsewhere) every test here is skipped,
with CI=true too; the project's own policy texts in test_policy_fixtures.py cover the same
behaviour."""

from __future__ import annotations

import pytest

from scanner.cli import main
from scanner.policy import PolicyStatement, load_policy
from tests.support.policy import (
    Row,
    all_evidence,
    assert_continued_use_findings,
    assert_continued_use_to_dict,
    assert_evidence_cited,
    assert_fast,
    assert_no_cookie_findings,
    assert_one_cookie_sentence_cli_json,
    assert_own_cookie_section_findings,
    assert_row,
    cited,
    problem_texts,
    seed,
)

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
            "policy_browser_only_withdrawal",
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


@pytest.fixture(scope="module")
def seeds() -> dict[str, PolicyStatement]:
    return {stem: load_policy(seed(stem)) for stem in TABLE}


# -- the seeds: the table, exactly ------------------------------------------------------------


@pytest.mark.parametrize("stem", sorted(TABLE))
def test_seed_gives_exactly_its_table_row(seeds: dict[str, PolicyStatement], stem: str) -> None:
    assert_row(seeds[stem], TABLE[stem])  # Swedish, and no seed states how long cookies live


@pytest.mark.parametrize("stem", sorted(TABLE))
def test_seed_evidence_offsets_slice_back_to_the_cited_sentence(
    seeds: dict[str, PolicyStatement], stem: str
) -> None:
    assert_evidence_cited(seeds[stem])


@pytest.mark.parametrize("stem", sorted(TABLE))
def test_seed_is_analysed_well_under_a_second(stem: str) -> None:
    assert_fast(seed(stem).read_text(encoding="utf-8"))


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


# -- the seeds against a scan's cookies ------------------------------------------------------


def test_seed_001_to_dict_is_json_with_summary_claims_and_text(
    seeds: dict[str, PolicyStatement],
) -> None:
    assert_continued_use_to_dict(seeds["001_5bc9d5d86c9a4940"])


def test_seed_003_leaves_every_observed_category_undeclared(
    seeds: dict[str, PolicyStatement],
) -> None:
    assert_no_cookie_findings(seeds["003_1777b2295b36bbe6"])


def test_seed_000_categories_declared_for_cookies_are_not_findings(
    seeds: dict[str, PolicyStatement],
) -> None:
    # preferences and analytics, session and persistent
    assert_own_cookie_section_findings(seeds["000_9cf1462c8fe6c01d"])


def test_seed_001_problems_become_findings_with_both_sides_of_evidence(
    seeds: dict[str, PolicyStatement],
) -> None:
    assert_continued_use_findings(seeds["001_5bc9d5d86c9a4940"])


# -- the seeds through the command line -----------------------------------------------------


def test_seed_004_cli_policy_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_cookie_sentence_cli_json(seed("004_341820bca543b2fe"), capsys)


def test_seed_001_cli_policy_prints_a_readable_statement(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["policy", str(seed("001_5bc9d5d86c9a4940"))]) == 0
    out = capsys.readouterr().out
    assert "Purposes declared for cookies: necessary, preferences, analytics, marketing" in out
    assert "Lifetimes declared: session, persistent" in out
    assert "policy_implied_consent" in out and "genom att använda Inkassograms webbplats" in out
