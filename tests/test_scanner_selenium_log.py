"""The Selenium engine's performance and console logs read without a browser: redirect chains,
redirects inside the browser, and the probe's records."""

from __future__ import annotations

import json
from typing import Any

from scanner.config import ScanConfig
from scanner.model import PageVisit

SITE = "https://www.example.se"


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
