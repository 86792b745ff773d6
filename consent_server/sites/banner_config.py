"""The banner configuration of a revision in one language, rendered once and cached."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from typing import Any

import orjson

from consent_server.sites.service import RevisionView, SiteView
from declaration.constants import TEXT_KEYS
from declaration.durations import parse_duration

BUILTIN_TEXTS: dict[str, dict[str, str]] = {
    "sv": {
        "title": "Vi använder kakor",
        "body": "Vi använder kakor (cookies) för att webbplatsen ska fungera och, om du "
        "samtycker, för att förstå hur den används och för marknadsföring.",
        "accept_all": "Godkänn alla",
        "reject_all": "Neka alla",
        "settings": "Inställningar",
        "save": "Spara val",
        "close": "Stäng",
        "policy_link": "Integritetspolicy",
        "settings_title": "Inställningar för kakor",
        "settings_body": "Välj vilka kategorier du godkänner. Du kan ändra dig när som helst.",
        "always_on": "Alltid på",
        "cookie_settings": "Kakinställningar",
        "consent_id": "Ditt samtyckes-id",
        "download_receipt": "Ladda ner kvitto",
        "choice_date": "Ditt val gjordes",
        "gpc_note": "Din webbläsare skickar Global Privacy Control: vi har därför bara "
        "tillåtit nödvändiga kakor. Du kan ändra det här.",
        "blocked": "Innehållet är blockerat tills du godkänner",
        "allow": "Tillåt",
        "col_name": "Kaka",
        "col_provider": "Leverantör",
        "col_lifetime": "Livslängd",
        "col_purpose": "Syfte",
        "session": "sessionen",
    },
    "en": {
        "title": "We use cookies",
        "body": "We use cookies to make this website work and, if you agree, to understand "
        "how it is used and for marketing.",
        "accept_all": "Accept all",
        "reject_all": "Reject all",
        "settings": "Settings",
        "save": "Save choices",
        "close": "Close",
        "policy_link": "Privacy policy",
        "settings_title": "Cookie settings",
        "settings_body": "Choose which categories you allow. You can change your mind at any time.",
        "always_on": "Always on",
        "cookie_settings": "Cookie settings",
        "consent_id": "Your consent id",
        "download_receipt": "Download receipt",
        "choice_date": "Your choice was made",
        "gpc_note": "Your browser sends Global Privacy Control, so we allowed only necessary "
        "cookies. You can change that here.",
        "blocked": "This content is blocked until you allow",
        "allow": "Allow",
        "col_name": "Cookie",
        "col_provider": "Provider",
        "col_lifetime": "Lifetime",
        "col_purpose": "Purpose",
        "session": "session",
    },
}

_cache: dict[tuple[str, int, str, str], tuple[bytes, str]] = {}
_lock = threading.Lock()


def choose_language(content: dict[str, Any], requested: str | None, accepted: Iterable[str]) -> str:
    """?lang= first, then Accept-Language, then the site default; primary subtags match."""
    languages = content.get("languages") or [content.get("default_language", "en")]

    def match(tag: str | None) -> str | None:
        if not tag:
            return None
        tag = tag.strip().lower()
        for lang in languages:
            if lang.lower() == tag:
                return lang
        primary = tag.split("-")[0]
        for lang in languages:
            if lang.lower().split("-")[0] == primary:
                return lang
        return None

    for candidate in (requested, *accepted):
        found = match(candidate)
        if found:
            return found
    return content.get("default_language") or languages[0]


def _pick(localized: dict[str, str] | None, lang: str, default: str) -> str:
    if not localized:
        return ""
    return localized.get(lang) or localized.get(default) or next(iter(localized.values()), "")


def render_config(site: SiteView, revision: RevisionView, lang: str) -> tuple[bytes, str]:
    """The JSON body and strong ETag of the configuration; both cached per revision and language."""
    key = (site.key, revision.number, revision.content_hash, lang)
    hit = _cache.get(key)
    if hit:
        return hit
    content = revision.content
    default = content.get("default_language", "en")
    base = BUILTIN_TEXTS.get(lang.split("-")[0]) or BUILTIN_TEXTS["en"]
    own = (content.get("texts") or {}).get(lang) or {}
    texts = {k: own.get(k) or base.get(k, "") for k in TEXT_KEYS}
    lifetime = content.get("consent_lifetime", "P12M")
    body = {
        "site": site.key,
        "name": content.get("name", site.name),
        "revision": revision.number,
        "revision_hash": revision.content_hash,
        "language": lang,
        "languages": content.get("languages", [default]),
        "policy_url": content.get("policy_url"),
        "consent_lifetime": lifetime,
        "consent_lifetime_days": max(1, round(parse_duration(lifetime).total_seconds() / 86400)),
        "categories": [
            {
                "key": c["key"],
                "required": bool(c.get("required")),
                "title": _pick(c.get("title"), lang, default) or c["key"],
                "description": _pick(c.get("description"), lang, default),
                "google_consent_mode": c.get("google_consent_mode", []),
            }
            for c in content["categories"]
        ],
        "cookies": [
            {
                "name": c.get("name"),
                "name_pattern": c.get("name_pattern"),
                "domain": c.get("domain"),
                "provider": c.get("provider", ""),
                "category": c["category"],
                "lifetime": c.get("lifetime", "session"),
                "storage": c.get("storage", "cookie"),
                "purpose": _pick(c.get("purpose"), lang, default),
            }
            for c in content.get("cookies", [])
        ],
        "texts": texts,
    }
    raw = orjson.dumps(body)
    etag = '"' + hashlib.sha256(raw).hexdigest()[:40] + '"'
    with _lock:
        _cache[key] = (raw, etag)
    return raw, etag
