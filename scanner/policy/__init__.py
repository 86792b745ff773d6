"""Privacy-policy text analysis: what a policy (Swedish or English) states about cookies.

    statement = load_policy("integritetspolicy.html")     # or a .txt file, or an http(s) URL
    statement.declared_purposes    # ['preferences', 'analytics']
    statement.to_dict()            # every claim with the sentences (and offsets) it rests on

Rules and lexicons only (see rules.py): fast, explainable, nothing downloaded.
"""

from __future__ import annotations

from pathlib import Path

from scanner.policy.checks import policy_findings
from scanner.policy.model import (
    LIFETIMES,
    PROBLEMS,
    PURPOSES,
    Claim,
    Evidence,
    PolicyError,
    PolicyStatement,
)
from scanner.policy.render import render_text
from scanner.policy.rules import extract
from scanner.policy.source import Fetch, browser_fetcher, http_get, is_url, read_file
from scanner.policy.text import html_to_text, normalize, segment

__all__ = [
    "LIFETIMES",
    "PROBLEMS",
    "PURPOSES",
    "Claim",
    "Evidence",
    "PolicyError",
    "PolicyStatement",
    "analyze_html",
    "analyze_text",
    "browser_fetcher",
    "is_url",
    "load_policy",
    "policy_findings",
    "render_text",
]


def analyze_text(
    text: str, *, language: str | None = None, source: str | None = None
) -> PolicyStatement:
    """The statement of a plain-text policy; `language` ('sv' or 'en') is detected when None."""
    if language not in (None, "sv", "en"):
        raise ValueError(f"language must be 'sv' or 'en', not {language!r}")
    return extract(segment(normalize(text), language=language), source)


def analyze_html(
    html: str, *, language: str | None = None, source: str | None = None
) -> PolicyStatement:
    """The statement of an HTML policy page (its <main> when it has one; headings from <h1>-<h6>)."""
    if language not in (None, "sv", "en"):
        raise ValueError(f"language must be 'sv' or 'en', not {language!r}")
    text, headings = html_to_text(html)
    return extract(segment(text, language=language, headings=headings), source)


def load_policy(
    source: str | Path, *, fetch: Fetch | None = None, language: str | None = None
) -> PolicyStatement:
    """Read and analyse a policy from a path (.html/.htm/.txt) or an http(s) URL.

    For a URL, `fetch(url) -> html` renders it (the scan passes its browser, so script-built
    pages work); without one, a plain GET with a time and size limit. Raises PolicyError when
    the policy cannot be read.
    """
    name = str(source)
    if is_url(name):
        if fetch is not None:
            content, html = fetch(name), True
        else:
            content, html = http_get(name)
    else:
        path = Path(source)
        if not path.is_file():
            raise PolicyError(f"no such policy file: {path}")
        content, html = read_file(path)
    if html:
        return analyze_html(content, language=language, source=name)
    return analyze_text(content, language=language, source=name)
