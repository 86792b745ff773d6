"""Region rules: which rule a declaration applies to a visitor, by the country a proxy named.

The country comes from one request header whose name only the operator sets
(GEO_COUNTRY_HEADER): a header a visitor could send themselves must not decide whether they
are asked. Without the setting no header is read and every visitor gets the banner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from declaration.constants import EEA_UK_CH

_COUNTRY = re.compile(r"[A-Z]{2}")
# Codes proxies send for "not a country": unknown (XX, ZZ), Tor (T1, not two letters),
# and the continent-level entries of some GeoIP databases (EU, AP).
NOT_A_COUNTRY = frozenset({"XX", "ZZ", "EU", "AP"})


@dataclass(frozen=True)
class Geo:
    """Where the operator's proxy says a visitor is; country None when it could not say."""

    country: str | None


def environ_key(header: str | None) -> str | None:
    """The WSGI environ key of a header name ("CF-IPCountry" -> "HTTP_CF_IPCOUNTRY")."""
    if not header or not header.strip():
        return None
    return "HTTP_" + header.strip().upper().replace("-", "_")


def geo_from_environ(key: str | None, environ: dict[str, Any]) -> Geo | None:
    """The visitor's Geo when the operator enabled region rules (`key` set), else None."""
    if key is None:
        return None
    return Geo(parse_country(environ.get(key)))


def parse_country(value: Any) -> str | None:
    """An ISO 3166-1 alpha-2 code, or None for anything else (absent, unknown, malformed)."""
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    if not _COUNTRY.fullmatch(code) or code in NOT_A_COUNTRY:
        return None
    return code


def region_rule(content: dict[str, Any], country: str | None) -> str:
    """The rule for a visitor from `country` under a revision's content: banner, opt_out, none.

    An unknown country gets the banner: only a proxy's positive answer that the visitor is
    outside the EEA, the UK and Switzerland lets a site ask less.
    """
    if country is None or country in EEA_UK_CH:
        return "banner"
    return (content.get("regions") or {}).get("outside_eea", "banner")


def has_rules(content: dict[str, Any]) -> bool:
    """Whether a revision declares any rule other than the banner."""
    return any(rule != "banner" for rule in (content.get("regions") or {}).values())
