"""The scanner's analysis of what the phases saw, without a browser: what counts as set after
a reject, stored lifetimes, findings, the exit status and the HTML report."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from declaration.loader import load_declaration
from scanner import build_report, exit_status
from scanner.analyze import Analysis
from scanner.config import ScanConfig
from scanner.knowledge import KnowledgeBase
from scanner.model import BannerInfo, CookieEvent, PageVisit, PhaseResult, StorageItem, StoredCookie
from scanner.observe import MAX_STORED_SECONDS
from scanner.report.html import render_html

SITE = "https://www.example.se"


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


def pre_consent(visit: PageVisit) -> tuple[PhaseResult, Analysis]:
    """The pre-consent phase of one page visit, analysed without a declaration."""
    phase = PhaseResult("pre-consent", pages=[visit])
    return phase, Analysis(f"{SITE}/", [phase], None, KnowledgeBase.load_default()).run()


# -- after a reject: new or changed only ----------------------------------------------------


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


def test_without_a_banner_click_nothing_counts_as_set_after_reject():
    visit = PageVisit(url=f"{SITE}/", final_url=f"{SITE}/", status=200, phase="after-reject")
    visit.events = [event("_gcl_au", "new", 5.0)]
    phase = PhaseResult("after-reject", pages=[visit], action_at=3.0)
    analysis = Analysis(f"{SITE}/", [phase], knowledge=KnowledgeBase.load_default()).run()
    assert analysis.cookies == {}
    assert not [f for f in analysis.findings if f.type == "after_reject"]


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


# -- cookies in the jar that no write explains ----------------------------------------------


def jar_cookie(name: str, value: str, expires: float | None) -> StoredCookie:
    return StoredCookie(name, value, "www.example.se", "/", expires, True, False, "Lax")


def test_a_cookie_in_the_jar_that_no_write_explains_is_reported_from_the_jar() -> None:
    import time

    visit = PageVisit(f"{SITE}/", f"{SITE}/", 200, "pre-consent")
    visit.events = [event("_ga", "GA1.2.3.4", 1.0, source="header")]
    visit.jar = [
        jar_cookie("_ga", "GA1.2.3.4", None),  # explained by its Set-Cookie
        jar_cookie("sw_uid", "u1", time.time() + 86400),  # a service worker's CookieStore
        jar_cookie("sw_tab", "t1", None),
    ]
    later = PageVisit(f"{SITE}/b", f"{SITE}/b", 200, "pre-consent")
    later.jar = list(visit.jar)  # still there on the next page: listed once, on the first
    phase = PhaseResult("pre-consent", pages=[visit, later])
    analysis = Analysis(f"{SITE}/", [phase], None, KnowledgeBase.load_default()).run()
    assert analysis.cookies[("_ga", "www.example.se")].sources == ["header"]
    sw = analysis.cookies[("sw_uid", "www.example.se")]
    assert (sw.sources, sw.setters, sw.pages) == (["jar"], [], [f"{SITE}/"])
    assert (sw.lifetime_class, sw.requested_seconds) == ("persistent", None)
    assert 86390 <= sw.stored_seconds <= 86400  # what it had left when the scan ended
    assert (sw.first_seen["source"], sw.first_seen["setter"]) == ("jar", None)
    assert sw.classification.guess is None  # persistent: no session-cookie guess
    tab = analysis.cookies[("sw_tab", "www.example.se")]
    assert (tab.lifetime_class, tab.classification.guess) == ("session", "preferences")
    finding = next(f for f in analysis.findings if f.type == "pre_consent" and f.cookie == "sw_uid")
    assert (finding.page, finding.setter, finding.evidence["sources"]) == (
        f"{SITE}/",
        None,
        ["jar"],
    )
    config = ScanConfig(url=f"{SITE}/")
    report = build_report(config, [phase], analysis, started=dt.datetime.now(dt.UTC), elapsed=1.0)
    html = render_html(report)
    assert "jar: only in the browser&#x27;s cookie jar, no write seen" in html
    # Persistent, but the lifetime it asked for was never seen: not shown as "session".
    row = html[html.index("<code>sw_uid</code>") :].split("</tr>")[0]
    assert "not seen" in row and ">session<" not in row
    assert "jar: bara i webbläsarens kakburk" in render_html(report, lang="sv")


def test_jar_cookies_after_a_click_count_only_when_new_or_changed() -> None:
    visit = PageVisit(f"{SITE}/", f"{SITE}/", 200, "after-reject")
    visit.jar = [jar_cookie("kept", "1", None), jar_cookie("changed", "new", None)]
    visit.jar.append(jar_cookie("fresh", "x", None))
    clicked = BannerInfo(found=True, kind="generic", clicked="neka alla")
    before = {"kept\x00www.example.se\x00/": "1", "changed\x00www.example.se\x00/": "old"}
    phase = PhaseResult(
        "after-reject", pages=[visit], before_action=before, action_at=3.0, banner=clicked
    )
    analysis = Analysis(f"{SITE}/", [phase], None, KnowledgeBase.load_default()).run()
    assert sorted(n for n, _ in analysis.cookies) == ["changed", "fresh"]
    assert {f.cookie for f in analysis.findings if f.type == "after_reject"} == {"changed", "fresh"}
    phase.banner = BannerInfo()  # no banner was clicked: nothing happened after a reject
    assert Analysis(f"{SITE}/", [phase], None, KnowledgeBase.load_default()).run().cookies == {}


def test_a_jar_only_cookie_is_checked_against_its_declared_lifetime() -> None:
    import time

    def lifetime_problem(declared: dict[str, Any], expires: float | None) -> str | None:
        declaration = load_declaration(
            {
                "site": "example",
                "name": "Example",
                "domains": ["www.example.se"],
                "cookies": [{"name": "sw_uid", "category": "necessary", **declared}],
            }
        )
        visit = PageVisit(f"{SITE}/", f"{SITE}/", 200, "pre-consent")
        visit.jar = [jar_cookie("sw_uid", "u1", expires)]
        phase = PhaseResult("pre-consent", pages=[visit])
        analysis = Analysis(f"{SITE}/", [phase], declaration, KnowledgeBase.empty()).run()
        found = [f.message for f in analysis.findings if f.type == "lifetime_mismatch"]
        return found[0] if found else None

    ten_days = time.time() + 10 * 86400
    assert lifetime_problem({"lifetime": "P1D"}, ten_days) == "sw_uid lives 10 days, declared P1D"
    assert lifetime_problem({"lifetime": "P30D"}, ten_days) is None
    assert lifetime_problem({}, ten_days) == "sw_uid declared as a session cookie but is persistent"
    assert lifetime_problem({"lifetime": "P1D"}, None) == (
        "sw_uid declared persistent but is a session cookie"
    )


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


# -- the script that wrote a cookie as evidence of its purpose -------------------------------


def test_a_cookie_written_by_a_trackers_script_is_reported_with_that_purpose() -> None:
    visit = PageVisit(f"{SITE}/", f"{SITE}/", 200, "pre-consent")
    visit.events = [
        event("zq_state", "1", 1.0, setter="https://static.hotjar.com/c/hotjar-1.js?sv=6"),
        event("zq_other", "1", 1.0, setter="https://cdn.unknown-vendor.net/app.js"),
        # A header has no script behind it: the request's host is not taken as a setter.
        event("zq_header", "1", 1.0, source="header", request_url="https://static.hotjar.com/"),
    ]
    _, analysis = pre_consent(visit)
    cookies = {c.name: c.classification for c in analysis.cookies.values()}
    assert (cookies["zq_state"].category, cookies["zq_state"].vendor) == ("analytics", "Hotjar")
    assert cookies["zq_state"].reason.startswith("written by a script from static.hotjar.com")
    assert cookies["zq_other"].category == cookies["zq_header"].category == "unknown"
    found = {(f.type, f.cookie): f.severity for f in analysis.findings}
    assert found[("pre_consent", "zq_state")] == "high"
    assert ("unclassified", "zq_state") not in found
    assert found[("unclassified", "zq_other")] == "low"


# -- a best guess for unknown session cookies; the scanned host as the site ------------------


def test_an_unknown_first_party_session_cookie_is_reported_unclassified_with_a_guess() -> None:
    visit = PageVisit(f"{SITE}/", f"{SITE}/", 200, "pre-consent")
    visit.events = [
        event("zq_view", "1", 1.0, requested_seconds=None),
        # Set first without an expiry, then with one: the guess no longer holds.
        event("zq_kept", "1", 1.0, requested_seconds=None),
        event("zq_kept", "2", 2.0, requested_seconds=3600.0),
    ]
    phase, analysis = pre_consent(visit)
    cookies = {c.name: c for c in analysis.cookies.values()}
    assert (cookies["zq_view"].classification.category, cookies["zq_view"].lifetime_class) == (
        "unknown",
        "session",
    )
    assert cookies["zq_view"].classification.guess == "preferences"
    assert (cookies["zq_kept"].lifetime_class, cookies["zq_kept"].classification.guess) == (
        "persistent",
        None,
    )
    found = {(f.type, f.cookie): f for f in analysis.findings}
    unclassified = found[("unclassified", "zq_view")]
    assert unclassified.message.endswith("could not be classified (best guess: preferences)")
    assert unclassified.evidence["guess"] == "preferences"
    assert found[("unclassified", "zq_kept")].evidence == {}
    # The guess changes no severity: before consent it is still an unknown cookie.
    pre = found[("pre_consent", "zq_view")]
    assert (pre.severity, pre.evidence["category"]) == ("medium", "unknown")
    config = ScanConfig(url=f"{SITE}/")
    report = build_report(config, [phase], analysis, started=dt.datetime.now(dt.UTC), elapsed=1.0)
    assert report["phases"][0]["by_category"]["unknown"] == 2
    by_name = {c["name"]: c["classification"] for c in report["cookies"]}
    assert (by_name["zq_view"]["category"], by_name["zq_view"]["guess"]) == (
        "unknown",
        "preferences",
    )
    assert "best guess preferences" in render_html(report)


def test_without_a_declaration_a_third_partys_session_name_is_not_taken_as_necessary() -> None:
    visit = PageVisit(f"{SITE}/", f"{SITE}/", 200, "pre-consent")
    visit.events = [
        event("sid", "1", 1.0, domain="cdn.unknown-vendor.net"),
        event("sid", "1", 1.0),
    ]
    _, analysis = pre_consent(visit)
    cookies = {c.domain: c.classification.category for c in analysis.cookies.values()}
    assert cookies == {"cdn.unknown-vendor.net": "unknown", "www.example.se": "necessary"}
    found = {(f.type, f.domain): f.severity for f in analysis.findings}
    assert found[("pre_consent", "cdn.unknown-vendor.net")] == "medium"
    assert ("pre_consent", "www.example.se") not in found


def test_a_renamed_copy_of_an_analytics_client_id_is_reported_by_its_value() -> None:
    visit = PageVisit(f"{SITE}/", f"{SITE}/", 200, "pre-consent")
    visit.events = [
        event("site_cid", "GA1.2.1234567890.1712345678", 1.0, source="header"),
        event("site_pref", "dark", 1.0),
    ]
    _, analysis = pre_consent(visit)
    cookies = {c.name: c.classification for c in analysis.cookies.values()}
    assert (cookies["site_cid"].category, cookies["site_cid"].vendor) == (
        "analytics",
        "Google Analytics",
    )
    assert cookies["site_pref"].category == "unknown"
    found = {(f.type, f.cookie): f.severity for f in analysis.findings}
    assert found[("pre_consent", "site_cid")] == "high"
    assert ("unclassified", "site_cid") not in found


def test_a_storage_key_stored_by_a_trackers_script_is_reported_with_that_purpose() -> None:
    visit = PageVisit(f"{SITE}/", f"{SITE}/", 200, "pre-consent")
    visit.storage = [
        StorageItem("local", SITE, "zq_state", 12, f"{SITE}/", f"{SITE}/"),
        StorageItem("local", SITE, "zq_other", 12, f"{SITE}/", f"{SITE}/"),
        StorageItem("session", SITE, "zq_seen", 1, f"{SITE}/", f"{SITE}/"),
    ]
    visit.storage_setters = {
        f"{SITE}|local|zq_state": "https://static.hotjar.com/c/hotjar-1.js?sv=6",
        f"{SITE}|local|zq_other": "https://cdn.unknown-vendor.net/app.js",
    }
    phase, analysis = pre_consent(visit)
    items = {s.key: s for s in analysis.storage.values()}
    assert (items["zq_state"].classification.category, items["zq_state"].setter) == (
        "analytics",
        "https://static.hotjar.com/c/hotjar-1.js?sv=6",
    )
    assert items["zq_state"].classification.reason.startswith("written by a script from")
    assert items["zq_other"].classification.category == "unknown"
    assert (items["zq_seen"].classification.category, items["zq_seen"].setter) == ("unknown", None)
    found = {(f.type, f.cookie): f.severity for f in analysis.findings}
    assert found == {("pre_consent", "zq_state"): "high"}
    config = ScanConfig(url=f"{SITE}/")
    report = build_report(config, [phase], analysis, started=dt.datetime.now(dt.UTC), elapsed=1.0)
    stored = {s["key"]: s for s in report["storage"]}
    assert stored["zq_state"]["setter"] == "https://static.hotjar.com/c/hotjar-1.js?sv=6"
    html = render_html(report)
    assert "https://static.hotjar.com/c/hotjar-1.js?sv=6" in html
    assert "written by a script from static.hotjar.com" in html
    # A report stored by an earlier version has no setter and still renders.
    for item in report["storage"]:
        del item["setter"]
    assert "zq_state" in render_html(report)


def test_a_flooded_probe_is_counted_in_the_report_and_said_in_the_html() -> None:
    visit = PageVisit(f"{SITE}/", f"{SITE}/", 200, "pre-consent")
    visit.events = [event("zq_view", "1", 1.0)]
    phase, analysis = pre_consent(visit)
    config = ScanConfig(url=f"{SITE}/")
    report = build_report(config, [phase], analysis, started=dt.datetime.now(dt.UTC), elapsed=1.0)
    assert report["phases"][0]["pages"][0]["probe_records_dropped"] == 0
    assert "flooded" not in render_html(report)
    visit.dropped_records = 7
    report = build_report(config, [phase], analysis, started=dt.datetime.now(dt.UTC), elapsed=1.0)
    assert report["phases"][0]["pages"][0]["probe_records_dropped"] == 7
    assert "probe: 7 records of script writes were not read" in render_html(report)
    assert "översvämmade skannerns sond: 7 poster" in render_html(report, lang="sv")


def test_a_banner_without_reject_on_its_first_layer_is_one_finding() -> None:
    def phase(name: str, reject: bool | None, found: bool = True) -> PhaseResult:
        visit = PageVisit(f"{SITE}/", f"{SITE}/", 200, name)
        banner = BannerInfo(found=found, kind="generic", reject_on_first_layer=reject)
        return PhaseResult(name, pages=[visit], banner=banner, action_at=1.0)

    def findings(*phases: PhaseResult) -> list[tuple[str, str, str | None]]:
        analysis = Analysis(f"{SITE}/", list(phases), None, KnowledgeBase.load_default()).run()
        return [
            (f.type, f.severity, f.phase)
            for f in analysis.findings
            if f.type == "no_reject_on_first_layer"
        ]

    assert findings(phase("after-reject", False), phase("after-accept", False)) == [
        ("no_reject_on_first_layer", "medium", "after-reject")
    ]
    assert findings(phase("after-reject", True), phase("after-accept", True)) == []
    assert findings(phase("after-reject", None, found=False)) == []
