"""Category of a cookie or storage key, and whether it is first or third party.

`classify` decides in this order: the site's declaration, the knowledge base of known
cookies, rules on the shape of the name, a known name seen on an unexpected domain, then
general evidence (vendor prefixes, the setting host, words in the name); a cookie none of
them recognises is `unknown`. Every result says how sure it is (`confidence`) and why
(`reason`). `party` compares registrable domains by the public suffix list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import unquote

import yaml

from declaration.patterns import name_matches
from scanner.knowledge import (
    KnowledgeBase,
    KnowledgeEntry,
    is_ip,
    normalize_host,
    registrable_domain,
)
from scanner.model import Classification
from scanner.observe import host_of

__all__ = [
    "CONFIDENCE",
    "classify",
    "declared_cookie",
    "evidence",
    "party",
    "registrable_domain",
    "rule_category",
]

# How sure each way of deciding is. A known name on its own domains is near certain; the
# same name elsewhere is probably the same cookie passed through another host; the rest is
# evidence that generalises to names never seen, and is wrong more often.
CONFIDENCE = {
    "declared": 1.0,
    "knowledge": 0.9,
    "rule": 0.8,
    "unexpected_domain": 0.6,
    "vendor_prefix": 0.6,
    "host": 0.5,
    "setter": 0.5,
    "value": 0.5,
    "name_words": 0.5,
    "third_party_shape": 0.5,
    "host_words": 0.4,
    "service": 0.4,
    "third_party_id": 0.4,
    "none": 0.0,
}
# Names shorter than this are too generic ("id", "s") to carry a vendor to another domain.
MIN_MOVED_NAME = 3
# Hostile input: nothing longer is looked at (a cookie name is at most 4096 bytes anyway).
MAX_NAME = 256


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
# A part ending in one of these is a setting too ("sitelocale", "PreferredCulture"); not
# "lang" or "session", whose lookalikes ("slang", "possession") are common words.
_PREFERENCE_ENDINGS = ("language", "locale", "culture", "currency")
# Other settings a visitor chose: recently viewed or compared items, a chosen layout.
_SETTING_WORDS = {"preferences", "prefs", "settings", "recently"}


def _words(name: str) -> tuple[set[str], set[str]]:
    """(parts split on punctuation, those parts split further on camelCase), lower case."""
    parts = {p.lower() for p in _PARTS.split(name) if p}
    words = set(parts)
    for part in _PARTS.split(name):
        words.update(w.lower() for w in _WORDS.findall(part))
    return parts, words


def rule_category(name: str) -> tuple[str, str] | None:
    """(category, reason) when the name has the shape of a well-known kind of cookie."""
    parts, words = _words(name)
    if (
        _SESSION_SHAPE.match(name)
        or words & _SESSION_WORDS
        or any(p.endswith(("sessid", "sessionid")) for p in parts)
    ):
        return "necessary", "The name has the shape of a session identifier."
    return _machinery(name) or _setting(name)


def _machinery(name: str) -> tuple[str, str] | None:
    """(necessary, reason) for a CSRF token or a load-balancer cookie, whoever sets it."""
    lower = name.lower()
    parts, words = _words(name)
    if (
        any("csrf" in w or "xsrf" in w or "antiforgery" in w for w in parts)
        or "requestverificationtoken" in lower
        or lower == "_token"
    ):
        return "necessary", "The name has the shape of an anti-forgery (CSRF) token."
    if words & _LB_WORDS or lower.startswith(_LB_PREFIXES) or "affinity" in lower:
        return "necessary", "The name has the shape of a load-balancer or affinity cookie."
    return None


def _setting(name: str) -> tuple[str, str] | None:
    """(preferences, reason) for a language, currency, theme or other chosen setting."""
    lower = name.lower()
    parts, words = _words(name)
    if (
        words & _PREFERENCE_WORDS
        or any(p in lower for p in _PREFERENCE_PHRASES)
        or any(p.endswith(_PREFERENCE_ENDINGS) for p in parts)
    ):
        return "preferences", "The name has the shape of a language, currency or theme setting."
    if words & _SETTING_WORDS and not words & _CONSENT_WORDS and "cookie" not in words:
        return "preferences", "The name has the shape of a setting the visitor chose."
    return None


# --- Evidence for names never seen ---------------------------------------------------------

_MARKETING_WORDS = {
    "ad",
    "ads",
    "adv",
    "advert",
    "advertising",
    "adserver",
    "pixel",
    "track",
    "tracker",
    "tracking",
    "trk",
    "retarget",
    "retargeting",
    "remarketing",
    "campaign",
    "affiliate",
    "usync",
    "cookiesync",
    "rtb",
    "dsp",
    "audience",
    "fbp",
    "fbclid",
    "gclid",
    "msclkid",
    "utm",
}
_MARKETING_ENDINGS = ("tracker", "tracking", "pixel", "retargeting")
_ANALYTICS_WORDS = {
    "analytics",
    "ga",
    "stats",
    "statistics",
    "pageview",
    "pageviews",
    "heatmap",
    "experiment",
    "abtest",
    "metrics",
    "visit",
    "visits",
    "visited",
    "visitor",
    "visitors",
}
_ID_WORDS = {"uid", "uuid", "guid", "vid", "visitorid", "userid", "deviceid", "browserid"}
# The same identifiers written in parts ("user_id", "visitorId"), read with punctuation gone.
_ID_RUNS = ("uuid", "guid", "visitorid", "userid", "deviceid", "browserid")
# Values in a tracker's own format: copies of a client id under another name (server-side
# tagging, a site's renamed cookies) still carry it. Each pattern is anchored and has no
# nested repetition, and is matched against a bounded, decoded value.
_VALUE_SHAPES = (
    (re.compile(r"GA1\.\d\.\d{4,12}\.\d{9,11}"), "Google Analytics", "analytics", "client id"),
    (re.compile(r"GS[12]\.\d\.s?\d{9,11}[.$]\S*"), "Google Analytics", "analytics", "session"),
    (re.compile(r"fb\.\d\.\d{13}\.[\w-]+"), "Meta", "marketing", "browser or click id"),
    (re.compile(r"GCL\.\d{9,11}\.[\w-]+"), "Google Ads", "marketing", "click id"),
    (
        re.compile(r"[0-9a-f]{32}\.[0-9a-f]{32}\.\d{13}\.\d{13}\.\d{13}\.\d+"),
        "HubSpot",
        "marketing",
        "visitor id",
    ),
    (re.compile(r"[0-9a-f]{16}\.\d{10}\.?"), "Matomo", "analytics", "visitor id"),
    (
        re.compile(r"[0-9a-z]+\|\d{13}\|\d+\|\d\|[a-z]\.clarity\.ms/collect"),
        "Microsoft Clarity",
        "analytics",
        "session",
    ),
)
# Nothing longer is looked at: every format above fits well within it.
MAX_VALUE = 256
_CONSENT_WORDS = {"consent", "gdpr", "cookielaw", "cmp"}
_CART_WORDS = {"cart", "basket", "checkout", "wishlist"}
_AUTH_WORDS = {"auth", "login", "logged", "remember"}
# With "cookie(s)" in the name, these words make it the record of the visitor's choice
# ("cookie_notice_accepted", "cookies_allowed", "CookieLevel", "cookiePreferences").
_CONSENT_CHOICE_WORDS = {
    "accept",
    "accepted",
    "allow",
    "allowed",
    "agree",
    "agreed",
    "notice",
    "policy",
    "banner",
    "level",
    "preferences",
    "settings",
    "optin",
    "optout",
    "law",
    "bar",
}


# Labels of a third party's host (split on dots and hyphens) that name what it serves:
# "ads.example.net", "pixel-eu.example.com", "stats.example.org". Whole labels only, since
# "ads" or "stat" hide inside ordinary words ("uploads", "status"); the longer words may
# also start a label ("marketingautomation", "analyticsedge").
_AD_HOST_LABELS = {
    "ad",
    "ads",
    "adserver",
    "adserv",
    "adtech",
    "adsrv",
    "pixel",
    "pixels",
    "track",
    "tracker",
    "tracking",
    "trk",
    "retarget",
    "rtb",
    "bid",
    "bidder",
    "sync",
    "usersync",
    "cookiesync",
    "affiliate",
    "affiliates",
}
_AD_HOST_STARTS = ("advert", "marketing", "tracking", "retarget", "affiliate")
_ANALYTICS_HOST_LABELS = {
    "analytics",
    "stats",
    "stat",
    "statistics",
    "metrics",
    "metric",
    "telemetry",
    "insights",
    "collect",
    "collector",
    "beacon",
    "heatmap",
    "heatmaps",
}
_ANALYTICS_HOST_STARTS = ("analytics", "statistic", "telemetry", "heatmap")


@dataclass(frozen=True)
class _Hints:
    prefixes: tuple[tuple[str, str, str], ...]  # (lower-case prefix, vendor, category)
    domains: dict[str, tuple[str, str]]  # registrable domain -> (vendor, category)
    services: dict[str, tuple[str, str]]  # a platform's own domain -> (vendor, category)
    relays: frozenset[str]  # tag managers and script CDNs: their scripts run others' code


@lru_cache(maxsize=1)
def _hints() -> _Hints:
    """Vendor prefixes and tracker domains of scanner/knowledge/hints.yaml (loaded once)."""
    text = resources.files("scanner.knowledge").joinpath("hints.yaml").read_text("utf-8")
    data = yaml.safe_load(text) or {}
    prefixes = sorted(
        ((p["prefix"].lower(), p["vendor"], p["category"]) for p in data.get("prefixes") or []),
        key=lambda p: -len(p[0]),  # the longest prefix is the most specific
    )
    domains = {d["domain"]: (d["vendor"], d["category"]) for d in data.get("domains") or []}
    services = {d["domain"]: (d["vendor"], d["category"]) for d in data.get("services") or []}
    relays = frozenset(d["domain"] for d in data.get("relays") or [])
    return _Hints(tuple(prefixes), domains, services, relays)


_RANK = {"marketing": 3, "analytics": 2, "preferences": 1, "necessary": 0}


@lru_cache(maxsize=4096)
def _kb_domain(kb: KnowledgeBase, registrable: str) -> tuple[str, str] | None:
    """(vendor, category) of the most tracking knowledge-base entry limited to this domain."""
    best = None
    for entry in kb.entries:
        if (
            entry.domains
            and entry.applies_to(registrable)
            and (best is None or _RANK.get(entry.category, 0) > _RANK.get(best.category, 0))
        ):
            best = entry
    return (best.vendor, best.category) if best else None


def _host_words(host: str) -> tuple[str, str] | None:
    """(category, label) when a label of the host names advertising or measurement."""
    labels = [p for p in re.split(r"[.-]", host.lower()) if p]
    for label in labels:
        if label in _AD_HOST_LABELS or label.startswith(_AD_HOST_STARTS):
            return "marketing", label
        if label in _ANALYTICS_HOST_LABELS or label.startswith(_ANALYTICS_HOST_STARTS):
            return "analytics", label
    return None


def _tracking_domain(registrable: str, kb: KnowledgeBase | None) -> tuple[str, str] | None:
    """(vendor, category) a registrable domain is known for: hints.yaml `domains`, else
    (unless it is a platform's service domain) the knowledge base's domain limits."""
    hints = _hints()
    known = hints.domains.get(registrable)
    if known is None and registrable not in hints.services and kb is not None:
        known = _kb_domain(kb, registrable)
    return known


def _script_vendor(
    setter_host: str, cookie_registrable: str, kb: KnowledgeBase | None
) -> tuple[str, str] | None:
    """(vendor, category) of a known advertising or measurement domain whose script wrote
    the cookie; None for the cookie's own domain and for relays (tag managers, script CDNs),
    whose scripts run other vendors' code."""
    script = registrable_domain(setter_host)
    if not script or script == cookie_registrable or script in _hints().relays:
        return None
    known = _tracking_domain(script, kb)
    # A vendor's script also writes cookies for its own working: only tracking is inferred.
    if known is not None and known[1] in ("analytics", "marketing"):
        return known
    return None


def _value_shape(value: str) -> tuple[str, str, str] | None:
    """(vendor, category, what) when the value has a tracker's own format."""
    text = unquote(value[:MAX_VALUE]).strip().strip('"')
    for pattern, vendor, category, what in _VALUE_SHAPES:
        if pattern.fullmatch(text):
            return vendor, category, what
    return None


def _short(text: str, limit: int = 80) -> str:
    """A name or host as a reason quotes it: bounded, one line."""
    text = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return text if len(text) <= limit else text[:limit] + "…"


def evidence(
    name: str,
    host: str,
    *,
    third_party: bool | None,
    kb: KnowledgeBase | None = None,
    setter: str | None = None,
    value: str | None = None,
) -> tuple[str, str, float, str | None] | None:
    """(category, reason, confidence, vendor) from general evidence, for a name never seen.

    In order: a vendor's name prefix; the host, when a third party's, being a known
    advertising or measurement domain (hints.yaml, then the knowledge base's domain
    limits); the script that wrote the cookie (`setter`, a URL) coming from such a domain;
    the value in a tracker's own format (a Google Analytics client id, a Meta browser id);
    words of advertising or analytics in the name; a CSRF token, load-balancer cookie or
    setting, whoever sets it; a label of a third party's host naming advertising or
    measurement ("ads.", "stats."); the host, when a third party's, being a platform's own
    domain (hints.yaml services: sign-in, chat, payment, store); an identifier or a
    cookie-sync name set by a third party (readable across sites, so marketing).
    `third_party` None means the party is not known (the site's domains were not given):
    the host still counts, an identifier not. None when nothing speaks.
    """
    name = name[:MAX_NAME]
    lower = name.lower()
    hints = _hints()
    for prefix, vendor, category in hints.prefixes:
        if lower.startswith(prefix):
            reason = (
                f"the name starts with {prefix!r}, the prefix {vendor} uses for its "
                f"{category} cookies"
            )
            return category, reason, CONFIDENCE["vendor_prefix"], vendor
    registrable = registrable_domain(host) if host else ""
    service = hints.services.get(registrable) if third_party is not False else None
    if third_party is not False and registrable:
        known = _tracking_domain(registrable, kb)
        if known is not None:
            vendor, category = known
            reason = f"set by {_short(host)}, a domain of {vendor} used for {category}"
            return category, reason, CONFIDENCE["host"], vendor
    # A page names its own scripts (`//# sourceURL=`): only the host of a bounded URL is read.
    setter_host = normalize_host(host_of(setter[:2048])) if setter else ""
    script = _script_vendor(setter_host, registrable, kb) if setter_host else None
    if script is not None:
        vendor, category = script
        reason = (
            f"written by a script from {_short(setter_host)}, a domain of {vendor} used for "
            f"{category}"
        )
        return category, reason, CONFIDENCE["setter"], vendor
    shape = _value_shape(value) if value else None
    if shape is not None:
        vendor, category, what = shape
        reason = f"the value has the format of a {vendor} {what}"
        return category, reason, CONFIDENCE["value"], vendor
    parts, words = _words(name)
    analytics = words & _ANALYTICS_WORDS or ({"ab"} if {"ab", "test"} <= words else set())
    # A run of letters ending in a tracking word ("BSWtracker", "sitepixel") says the same.
    marketing = words & _MARKETING_WORDS or {
        ending for p in parts for ending in _MARKETING_ENDINGS if p.endswith(ending)
    }
    for found, category in ((marketing, "marketing"), (analytics, "analytics")):
        if found:
            word = sorted(found)[0]
            reason = f"the name contains {word!r}, a word of {category} cookies"
            return category, reason, CONFIDENCE["name_words"], None
    shape = _machinery(name) or _setting(name)
    if shape is not None:
        # A CSRF token, a load balancer's cookie or a language setting serves the service
        # that sets it, first party or third; a session id of a third party may be a
        # tracking id, so it is not among these.
        category, reason = shape
        return category, reason, CONFIDENCE["third_party_shape"], None
    # Unlike a listed domain, a host's name is only read when it is known to be a third
    # party's: a site called "ad-agency.se" names its own cookies nothing.
    labelled = _host_words(host) if third_party is True else None
    if labelled is not None:
        category, label = labelled
        reason = f"set by {_short(host)}, whose name ({label!r}) says it serves {category}"
        return category, reason, CONFIDENCE["host_words"], None
    if service is not None and registrable:
        vendor, category = service
        reason = (
            f"set by {_short(host)}, the own domain of {vendor}'s service, whose cookies keep "
            "the embedded service working"
        )
        return category, reason, CONFIDENCE["service"], vendor
    if third_party is True:
        run = _PARTS.sub("", lower)
        if (
            words & _ID_WORDS
            or any(p.endswith(("uid", "uuid")) for p in parts)
            or any(r in run for r in _ID_RUNS)
        ):
            reason = (
                f"an identifier set by a third party ({_short(host)}), which it can read on "
                "every site that embeds it"
            )
            return "marketing", reason, CONFIDENCE["third_party_id"], None
        if "sync" in lower or "matched" in words:
            reason = (
                f"a cookie-matching name set by a third party ({_short(host)}): ad platforms "
                "sync their visitor ids this way"
            )
            return "marketing", reason, CONFIDENCE["third_party_id"], None
    return None


def _site_words(name: str) -> tuple[str, str] | None:
    """(category, reason) of a first-party cookie by the site machinery its name names."""
    _, words = _words(name[:MAX_NAME])
    lower = name[:MAX_NAME].lower()
    if "consent" in lower or words & _CONSENT_WORDS:
        return "necessary", "The name has the shape of a record of the visitor's consent choice."
    if words & _CART_WORDS:
        return "necessary", "The name has the shape of a shopping cart or checkout cookie."
    if words & _AUTH_WORDS:
        return "necessary", "The name has the shape of a sign-in cookie."
    if "cookie" in lower and words & _CONSENT_CHOICE_WORDS:
        return "necessary", "The name has the shape of a record of the visitor's consent choice."
    if ("cookie" in lower or "js" in words) and words & {"test", "check", "enabled", "has"}:
        return "necessary", "The name has the shape of a check whether cookies work."
    if words & {"nocache", "cache"} or "no_cache" in lower:
        return "necessary", "The name has the shape of a page-cache control cookie."
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
    setter: str | None = None,
    session: bool | None = None,
    value: str | None = None,
) -> Classification:
    """Category of one cookie (or localStorage / sessionStorage key) and how it was decided.

    1. The declaration (a Declaration, its data, or a list of cookie mappings): source
       "declared", with the declared category and lifetime. Confidence 1.
    2. The knowledge base (None means the bundled default; `KnowledgeBase.empty()` for
       none): source "knowledge", with vendor, typical lifetime and description. 0.9.
    3. Rules on the name's shape (session IDs, CSRF tokens, load-balancer cookies, consent
       records, carts, sign-in are necessary; language, currency and theme are
       preferences): source "rule", 0.8. When the site's domains are given, these only
       apply to the site's own (first-party) cookies: a third party's "sid" says nothing
       about what it is for.
    4. A name the knowledge base knows on other domains (IDE from a white-label host,
       VISITOR_INFO1_LIVE from an embed proxy): source "knowledge", that entry's category
       and vendor, 0.6, and a reason that says the domain was unexpected.
    5. Evidence (`evidence`): a vendor's name prefix 0.6; a third party's host known for
       advertising or measurement 0.5; a script from such a domain that wrote the cookie
       (`setter`, the script's URL) 0.5; the `value` in a tracker's own format 0.5;
       advertising or analytics words in the name 0.5; a
       CSRF, load-balancer or setting shape of a third party 0.5; a label of a third
       party's host such as "ads." or "stats." 0.4; a platform's own domain 0.4; an
       identifier or cookie-sync name set by a third party 0.4. Source "rule".
    6. Otherwise category "unknown", source "none", confidence 0. A cookie of the site's own
       (the site's domains given) that was set as a session cookie (`session` True: no
       expiry) also gets a `guess` of preferences, which nothing acts on.
    """
    site_domains = tuple(site_domains)
    kb = _knowledge(knowledge)
    host = normalize_host(domain)
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
            confidence=CONFIDENCE["declared"],
            reason="declared by the site",
        )
    known = kb.lookup(name, domain, storage)
    if known is not None:
        return _from_knowledge(known, CONFIDENCE["knowledge"], f"known cookie of {known.vendor}")
    first_party = _of_site(host, site_domains)
    if first_party:
        rule = rule_category(name[:MAX_NAME]) or _site_words(name)
        if rule is not None:
            category, reason = rule
            return Classification(
                category=category,
                source="rule",
                description=reason,
                confidence=CONFIDENCE["rule"],
                reason=reason,
            )
    moved = kb.lookup_name(name, storage) if len(name) >= MIN_MOVED_NAME else None
    if moved is not None:
        reason = f"known name of {moved.vendor}, seen on an unexpected domain {_short(host)}"
        return _from_knowledge(moved, CONFIDENCE["unexpected_domain"], reason)
    third_party = (not first_party) if site_domains else None
    found = evidence(name, host, third_party=third_party, kb=kb, setter=setter, value=value)
    if found is not None:
        category, reason, confidence, vendor = found
        return Classification(
            category=category, source="rule", vendor=vendor, confidence=confidence, reason=reason
        )
    reason = "no declaration, known name or evidence matched"
    guess = None
    if storage == "cookie" and session is True and site_domains and first_party:
        # A session cookie ends with the visit, so it cannot recognise a returning visitor:
        # of the site's own, it more likely keeps state for the visit than measures or
        # advertises. Only a guess: a tracker can still count one visit's pages.
        guess = "preferences"
        reason += (
            "; best guess preferences: a session cookie of the site's own cannot recognise a "
            "returning visitor"
        )
    return Classification(
        category="unknown",
        source="none",
        confidence=CONFIDENCE["none"],
        reason=reason,
        guess=guess,
    )


def _from_knowledge(entry: KnowledgeEntry, confidence: float, reason: str) -> Classification:
    return Classification(
        category=entry.category,
        source="knowledge",
        vendor=entry.vendor,
        typical_lifetime=entry.lifetime,
        description=entry.description or None,
        confidence=confidence,
        reason=reason,
    )
