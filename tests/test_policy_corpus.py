"""Policy analysis on the labelled corpus (tests/data/policy_corpus): precision and recall of
every label value at least 0.95, with the same scorer as bench/policy_corpus.py; and the
withdrawal findings say precisely what a policy offers."""

from __future__ import annotations

import json

import pytest

from bench.policy_corpus import CORPUS, LABELS, Score, expected, main, read_labels, score
from declaration.constants import PURPOSES
from scanner.policy import (
    LIFETIMES,
    PROBLEMS,
    PolicyStatement,
    load_policy,
    policy_findings,
)

TARGET = 0.95
ROUTES = {"site", "browser_only", "none"}


@pytest.fixture(scope="module")
def result() -> Score:
    return score()


def test_the_corpus_has_at_least_30_labelled_texts_15_per_language() -> None:
    labels = read_labels()
    files = {p.name for p in CORPUS.iterdir() if p.name != "labels.yaml"}
    assert files == set(labels)  # every text labelled, every label a text
    assert len(files) >= 30
    languages = [labels[name]["language"] for name in labels]
    assert languages.count("sv") >= 15 and languages.count("en") >= 15
    # Both forms the analysis reads: pages with headings, tables and lists, and plain text.
    for language in ("sv", "en"):
        suffixes = {n.rsplit(".", 1)[1] for n in labels if labels[n]["language"] == language}
        assert suffixes == {"html", "txt"}


def test_labels_use_only_known_values() -> None:
    allowed = {
        "language": {"sv", "en"},
        "purposes": set(PURPOSES),
        "lifetimes": set(LIFETIMES),
        "implied_consent": {"yes", "no"},
        "withdrawal": ROUTES,
        "problems": set(PROBLEMS),
    }
    for name, labels in read_labels().items():
        assert set(labels) == set(LABELS), name
        for label, values in expected(labels).items():
            assert values <= allowed[label], (name, label, values)
        assert len(expected(labels)["withdrawal"]) == 1, name


def test_precision_and_recall_of_every_label_value_reach_the_target(result: Score) -> None:
    low = [
        (label, value, round(c.precision, 3), round(c.recall, 3))
        for label, values in result.values.items()
        for value, c in values.items()
        if c.precision < TARGET or c.recall < TARGET
    ]
    assert low == [], result.errors
    for label in LABELS:
        counts = result.label(label)
        assert counts.tp > 0 and counts.precision >= TARGET and counts.recall >= TARGET, label
    # Every value of the labels occurs in the corpus, so every one is measured.
    assert set(result.values["purposes"]) == set(PURPOSES)
    assert set(result.values["lifetimes"]) == set(LIFETIMES)
    assert set(result.values["withdrawal"]) == ROUTES
    assert set(result.values["problems"]) == set(PROBLEMS)


def test_the_bench_script_prints_the_same_figures_as_json(
    result: Score, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(result.to_dict()))
    assert printed["texts"] == len(read_labels())


def _statement(name: str) -> PolicyStatement:
    return load_policy(CORPUS / name)


def _only(statement: PolicyStatement, kind: str) -> dict:
    [problem] = statement.problem(kind)
    return problem.detail


def test_no_withdrawal_says_the_policy_offers_nothing_and_why_that_falls_short() -> None:
    st = _statement("en_consultancy_no_withdrawal.txt")
    detail = _only(st, "policy_no_withdrawal")
    assert detail["offers"] == "nothing" and detail["severity"] == "medium"
    assert "no way at all to withdraw" in detail["message"]
    assert "not even browser settings" in detail["message"]
    assert "Art. 7(3)" in detail["message"] and "as easily as it was given" in detail["message"]
    assert st.withdrawal_route == "none" and st.problem("policy_browser_only_withdrawal") == []


@pytest.mark.parametrize(
    ("name", "offers", "words"),
    [
        ("en_forum_delete_only.html", "deleting_cookies", "only by deleting cookies"),
        ("en_browser_set_to_accept.txt", "browser_settings", "only by changing browser settings"),
        (
            "sv_frisor_webblasarinstallning.txt",
            "browser_settings_and_deleting_cookies",
            "only by changing browser settings or deleting cookies",
        ),
    ],
)
def test_withdrawal_only_through_the_browser_is_a_weaker_route_not_none(
    name: str, offers: str, words: str
) -> None:
    st = _statement(name)
    assert st.withdrawal_route == "browser_only"
    assert st.problem("policy_no_withdrawal") == []
    detail = _only(st, "policy_browser_only_withdrawal")
    assert detail["offers"] == offers and detail["severity"] == "low"
    assert words in detail["message"] and "Art. 7(3)" in detail["message"]
    assert "as easy as giving consent" in detail["message"]
    # As a finding it cites the sentences that offer the browser.
    [finding] = [f for f in policy_findings(st, []) if f.type == "policy_browser_only_withdrawal"]
    assert finding.severity == "low" and finding.message.startswith("The policy offers")
    for e in finding.evidence["policy"]:
        assert st.text[e["start"] : e["end"]] == e["text"]
        assert "browser" in e["text"] or "webbläsar" in e["text"]


def test_consent_from_a_browser_set_to_accept_cookies_is_implied_consent() -> None:
    st = _statement("en_browser_set_to_accept.txt")
    assert st.implied_consent and st.summary()["implied_consent"] is True
    [claim] = [c for c in st.consent if c.value == "browser_settings"]
    assert claim.evidence[0].text.startswith("If your browser is set to accept cookies")
