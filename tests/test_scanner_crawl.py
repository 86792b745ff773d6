"""The scanner's crawl without a browser: URLs normalised, the same site by public suffix,
robots.txt and sitemaps, and a crawl of a made-up site within its limits and time."""

from __future__ import annotations

from typing import Any

from scanner.config import ScanConfig
from scanner.crawl import (
    crawlable,
    normalize,
    parse_sitemap,
    same_site,
    site_of,
    sitemaps_from_robots,
)
from scanner.model import PageVisit, PhaseResult, StoredCookie
from scanner.runner import PhaseRunner


def test_normalize() -> None:
    assert normalize("https://WWW.Example.se#top") == "https://www.example.se/"
    assert normalize("/a?b=1#c", "https://www.example.se/x/y") == "https://www.example.se/a?b=1"
    assert normalize("../z", "https://www.example.se/x/y") == "https://www.example.se/z"
    for other in ("mailto:a@b.se", "javascript:void(0)", "tel:123", "ftp://x.se/", "http://["):
        assert normalize(other) is None


def test_same_site_by_public_suffix() -> None:
    start = "https://www.example.co.uk/"
    assert same_site("https://shop.example.co.uk/a", start)
    assert same_site("http://example.co.uk/", start)
    assert not same_site("https://other.co.uk/", start)
    assert not same_site("https://b.github.io/", "https://a.github.io/")
    assert same_site("https://x.a.github.io/", "https://a.github.io/")
    assert same_site("http://127.0.0.1:5000/x", "http://127.0.0.1:8000/")
    assert not same_site("http://127.0.0.2/", "http://127.0.0.1/")
    assert same_site("http://localhost:1/", "http://localhost:2/")
    assert site_of("sub.shop.test") == "shop.test"
    assert site_of("::1") == "::1"


def test_crawlable_skips_downloads_and_other_sites() -> None:
    start = "https://www.example.se/"
    assert crawlable("https://www.example.se/om-oss", start)
    assert crawlable("https://blogg.example.se/", start)
    assert not crawlable("https://www.example.se/katalog.PDF", start)
    assert not crawlable("https://www.example.se/bild.jpg", start)
    assert not crawlable("https://www.annan.se/", start)


def test_robots_sitemaps() -> None:
    robots = (
        "User-agent: *\nDisallow: /admin\n"
        "Sitemap: https://www.example.se/sitemap_index.xml\n"
        "sitemap:/relative.xml\n"
        "SITEMAP :  https://cdn.example.se/s.xml  \n"
        "Sitemap:\n# Sitemap: https://commented.example.se/\n"
    )
    assert sitemaps_from_robots(robots, "https://www.example.se/") == [
        "https://www.example.se/sitemap_index.xml",
        "https://www.example.se/relative.xml",
        "https://cdn.example.se/s.xml",
    ]


def test_sitemap_index_and_urlset() -> None:
    base = "https://www.example.se/sitemap_index.xml"
    index = (
        "<?xml version='1.0'?><sitemapindex xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
        "<sitemap><loc> https://www.example.se/a.xml </loc></sitemap>"
        "<sitemap><loc>/b.xml</loc></sitemap></sitemapindex>"
    )
    assert parse_sitemap(index, base) == (
        [],
        ["https://www.example.se/a.xml", "https://www.example.se/b.xml"],
    )
    urlset = (
        "<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
        "<url><loc>https://www.example.se/</loc><lastmod>2026-01-01</lastmod></url>"
        "<url><loc>https://www.example.se/dold#x</loc></url><url><loc>mailto:x@y.se</loc></url>"
        "</urlset>"
    )
    assert parse_sitemap(urlset, base) == (
        ["https://www.example.se/", "https://www.example.se/dold"],
        [],
    )


def test_sitemap_refuses_entities_and_bad_xml() -> None:
    bomb = (
        "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;'>]>"
        "<urlset><url><loc>https://x.se/&b;</loc></url></urlset>"
    )
    assert parse_sitemap(bomb, "https://x.se/") == ([], [])
    assert parse_sitemap("<urlset><url><loc>", "https://x.se/") == ([], [])
    assert parse_sitemap("", "https://x.se/") == ([], [])


class FakeProfile:
    """A Profile without a browser: pages are dicts of url -> (final url, links)."""

    def __init__(self, site: dict[str, tuple[str, list[str]]], files: dict[str, str]) -> None:
        self.site, self.files = site, files
        self.visited: list[str] = []
        self.jar_now: list[StoredCookie] = []
        self.closed = False

    def visit(self, url: str) -> PageVisit:
        self.visited.append(url)
        final, links = self.site.get(url, (url, []))
        return PageVisit(url, final, 200 if url in self.site else 404, "x", links=list(links))

    def fetch_text(self, url: str) -> str | None:
        return self.files.get(url)

    def close(self) -> None:
        self.closed = True


SITE = "https://www.example.se"
PAGES = {
    f"{SITE}/": (f"{SITE}/", [f"{SITE}/a", f"{SITE}/go", "https://other.se/", f"{SITE}/f.pdf"]),
    f"{SITE}/a": (f"{SITE}/a", [f"{SITE}/a/deep", f"{SITE}/"]),
    f"{SITE}/a/deep": (f"{SITE}/a/deep", [f"{SITE}/a/deeper"]),
    f"{SITE}/go": (f"{SITE}/landing", [f"{SITE}/landing"]),
    f"{SITE}/hidden": (f"{SITE}/hidden", []),
}
FILES = {
    f"{SITE}/robots.txt": f"Sitemap: {SITE}/index.xml",
    f"{SITE}/index.xml": f"<sitemapindex><sitemap><loc>{SITE}/pages.xml</loc></sitemap></sitemapindex>",
    f"{SITE}/pages.xml": f"<urlset><url><loc>{SITE}/hidden</loc></url>"
    "<url><loc>https://other.se/x</loc></url></urlset>",
}


def crawl(**settings: Any) -> list[str]:
    config = ScanConfig(url=f"{SITE}/", **settings)
    profile = FakeProfile(PAGES, FILES)
    result = PhaseResult("pre-consent")
    PhaseRunner(config).crawl(profile, result)  # type: ignore[arg-type]
    return [v.url for v in result.pages]


def test_crawl_follows_sitemaps_and_links_within_limits() -> None:
    assert crawl() == [
        f"{SITE}/",
        f"{SITE}/hidden",  # the sitemap named in robots.txt, through the index
        f"{SITE}/a",
        f"{SITE}/go",  # ends on /landing, which is then not visited again
        f"{SITE}/a/deep",
        f"{SITE}/a/deeper",
    ]
    assert crawl(depth=1) == [f"{SITE}/", f"{SITE}/hidden", f"{SITE}/a", f"{SITE}/go"]
    assert crawl(max_pages=2) == [f"{SITE}/", f"{SITE}/hidden"]
    assert crawl(use_sitemap=False) == [
        f"{SITE}/",
        f"{SITE}/a",
        f"{SITE}/go",
        f"{SITE}/a/deep",
        f"{SITE}/a/deeper",
    ]


def test_crawl_stops_at_the_time_limit() -> None:
    config = ScanConfig(url=f"{SITE}/")
    runner = PhaseRunner(config)
    runner.deadline = 0  # already over
    result = PhaseResult("pre-consent")
    runner.crawl(FakeProfile(PAGES, FILES), result)  # type: ignore[arg-type]
    assert result.pages == []


def test_after_phase_skips_the_browser_work_when_time_is_up() -> None:
    profiles: list[FakeProfile] = []

    class FakeBrowser:
        def profile(self, phase: str, deadline: float | None = None) -> FakeProfile:
            profiles.append(FakeProfile(PAGES, FILES))
            return profiles[-1]

    runner = PhaseRunner(ScanConfig(url=f"{SITE}/", phases=("after-reject",)))
    runner.browser = FakeBrowser()  # type: ignore[assignment]
    runner.deadline = 0
    result = runner.run_after("after-reject")
    assert result.pages == [] and profiles[0].visited == [] and profiles[0].closed
