"""The scan's network guard: every browser request of a scan is checked, and the network
settings (resolve, insecure, allow_private) are the operator's alone.

A "public-looking" shop (shop.test, mapped to 127.0.0.1 by the operator, who allows that one
host on a private address) embeds an iframe, an image, a script fetch and a redirect that all
point at an internal service on loopback: the guard refuses each, the internal service never
sees a request, and the report lists what was blocked.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from consent_server.extensions import db
from consent_server.scans.models import Scan
from consent_server.scans.queue import enqueue_scan
from consent_server.scans.run import execute_scan
from consent_server.sites.service import apply_declaration
from declaration.loader import DeclarationError, load_declaration
from scanner.config import ScanConfig, ScanError
from scanner.engines.base import sandbox_args
from scanner.netguard import NetGuard
from tests.support.apps import bearer, example_data, make_app, reset_database

SECRET = "internal-secret-7f3a"


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Internal(BaseHTTPRequestHandler):
    """An internal service on loopback: it must never be reached through a scan."""

    def do_GET(self) -> None:
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        body = f"<html><body><p>{SECRET}</p></body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


class _Shop(BaseHTTPRequestHandler):
    """shop.test: pages that point at the internal service in every way a page can."""

    def do_GET(self) -> None:
        inside = self.server.inside  # type: ignore[attr-defined]
        if self.path == "/go-inside":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{inside}/redirected")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/policy":
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{inside}/policy")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/":
            body = f"""<!doctype html><html><head><title>Shop</title></head><body>
<h1>Shop</h1>
<iframe src="http://127.0.0.1:{inside}/framed"></iframe>
<img src="http://localhost:{inside}/pixel.gif">
<a href="/go-inside">inside</a>
<script>fetch("http://127.0.0.1:{inside}/fetched").then(r => r.text())
  .then(t => document.title = t, () => {{}});</script>
</body></html>"""
        else:
            body = "<!doctype html><html><body><p>nothing here</p></body></html>"
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Set-Cookie", "shop_session=1; Path=/; HttpOnly")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def servers() -> Iterator[tuple[_Server, _Server]]:
    internal = _Server(("127.0.0.1", 0), _Internal)
    internal.hits = []  # type: ignore[attr-defined]
    shop = _Server(("127.0.0.1", 0), _Shop)
    shop.inside = internal.server_address[1]  # type: ignore[attr-defined]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (internal, shop)]
    for t in threads:
        t.start()
    try:
        yield shop, internal
    finally:
        for s in (internal, shop):
            s.shutdown()
            s.server_close()


def _network(**more: Any) -> dict[str, Any]:
    """The operator's per-site network settings: shop.test (only) on loopback."""
    return {"resolve": {"shop.test": "127.0.0.1"}, "allow_private": ["shop.test"], **more}


def _shop_app(tmp_path: Path, chromium_path: str, shop_port: int, **scan: Any) -> Flask:
    app = make_app(
        tmp_path,
        f"sqlite:///{tmp_path / 'guard.sqlite3'}",
        SCAN_CHROMIUM=chromium_path,
        SCAN_SETTLE_MS=300,
        SCAN_PAGE_TIMEOUT=15,
        SCAN_TOTAL_TIMEOUT=90,
        SCAN_SITE_NETWORK={"guarded-shop": _network()},
    )
    reset_database(app)
    data = example_data(site="guarded-shop", domains=["shop.test"])
    data["scan"] = {"url": f"http://shop.test:{shop_port}/", "max_pages": 3, **scan}
    with app.app_context():
        apply_declaration(load_declaration(data))
    return app


def _run_scan(app: Flask) -> Scan:
    with app.app_context():
        scan_id = enqueue_scan("guarded-shop", "manual").scan_id
        execute_scan(scan_id, "test-worker")
        db.session.expire_all()
        scan = db.session.get(Scan, scan_id)
        db.session.expunge(scan)
        return scan


# -- through the server ------------------------------------------------------------------------


@pytest.mark.browser
def test_a_scan_never_reaches_an_internal_address_the_page_points_at(
    tmp_path: Path, chromium_path: str, servers: tuple[_Server, _Server]
) -> None:
    shop, internal = servers
    inside = internal.server_address[1]
    app = _shop_app(tmp_path, chromium_path, shop.server_address[1])
    scan = _run_scan(app)
    assert scan.status == "done", scan.error
    report = scan.report
    assert internal.hits == []  # type: ignore[attr-defined]
    assert SECRET not in json.dumps(report)
    blocked = {(b["url"], b["phase"]) for b in report["blocked_requests"]}
    for path in ("/framed", "/fetched", "/redirected"):
        assert (f"http://127.0.0.1:{inside}{path}", "pre-consent") in blocked, blocked
    assert (f"http://localhost:{inside}/pixel.gif", "pre-consent") in blocked
    entry = next(b for b in report["blocked_requests"] if b["url"].endswith("/framed"))
    assert entry["host"] == "127.0.0.1" and entry["address"] == "127.0.0.1"
    assert "private, loopback or link-local" in entry["reason"]
    from scanner import render_html

    page = render_html(report)
    assert "Blocked by the network guard" in page and f"127.0.0.1:{inside}/framed" in page
    # The site itself was scanned: the operator allowed shop.test on loopback.
    assert report["summary"]["pages"] >= 1
    assert any(c["name"] == "shop_session" for c in report["cookies"])


@pytest.mark.browser
def test_a_policy_url_that_redirects_inside_is_refused(
    tmp_path: Path, chromium_path: str, servers: tuple[_Server, _Server]
) -> None:
    shop, internal = servers
    port = shop.server_address[1]
    app = _shop_app(tmp_path, chromium_path, port, policy_url=f"http://shop.test:{port}/policy")
    scan = _run_scan(app)
    assert scan.status == "failed"
    assert "blocked" in scan.error and "localhost" in scan.error, scan.error
    assert internal.hits == []  # type: ignore[attr-defined]


@pytest.mark.browser
def test_the_selenium_engine_goes_through_the_guard_too(
    chromium_path: str, servers: tuple[_Server, _Server]
) -> None:
    import scanner

    shop, internal = servers
    inside = internal.server_address[1]
    config = ScanConfig(
        url=f"http://shop.test:{shop.server_address[1]}/",
        engine="selenium",
        chromium=chromium_path,
        max_pages=2,
        phases=("pre-consent",),
        settle_ms=300,
        page_timeout=15,
        total_timeout=60,
        resolve={"shop.test": "127.0.0.1"},
        private_hosts=("shop.test",),
    )
    report = scanner.scan(config)
    assert internal.hits == []  # type: ignore[attr-defined]
    urls = {b["url"] for b in report["blocked_requests"]}
    assert f"http://127.0.0.1:{inside}/framed" in urls, urls
    assert SECRET not in json.dumps(report)


# -- the proxy on its own ------------------------------------------------------------------------


def test_the_guard_refuses_inside_targets_and_connects_to_the_address_it_checked(
    servers: tuple[_Server, _Server],
) -> None:
    shop, internal = servers
    config = ScanConfig(
        url="http://shop.test/", resolve={"shop.test": "127.0.0.1"}, private_hosts=("shop.test",)
    )
    with NetGuard(config) as guard:
        proxy = urllib.request.ProxyHandler({"http": guard.proxy_url("test")})
        opener = urllib.request.build_opener(proxy)
        page = opener.open(f"http://shop.test:{shop.server_address[1]}/about", timeout=10)
        assert b"nothing here" in page.read()
        for url in (
            f"http://127.0.0.1:{internal.server_address[1]}/x",
            f"http://localhost:{internal.server_address[1]}/x",
            f"http://[::1]:{internal.server_address[1]}/x",
        ):
            with pytest.raises(urllib.error.HTTPError) as refused:
                opener.open(url, timeout=10)
            assert refused.value.code == 403
        # A CONNECT tunnel to the inside is refused the same way.
        with socket.create_connection(("127.0.0.1", guard.port("test")), timeout=10) as s:
            s.sendall(f"CONNECT 127.0.0.1:{internal.server_address[1]} HTTP/1.1\r\n\r\n".encode())
            assert s.recv(100).startswith(b"HTTP/1.1 403")
        reasons = [b["reason"] for b in guard.blocked]
    assert internal.hits == []  # type: ignore[attr-defined]
    assert len(reasons) == 4 and all("loopback" in r for r in reasons)


# -- settings are the operator's ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["allow_private", "insecure", "resolve"])
def test_a_declaration_may_not_set_network_settings(name: str) -> None:
    value = {"resolve": {"shop.test": "127.0.0.1"}}.get(name, True)
    data = example_data()
    data["scan"] = {"url": "https://shop.example.se/", name: value}
    with pytest.raises(DeclarationError) as refused:
        load_declaration(data)
    message = str(refused.value)
    assert f"scan.{name}" in message and "SCAN_SITE_NETWORK" in message
    assert "operator-only" in message


def test_put_with_allow_private_in_scan_is_422(client: FlaskClient, tokens: dict[str, str]):
    body = example_data()
    body["scan"] = {"url": "https://shop.example.se/", "allow_private": True}
    resp = client.put(f"/api/v1/sites/{body['site']}", json=body, headers=bearer(tokens["admin"]))
    assert resp.status_code == 422, resp.get_json()
    assert "SCAN_SITE_NETWORK" in json.dumps(resp.get_json())


def test_sites_apply_refuses_allow_private_in_scan(runner: FlaskCliRunner, tmp_path: Path):
    data = example_data()
    data["scan"] = {"url": "https://shop.example.se/", "allow_private": True}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = runner.invoke(args=["sites", "apply", str(path)])
    assert result.exit_code != 0
    assert "scan.allow_private" in result.output and "SCAN_SITE_NETWORK" in result.output


def test_the_server_takes_network_settings_from_its_configuration(tmp_path: Path) -> None:
    from consent_server.scans.run import scan_config

    app = make_app(
        tmp_path,
        f"sqlite:///{tmp_path / 'conf.sqlite3'}",
        SCAN_RESOLVE={"cdn.test": "93.184.215.7"},
        SCAN_INSECURE=False,
        SCAN_SITE_NETWORK={"guarded-shop": _network(insecure=True)},
    )
    with app.app_context():
        mine = scan_config({"url": "http://shop.test/"}, "guarded-shop")
        other = scan_config({"url": "http://other.test/"}, "other-shop")
    assert mine.resolve == {"cdn.test": "93.184.215.7", "shop.test": "127.0.0.1"}
    assert mine.insecure and not mine.allow_private and mine.private_hosts == ("shop.test",)
    assert other.resolve == {"cdn.test": "93.184.215.7"} and not other.insecure
    assert other.private_hosts == ()


def test_a_resolve_map_to_loopback_needs_allow_private(chromium_path: str) -> None:
    # The start URL is public; a second name is pointed at loopback.
    config = ScanConfig(
        url="http://93.184.215.10/", chromium=chromium_path, resolve={"intranet.test": "127.0.0.1"}
    )
    with pytest.raises(ScanError, match=r"intranet\.test.*allow_private"):
        config.validate()
    config.resolve = {"intranet.test": "10.1.2.3", "cdn.test": "93.184.215.7"}
    with pytest.raises(ScanError, match=r"intranet\.test"):
        config.validate()
    config.private_hosts = ("intranet.test",)
    config.validate()  # allowed for that one host
    config.private_hosts = ()
    config.allow_private = True
    config.validate()
    config.allow_private = False
    config.resolve = {"cdn.test": "93.184.215.7"}
    config.validate()  # a public address needs no permission


def test_chromium_runs_sandboxed_unless_root() -> None:
    assert sandbox_args(uid=0) == ["--no-sandbox"]
    assert sandbox_args(uid=10001) == []
    assert sandbox_args(uid=10001, wanted=False) == ["--no-sandbox"]
    assert sandbox_args(uid=None) == ["--no-sandbox"]  # a remote browser: its user is unknown
