"""Writing the cookie section of a privacy policy from a declaration and the latest scan.

The text says exactly what the site sets: one table per category that has cookies, the
lifetime classes that occur, how to change or withdraw consent. Every sentence is phrased so
that the policy analysis (scanner.policy) reads back the same categories and lifetimes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import quote, urlsplit

from declaration.constants import PURPOSES
from declaration.durations import parse_duration
from declaration.patterns import is_cookie_token, name_matches

CATEGORY_ORDER = PURPOSES

TEXTS: dict[str, dict[str, Any]] = {
    "sv": {
        "title": "Kakor (cookies)",
        "intro": "{name} använder kakor (cookies) på webbplatsen. En kaka är en liten textfil "
        "som webbplatsen sparar i din webbläsare.",
        "session": "Sessionskakor försvinner när du stänger webbläsaren.",
        "persistent": "Varaktiga kakor sparas under den tid som anges i tabellerna nedan.",
        "categories": {
            "necessary": (
                "Nödvändiga kakor",
                "Vi använder nödvändiga kakor för att webbplatsen ska fungera, till exempel för "
                "inloggning och säkerhet. De kräver inte ditt samtycke.",
            ),
            "preferences": (
                "Kakor för inställningar",
                "Med ditt samtycke använder vi kakor som kommer ihåg dina inställningar, till "
                "exempel språk.",
            ),
            "analytics": (
                "Kakor för statistik",
                "Med ditt samtycke använder vi kakor för statistik och analys av hur "
                "webbplatsen används.",
            ),
            "marketing": (
                "Kakor för marknadsföring",
                "Med ditt samtycke använder vi kakor för marknadsföring och annonser, även på "
                "andra webbplatser.",
            ),
        },
        "columns": ("Namn", "Leverantör", "Livslängd", "Syfte", "Part"),
        "first": "förstapart",
        "third": "tredjepart",
        "session_cell": "sessionen",
        "units": {
            "Y": ("år", "år"),
            "M": ("månad", "månader"),
            "W": ("vecka", "veckor"),
            "D": ("dag", "dagar"),
            "H": ("timme", "timmar"),
            "MIN": ("minut", "minuter"),
        },
        "consent": "Du väljer själv vilka kakor du godkänner när du besöker webbplatsen första "
        "gången. Du kan när som helst ändra eller återkalla ditt samtycke via länken "
        "Kakinställningar på webbplatsen.",
        "policy": "Läs mer i vår integritetspolicy: {url}",
    },
    "en": {
        "title": "Cookies",
        "intro": "{name} uses cookies on this website. A cookie is a small text file that the "
        "website stores in your browser.",
        "session": "Session cookies are deleted when you close your browser.",
        "persistent": "Persistent cookies are kept for the time given in the tables below.",
        "categories": {
            "necessary": (
                "Necessary cookies",
                "We use necessary cookies to make the website work, for example for signing in "
                "and security. They do not need your consent.",
            ),
            "preferences": (
                "Preference cookies",
                "With your consent we use cookies that remember your preferences, such as "
                "language.",
            ),
            "analytics": (
                "Analytics cookies",
                "With your consent we use cookies for statistics and analysis of how the "
                "website is used.",
            ),
            "marketing": (
                "Marketing cookies",
                "With your consent we use cookies for marketing and advertising, also on "
                "other websites.",
            ),
        },
        "columns": ("Name", "Provider", "Lifetime", "Purpose", "Party"),
        "first": "first party",
        "third": "third party",
        "session_cell": "session",
        "units": {
            "Y": ("year", "years"),
            "M": ("month", "months"),
            "W": ("week", "weeks"),
            "D": ("day", "days"),
            "H": ("hour", "hours"),
            "MIN": ("minute", "minutes"),
        },
        "consent": "You choose which cookies you allow when you first visit the website. You can "
        "change or withdraw your consent at any time through the Cookie settings link on the "
        "website.",
        "policy": "Read more in our privacy policy: {url}",
    },
}


@dataclass
class PolicyCookie:
    """One row of a category table."""

    name: str
    provider: str
    lifetime: str  # "session" or an ISO-8601 duration
    purpose: str
    party: str  # "first" or "third"


@dataclass
class CookiePolicy:
    """The generated section, ready to render."""

    language: str
    site_name: str
    policy_url: str | None
    tables: dict[str, list[PolicyCookie]] = field(default_factory=dict)

    @property
    def lifetime_classes(self) -> set[str]:
        """'session' and/or 'persistent', as they occur in the tables."""
        return {
            "session" if c.lifetime == "session" else "persistent"
            for rows in self.tables.values()
            for c in rows
        }


SIMPLE_PATTERN = re.compile(r"\^?([A-Za-z0-9_.-]*)(?:\[[^\]]*\][+*]|\.\*|\.\+|\\d\+|\\w\+)\$?")


def display_name(name: str, pattern: str | None) -> str:
    """A readable name: `^_ga_[A-Z0-9]+$` is shown as `_ga_*`; other patterns as written."""
    if not pattern:
        return name
    match = SIMPLE_PATTERN.fullmatch(pattern)
    return f"{match.group(1)}*" if match else pattern


class PolicyBudgetExceeded(RuntimeError):
    """Building the policy took longer than the caller allowed."""


def _localized(value: Any, lang: str, default: str) -> str:
    if isinstance(value, dict):
        return value.get(lang) or value.get(default) or next(iter(value.values()), "")
    return str(value or "")


def _iso_from_seconds(seconds: float) -> str:
    days = round(seconds / 86400)
    if days >= 365 and days % 365 < 15:
        return f"P{round(days / 365)}Y"
    if days >= 28:
        return f"P{max(1, round(days / 30.44))}M"
    if days >= 1:
        return f"P{days}D"
    return f"PT{max(1, round(seconds / 3600))}H"


def _observed(scan_report: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The scan's cookies whose names are RFC 6265 tokens: nothing else belongs in the text."""
    cookies = (scan_report or {}).get("cookies") or []
    return [c for c in cookies if isinstance(c.get("name"), str) and is_cookie_token(c["name"])]


def build_policy(
    declaration: dict[str, Any],
    lang: str,
    scan_report: dict[str, Any] | None = None,
    *,
    deadline: float | None = None,
) -> CookiePolicy:
    """Merge the declared cookies with what the latest scan saw (classified, not unknown).

    With a `deadline` (a time.monotonic() value), PolicyBudgetExceeded once it has passed.
    """
    if lang not in TEXTS:
        raise ValueError(f"no cookie-policy texts for language {lang!r}; choose sv or en")

    def on_time() -> None:
        if deadline is not None and time.monotonic() >= deadline:
            raise PolicyBudgetExceeded("the cookie policy took too long to build")

    on_time()
    default = declaration.get("default_language", "en")
    policy = CookiePolicy(lang, declaration.get("name", ""), declaration.get("policy_url"))
    categories = {c["key"] for c in declaration.get("categories", [])}
    observed = _observed(scan_report)
    seen: set[str] = set()
    scan_party: dict[str, str] = {}
    for c in observed:
        scan_party.setdefault(c["name"], c.get("party", "first"))
    for cookie in declaration.get("cookies", []):
        on_time()
        if cookie.get("storage", "cookie") != "cookie":
            continue
        pattern = cookie.get("name_pattern")
        name = cookie.get("name") or pattern or ""
        category = cookie["category"] if cookie["category"] in CATEGORY_ORDER else None
        # A revision stored before names had to be tokens may still hold one that is not.
        if category is None or (not pattern and not is_cookie_token(name)):
            continue
        seen.add(name)
        party = scan_party.get(name, "first")
        if pattern:
            matched = []
            for i, observed_name in enumerate(scan_party):
                if i % 1024 == 1023:
                    on_time()
                if name_matches(pattern, observed_name):
                    matched.append(observed_name)
            party = scan_party[matched[0]] if matched else "first"
            seen.update(matched)
        policy.tables.setdefault(category, []).append(
            PolicyCookie(
                name=display_name(name, pattern),
                provider=cookie.get("provider", ""),
                lifetime=cookie.get("lifetime", "session"),
                purpose=_localized(cookie.get("purpose"), lang, default),
                party=party,
            )
        )
    for c in observed:
        on_time()
        category = c["classification"]["category"]
        if c["name"] in seen or category not in CATEGORY_ORDER:
            continue
        if categories and category not in categories and category != "necessary":
            continue
        seen.add(c["name"])
        seconds = c.get("requested_seconds")
        policy.tables.setdefault(category, []).append(
            PolicyCookie(
                name=c["name"],
                provider=c["classification"].get("vendor") or c.get("registrable_domain", ""),
                lifetime="session" if seconds is None else _iso_from_seconds(seconds),
                purpose=c["classification"].get("description") or "",
                party=c.get("party", "first"),
            )
        )
    policy.tables = {k: policy.tables[k] for k in CATEGORY_ORDER if k in policy.tables}
    return policy


def lifetime_text(value: str, lang: str) -> str:
    """'P2Y' -> '2 år' / '2 years'; 'session' -> 'sessionen' / 'session'."""
    t = TEXTS[lang]
    if value == "session":
        return t["session_cell"]
    match = re.fullmatch(
        r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?", value
    )
    if not match:
        days = round(parse_duration(value).total_seconds() / 86400)
        return f"{days} {t['units']['D'][1]}"
    parts = []
    for amount, unit in zip(match.groups(), ("Y", "M", "W", "D", "H", "MIN"), strict=True):
        if amount:
            n = int(amount)
            parts.append(f"{n} {t['units'][unit][0 if n == 1 else 1]}")
    return " ".join(parts)


# Markdown renderers pass raw HTML through and read these as syntax: in a value they are written
# as entities or backslash escapes, which every CommonMark renderer shows as the character.
_MARKDOWN_ESCAPES = {
    **{ord(c): f"&{n};" for c, n in (("&", "amp"), ("<", "lt"), (">", "gt"), ('"', "quot"))},
    **{ord(c): "\\" + c for c in "\\`*_{}[]()#+-.!|~"},
}


def markdown_text(value: Any) -> str:
    """A value as inert Markdown text: no HTML, no link, no emphasis, no table cell boundary."""
    # A line break (or any control character) would end a table row or start a block.
    text = "".join(c if c.isprintable() else " " for c in str(value))
    return text.translate(_MARKDOWN_ESCAPES)


def markdown_link(url: str) -> str:
    """An http(s) URL as a Markdown autolink (characters an autolink cannot hold encoded)."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme not in ("http", "https"):
        return markdown_text(url)
    return "<" + quote(url, safe="!#$%&'()*+,/:;=?@[]~-._") + ">"


def _paragraphs(
    policy: CookiePolicy,
    value: Callable[[Any], str],
    link: Callable[[str], str],
    fixed: Callable[[str], str],
) -> list[tuple[str, Any]]:
    """The section as ('h2'|'h3'|'p'|'table', content) blocks shared by both formats.

    `value` writes a declared or scanned value in the target format, `link` the policy URL and
    `fixed` this module's own texts.
    """
    words = TEXTS[policy.language]
    t = {k: fixed(v) if isinstance(v, str) else v for k, v in words.items()}
    blocks: list[tuple[str, Any]] = [("h2", t["title"])]
    blocks.append(("p", t["intro"].format(name=value(policy.site_name or ""))))
    classes = policy.lifetime_classes
    lifetimes = [t[k] for k in ("session", "persistent") if k in classes]
    if lifetimes:
        blocks.append(("p", " ".join(lifetimes)))
    for category, rows in policy.tables.items():
        heading, sentence = (fixed(x) for x in t["categories"][category])
        blocks.append(("h3", heading))
        blocks.append(("p", sentence))
        blocks.append(
            (
                "table",
                [
                    (
                        value(c.name),
                        value(c.provider),
                        value(lifetime_text(c.lifetime, policy.language)),
                        value(c.purpose),
                        value(words[c.party] if c.party in ("first", "third") else c.party),
                    )
                    for c in rows
                ],
            )
        )
    blocks.append(("p", t["consent"]))
    if policy.policy_url:
        blocks.append(("p", t["policy"].format(url=link(policy.policy_url))))
    return blocks


def render_markdown(policy: CookiePolicy) -> str:
    """The section as Markdown; every declared or scanned value is escaped (markdown_text)."""
    cols = TEXTS[policy.language]["columns"]
    out = []
    # The fixed texts are plain sentences: Markdown as they are.
    for kind, content in _paragraphs(policy, markdown_text, markdown_link, str):
        if kind == "h2":
            out.append(f"## {content}\n")
        elif kind == "h3":
            out.append(f"### {content}\n")
        elif kind == "p":
            out.append(f"{content}\n")
        else:
            out.append("| " + " | ".join(cols) + " |")
            out.append("|" + "---|" * len(cols))
            for row in content:
                out.append("| " + " | ".join(row) + " |")
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def _html_text(value: Any) -> str:
    return escape(str(value))


def render_html(policy: CookiePolicy) -> str:
    """The section as an embeddable HTML fragment (every value escaped)."""
    cols = TEXTS[policy.language]["columns"]
    out = [f'<section class="cookie-policy" lang="{escape(policy.language)}">']
    for kind, content in _paragraphs(policy, _html_text, _html_text, _html_text):
        if kind in ("h2", "h3", "p"):
            out.append(f"<{kind}>{content}</{kind}>")
        else:
            head = "".join(f'<th scope="col">{escape(c)}</th>' for c in cols)
            body = "".join(
                "<tr>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>" for row in content
            )
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    out.append("</section>")
    return "\n".join(out) + "\n"
