"""The banner configuration of a revision in one language, rendered once and cached."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from consent_server.sites.regions import has_rules
from consent_server.sites.service import RevisionView, SiteView
from declaration.constants import TEXT_KEYS
from declaration.durations import parse_duration

# One JSON file per language, shared with the banner's build (dist/i18n/<lang>.<hash>.json).
I18N_DIR = Path(__file__).resolve().parents[2] / "static" / "banner" / "src" / "i18n"
BUILTIN_TEXTS: dict[str, dict[str, str]] = {
    p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(I18N_DIR.glob("*.json"))
}


def primary_language(tag: str) -> str:
    """The primary subtag in lower case; Norwegian (no, nn) reads as Bokmål (nb)."""
    primary = tag.strip().lower().split("-")[0]
    return "nb" if primary in ("no", "nn") else primary


def builtin_texts(lang: str) -> dict[str, str]:
    """The built-in texts of a language, English when it has none."""
    return BUILTIN_TEXTS.get(primary_language(lang)) or BUILTIN_TEXTS["en"]


_cache: dict[tuple[str, int, str, str, bool, bool], tuple[bytes, str]] = {}
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
        primary = primary_language(tag)
        for lang in languages:
            if primary_language(lang) == primary:
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


def render_config(
    site: SiteView, revision: RevisionView, lang: str, own_texts: bool = False, geo: bool = False
) -> tuple[bytes, str]:
    """The JSON body and strong ETag of the configuration; both cached per revision and language.

    With `own_texts` the texts are only the site's own: the banner loads the built-in ones
    from its language file (cached for a year), older banners get them merged here.
    """
    # geo: the operator enabled region rules; the body then says whether the banner must ask
    # /region first. It never depends on the visitor's country: one cacheable answer for all.
    key = (site.key, revision.number, revision.content_hash, lang, own_texts, geo)
    hit = _cache.get(key)
    if hit:
        return hit
    content = revision.content
    default = content.get("default_language", "en")
    own = (content.get("texts") or {}).get(lang) or {}
    if own_texts:
        texts = {k: v for k, v in own.items() if v}
    else:
        base = builtin_texts(lang)
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
        # The consent cookie's Domain (docs/banner.md#one-consent-across-subdomains).
        "cookie_domain": content.get("cookie_domain"),
        "region_lookup": geo and has_rules(content),
        "layout": (content.get("banner") or {}).get("layout", "bar"),
    }
    raw = orjson.dumps(body)
    etag = '"' + hashlib.sha256(raw).hexdigest()[:40] + '"'
    with _lock:
        _cache[key] = (raw, etag)
    return raw, etag
