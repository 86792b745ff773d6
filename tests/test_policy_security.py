"""Hostile input in declarations and scans: name patterns run in linear time (RE2), the cookie
policy renders scanned names, domains, providers and purposes inert in Markdown and HTML, and
the proposed declaration parses back into exactly the cookies it proposes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from markdown_it import MarkdownIt

from consent_server.extensions import db
from consent_server.scans.models import Scan
from consent_server.scans.proposals import propose_declaration
from declaration.loader import DeclarationError, load_declaration
from declaration.patterns import (
    MAX_NAME_LENGTH,
    MAX_PATTERN_LENGTH,
    PatternError,
    compile_name_pattern,
    is_cookie_token,
    name_matches,
)
from declaration.policy_text import build_policy, render_html, render_markdown
from tests.support.apps import ROOT
from tests.support.scans import apply, cookie, declaration, fake_report, finish


def _with_cookies(cookies: list[dict[str, Any]]) -> dict[str, Any]:
    data = declaration()
    data["cookies"] = data["cookies"] + cookies
    return data


# -- name patterns ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"^(a)\1$", "backreferences are not supported"),
        (r"^(?=_ga)", "lookahead is not supported"),
        (r"(?<!x)_ga", "lookbehind is not supported"),
        (r"^_ga_(", "missing )"),
        ("a{1001}", "repetition"),
        (r"_ga\C", r"\C is not supported"),
        ("a" * (MAX_PATTERN_LENGTH + 1), f"longer than {MAX_PATTERN_LENGTH} characters"),
    ],
)
def test_a_pattern_re2_cannot_run_is_refused_at_load_with_the_reason(pattern: str, reason: str):
    data = _with_cookies([{"name_pattern": pattern, "category": "analytics"}])
    index = len(data["cookies"]) - 1
    with pytest.raises(DeclarationError) as caught:
        load_declaration(data)
    messages = caught.value.errors[f"cookies.{index}.name_pattern"]
    assert any(reason in m for m in messages), messages
    with pytest.raises(PatternError, match=r"\w"):
        compile_name_pattern(pattern)


def test_patterns_are_searched_like_the_banner_and_over_long_names_never_match():
    assert name_matches("^_ga_[A-Z0-9]+$", "_ga_ABC123")
    assert name_matches("_pk_id", "x_pk_id.1")  # searched, not anchored
    assert not name_matches("^_ga$", "_ga\n")  # RE2's $ is the end of the text
    assert not name_matches(r"(a)\1", "aa")  # refused patterns match nothing
    assert name_matches("^a+$", "a" * MAX_NAME_LENGTH)
    assert not name_matches("^a+$", "a" * (MAX_NAME_LENGTH + 1))
    assert not name_matches("x", "\ud800x")  # a lone surrogate is no cookie name


# The child imports everything first, says "ready", then does the work: only the work is timed.
LINEAR_TIME_CHILD = textwrap.dedent(
    """
    import sys, tempfile
    from pathlib import Path
    from consent_server.extensions import db
    from declaration.loader import load_declaration
    from declaration.policy_text import build_policy, render_markdown
    from scanner.analyze import Analysis
    from scanner.knowledge import KnowledgeBase
    from scanner.model import CookieEvent, PageVisit, PhaseResult
    from tests.support.apps import apply_data, demo_app, release
    from tests.support.scans import cookie, declaration, fake_report, finish

    names = ["a" * 4000 + "!", "a" * 50_000 + "!"]
    data = declaration()
    data["cookies"].append({"name_pattern": "^(a+)+$", "category": "analytics"})
    decl = load_declaration(data)
    tmp = Path(tempfile.mkdtemp())
    app = demo_app(tmp)
    print("ready", flush=True)

    report = fake_report([cookie(n, "analytics", vendor="Evil") for n in names])
    build_policy(decl.data, "en", report)
    visit = PageVisit("https://demo-shop.example/", "https://demo-shop.example/", 200,
                      "pre-consent")
    visit.events = [
        CookieEvent(name=n, value="1", at=1.0, domain="demo-shop.example", path="/",
                    source="header", page_url=visit.url, frame_url=visit.url,
                    requested_seconds=60.0)
        for n in names
    ]
    phase = PhaseResult("pre-consent", pages=[visit])
    Analysis(visit.url, [phase], decl, KnowledgeBase.empty()).run()
    apply_data(app, data)
    with app.app_context():
        finish("demo-shop", report)
    answer = app.test_client().get("/api/v1/sites/demo-shop/cookie-policy?format=markdown")
    assert answer.status_code == 200, answer.status_code
    release(app)
    print("done", flush=True)
    """
)


def test_a_catastrophic_pattern_runs_in_linear_time_on_hostile_names(tmp_path: Path):
    child = subprocess.Popen(
        [sys.executable, "-c", LINEAR_TIME_CHILD],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        ready = child.stdout.readline()
        assert ready.strip() == "ready", child.communicate()[1]
        # Backtracking takes 2**4000 steps here; RE2 a few milliseconds. The budget is the
        # whole scan analysis, policy build, scan store and public request on a busy machine.
        out, err = child.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        pytest.fail("matching the declared pattern against hostile names did not finish")
    assert child.returncode == 0 and out.strip() == "done", err


# -- the cookie policy: hostile scanned values -------------------------------------------------

XSS = "<img src=x onerror=alert(1)>"
JS_LINK = "[x](javascript:alert(1))"
# RFC 6265 tokens that still mean something to Markdown.
TOKEN_NAMES = ["`tick`", "a|b", "_em_", "*strong*", "~~del~~", "&amp", "x!#$%'+-.^"]
NOT_TOKENS = [XSS, JS_LINK, "a b", "x;y", "q=1", 'say"hi"', "tab\tname", "new\nline", "é"]


def _hostile_report() -> dict[str, Any]:
    cookies = [cookie(name, "analytics", vendor="Vendor") for name in TOKEN_NAMES + NOT_TOKENS]
    hostile = cookie("tok", "marketing", vendor=XSS, description=JS_LINK)
    third = cookie("tok3", "marketing", vendor=None, description="`code` | pipe <b>bold</b>")
    third["registrable_domain"] = "ev|l`.example"
    return fake_report([*cookies, hostile, third])


def _render(markdown: str) -> str:
    """The HTML a GFM-like renderer with raw HTML allowed makes of the Markdown."""
    return (
        MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(markdown)
    )


class _Page(HTMLParser):
    """An HTML page read back: every start tag, all text, and the text of each row's cells."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    @property
    def tag_names(self) -> set[str]:
        return {tag for tag, _ in self.tags}

    @property
    def links(self) -> list[str]:
        return [v or "" for tag, attrs in self.tags if tag == "a" for k, v in attrs if k == "href"]

    @property
    def cells(self) -> dict[str, list[str]]:
        """Body rows by their first cell."""
        return {row[0]: row for row in self.rows if row}


TABLE_TAGS = {"h2", "h3", "p", "table", "thead", "tbody", "tr", "th", "td"}


@pytest.mark.parametrize("fmt", ["markdown", "html"])
def test_hostile_scanned_values_render_inert_and_non_tokens_are_left_out(fmt: str):
    data = load_declaration(declaration()).data
    policy = build_policy(data, "en", _hostile_report())
    shown = {c.name for rows in policy.tables.values() for c in rows}
    assert set(TOKEN_NAMES) <= shown
    assert not set(NOT_TOKENS) & shown
    text = render_markdown(policy) if fmt == "markdown" else render_html(policy)
    page = _Page(_render(text) if fmt == "markdown" else text)
    assert page.tag_names <= TABLE_TAGS | ({"section"} if fmt == "html" else {"a"})
    # The one link is the declaration's own policy URL (Markdown autolinks it).
    assert page.links == ([data["policy_url"]] if fmt == "markdown" else [])
    # Every row keeps its five cells, and each cell reads back as the value written into it.
    assert all(len(row) == 5 for row in page.rows if row), page.rows
    cells = page.cells
    for name in TOKEN_NAMES:
        assert cells[name][1] == "Vendor"
    assert cells["tok"][1] == XSS and cells["tok"][3] == JS_LINK
    assert cells["tok3"][1] == "ev|l`.example"
    assert cells["tok3"][3] == "`code` | pipe <b>bold</b>"


def test_hostile_declared_texts_render_inert_in_markdown():
    site_name = "# 1. <b>Evil</b> [AB](javascript:x) _em_"
    data = load_declaration(
        _with_cookies(
            [
                {
                    "name": "x",
                    "category": "necessary",
                    "provider": XSS,
                    "purpose": {"en": JS_LINK + " `a|b`"},
                },
                {"name_pattern": "^evil_(a|b)[<>]*$", "category": "necessary"},
            ]
        )
        | {"name": site_name, "policy_url": "https://shop.example/a_b_(c)?q=<x>"}
    ).data
    page = _Page(_render(render_markdown(build_policy(data, "en"))))
    assert page.tag_names <= TABLE_TAGS | {"a"}, page.tag_names
    assert page.links == ["https://shop.example/a_b_(c)?q=%3Cx%3E"]
    cells = page.cells
    assert cells["x"][1] == XSS and cells["x"][3] == JS_LINK + " `a|b`"
    assert "^evil_(a|b)[<>]*$" in cells
    assert f"{site_name} uses cookies" in "".join(page.text)


def test_declared_cookie_names_must_be_tokens_storage_keys_need_not():
    bad = _with_cookies([{"name": "a b", "category": "analytics"}])
    with pytest.raises(DeclarationError) as caught:
        load_declaration(bad)
    assert any(
        "RFC 6265" in m for m in caught.value.errors[f"cookies.{len(bad['cookies']) - 1}.name"]
    )
    load_declaration(_with_cookies([{"name": "a b", "category": "analytics", "storage": "local"}]))
    assert is_cookie_token("_ga_ABC.1") and not is_cookie_token("a;b") and not is_cookie_token("")


# -- the proposed declaration -----------------------------------------------------------------

EVIL_KEYS = ["a\nb: 1", "x\u2028evil: 1", "y\x85- name: z", "k # not a comment", "q\r\n  - x"]


def _proposal_entries(text: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The proposed cookies, and those of the commented-out lines, each parsed back."""
    proposed = yaml.safe_load(text)["cookies"]
    unsure = []
    lines = text.splitlines()
    start = lines.index("# Choose a category for these, then move them into the list above:")
    for line in lines[start + 1 :]:
        assert line.startswith("#   "), line
        [entry] = yaml.safe_load("[" + line[4:].rsplit("  # ", 1)[0] + "]")
        unsure.append(entry)
    return proposed, unsure


def test_the_proposal_parses_back_into_exactly_the_proposed_cookies(app: Flask):
    storage = [
        {"kind": "local", "key": key, "origin": "https://demo-shop.example", "party": "first"}
        | {"classification": {"category": category, "source": "rules"}, "phases": []}
        for key in EVIL_KEYS
        for category in ("analytics", "unknown")
    ]
    cookies = [cookie(n, "analytics") for n in ["ok_1", "a\nb: 1", "x\u2028y"]] + [
        cookie("ok_2", "unknown")
    ]
    with app.app_context():
        apply(declaration())
        scan_id = finish("demo-shop", fake_report(cookies, storage=storage))
        text = propose_declaration(db.session.get(Scan, scan_id))
    # No raw line break but \n: a comment line cannot end early and start a key.
    assert "\u2028" not in text and "\x85" not in text and "\r" not in text
    proposed, unsure = _proposal_entries(text)
    assert [e["name"] for e in proposed] == ["ok_1", *EVIL_KEYS]
    assert [e.get("storage") for e in proposed] == [None] + ["local"] * len(EVIL_KEYS)
    assert [e["name"] for e in unsure] == ["ok_2", *EVIL_KEYS]
    # Cookie names that are not RFC 6265 tokens are refused: a declaration could not hold them.
    assert "not RFC 6265 tokens" in text
    for entry in proposed:
        assert set(entry) <= {"name", "storage", "domain", "provider", "category", "lifetime"} | {
            "purpose"
        }
