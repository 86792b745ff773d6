"""Category of a cookie or storage key, and whether it is first or third party.

`classify` decides in this order: the site's declaration, the knowledge base of known
cookies, then rules on the shape of the name; a cookie none of them recognises is
`unknown`. `party` compares registrable domains by the public suffix list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from declaration.patterns import name_matches
from scanner.knowledge import (
    KnowledgeBase,
    KnowledgeEntry,
    is_ip,
    normalize_host,
    registrable_domain,
)
from scanner.model import Classification

__all__ = ["classify", "declared_cookie", "party", "registrable_domain", "rule_category"]


# --- Party ---------------------------------------------------------------------------------


def party(cookie_domain: str, site_host: str) -> tuple[str, str]:
    """("first" or "third", the cookie's registrable domain) for a cookie seen on a site.

    A leading dot is ignored; IP addresses compare exactly and `localhost` (any host without
    a registrable domain) is its own site.
    """
    cookie_site = registrable_domain(cookie_domain)
    return ("first" if cookie_site == registrable_domain(site_host) else "third", cookie_site)


# --- Declaration ---------------------------------------------------------------------------


def _declared_list(declaration: Any) -> list[Mapping[str, Any]]:
    """The cookies of a Declaration, of its data mapping, or a plain list of cookie mappings."""
    if declaration is None:
        return []
    data = getattr(declaration, "data", declaration)
    if isinstance(data, Mapping):
        data = data.get("cookies") or []
    return [c for c in data if isinstance(c, Mapping)]


def _covers(declared: str, host: str) -> bool:
    """Whether the declared domain is the host or one of its parents (`*.` allowed)."""
    declared = normalize_host(declared)
    if declared.startswith("*."):
        declared = declared[2:]
    if not declared or not host:
        return False
    if is_ip(declared) or is_ip(host):
        return registrable_domain(declared) == registrable_domain(host)
    return host == declared or host.endswith("." + declared)


def _of_site(host: str, site_domains: Iterable[str]) -> bool:
    """Whether the host belongs to one of the site's domains (same registrable domain)."""
    sites = {registrable_domain(d.removeprefix("*.")) for d in site_domains if d}
    return not sites or registrable_domain(host) in sites


def declared_cookie(
    name: str,
    domain: str,
    storage: str = "cookie",
    declaration: Any = None,
    site_domains: Iterable[str] = (),
) -> Mapping[str, Any] | None:
    """The declared cookie that covers this one, or None.

    Exact names are tried before patterns (searched like the banner's JavaScript
    `RegExp.test`). A declared `domain` must be the cookie's domain or a parent of it; a
    declared cookie without one covers the site's own domains (all domains when the site's
    domains are not given). The storage (cookie, local, session) must agree.
    """
    host = normalize_host(domain)
    cookies = [c for c in _declared_list(declaration) if c.get("storage", "cookie") == storage]

    def in_scope(cookie: Mapping[str, Any]) -> bool:
        if cookie.get("domain"):
            return _covers(cookie["domain"], host)
        return _of_site(host, site_domains)

    for cookie in cookies:
        if cookie.get("name") == name and in_scope(cookie):
            return cookie
    for cookie in cookies:
        pattern = cookie.get("name_pattern")
        if not pattern or cookie.get("name") is not None:
            continue
        if name_matches(pattern, name) and in_scope(cookie):
            return cookie
    return None


# --- Rules ---------------------------------------------------------------------------------

_PARTS = re.compile(r"[^A-Za-z0-9]+")
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_SESSION_WORDS = {"sess", "session", "sessid", "sessionid", "sesskey", "sessionkey", "sid", "ssid"}
_SESSION_SHAPE = re.compile(r"^S?SESS[0-9a-fA-F]{8,}$")
_LB_WORDS = {
    "lb",
    "alb",
    "elb",
    "route",
    "routeid",
    "serverid",
    "affinity",
    "sticky",
    "stickiness",
    "ingresscookie",
}
_LB_PREFIXES = ("bigipserver", "awselb", "awsalb", "arraffinity", "ingresscookie")
_PREFERENCE_WORDS = {
    "lang",
    "language",
    "locale",
    "lng",
    "i18n",
    "i18next",
    "currency",
    "theme",
    "darkmode",
    "colorscheme",
    "colormode",
}
_PREFERENCE_PHRASES = ("dark_mode", "dark-mode", "color_scheme", "color-scheme", "colour_scheme")


def _words(name: str) -> tuple[set[str], set[str]]:
    """(parts split on punctuation, those parts split further on camelCase), lower case."""
    parts = {p.lower() for p in _PARTS.split(name) if p}
    words = set(parts)
    for part in _PARTS.split(name):
        words.update(w.lower() for w in _WORDS.findall(part))
    return parts, words


def rule_category(name: str) -> tuple[str, str] | None:
    """(category, reason) when the name has the shape of a well-known kind of cookie."""
    lower = name.lower()
    parts, words = _words(name)
    if (
        _SESSION_SHAPE.match(name)
        or words & _SESSION_WORDS
        or any(p.endswith(("sessid", "sessionid")) for p in parts)
    ):
        return "necessary", "The name has the shape of a session identifier."
    if (
        any("csrf" in w or "xsrf" in w or "antiforgery" in w for w in parts)
        or "requestverificationtoken" in lower
        or lower == "_token"
    ):
        return "necessary", "The name has the shape of an anti-forgery (CSRF) token."
    if words & _LB_WORDS or lower.startswith(_LB_PREFIXES) or "affinity" in lower:
        return "necessary", "The name has the shape of a load-balancer or affinity cookie."
    if words & _PREFERENCE_WORDS or any(p in lower for p in _PREFERENCE_PHRASES):
        return "preferences", "The name has the shape of a language, currency or theme setting."
    return None


# --- Classification ------------------------------------------------------------------------


def _knowledge(knowledge: KnowledgeBase | None) -> KnowledgeBase:
    return knowledge if knowledge is not None else KnowledgeBase.load_default()


def classify(
    name: str,
    domain: str,
    storage: str = "cookie",
    *,
    declaration: Any = None,
    knowledge: KnowledgeBase | None = None,
    site_domains: Iterable[str] = (),
) -> Classification:
    """Category of one cookie (or localStorage / sessionStorage key) and how it was decided.

    1. The declaration (a Declaration, its data, or a list of cookie mappings): source
       "declared", with the declared category and lifetime.
    2. The knowledge base (None means the bundled default; `KnowledgeBase.empty()` for
       none): source "knowledge", with vendor, typical lifetime and description.
    3. Rules on the name's shape (session IDs, CSRF tokens, load-balancer cookies are
       necessary; language, currency and theme are preferences): source "rule". When the
       site's domains are given, rules only apply to the site's own (first-party) cookies:
       a third party's "sid" says nothing about what it is for.
    4. Otherwise category "unknown", source "none".
    """
    site_domains = tuple(site_domains)
    kb = _knowledge(knowledge)
    declared = declared_cookie(name, domain, storage, declaration, site_domains)
    if declared is not None:
        known = kb.lookup(name, domain, storage)
        return Classification(
            category=str(declared.get("category")),
            source="declared",
            vendor=declared.get("provider") or (known.vendor if known else None),
            declared_category=declared.get("category"),
            declared_lifetime=declared.get("lifetime", "session"),
            typical_lifetime=known.lifetime if known else None,
            description=known.description if known else None,
        )
    known = kb.lookup(name, domain, storage)
    if known is not None:
        return _from_knowledge(known)
    rule = rule_category(name)
    if rule is not None and _of_site(normalize_host(domain), site_domains):
        category, reason = rule
        return Classification(category=category, source="rule", description=reason)
    return Classification(category="unknown", source="none")


def _from_knowledge(entry: KnowledgeEntry) -> Classification:
    return Classification(
        category=entry.category,
        source="knowledge",
        vendor=entry.vendor,
        typical_lifetime=entry.lifetime,
        description=entry.description or None,
    )
