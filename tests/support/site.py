"""A misbehaving shop on HTTPS for the cookie scanner's end-to-end tests.

One threaded HTTPS server on 127.0.0.1 (any port) with a self-signed certificate whose SANs
name every host below; Chromium reaches the hosts through the scanner's own `--resolve`
mapping. Host and path decide what is served:

shop.test (the site)
  /                  Set-Cookie shop_session (necessary, session, HttpOnly) and cart_id
                     (Max-Age 500 days: asked for more than Chromium stores), two cookies the
                     browser refuses (legacy_id: SameSite=None without Secure; xdom: Domain
                     other.test), the tracker script, app.js (CookieStore + localStorage),
                     the ads pixel, the video iframe and the banner with "Acceptera alla" /
                     "Neka alla" on its first layer; links to /about, sub.shop.test, /go,
                     /out, /old-page and an outside site (never crawled)
  /about, /landing   the tracker script and the banner again
  /go                302 to /landing with Set-Cookie ref_src
  /out               302 to partner.test/click, which sets partner_ref (no SameSite: Lax,
                     allowed on a top-level navigation) and 302s back to /landing
  /old-page          404
  /hidden            linked from nowhere, only in the sitemap named by robots.txt;
                     Set-Cookie hidden_sid
  /robots.txt        names /sitemap_index.xml (a sitemap index -> /sitemap-pages.xml);
                     /sitemap.xml itself is 404
  /slow              answers only after `slow_seconds` (for the time-limit tests)
  /slow-start        a plain page linking to /slow
  /late              work the page schedules after load, with nothing on the network until
                     it runs (for the settle tests, linked from nowhere): a timer fetches
                     /late-beacon after 0.9 s, which answers 0.3 s later with Set-Cookie
                     late_header; a timer writes late_script after 1 s; a timer due long
                     after any --wait, too_late; a link to /late-frames
  /late-frames       animation frames for 0.7 s after load, then late_frame
  /static/app.js     CookieStore csrf_token (1 h), localStorage cart_items
  /static/banner.js  1 s after load writes _fbp (marketing, before any consent); "Neka
                     alla" writes cookie_consent, a NEW _gcl_au (marketing, after reject) and
                     re-sends _ga unchanged (which must not count as set after the reject)
sub.shop.test /      Set-Cookie lb_route with Domain=shop.test
tracker.test /analytics.js   document.cookie _ga (Domain=shop.test, 2 years) and _gid (1 day),
                     keeping existing values; sessionStorage _hjSessionStorageTest; a pixel
                     (GET /collect, a query string longer than reports keep) and a
                     navigator.sendBeacon (POST /beacon), before any consent
ads.test /sync       a hidden cookie-sync iframe, removed once loaded: its script writes
                     __gads (SameSite=None; Secure)
ads.test /pixel.gif  third-party MUID (SameSite=None; Secure; 395 days) and ads_lax, which the
                     browser refuses (no SameSite is Lax, not settable cross-site)
video.test /embed    iframe document: Set-Cookie vsid (session) and player.js writes vpref
                     (and vlax, which the browser refuses: Lax from a cross-site frame)
elsewhere.test       an outside site: any request to it is a crawl bug
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.live import Serving

SITE = "shop.test"
SUB = "sub.shop.test"
TRACKER = "tracker.test"
ADS = "ads.test"
VIDEO = "video.test"
PARTNER = "partner.test"
ELSEWHERE = "elsewhere.test"
HOSTS = (SITE, SUB, TRACKER, ADS, VIDEO, PARTNER, ELSEWHERE)
# The scanner's own mapping; the wildcard alone would do for Chromium and for the scanner's
# check (both match "*" across dots), the bare name is listed as a site operator would.
RESOLVE = {"*.test": "127.0.0.1", SITE: "127.0.0.1"}

DAY = 86400
CART_MAX_AGE = 500 * DAY  # more than Chromium's 400-day cap
MUID_MAX_AGE = 395 * DAY
GA_MAX_AGE = 2 * 365 * DAY
GID_MAX_AGE = DAY
FBP_MAX_AGE = 90 * DAY
CONSENT_MAX_AGE = 365 * DAY
VPREF_MAX_AGE = 365 * DAY
REF_MAX_AGE = 3600
FBP_DELAY_MS = 1000  # longer than any quiet window: only a wait for the timer itself sees it
LATE_BEACON_SECONDS = 0.3
TOO_LATE_MS = 20000  # far beyond --wait
GADS_MAX_AGE = 13 * 30 * DAY
TRACKER_PAD = "x" * 150  # the pixel's query string is longer than a report keeps
CSRF_SECONDS = 3600

GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate with a SAN for every host (and 127.0.0.1)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SITE)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(h) for h in HOSTS]
                + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "site.crt", directory / "site.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class _TLSServer(ThreadingHTTPServer):
    """Threaded HTTP server doing the TLS handshake in the request thread, not in accept()."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, site: ScannerSite, context: ssl.SSLContext) -> None:
        self.site = site
        self.context = context
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(15)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (ssl.SSLError, OSError):
            pass
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # browsers drop connections all the time


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _TLSServer

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        site = self.server.site
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
        path = self.path.split("?", 1)[0]
        jar = SimpleCookie()
        try:
            jar.load(self.headers.get("Cookie") or "")
        except CookieError:
            jar = SimpleCookie()
        cookies = {k: m.value for k, m in jar.items()}
        site.record(host, path, cookies)
        route = site.routes.get((host, path))
        if route is None:
            self._send(404, "text/html", b"<!doctype html><title>404</title><p>Finns inte.")
            return
        route(self, cookies)

    def do_POST(self) -> None:
        # Beacons: the body is read and dropped, the answer is empty.
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
        self.rfile.read(min(int(self.headers.get("Content-Length") or 0), 65536))
        self.server.site.record(host, self.path.split("?", 1)[0], {})
        self._send(204, "text/plain", b"")

    def _send(
        self,
        status: int,
        content_type: str,
        body: bytes,
        cookies: list[str] = (),  # type: ignore[assignment]
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for line in cookies:
            self.send_header("Set-Cookie", line)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


Route = Callable[[_Handler, dict[str, str]], None]


class ScannerSite:
    """The fixture site; a context manager that serves it on a free port."""

    def __init__(self, directory: Path, slow_seconds: float = 60.0) -> None:
        cert, key = make_certificate(directory)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server = _TLSServer(self, context)
        self.port = self.server.server_address[1]
        self.slow_seconds = slow_seconds
        self.stopping = threading.Event()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.serving = Serving(self.server)
        self.routes: dict[tuple[str, str], Route] = {
            (SITE, "/"): self._index,
            (SITE, "/about"): self._page("Om oss", '<a href="/">Hem</a>'),
            (SITE, "/landing"): self._page("Kampanj", '<a href="/">Hem</a>'),
            (SITE, "/hidden"): self._hidden,
            (SITE, "/go"): self._go,
            (SITE, "/out"): self._out,
            (PARTNER, "/click"): self._partner_click,
            (SITE, "/robots.txt"): self._robots,
            (SITE, "/sitemap_index.xml"): self._sitemap_index,
            (SITE, "/sitemap-pages.xml"): self._sitemap_pages,
            (SITE, "/slow"): self._slow,
            (SITE, "/slow-start"): self._slow_start,
            (SITE, "/late"): self._html_route(LATE_HTML),
            (SITE, "/late-frames"): self._html_route(LATE_FRAMES_HTML),
            (SITE, "/late-beacon"): self._late_beacon,
            (SITE, "/static/app.js"): self._js(APP_JS),
            (SITE, "/static/banner.js"): self._js(BANNER_JS),
            (SUB, "/"): self._sub,
            (TRACKER, "/analytics.js"): self._js(TRACKER_JS),
            (TRACKER, "/collect"): self._collect,
            (ADS, "/pixel.gif"): self._pixel,
            (ADS, "/sync"): self._sync,
            (VIDEO, "/embed"): self._embed,
            (VIDEO, "/player.js"): self._js(PLAYER_JS),
            (ELSEWHERE, "/"): self._page("Någon annanstans", ""),
        }

    # -- addresses ----------------------------------------------------------------------------

    def url(self, path: str = "/", host: str = SITE) -> str:
        """https://host:port/path"""
        return f"https://{host}:{self.port}{path}"

    @property
    def origin(self) -> str:
        """https://shop.test:port"""
        return self.url("").rstrip("/")

    def record(self, host: str, path: str, cookies: dict[str, str]) -> None:
        """Remember a request (host, path, cookies sent)."""
        with self.lock:
            self.requests.append((host, path, cookies))

    def requested(self, host: str, path: str | None = None) -> bool:
        """Whether the host (and path) was ever requested."""
        with self.lock:
            return any(h == host and (path is None or p == path) for h, p, _ in self.requests)

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> ScannerSite:
        self.serving.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()  # pages that wait (/slow) answer at once
        self.serving.__exit__(*exc)

    # -- pages --------------------------------------------------------------------------------

    def _head(self, title: str, banner: bool) -> str:
        tracker = self.url("/analytics.js", TRACKER)
        return (
            f"<!doctype html><html lang='sv'><head><meta charset='utf-8'><title>{title}</title>"
            f"<script src='{tracker}'></script>"
            "<script src='/static/banner.js' defer></script></head><body>"
            f"<h1>{title}</h1>" + (BANNER_HTML if banner else "")
        )

    def _html(self, handler: _Handler, body: str, cookies: list[str] = ()) -> None:  # type: ignore[assignment]
        handler._send(200, "text/html; charset=utf-8", body.encode(), cookies)

    def _page(self, title: str, extra: str) -> Route:
        def page(handler: _Handler, cookies: dict[str, str]) -> None:
            body = self._head(title, "cookie_consent" not in cookies) + f"<p>{extra}</p>"
            self._html(handler, body + "</body></html>")

        return page

    def _index(self, handler: _Handler, cookies: dict[str, str]) -> None:
        lines = []
        if "shop_session" not in cookies:
            lines.append("shop_session=s3ss10n; Path=/; Secure; HttpOnly; SameSite=Lax")
        if "cart_id" not in cookies:
            lines.append(f"cart_id=c4rt; Path=/; Max-Age={CART_MAX_AGE}; Secure; SameSite=Lax")
        # Refused by the browser: SameSite=None needs Secure; a Domain the host is not in.
        lines.append("legacy_id=1; Path=/; SameSite=None")
        lines.append("xdom=1; Path=/; Domain=other.test; Secure")
        body = (
            self._head("Butiken", "cookie_consent" not in cookies)
            + "<script src='/static/app.js'></script>"
            + "<nav><a href='/about'>Om oss</a> "
            + f"<a href='{self.url('/', SUB)}'>Bloggen</a> "
            + "<a href='/go'>Erbjudande</a> <a href='/out'>Partnererbjudande</a> "
            + "<a href='/old-page'>Gammal sida</a> "
            + f"<a href='{self.url('/', ELSEWHERE)}'>Partner</a> <a href='#top'>Upp</a> "
            + "<a href='mailto:info@shop.test'>Mejla</a></nav>"
            + f"<img src='{self.url('/pixel.gif', ADS)}' width='1' height='1' alt=''>"
            + SYNC_JS.replace("SYNC_URL", self.url("/sync", ADS))
            + f"<iframe src='{self.url('/embed', VIDEO)}' width='320' height='180'"
            + " title='Video'></iframe>"
            + "<p style='height:1500px'>Produkter</p></body></html>"
        )
        self._html(handler, body, lines)

    def _hidden(self, handler: _Handler, cookies: dict[str, str]) -> None:
        lines = [] if "hidden_sid" in cookies else ["hidden_sid=h1dd3n; Path=/; Secure"]
        body = self._head("Gömd", "cookie_consent" not in cookies) + "</body></html>"
        self._html(handler, body, lines)

    def _go(self, handler: _Handler, cookies: dict[str, str]) -> None:
        handler._send(
            302,
            "text/plain",
            b"",
            [f"ref_src=nav; Path=/; Max-Age={REF_MAX_AGE}; Secure; SameSite=Lax"],
            {"Location": "/landing"},
        )

    def _out(self, handler: _Handler, cookies: dict[str, str]) -> None:
        handler._send(302, "text/plain", b"", [], {"Location": self.url("/click", PARTNER)})

    def _partner_click(self, handler: _Handler, cookies: dict[str, str]) -> None:
        # A bounce through another site: a top-level navigation, so its Lax cookie is set.
        lines = [] if "partner_ref" in cookies else [f"partner_ref=p4rtn3r; Path=/; Max-Age={DAY}"]
        handler._send(302, "text/plain", b"", lines, {"Location": self.url("/landing")})

    def _robots(self, handler: _Handler, cookies: dict[str, str]) -> None:
        text = f"User-agent: *\nDisallow:\n\nSitemap: {self.url('/sitemap_index.xml')}\n"
        handler._send(200, "text/plain", text.encode())

    def _sitemap_index(self, handler: _Handler, cookies: dict[str, str]) -> None:
        xml = (
            "<?xml version='1.0' encoding='UTF-8'?>"
            "<sitemapindex xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
            f"<sitemap><loc>{self.url('/sitemap-pages.xml')}</loc></sitemap></sitemapindex>"
        )
        handler._send(200, "application/xml", xml.encode())

    def _sitemap_pages(self, handler: _Handler, cookies: dict[str, str]) -> None:
        urls = "".join(f"<url><loc>{self.url(p)}</loc></url>" for p in ("/", "/about", "/hidden"))
        xml = (
            "<?xml version='1.0' encoding='UTF-8'?>"
            f"<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>{urls}</urlset>"
        )
        handler._send(200, "application/xml", xml.encode())

    def _slow(self, handler: _Handler, cookies: dict[str, str]) -> None:
        self.stopping.wait(self.slow_seconds)
        self._html(handler, "<!doctype html><title>Långsam</title><p>Äntligen.")

    def _slow_start(self, handler: _Handler, cookies: dict[str, str]) -> None:
        self._html(handler, "<!doctype html><title>Start</title><a href='/slow'>Långsam</a>")

    def _html_route(self, body: str) -> Route:
        def page(handler: _Handler, cookies: dict[str, str]) -> None:
            self._html(handler, body)

        return page

    def _late_beacon(self, handler: _Handler, cookies: dict[str, str]) -> None:
        self.stopping.wait(LATE_BEACON_SECONDS)  # a slow answer: the network is busy meanwhile
        handler._send(204, "text/plain", b"", ["late_header=1; Path=/; Max-Age=3600; Secure"])

    def _js(self, source: str) -> Route:
        def script(handler: _Handler, cookies: dict[str, str]) -> None:
            handler._send(200, "application/javascript; charset=utf-8", source.encode())

        return script

    def _sub(self, handler: _Handler, cookies: dict[str, str]) -> None:
        lines = [] if "lb_route" in cookies else ["lb_route=s1; Domain=shop.test; Path=/; Secure"]
        body = (
            "<!doctype html><html lang='sv'><head><meta charset='utf-8'><title>Bloggen</title>"
            f"</head><body><h1>Bloggen</h1><a href='{self.url('/')}'>Butiken</a></body></html>"
        )
        self._html(handler, body, lines)

    def _pixel(self, handler: _Handler, cookies: dict[str, str]) -> None:
        # Refused: no SameSite means Lax, which a cross-site response cannot set.
        lines = [f"ads_lax=1; Domain=ads.test; Path=/; Max-Age={DAY}; Secure"]
        if "MUID" not in cookies:
            lines.append(
                f"MUID=4B1D5E0F; Domain=ads.test; Path=/; Max-Age={MUID_MAX_AGE}; "
                "SameSite=None; Secure"
            )
        handler._send(200, "image/gif", GIF, lines)

    def _collect(self, handler: _Handler, cookies: dict[str, str]) -> None:
        handler._send(200, "image/gif", GIF)

    def _sync(self, handler: _Handler, cookies: dict[str, str]) -> None:
        body = (
            "<!doctype html><html><head><meta charset='utf-8'><script>"
            f"document.cookie = '__gads=ID=5y1c; Max-Age={GADS_MAX_AGE}; Path=/; "
            "SameSite=None; Secure';</script></head><body></body></html>"
        )
        self._html(handler, body)

    def _embed(self, handler: _Handler, cookies: dict[str, str]) -> None:
        lines = [] if "vsid" in cookies else ["vsid=v1d30; Path=/; SameSite=None; Secure"]
        body = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Video</title>"
            "<script src='/player.js'></script></head><body><p>▶</p></body></html>"
        )
        self._html(handler, body, lines)


BANNER_HTML = (
    "<div id='cookie-banner' role='dialog' aria-label='Kakor' "
    "style='position:fixed;bottom:0;left:0;right:0;background:#fff;padding:1em'>"
    "<p>Vi använder kakor för statistik och annonser.</p>"
    "<button id='cb-accept'>Acceptera alla</button> "
    "<button id='cb-reject'>Neka alla</button> <a href='#installningar'>Inställningar</a></div>"
)

BANNER_JS = f"""
(function () {{
  var get = function (n) {{
    var hit = document.cookie.split('; ').filter(function (c) {{ return c.indexOf(n + '=') === 0; }})[0];
    return hit ? hit.slice(n.length + 1) : '';
  }};
  // The bug: a marketing cookie before any consent, a second after load.
  setTimeout(function () {{
    if (!get('_fbp')) document.cookie = '_fbp=fb.1.1700000000000.42; Max-Age={FBP_MAX_AGE}; Path=/; SameSite=Lax';
  }}, {FBP_DELAY_MS});
  var banner = document.getElementById('cookie-banner');
  if (!banner) return;
  document.getElementById('cb-accept').addEventListener('click', function () {{
    document.cookie = 'cookie_consent=all; Max-Age={CONSENT_MAX_AGE}; Path=/; SameSite=Lax';
    banner.remove();
  }});
  document.getElementById('cb-reject').addEventListener('click', function () {{
    document.cookie = 'cookie_consent=none; Max-Age={CONSENT_MAX_AGE}; Path=/; SameSite=Lax';
    // The bug: a new marketing cookie after the visitor said no.
    document.cookie = '_gcl_au=1.1.987654321.1700000000; Max-Age={FBP_MAX_AGE}; Path=/; SameSite=Lax';
    // Merely re-sent unchanged: not a cookie set after the reject.
    var ga = get('_ga');
    if (ga) document.cookie = '_ga=' + ga + '; Max-Age={GA_MAX_AGE}; Path=/; Domain=shop.test; SameSite=Lax';
    banner.remove();
  }});
}})();
"""

TRACKER_JS = f"""
(function () {{
  var get = function (n) {{
    var hit = document.cookie.split('; ').filter(function (c) {{ return c.indexOf(n + '=') === 0; }})[0];
    return hit ? hit.slice(n.length + 1) : '';
  }};
  var ga = get('_ga') || 'GA1.1.' + Math.floor(Math.random() * 1e9) + '.1700000000';
  document.cookie = '_ga=' + ga + '; Max-Age={GA_MAX_AGE}; Path=/; Domain=shop.test; SameSite=Lax';
  var gid = get('_gid') || 'GA1.1.' + Math.floor(Math.random() * 1e9);
  document.cookie = '_gid=' + gid + '; Max-Age={GID_MAX_AGE}; Path=/; SameSite=Lax';
  try {{ sessionStorage.setItem('_hjSessionStorageTest', '1'); }} catch (e) {{}}
  // Tracking with no cookie of its own: a pixel and a beacon, whatever the visitor chose.
  var here = document.currentScript.src;
  new Image(1, 1).src = new URL('/collect?v=2&cid=' + encodeURIComponent(ga) + '&dl=' +
    encodeURIComponent(location.href) + '&pad={TRACKER_PAD}', here).href;
  try {{ navigator.sendBeacon(new URL('/beacon?e=page_view', here).href, 'cid=' + ga); }} catch (e) {{}}
}})();
"""

APP_JS = f"""
(function () {{
  if (window.cookieStore) {{
    cookieStore.set({{name: 'csrf_token', value: 't0k3n', path: '/',
                     expires: Date.now() + {CSRF_SECONDS} * 1000}});
  }}
  localStorage.setItem('cart_items', '[]');
}})();
"""

LATE_HTML = f"""<!doctype html><html lang='sv'><head><meta charset='utf-8'><title>Sent</title>
</head><body><a href='/late-frames'>Animerat</a><script>
setTimeout(function () {{ fetch('/late-beacon'); }}, 900);
setTimeout(function () {{
  document.cookie = 'late_script=1; Max-Age=3600; Path=/; Secure; SameSite=Lax';
}}, 1000);
setTimeout(function () {{
  document.cookie = 'too_late=1; Max-Age=3600; Path=/; Secure; SameSite=Lax';
}}, {TOO_LATE_MS});
</script></body></html>"""

LATE_FRAMES_HTML = """<!doctype html><html lang='sv'><head><meta charset='utf-8'><title>Animerat</title>
</head><body><p>Animerat</p><script>
var start = performance.now();
requestAnimationFrame(function step() {
  if (performance.now() - start < 700) requestAnimationFrame(step);
  else document.cookie = 'late_frame=1; Max-Age=3600; Path=/; Secure; SameSite=Lax';
});
</script></body></html>"""

# A cookie-sync frame: loaded, and removed as soon as it has run.
SYNC_JS = """<script>
(function () {
  var f = document.createElement('iframe');
  f.src = 'SYNC_URL';
  f.style.display = 'none';
  f.onload = function () { f.remove(); };
  document.body.appendChild(f);
})();
</script>"""

PLAYER_JS = f"""
document.cookie = 'vpref=hd; Max-Age={VPREF_MAX_AGE}; Path=/; SameSite=None; Secure';
// Refused: SameSite=Lax cannot be set from a cross-site frame.
document.cookie = 'vlax=1; Max-Age={DAY}; Path=/; SameSite=Lax; Secure';
"""

DECLARATION = """\
site: fixture-shop
name: Fixture Shop AB
domains: [shop.test]
default_language: sv
languages: [sv]
cookies:
  - {name: shop_session, provider: Fixture Shop AB, category: necessary, lifetime: session}
  # Too short: the shop asks for 500 days.
  - {name: cart_id, provider: Fixture Shop AB, category: necessary, lifetime: P30D}
  - {name: csrf_token, provider: Fixture Shop AB, category: necessary, lifetime: PT1H}
  - {name: cookie_consent, provider: Fixture Shop AB, category: necessary, lifetime: P1Y}
  - {name: lb_route, provider: Fixture Shop AB, category: necessary, lifetime: session}
  - {name: ref_src, provider: Fixture Shop AB, category: necessary, lifetime: PT1H}
  - {name: _ga, provider: Google Analytics, category: analytics, lifetime: P2Y}
  # Wrong category: _gid is an analytics cookie.
  - {name: _gid, provider: Google Analytics, category: necessary, lifetime: P1D}
  - {name: _fbp, provider: Meta, category: marketing, lifetime: P90D}
  - {name: vsid, domain: video.test, provider: Video AB, category: necessary, lifetime: session}
  # Declared but never set.
  - {name: newsletter_popup, provider: Fixture Shop AB, category: preferences, lifetime: P1Y}
"""
