"""What the scanner observes: Set-Cookie parsing, the browser's refusal rules, the probe's
records of script writes (and what a page can do to them), and cookie jars of each engine's
shape. Most without a browser; the probe itself in a real one."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from scanner.engines.base import Profile
from scanner.model import CookieEvent, PageVisit
from scanner.observe import (
    MAX_RECORDS_PER_PAGE,
    MAX_STORAGE_WRITES,
    PROBE_CONSOLE_JS,
    PROBE_JS,
    RECORD_LIMITS,
    bounded_record,
    header_cookie_events,
    parse_cookie_string,
    probe_record_from_console,
    refusal_reasons,
    schemeful_site,
    script_cookie_event,
    setter_from_stack,
    storage_ident,
    storage_write,
    stored_from_jar,
)
from tests.support.browsers import one_page_scan, scan_html
from tests.support.live import Serving, answer, serve_http

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


# -- storage writes: which script stored a key -----------------------------------------------


def test_a_storage_record_names_the_script_that_stored_the_key() -> None:
    write = {"kind": "local", "key": "zq_state", "origin": "https://www.example.se"}
    assert storage_write(record("storage", write)) == (
        storage_ident("https://www.example.se", "local", "zq_state"),
        "https://tracker.example.com:8443/analytics.js",
    )
    # Never read as a cookie: the JSON text is not a document.cookie string.
    assert script_cookie_event(record("storage", write), URL, 0) is None
    assert storage_write(record("script", "a=1")) is None
    opened = {"kind": "indexeddb", "key": "zq_db", "origin": "https://www.example.se"}
    assert storage_write(record("storage", opened)) == (
        storage_ident("https://www.example.se", "indexeddb", "zq_db"),
        "https://tracker.example.com:8443/analytics.js",
    )


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        "[1, 2]",
        {"kind": "cookie", "key": "a", "origin": "https://www.example.se"},
        {"kind": "local", "key": 5, "origin": "https://www.example.se"},
        {"kind": "local", "key": "a"},
    ],
)
def test_a_malformed_storage_record_is_ignored(value: Any) -> None:
    # A page can call the probe's binding itself: its records are hostile input.
    assert storage_write(record("storage", value)) is None


def test_storage_setters_keep_the_first_writer_and_are_bounded() -> None:
    visit = PageVisit(URL, URL, 200, "pre-consent")
    first = {"kind": "session", "key": "k", "origin": "https://www.example.se"}
    assert Profile.storage_setter(visit, record("storage", first))
    later = record("storage", first, stack="Error\n    at x (https://other.example/b.js:1:1)")
    assert Profile.storage_setter(visit, later)
    ident = storage_ident("https://www.example.se", "session", "k")
    assert visit.storage_setters == {ident: "https://tracker.example.com:8443/analytics.js"}
    for i in range(MAX_STORAGE_WRITES + 50):
        key = {"kind": "local", "key": f"k{i}", "origin": "https://www.example.se"}
        Profile.storage_setter(visit, record("storage", key))
    assert len(visit.storage_setters) == MAX_STORAGE_WRITES
    assert not Profile.storage_setter(visit, record("script", "a=1"))


def test_the_probe_records_storage_writes_in_a_real_browser(new_context, banner_server) -> None:
    context = new_context()
    records: list[dict[str, Any]] = []
    context.expose_binding("__cmScanReport", lambda _source, rec: records.append(rec))
    context.add_init_script(PROBE_JS)
    page = context.new_page()
    page.goto(f"{banner_server.url}/t/page")
    result = page.evaluate(
        """() => {
          localStorage.setItem('zq_a', '1');
          localStorage.setItem('zq_a', '2');  // the first write only
          sessionStorage.setItem('zq_b', '1');
          indexedDB.open('zq_c').onsuccess = (e) => e.target.result.close();
          indexedDB.open('zq_c');  // the first open only
          return [localStorage.getItem('zq_a'), sessionStorage.getItem('zq_b'),
                  String(Storage.prototype.setItem), String(IDBFactory.prototype.open)];
        }"""
    )
    # The page's writes still work, and the hooks read as native code.
    assert result[:2] == ["2", "1"]
    assert "[native code]" in result[2] and "[native code]" in result[3]
    page.evaluate("() => 1")  # a round trip: bindings called before it have been delivered
    writes = [storage_write(r) for r in records if r.get("kind") == "storage"]
    origin = banner_server.url
    assert [w[0] for w in writes if w] == [
        storage_ident(origin, "local", "zq_a"),
        storage_ident(origin, "session", "zq_b"),
        storage_ident(origin, "indexeddb", "zq_c"),
    ]


# -- a page that forges or floods the probe's records ---------------------------------------


def test_a_record_is_cut_to_its_bounds_and_anything_else_is_no_record() -> None:
    huge = {"kind": "script", "value": "a=" + "x" * 100_000, "stack": "s" * 10**6, "t": 5}
    bounded = bounded_record(huge | {"frame": "f" * 10**5, "extra": "y" * 10**6})
    assert bounded is not None and "extra" not in bounded
    assert {k: len(bounded[k]) for k in RECORD_LIMITS} == RECORD_LIMITS | {"kind": 6}
    assert bounded["t"] == 5
    # Still longer than a browser accepts: such a write is reported as refused.
    event = script_cookie_event(bounded, URL, 0)
    assert event is not None and event.refused
    assert bounded_record({"kind": ["x"], "value": {"a": 1}, "t": True}) == {
        "kind": "",
        "value": "",
        "stack": "",
        "frame": "",
        "t": None,
    }
    for junk in (None, "text", 5, ["a"]):
        assert bounded_record(junk) is None


# Forged records, made by the page itself: through the Playwright binding, or as console
# messages (what the Selenium engine reads). The first carries a 1 MB stack.
FLOOD_PAGE = f"""<!doctype html><html><body><p>Flood</p><script>
  const big = 'x'.repeat(1000000);
  for (let i = 0; i < {MAX_RECORDS_PER_PAGE + 50}; i++) {{
    const rec = {{kind: 'script', value: 'forged' + i + '=1', stack: i ? '' : big,
                 frame: location.href, t: i}};
    if (window.__cmScanReport) window.__cmScanReport(rec);
    else console.debug('__cmScan:' + JSON.stringify(rec));
  }}
</script></body></html>"""


@pytest.mark.browser
def test_a_flood_of_forged_records_is_bounded_and_reported(
    scan_engine: str, chromium_path: str, tmp_path: Path
) -> None:
    report = scan_html(FLOOD_PAGE, chromium_path, tmp_path / "scan.json", "--engine", scan_engine)
    page = report["phases"][0]["pages"][0]
    assert page["probe_records_dropped"] >= 1
    assert len(report["cookies"]) <= MAX_RECORDS_PER_PAGE


@pytest.mark.browser
def test_storage_read_through_a_blank_iframe_is_listed_once(
    chromium_path: str, tmp_path: Path
) -> None:
    page = (
        "<!doctype html><html><body><iframe></iframe>"
        "<script>localStorage.setItem('zq_k', '1');</script></body></html>"
    )
    report = scan_html(page, chromium_path, tmp_path / "scan.json")
    origins = [s["origin"] for s in report["storage"] if s["key"] == "zq_k"]
    assert origins == [report["phases"][0]["pages"][0]["final_url"].rstrip("/")]


# The page's image is held until the page's own script fetches /done, so that the page's load
# (which the scanner waits for) comes after what the script stored.
HELD_IMAGE = b'<img src="/hold" alt="">'


def held_page_site(page: bytes, scripts: dict[str, bytes], done: threading.Event) -> Serving:
    """`page` at every path but the `scripts`' (JavaScript); /hold answers once /done was asked;
    /set-cookie?name=value answers with that cookie for an hour."""

    class Site(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/set-cookie?"):
                cookie = self.path.split("?", 1)[1] + "; Max-Age=3600; Path=/"
                answer(self, b"ok", "text/plain", (("Set-Cookie", cookie),))
                return
            if self.path in scripts:
                body, kind = scripts[self.path], "text/javascript"
            elif self.path == "/done":
                done.set()
                body, kind = b"ok", "text/plain"
            elif self.path == "/hold":
                done.wait(10)
                body, kind = b"GIF89a", "image/gif"
            else:
                body, kind = page, "text/html; charset=utf-8"
            answer(self, body, kind)

        def log_message(self, *args: object) -> None:
            pass

    return serve_http(Site)


@pytest.fixture
def scan_held_page(
    scan_engine: str, chromium_path: str, tmp_path: Path
) -> Callable[[bytes, dict[str, bytes]], dict[str, Any]]:
    """Scan a held page with each engine: the JSON report, once its script fetched /done."""
    from scanner.cli import main

    def scan(page: bytes, scripts: dict[str, bytes]) -> dict[str, Any]:
        done = threading.Event()
        out = tmp_path / "scan.json"
        with held_page_site(page, scripts, done) as site:
            args = one_page_scan(f"{site.url}/", chromium_path, "--engine", scan_engine)
            assert main([*args, "--json", str(out)]) in (0, 1)
        assert done.is_set()
        return json.loads(out.read_text(encoding="utf-8"))

    return scan


# A service worker sets a cookie through its own CookieStore: no Set-Cookie, and no page script
# the probe runs in.
SW_PAGE = (
    b"<!doctype html><html><body><p>Shop</p>"
    b"<script>navigator.serviceWorker.register('/sw.js');</script>" + HELD_IMAGE + b"</body></html>"
)
SW_SCRIPT = b"""self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (e) => e.waitUntil(
  cookieStore.set({name: 'sw_uid', value: 'u123', expires: Date.now() + 86400000})
    .then(() => fetch('/done'))));"""


@pytest.mark.browser
def test_a_cookie_only_the_jar_shows_is_reported_from_the_jar(scan_held_page) -> None:
    report = scan_held_page(SW_PAGE, {"/sw.js": SW_SCRIPT})
    (cookie,) = report["cookies"]
    assert (cookie["name"], cookie["sources"], cookie["setters"]) == ("sw_uid", ["jar"], [])
    assert (cookie["lifetime_class"], cookie["requested_seconds"]) == ("persistent", None)
    assert 86000 <= cookie["stored_seconds"] <= 86400
    assert ("pre_consent", "sw_uid") in {(f["type"], f["cookie"]) for f in report["findings"]}


# A service worker's own fetch gets a Set-Cookie. Playwright sees the worker's responses;
# Selenium's engine does not, and the jar still shows the cookie.
SW_FETCH_SCRIPT = b"""self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (e) => e.waitUntil(
  fetch('/set-cookie?swf_id=1').then(() => fetch('/done'))));"""


@pytest.mark.browser
def test_a_cookie_from_a_service_workers_fetch_is_reported_by_each_engine(
    scan_held_page, scan_engine: str
) -> None:
    report = scan_held_page(SW_PAGE, {"/sw.js": SW_FETCH_SCRIPT})
    (cookie,) = report["cookies"]
    assert (cookie["name"], cookie["lifetime_class"]) == ("swf_id", "persistent")
    seen = {"playwright": (["header"], 3600.0), "selenium": (["jar"], None)}[scan_engine]
    assert (cookie["sources"], cookie["requested_seconds"]) == seen


# A push-marketing script keeps its state in IndexedDB, not in cookies or Web Storage.
IDB_PAGE = (
    b"<!doctype html><html><body><p>Shop</p><script src='/push-sdk.js'></script>"
    + HELD_IMAGE
    + b"</body></html>"
)
IDB_SCRIPT = b"""const open = indexedDB.open('ONE_SIGNAL_SDK_DB', 1);
open.onupgradeneeded = () => open.result.createObjectStore('Options');
open.onsuccess = () => { open.result.close(); fetch('/done'); };"""


@pytest.mark.browser
def test_an_indexeddb_database_is_reported_with_the_script_that_opened_it(scan_held_page) -> None:
    report = scan_held_page(IDB_PAGE, {"/push-sdk.js": IDB_SCRIPT})
    (item,) = [s for s in report["storage"] if s["kind"] == "indexeddb"]
    assert item["key"] == "ONE_SIGNAL_SDK_DB"
    assert item["setter"].endswith("/push-sdk.js")
    assert (item["classification"]["category"], item["classification"]["vendor"]) == (
        "marketing",
        "OneSignal",
    )
    (finding,) = [f for f in report["findings"] if f["cookie"] == "ONE_SIGNAL_SDK_DB"]
    assert (finding["type"], finding["severity"]) == ("pre_consent", "high")
    assert finding["message"] == (
        "IndexedDB database ONE_SIGNAL_SDK_DB (marketing) written before consent"
    )
    assert finding["evidence"]["storage"] == "indexeddb"
