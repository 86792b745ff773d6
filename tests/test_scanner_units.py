"""The scanner's parts without a browser: Set-Cookie parsing, refusal rules, the probe's
records, crawl helpers, the phases' bookkeeping, private-target refusal, exit status and the
HTML report."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

import pytest

from declaration.loader import load_declaration
from scanner.analyze import Analysis
from scanner.api import build_report, exit_status
from scanner.cli import main
from scanner.config import ScanConfig, ScanError, check_public_target, resolve_host
from scanner.crawl import (
    crawlable,
    normalize,
    parse_sitemap,
    same_site,
    site_of,
    sitemaps_from_robots,
)
from scanner.knowledge import KnowledgeBase
from scanner.model import (
    BannerInfo,
    CookieEvent,
    PageVisit,
    PhaseResult,
    StorageItem,
    StoredCookie,
)
from scanner.observe import (
    MAX_STORED_SECONDS,
    PROBE_CONSOLE_JS,
    PROBE_JS,
    header_cookie_events,
    parse_cookie_string,
    probe_record_from_console,
    refusal_reasons,
    schemeful_site,
    script_cookie_event,
    setter_from_stack,
    stored_from_jar,
)
from scanner.report.html import render_html
from scanner.runner import PhaseRunner

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
URL = "https://www.example.se/shop/item"


def parse(line: str, url: str = URL) -> CookieEvent:
    event = parse_cookie_string(line, url, now=NOW)
    assert event is not None
    return event


# -- Set-Cookie parsing ---------------------------------------------------------------------


def test_parse_basic_attributes() -> None:
    e = parse("sid=abc123; Path=/; Secure; HttpOnly; SameSite=lax")
    assert (e.name, e.value, e.domain, e.path) == ("sid", "abc123", "www.example.se", "/")
    assert e.host_only and e.secure and e.http_only
    assert e.same_site == "Lax"
    assert e.requested_seconds is None and not e.deletion  # a session cookie
    assert e.raw == "sid=abc123; Path=/; Secure; HttpOnly; SameSite=lax"
    assert e.request_url == URL


def test_parse_attribute_names_ignore_case_and_spaces() -> None:
    e = parse("a = b ;  max-age = 60 ; DOMAIN=Example.SE; sEcUrE; samesite=NONE")
    assert (e.name, e.value) == ("a", "b")
    assert e.requested_seconds == 60
    assert e.domain == "example.se" and not e.host_only
    assert e.secure and e.same_site == "None"


def test_parse_default_path_is_the_directory_of_the_request() -> None:
    assert parse("a=1").path == "/shop"
    assert parse("a=1", "https://www.example.se/").path == "/"
    assert parse("a=1", "https://www.example.se/item").path == "/"
    assert parse("a=1; Path=relative").path == "/shop"  # not starting with /: ignored
    assert parse("a=1; Path=/x/y").path == "/x/y"


def test_max_age_wins_over_expires_in_either_order() -> None:
    for line in (
        "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Max-Age=3600",
        "a=1; Max-Age=3600; Expires=Wed, 21 Oct 2026 07:28:00 GMT",
    ):
        assert parse(line).requested_seconds == 3600


def test_an_invalid_max_age_leaves_expires_in_force() -> None:
    e = parse("a=1; Max-Age=soon; Expires=Sat, 02 May 2026 12:00:00 GMT")
    assert e.requested_seconds == 86400


@pytest.mark.parametrize(
    "expires",
    [
        "Sat, 02 May 2026 12:00:00 GMT",  # RFC 1123
        "Saturday, 02-May-26 12:00:00 GMT",  # RFC 850
        "Sat, 02-May-2026 12:00:00 GMT",  # the Netscape form
        "Sat May  2 12:00:00 2026",  # asctime
        "Sat, 02 May 2026 12:00:00",  # no zone: UTC
        "Sat, 02 May 2026 12:00:00 UTC",
        "Sat, 02 May 2026 14:00:00 +0200",
    ],
)
def test_expires_formats(expires: str) -> None:
    e = parse(f"a=1; Expires={expires}")
    assert e.requested_seconds == 86400
    assert not e.deletion


def test_unparseable_expires_is_a_session_cookie() -> None:
    assert parse("a=1; Expires=next tuesday").requested_seconds is None


def test_domain_leading_dot_and_case() -> None:
    e = parse("a=1; Domain=.Example.SE")
    assert e.domain == "example.se"
    assert not e.host_only
    assert parse("a=1; Domain=").host_only  # an empty Domain is ignored


@pytest.mark.parametrize(
    "line",
    [
        "a=; Max-Age=0",
        "a=; Max-Age=-1",
        "a=; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        "a=; Expires=Thu, 30 Apr 2026 12:00:00 GMT; Path=/",
    ],
)
def test_deletion(line: str) -> None:
    assert parse(line).deletion


def test_nameless_and_empty() -> None:
    e = parse("just-a-value")
    assert (e.name, e.value) == ("", "just-a-value")
    assert parse_cookie_string("", URL) is None


# -- refusal rules --------------------------------------------------------------------------


def reasons(line: str, url: str = URL, top: str = URL, **kw: Any) -> list[str]:
    return refusal_reasons(parse(line, url), url, top, **kw)


def test_a_good_cookie_is_not_refused() -> None:
    assert reasons("a=1; Path=/; Secure; SameSite=Lax; Domain=example.se") == []
    assert reasons("a=1", "http://www.example.se/", "http://www.example.se/") == []


def test_secure_from_an_insecure_origin() -> None:
    http = "http://www.example.se/"
    assert reasons("a=1; Secure", http, http) == ["Secure cookie set from an insecure origin"]
    local = "http://localhost:8000/"
    assert reasons("a=1; Secure", local, local) == []  # localhost is a secure context


def test_samesite_none_needs_secure() -> None:
    assert reasons("a=1; SameSite=None") == ["SameSite=None without Secure"]
    assert reasons("a=1; SameSite=None; Secure") == []


def test_domain_must_match_the_host() -> None:
    assert reasons("a=1; Domain=other.se") == [
        "Domain other.se does not match the host www.example.se"
    ]
    assert reasons("a=1; Domain=ample.se") == [
        "Domain ample.se does not match the host www.example.se"
    ]
    assert reasons("a=1; Domain=www.example.se") == []


def test_domain_may_not_be_a_public_suffix() -> None:
    assert reasons("a=1; Domain=se") == ["Domain se is a public suffix"]
    url = "https://shop.example.co.uk/"
    assert reasons("a=1; Domain=co.uk", url, url) == ["Domain co.uk is a public suffix"]
    pages = "https://me.github.io/"
    assert reasons("a=1; Domain=github.io", pages, pages) == ["Domain github.io is a public suffix"]


def test_domain_on_an_ip_host() -> None:
    ip = "https://192.0.2.10/"
    assert reasons("a=1; Domain=192.0.2.10", ip, ip) == []
    assert reasons("a=1; Domain=0.2.10", ip, ip) == ["Domain attribute on an IP address host"]


def test_cookie_prefixes() -> None:
    assert reasons("__Secure-a=1; Secure") == []
    assert reasons("__Secure-a=1") == ["__Secure- prefix without Secure from a secure origin"]
    assert reasons("__Host-a=1; Secure; Path=/") == []
    broken = ["__Host- prefix rules broken (Secure, no Domain, Path=/)"]
    assert reasons("__Host-a=1; Secure; Path=/; Domain=example.se") == broken
    assert reasons("__Host-a=1; Secure; Path=/shop") == broken
    assert reasons("__Host-a=1; Path=/") == broken


def test_size_limit() -> None:
    assert reasons("a=" + "x" * 4096) == ["name and value longer than 4096 bytes"]
    assert reasons("a=" + "x" * 4095) == []  # 4096 bytes in all: the limit itself


def test_lax_cookies_cannot_be_set_cross_site() -> None:
    ads, top = "https://ads.example.com/pixel.gif", "https://www.example.se/"
    assert reasons("a=1; Secure", ads, top) == [
        "SameSite=Lax (by default) cookie set in a cross-site context"
    ]
    assert reasons("a=1; SameSite=Strict; Secure", ads, top) == [
        "SameSite=Strict cookie set in a cross-site context"
    ]
    assert reasons("a=1; SameSite=None; Secure", ads, top) == []
    # Same site (another subdomain) is fine; so is a redirect hop of the page's own navigation.
    assert reasons("a=1", "https://cdn.example.se/x.js", top) == []
    assert reasons("a=1", ads, top, top_level_navigation=True) == []
    # Schemeful: http and https of one domain are different sites.
    assert reasons("a=1", "http://www.example.se/", top) != []
    # A request from a cross-site iframe back to the top site is cross-site too.
    assert reasons("a=1", top, top, frame_url="https://widget.example.com/") != []


def test_schemeful_site() -> None:
    assert schemeful_site("https://a.b.example.co.uk:8443/x") == ("https", "example.co.uk")
    assert schemeful_site("http://127.0.0.1:5000/") == ("http", "127.0.0.1")
    assert schemeful_site("https://[::1]/") == ("https", "::1")
    assert schemeful_site("https://localhost/") == ("https", "localhost")


def test_header_events_mark_refused_and_keep_context() -> None:
    events = header_cookie_events(
        ["ok=1; Secure; SameSite=None", "bad=1; SameSite=None"],
        "https://ads.example.com/p.gif",
        "https://www.example.se/",
        "https://www.example.se/",
        12.5,
    )
    ok, bad = events
    assert not ok.refused and ok.refused_reasons == []
    assert bad.refused and bad.refused_reasons == ["SameSite=None without Secure"]
    assert ok.frame_url == "https://www.example.se/" and ok.page_url == "https://www.example.se/"
    assert ok.at == 12.5 and ok.source == "header"


# -- the probe's records --------------------------------------------------------------------

STACK = """Error
    at send (<anonymous>:9:29)
    at Object.set [as cookie] (<anonymous>:20:26)
    at https://tracker.example.com:8443/analytics.js:3:21
    at https://www.example.se/app.js:1:1"""


def test_setter_from_stack() -> None:
    frame = "https://www.example.se/"
    assert setter_from_stack(STACK, frame) == "https://tracker.example.com:8443/analytics.js"
    nested = "Error\n    at HTMLButtonElement.<anonymous> (https://www.example.se/b.js?v=2:12:5)"
    assert setter_from_stack(nested, frame) == "https://www.example.se/b.js?v=2"
    assert setter_from_stack("Error\n    at <anonymous>:1:1", frame) == frame  # inline/eval
    assert setter_from_stack("", frame) == frame


def record(kind: str, value: Any, **extra: Any) -> dict[str, Any]:
    text = value if isinstance(value, str) else json.dumps(value)
    return {
        "kind": kind,
        "value": text,
        "stack": STACK,
        "frame": URL,
        "t": 1_700_000_000_000,
    } | extra


def test_script_record() -> None:
    e = script_cookie_event(
        record("script", "_ga=GA1.1.1; Max-Age=100; Domain=example.se"), URL, 3.0
    )
    assert e is not None
    assert (e.name, e.domain, e.source, e.requested_seconds) == ("_ga", "example.se", "script", 100)
    assert e.setter == "https://tracker.example.com:8443/analytics.js"
    assert e.page_url == e.frame_url == URL and e.at == 3.0
    assert not e.refused


def test_script_cannot_set_httponly_but_may_say_httponly_in_a_value() -> None:
    e = script_cookie_event(record("script", "a=1; HttpOnly"), URL, 0)
    assert e is not None and e.refused
    assert e.refused_reasons == ["HttpOnly cannot be set from a script"]
    ok = script_cookie_event(record("script", "note=httponly-is-a-word"), URL, 0)
    assert ok is not None and not ok.refused


def test_script_in_a_cross_site_frame() -> None:
    frame = "https://video.example.com/embed"
    lax = script_cookie_event(record("script", "a=1", frame=frame), URL, 0)
    assert lax is not None and lax.refused
    none = script_cookie_event(record("script", "a=1; SameSite=None; Secure", frame=frame), URL, 0)
    assert none is not None and not none.refused and none.domain == "video.example.com"


def test_cookiestore_record() -> None:
    written = 1_700_000_000_000
    e = script_cookie_event(
        record("cookiestore", {"name": "c", "value": "v", "expires": written + 3_600_000}),
        URL,
        0,
    )
    assert e is not None
    assert (e.name, e.value, e.source, e.path) == ("c", "v", "cookiestore", "/")
    assert e.requested_seconds == 3600  # from the moment of the write
    assert e.secure and e.same_site == "Strict"  # CookieStore's defaults
    iso = dt.datetime.fromtimestamp(written / 1000 + 60, dt.UTC).isoformat().replace("+00:00", "Z")
    dated = script_cookie_event(record("cookiestore", {"name": "d", "expires": iso}), URL, 0)
    assert dated is not None and dated.requested_seconds == 60
    garbage = script_cookie_event(record("cookiestore", {"name": "g", "expires": "soon"}), URL, 0)
    assert garbage is not None and garbage.requested_seconds is None
    short = script_cookie_event(record("cookiestore", ["a", "b"]), URL, 0)
    assert short is None
    assert script_cookie_event(record("cookiestore", "{not json"), URL, 0) is None


def test_probe_record_from_console() -> None:
    rec = {"kind": "script", "value": 'a="1\\"; b=ä ✓', "frame": URL, "t": 1}
    text = "__cmScan:" + json.dumps(rec)
    message = f"https://www.example.se/app.js 3:10 {json.dumps(text)}"
    assert probe_record_from_console(message) == rec
    assert probe_record_from_console(f"console-api 0:8 {json.dumps(text)}") == rec
    assert probe_record_from_console('console-api 1:1 "hello"') is None
    assert probe_record_from_console('x 1:1 "__cmScan:{broken"') is None
    assert "const VIA_CONSOLE = false;" in PROBE_JS
    assert "const VIA_CONSOLE = true;" in PROBE_CONSOLE_JS


def test_stored_from_jar_shapes() -> None:
    pw = stored_from_jar(
        {
            "name": "a",
            "value": "1",
            "domain": ".Example.se",
            "path": "/",
            "expires": -1,
            "secure": True,
            "httpOnly": False,
            "sameSite": "Lax",
        }
    )
    assert (pw.domain, pw.expires, pw.same_site) == ("example.se", None, "Lax")
    cdp = stored_from_jar(
        {"name": "b", "domain": "x.se", "expires": 1.8e9, "session": False, "sameSite": ""}
    )
    assert cdp.expires == 1.8e9 and cdp.same_site is None
    webdriver = stored_from_jar({"name": "c", "domain": "x.se", "expiry": 1800000000})
    assert webdriver.expires == 1800000000


# -- crawl helpers --------------------------------------------------------------------------


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


# -- after a reject: new or changed only ----------------------------------------------------


def event(name: str, value: str, at: float, **kw: Any) -> CookieEvent:
    base: dict[str, Any] = {
        "domain": "www.example.se",
        "path": "/",
        "source": "script",
        "page_url": f"{SITE}/",
        "frame_url": f"{SITE}/",
        "requested_seconds": 86400.0,
    }
    return CookieEvent(name=name, value=value, at=at, **(base | kw))


def test_after_reject_counts_new_and_changed_cookies_only() -> None:
    visit = PageVisit(f"{SITE}/", f"{SITE}/", 200, "after-reject")
    visit.events = [
        event("_ga", "GA1", 1.0),  # before the click
        event("_ga", "GA1", 5.0),  # re-sent unchanged after it
        event("_gid", "old", 1.0),
        event("_gid", "new", 5.0),  # changed after the click
        event("_gcl_au", "x", 5.0),  # new after the click
        event("gone", "", 5.0, requested_seconds=0.0, deletion=True),
        event("bad", "1", 5.0, refused=True, refused_reasons=["nope"]),
    ]
    phase = PhaseResult(
        "after-reject",
        pages=[visit],
        before_action={"_ga\x00www.example.se\x00/": "GA1", "_gid\x00www.example.se\x00/": "old"},
        action_at=3.0,
        banner=BannerInfo(found=True, kind="generic", clicked="neka alla"),
    )
    analysis = Analysis(f"{SITE}/", [phase], knowledge=KnowledgeBase.load_default()).run()
    assert sorted(n for n, _ in analysis.cookies) == ["_gcl_au", "_gid"]
    assert [e.name for e in analysis.refused] == ["bad"]
    found = sorted((f.type, f.cookie) for f in analysis.findings)
    assert ("after_reject", "_gcl_au") in found and ("after_reject", "_gid") in found
    assert not any(f.cookie == "_ga" for f in analysis.findings)


def test_storage_after_reject_counts_new_keys_only() -> None:
    visit = PageVisit(f"{SITE}/", f"{SITE}/", 200, "after-reject")
    visit.storage = [
        StorageItem("local", SITE, "_hjLocalStorageTest", 1, f"{SITE}/", f"{SITE}/"),
        StorageItem("session", SITE, "tt_sessionId", 1, f"{SITE}/", f"{SITE}/"),
    ]
    phase = PhaseResult(
        "after-reject",
        pages=[visit],
        storage_before_action=[f"{SITE}|local|_hjLocalStorageTest"],
        action_at=1.0,
    )
    analysis = Analysis(f"{SITE}/", [phase], knowledge=KnowledgeBase.load_default()).run()
    assert [(s.kind, s.key) for s in analysis.storage.values()] == [("session", "tt_sessionId")]
    assert [(f.type, f.cookie, f.severity) for f in analysis.findings] == [
        ("after_reject", "tt_sessionId", "high")
    ]


def test_stored_lifetime_counts_from_the_write_and_is_capped() -> None:
    import time

    now_mono, now_epoch = time.monotonic(), time.time()
    visit = PageVisit(f"{SITE}/", f"{SITE}/", 200, "pre-consent")
    visit.events = [event("long", "1", now_mono - 100, requested_seconds=500 * 86400.0)]
    visit.jar = [
        StoredCookie(
            "long", "1", "www.example.se", "/", now_epoch - 100 + 400 * 86400, True, False, "Lax"
        ),
    ]
    phase = PhaseResult("pre-consent", pages=[visit])
    report = Analysis(f"{SITE}/", [phase], knowledge=KnowledgeBase.empty()).run()
    cookie = report.cookies[("long", "www.example.se")]
    assert cookie.requested_seconds == 500 * 86400
    assert MAX_STORED_SECONDS - 2 <= cookie.stored_seconds <= MAX_STORED_SECONDS


# -- private targets ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/",
        "https://127.1/",
        "http://2130706433/",
        "https://10.1.2.3/",
        "https://192.168.0.10:8443/",
        "https://172.16.5.4/",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/",  # shared address space (carrier-grade NAT)
        "https://0.0.0.0/",
        "https://[::1]/",
        "https://[fe80::1]/",
        "https://[fd00::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://localhost/",
        "https://app.localhost/",
    ],
)
def test_private_targets_are_refused(url: str) -> None:
    with pytest.raises(ScanError, match="allow-private"):
        check_public_target(url, {})


def test_resolve_mappings_are_checked_like_dns() -> None:
    with pytest.raises(ScanError, match="allow-private"):
        check_public_target("https://shop.test/", {"shop.test": "127.0.0.1"})
    with pytest.raises(ScanError, match="allow-private"):
        check_public_target("https://www.example.se/", {"*.example.se": "10.0.0.5"})
    with pytest.raises(ScanError, match="allow-private"):
        check_public_target("https://shop.test/", {"*.test": "192.168.1.1"})
    check_public_target("https://www.example.se/", {"www.example.se": "93.184.215.14"})


def test_resolve_wildcards_match_like_chromium() -> None:
    mapping = {"*.shop.test": "10.0.0.1", "*.test": "10.0.0.2"}
    assert resolve_host("a.shop.test", mapping) == ["10.0.0.1"]
    assert resolve_host("A.B.Shop.TEST", mapping) == ["10.0.0.1"]
    # "*.shop.test" does not cover the bare shop.test (nor does Chromium's MAP rule);
    # "*.test" does, as Chromium's does.
    assert resolve_host("shop.test", mapping) == ["10.0.0.2"]
    assert resolve_host("shop.test", {"*.shop.test": "10.0.0.1", "shop.test": "10.0.0.3"}) == [
        "10.0.0.3"
    ]
    assert resolve_host("192.0.2.1", {}) == ["192.0.2.1"]


def test_an_unmapped_unknown_host_is_an_error() -> None:
    with pytest.raises(ScanError, match="Cannot resolve"):
        check_public_target("https://shop.invalid/", {"*.shop.invalid": "93.184.215.14"})


def test_allow_private_and_resolver_rules() -> None:
    config = ScanConfig(
        url="https://shop.test/",
        chromium=sys.executable,
        resolve={"*.test": "127.0.0.1", "shop.test": "127.0.0.1", "v6.test": "::1"},
        allow_private=True,
    )
    config.validate()
    assert config.resolver_rules() == (
        "MAP *.test 127.0.0.1, MAP shop.test 127.0.0.1, MAP v6.test [::1]"
    )
    assert ScanConfig(url="https://x.se/").resolver_rules() is None
    config.allow_private = False
    with pytest.raises(ScanError, match="allow-private"):
        config.validate()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"url": "ftp://x.se/"}, "Not an http"),
        ({"engine": "firefox"}, "--engine"),
        ({"remote": "http://grid:4444"}, "--remote"),
        ({"phases": ("during",)}, "Unknown phases"),
        ({"phases": ()}, "Unknown phases"),
        ({"max_pages": 0}, "--max-pages"),
        ({"depth": -1}, "--depth"),
        ({"total_timeout": 0}, "--timeout"),
        ({"page_timeout": float("nan")}, "--page-timeout"),
        ({"settle_ms": -1}, "--wait"),
        ({"resolve": {"x.se": "nope"}}, "not an IP"),
        ({"chromium": "/nonexistent/chromium"}, "Chromium not found"),
    ],
)
def test_config_validation(change: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {
        "url": "https://www.example.se/",
        "chromium": sys.executable,
        "allow_private": True,
    } | change
    with pytest.raises(ScanError, match=message):
        ScanConfig(**settings).validate()


def test_cli_refuses_private_targets_before_any_browser(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv in (
        ["https://127.0.0.1/"],
        ["http://localhost:8080/"],
        ["https://shop.test/", "--resolve", "shop.test=127.0.0.1"],
    ):
        assert main([*argv, "--chromium", sys.executable, "--quiet"]) == 2
        assert "--allow-private" in capsys.readouterr().err
    assert main(["https://x.se/", "--resolve", "x.se"]) == 2
    assert "HOST=IP" in capsys.readouterr().err


# -- exit status and reports ----------------------------------------------------------------


def findings_report(*severities: str) -> dict[str, Any]:
    return {"findings": [{"severity": s} for s in severities]}


def test_exit_status() -> None:
    assert exit_status(findings_report(), "info") == 0
    assert exit_status(findings_report("low", "medium"), "high") == 0
    assert exit_status(findings_report("low", "high"), "high") == 1
    assert exit_status(findings_report("critical"), "high") == 1
    assert exit_status(findings_report("high"), "critical") == 0
    assert exit_status(findings_report("info"), "info") == 1


def small_report() -> dict[str, Any]:
    declaration = load_declaration(
        {
            "site": "example",
            "name": "Example",
            "domains": ["www.example.se"],
            "cookies": [{"name": "declared_only", "category": "necessary"}],
        }
    )
    visit = PageVisit(f"{SITE}/", f"{SITE}/", 200, "pre-consent")
    visit.events = [
        event("<img src=x onerror=alert(1)>", "1", 1.0, setter="https://evil.example/x.js")
    ]
    phase = PhaseResult("pre-consent", pages=[visit])
    config = ScanConfig(url=f"{SITE}/?q=<b>")
    analysis = Analysis(config.url, [phase], declaration, KnowledgeBase.load_default()).run()
    return build_report(config, [phase], analysis, started=dt.datetime.now(dt.UTC), elapsed=1.0)


def test_report_findings_and_html_escaping() -> None:
    report = small_report()
    types = sorted(f["type"] for f in report["findings"])
    assert types == [
        "declared_not_found",
        "pre_consent",
        "third_party_first_party_write",
        "unclassified",
        "undeclared",
    ]
    html = render_html(report)
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "https://evil.example/x.js" in html  # the setter, as text
    assert "src=" not in html.replace("src=x", "") and "href=" not in html
    for kind in types:
        assert kind in html
    json.dumps(report)  # JSON-ready


# -- the Selenium engine's performance log, without a browser -------------------------------


class FakeDriver:
    """get_log answers from prepared performance and browser entries; frames hold nothing."""

    def __init__(self, performance: list[dict[str, Any]], console: list[str]) -> None:
        self.logs = {
            "performance": [{"message": json.dumps({"message": m})} for m in performance],
            "browser": [{"message": m, "level": "DEBUG"} for m in console],
        }

    def get_log(self, kind: str) -> list[dict[str, Any]]:
        entries, self.logs[kind] = self.logs[kind], []
        return entries

    def find_elements(self, *_: Any) -> list[Any]:
        return []

    def execute_script(self, *_: Any) -> list[Any]:
        return []

    @property
    def switch_to(self) -> Any:
        class Switch:
            def default_content(self) -> None:
                return None

        return Switch()


def selenium_profile(performance: list[dict[str, Any]], console: list[str] = ()) -> Any:  # type: ignore[assignment]
    from scanner.engines.selenium import SeleniumProfile

    profile = object.__new__(SeleniumProfile)
    profile.config = ScanConfig(url=f"{SITE}/")
    profile.phase = "pre-consent"
    profile.deadline = None
    profile.clock = lambda: 7.0
    profile.driver = FakeDriver(performance, list(console))
    profile.urls, profile.hops, profile.document_status = {}, {}, {}
    profile.records_seen = set()
    profile.main_frame = "MAIN"
    profile.current_url = f"{SITE}/landing"
    return profile


def will_send(ident: str, url: str, kind: str = "Document", frame: str = "MAIN", **kw: Any) -> dict:
    params = {"requestId": ident, "request": {"url": url}, "type": kind, "frameId": frame}
    return {"method": "Network.requestWillBeSent", "params": params | kw}


def extra(ident: str, *cookies: str) -> dict:
    headers = {"Set-Cookie": "\n".join(cookies)} if cookies else {"Content-Type": "text/html"}
    return {
        "method": "Network.responseReceivedExtraInfo",
        "params": {"requestId": ident, "headers": headers},
    }


def test_selenium_log_follows_redirect_chains() -> None:
    performance = [
        extra("1", "early=1; Secure"),  # raw headers may come before their request
        will_send("1", f"{SITE}/go"),
        will_send("1", "https://partner.example.com/click", redirectResponse={"status": 302}),
        extra("1", "partner=1; Max-Age=60"),  # Lax, from another site, on a top-level hop
        will_send("1", f"{SITE}/landing", redirectResponse={"status": 302}),
        extra("1"),
        {
            "method": "Network.responseReceived",
            "params": {
                "requestId": "1",
                "type": "Document",
                "response": {"url": f"{SITE}/landing", "status": 203},
            },
        },
        will_send("2", "https://ads.example.com/p.gif", "Image", documentURL=f"{SITE}/landing"),
        extra("2", "lax=1; Secure"),  # Lax from a cross-site image: refused
    ]
    profile = selenium_profile(performance)
    visit = PageVisit(f"{SITE}/go", f"{SITE}/landing", None, "pre-consent")
    profile._drain(visit)
    got = {e.name: e for e in visit.events}
    assert got["early"].request_url == f"{SITE}/go" and not got["early"].refused
    assert got["partner"].request_url == "https://partner.example.com/click"
    assert got["partner"].frame_url == "https://partner.example.com/click"
    assert not got["partner"].refused  # a top-level navigation may set Lax cookies
    assert got["lax"].refused and got["lax"].frame_url == f"{SITE}/landing"
    assert all(e.page_url == f"{SITE}/landing" and e.at == 7.0 for e in visit.events)
    assert profile.document_status == {f"{SITE}/landing": 203}


def test_selenium_log_skips_internal_redirects() -> None:
    # http -> https inside the browser (HSTS): no raw headers for the first hop.
    performance = [
        will_send("9", "http://www.example.se/"),
        will_send("9", f"{SITE}/", redirectResponse={"status": 307}, redirectHasExtraInfo=False),
        extra("9", "sid=1; Secure"),
    ]
    profile = selenium_profile(performance)
    visit = PageVisit("http://www.example.se/", f"{SITE}/", None, "pre-consent")
    profile._drain(visit)
    (sid,) = visit.events
    assert sid.request_url == f"{SITE}/" and not sid.refused


def test_selenium_reads_probe_records_from_the_console_log() -> None:
    rec = {
        "kind": "script",
        "value": "sync=1; SameSite=None; Secure",
        "stack": "",
        "frame": "https://ads.example.com/sync",
        "t": 5,
    }
    line = "https://ads.example.com/sync 1:10 " + json.dumps("__cmScan:" + json.dumps(rec))
    profile = selenium_profile([], [line, line, 'console-api 2:3 "unrelated"'])
    visit = PageVisit(f"{SITE}/", f"{SITE}/", None, "pre-consent")
    profile._drain(visit)
    (sync,) = visit.events  # once, though the frame is gone and the line came twice
    assert (sync.name, sync.domain, sync.source) == ("sync", "ads.example.com", "script")
    assert sync.setter == "https://ads.example.com/sync"


def test_without_a_banner_click_nothing_counts_as_set_after_reject():
    visit = PageVisit(url=f"{SITE}/", final_url=f"{SITE}/", status=200, phase="after-reject")
    visit.events = [event("_gcl_au", "new", 5.0)]
    phase = PhaseResult("after-reject", pages=[visit], action_at=3.0)
    analysis = Analysis(f"{SITE}/", [phase], knowledge=KnowledgeBase.load_default()).run()
    assert analysis.cookies == {}
    assert not [f for f in analysis.findings if f.type == "after_reject"]
