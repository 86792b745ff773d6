"""Which pages to visit: same-site links, sitemap.xml and the sitemaps named in robots.txt."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import urljoin, urlsplit, urlunsplit

from scanner.observe import is_ip, public_suffix_list

SKIP_EXTENSIONS = re.compile(
    r"\.(pdf|zip|gz|jpe?g|png|gif|webp|svg|ico|mp4|mp3|webm|avi|docx?|xlsx?|pptx?|css|js|xml|json|txt)$",
    re.IGNORECASE,
)


def site_of(host: str) -> str:
    """The registrable domain of a host (an IP or localhost is its own site)."""
    host = host.lower().strip(".")
    if is_ip(host):
        return host
    return public_suffix_list().privatesuffix(host) or host


def normalize(url: str, base: str | None = None) -> str | None:
    """Absolute http(s) URL without fragment, or None for other schemes."""
    try:
        absolute = urljoin(base, url) if base else url
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path or "/", parts.query, ""))


def same_site(url: str, start: str) -> bool:
    """Whether a URL belongs to the same site as the start URL."""
    a, b = urlsplit(url).hostname or "", urlsplit(start).hostname or ""
    return site_of(a) == site_of(b)


def crawlable(url: str, start: str) -> bool:
    """Same site, and not an obvious download."""
    return same_site(url, start) and not SKIP_EXTENSIONS.search(urlsplit(url).path)


def sitemaps_from_robots(text: str, base: str) -> list[str]:
    """The Sitemap: lines of a robots.txt."""
    out = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "sitemap" and value.strip():
            url = normalize(value.strip(), base)
            if url:
                out.append(url)
    return out


def parse_sitemap(text: str, base: str) -> tuple[list[str], list[str]]:
    """(page URLs, nested sitemap URLs) of a sitemap or sitemap index."""
    if "<!ENTITY" in text or "<!DOCTYPE" in text:
        return [], []  # no entity expansion, ever
    try:
        root = ET.fromstring(text)  # noqa: S314 - DOCTYPE and entities refused above
    except ET.ParseError:
        return [], []
    pages, nested = [], []
    for element in root.iter():
        if element.tag.endswith("loc") and element.text:
            url = normalize(element.text.strip(), base)
            if url:
                (nested if root.tag.endswith("sitemapindex") else pages).append(url)
    return pages, nested
