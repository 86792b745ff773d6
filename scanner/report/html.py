"""A self-contained HTML report: findings first, a summary and a screenshot per phase, sortable
tables of cookies and third-party requests; headings and texts in English or Swedish."""

from __future__ import annotations

import re
from html import escape
from typing import Any

CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:76rem;padding:1rem 1.5rem;color:#1c1c1c}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:2px solid #ddd}
.meta{color:#555}table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f3f3f3;cursor:pointer;position:sticky;top:0}th[aria-sort=ascending]::after{content:" ▲"}
th[aria-sort=descending]::after{content:" ▼"}
.sev{font-weight:700;border-radius:4px;padding:.05rem .4rem;color:#fff;white-space:nowrap}
.critical{background:#7a0010}.high{background:#b3261e}.medium{background:#8a5300}.low{background:#35618f}.info{background:#555}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:8px;padding:.75rem 1rem;min-width:14rem}
code{font-size:.85em;background:#f3f3f3;padding:0 .2rem}
.shots{display:grid;grid-template-columns:repeat(auto-fill,minmax(22rem,1fr));gap:1rem}
figure{margin:0;border:1px solid #ddd;border-radius:8px;overflow:hidden}figure img{display:block;width:100%;height:auto}
.nw{white-space:nowrap}th{overflow-wrap:normal}td.u{width:40%}
figcaption{padding:.4rem .6rem;font-size:.85rem;color:#333}
blockquote{margin:.3rem 0 0;padding-left:.6rem;border-left:3px solid #ccc;color:#444;font-size:.85rem}.ok{color:#1b5e20;font-weight:700}
"""
# Sorting without any library: click a header to sort by that column (numbers numerically).
JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.tabIndex = 0;
    function sort() {
      var asc = th.getAttribute('aria-sort') !== 'ascending';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute('data-v') || a.cells[col].textContent;
        var y = b.cells[col].getAttribute('data-v') || b.cells[col].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var r = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return asc ? r : -r;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    }
    th.addEventListener('click', sort);
    th.addEventListener('keydown', function (e) { if (e.key === 'Enter') sort(); });
  });
});
"""
SEV_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _reason(cls: dict[str, Any]) -> str:
    """The classifier's reason under its source, when it gave one (reports before it had none)."""
    return f"<br><small>{_e(cls['reason'])}</small>" if cls.get("reason") else ""


def _policy_quotes(finding: dict[str, Any]) -> str:
    quotes = _quotes((finding.get("evidence") or {}).get("policy"))[:3]
    return "".join(f"<blockquote>{_e(q)}</blockquote>" for q in quotes)


def _days(seconds: float | None, t: dict[str, str] | None = None) -> str:
    if seconds is None:
        return (t or TEXTS["en"])["session"]
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} d"


def _quotes(value: Any, out: list[str] | None = None) -> list[str]:
    """Every cited policy sentence inside a finding's evidence (dicts with start/end/text)."""
    out = [] if out is None else out
    if isinstance(value, dict):
        if {"start", "end", "text"} <= value.keys() and value["text"] not in out:
            out.append(value["text"])
        for item in value.values():
            _quotes(item, out)
    elif isinstance(value, list):
        for item in value:
            _quotes(item, out)
    return out


# The report's own words; the JSON stays language-neutral (phase ids, types, categories).
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Cookie scan: {url}",
        "heading": "Cookie scan of {url}",
        "page_loads": "page loads",
        "cookies_n": "cookies",
        "storage_keys": "storage keys",
        "refused_n": "refused by the browser",
        "findings": "Findings",
        "no_findings": "No findings.",
        "severity": "Severity",
        "type": "Type",
        "cookie": "Cookie",
        "phase": "Phase",
        "what": "What",
        "where": "Where",
        "phases": "Phases",
        "pages": "pages",
        "cookies_set": "cookies set ({n} third party)",
        "none": "none",
        "no_banner": "no banner found",
        "banner": "banner: {kind}; reject on first layer: {reject}; clicked: {clicked}",
        "error": "Error:",
        "dropped": "The page flooded the scanner's probe: {n} records of script writes were "
        "not read, so writes after them may be missing.",
        "screenshots": "Screenshots",
        "shot_alt": "The start page, {phase}",
        "shot_pre-consent": "Before consent: the banner as a visitor first sees it",
        "shot_after-reject": "After a click on reject",
        "shot_after-accept": "After a click on accept",
        "requests": "Requests to third parties before consent and after a reject",
        "requests_intro": "Pixels, beacons, scripts, frames and other requests the pages sent "
        "to other sites' domains before the visitor chose, and after a reject. Query strings "
        "are cut.",
        "no_requests": "No requests to third parties.",
        "omitted": "{n} more requests are not listed.",
        "url": "URL",
        "domain": "Domain",
        "vendor": "Vendor",
        "page": "Page",
        "count": "Count",
        "cookies": "Cookies",
        "name": "Name",
        "party": "Party",
        "category": "Category",
        "by": "By",
        "lifetime_asked": "Lifetime asked",
        "stored": "Stored",
        "set_by": "Set by",
        "jar_only": "only in the browser's cookie jar, no write seen",
        "not_seen": "not seen",
        "refused": "Refused by the browser",
        "reasons": "Reasons",
        "storage": "Local and session storage, IndexedDB",
        "key": "Key",
        "kind": "Kind",
        "origin": "Origin",
        "blocked": "Blocked by the network guard",
        "address": "Address",
        "reason": "Reason",
        "session": "session",
        "yes": "yes",
        "no": "no",
        "phase_pre-consent": "pre-consent",
        "phase_after-reject": "after-reject",
        "phase_after-accept": "after-accept",
    },
    "sv": {
        "title": "Kakgranskning: {url}",
        "heading": "Kakgranskning av {url}",
        "page_loads": "sidladdningar",
        "cookies_n": "kakor",
        "storage_keys": "lagringsnycklar",
        "refused_n": "nekade av webbläsaren",
        "findings": "Fynd",
        "no_findings": "Inga fynd.",
        "severity": "Allvar",
        "type": "Typ",
        "cookie": "Kaka",
        "phase": "Fas",
        "what": "Vad",
        "where": "Var",
        "phases": "Faser",
        "pages": "sidor",
        "cookies_set": "kakor satta ({n} från tredje part)",
        "none": "inga",
        "no_banner": "ingen banner hittades",
        "banner": "banner: {kind}; neka i första lagret: {reject}; klickade: {clicked}",
        "error": "Fel:",
        "dropped": "Sidan översvämmade skannerns sond: {n} poster om skriptskrivningar lästes "
        "inte, så skrivningar efter dem kan saknas.",
        "screenshots": "Skärmbilder",
        "shot_alt": "Startsidan, {phase}",
        "shot_pre-consent": "Före samtycke: bannern som en besökare först ser den",
        "shot_after-reject": "Efter ett klick på neka",
        "shot_after-accept": "Efter ett klick på acceptera",
        "requests": "Anrop till tredje part före samtycke och efter nekande",
        "requests_intro": "Pixlar, beacons, skript, ramar och andra anrop som sidorna skickade "
        "till andra webbplatsers domäner innan besökaren valt, och efter ett nekande. "
        "Frågesträngar är avkortade.",
        "no_requests": "Inga anrop till tredje part.",
        "omitted": "Ytterligare {n} anrop visas inte.",
        "url": "URL",
        "domain": "Domän",
        "vendor": "Leverantör",
        "page": "Sida",
        "count": "Antal",
        "cookies": "Kakor",
        "name": "Namn",
        "party": "Part",
        "category": "Kategori",
        "by": "Enligt",
        "lifetime_asked": "Begärd livslängd",
        "stored": "Lagrad",
        "set_by": "Satt av",
        "jar_only": "bara i webbläsarens kakburk, ingen skrivning sedd",
        "not_seen": "inte sedd",
        "refused": "Nekade av webbläsaren",
        "reasons": "Skäl",
        "storage": "Lokal lagring, sessionslagring och IndexedDB",
        "key": "Nyckel",
        "kind": "Sort",
        "origin": "Ursprung",
        "blocked": "Stoppade av nätverksskyddet",
        "address": "Adress",
        "reason": "Skäl",
        "session": "session",
        "yes": "ja",
        "no": "nej",
        "phase_pre-consent": "före samtycke",
        "phase_after-reject": "efter nekande",
        "phase_after-accept": "efter accepterande",
    },
}
LANGUAGES = tuple(TEXTS)
# A screenshot comes from the stored report: only an image of these types, in plain base64.
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
MAX_IMAGE_CHARS = 1_000_000


def _texts(lang: str) -> dict[str, str]:
    return TEXTS.get(lang, TEXTS["en"])


def _yes_no(value: Any, t: dict[str, str]) -> str:
    return t["yes"] if value is True else t["no"] if value is False else str(value)


def _table(headers: list[str]) -> str:
    cells = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f"<table class='sortable'><thead><tr>{cells}</tr></thead><tbody>"


def screenshot_image(shot: Any) -> tuple[str, int | None, int | None] | None:
    """(data: URL, width, height) of a stored screenshot, or None when it is not a plain image."""
    if not isinstance(shot, dict):
        return None
    media, data = shot.get("media_type"), shot.get("data")
    if media not in IMAGE_TYPES or not isinstance(data, str) or len(data) > MAX_IMAGE_CHARS:
        return None
    if not BASE64.fullmatch(data):
        return None
    width, height = shot.get("width"), shot.get("height")
    if not (type(width) is int and type(height) is int and width > 0 and height > 0):
        width = height = None
    return f"data:{media};base64,{data}", width, height


def _image(shot: Any, alt: str) -> str:
    """An <img> with the screenshot as a data: URL, or '' when it is not a plain image."""
    image = screenshot_image(shot)
    if image is None:
        return ""
    src, width, height = image
    size = f" width='{width}' height='{height}'" if width else ""
    return f"<img src='{src}'{size} alt='{_e(alt)}'>"


def _screenshots(report: dict[str, Any], t: dict[str, str]) -> list[str]:
    figures = []
    for phase in report["phases"]:
        shot = phase.get("screenshot")
        label = t.get(f"phase_{phase['phase']}", phase["phase"])
        image = _image(shot, t["shot_alt"].format(phase=label))
        if image:
            caption = t.get(f"shot_{phase['phase']}", label)
            figures.append(
                f"<figure>{image}<figcaption><strong>{_e(caption)}</strong><br>"
                f"<code>{_e(shot.get('page'))}</code></figcaption></figure>"
            )
    if not figures:
        return []
    return [f"<h2>{_e(t['screenshots'])}</h2><div class='shots'>", *figures, "</div>"]


def _requests(report: dict[str, Any], t: dict[str, str]) -> list[str]:
    rows = report.get("third_party_requests")
    if rows is None:  # a report from before the list existed
        return []
    out = [f"<h2>{_e(t['requests'])}</h2><p>{_e(t['requests_intro'])}</p>"]
    if not rows:
        return [*out, f"<p class='ok'>{_e(t['no_requests'])}</p>"]
    out.append(
        _table([t["phase"], t["type"], t["url"], t["domain"], t["vendor"], t["page"], t["count"]])
    )
    for r in rows:
        vendor = r.get("vendor")
        if vendor and r.get("category"):
            vendor = f"{vendor} ({r['category']})"
        out.append(
            f"<tr><td class='nw'>{_e(t.get('phase_' + str(r.get('phase')), r.get('phase')))}</td>"
            f"<td class='nw'>{_e(r.get('type'))}</td><td class='u'><code>{_e(r.get('url'))}</code></td>"
            f"<td>{_e(r.get('domain'))}</td><td>{_e(vendor)}</td><td>{_e(r.get('page'))}</td>"
            f"<td class='nw'>{_e(r.get('count'))}</td></tr>"
        )
    out.append("</tbody></table>")
    omitted = (report.get("summary") or {}).get("third_party_requests_omitted")
    if isinstance(omitted, int) and omitted > 0:
        out.append(f"<p>{_e(t['omitted'].format(n=omitted))}</p>")
    return out


def render_html(report: dict[str, Any], lang: str = "en") -> str:
    """The report as one HTML document with no external resource, in English or Swedish."""
    t = _texts(lang)
    lang = lang if lang in TEXTS else "en"
    s = report["summary"]
    out = [
        f"<!doctype html><html lang='{lang}'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{_e(t['title'].format(url=report['url']))}</title><style>{CSS}</style></head>"
        "<body>",
        f"<h1>{_e(t['heading'].format(url=report['url']))}</h1>",
        f"<p class='meta'>{_e(report['started_at'])} · {_e(report['engine'])} · "
        f"{s['pages']} {t['page_loads']} · {s['cookies']} {t['cookies_n']} · "
        f"{s['storage_items']} {t['storage_keys']} · "
        f"{s['refused']} {t['refused_n']} · {report['elapsed_seconds']} s</p>",
        f"<h2>{_e(t['findings'])}</h2>",
    ]
    if not report["findings"]:
        out.append(f"<p class='ok'>{_e(t['no_findings'])}</p>")
    else:
        out.append(
            _table([t["severity"], t["type"], t["cookie"], t["phase"], t["what"], t["where"]])
        )
        for f in report["findings"]:
            where = f.get("setter") or f.get("page") or ""
            out.append(
                f"<tr><td data-v='{SEV_RANK[f['severity']]}'><span class='sev {_e(f['severity'])}'>"
                f"{_e(f['severity'])}</span></td><td><code>{_e(f['type'])}</code></td>"
                f"<td>{_e(f.get('cookie'))}</td><td>{_e(f.get('phase'))}</td>"
                f"<td>{_e(f['message'])}{_policy_quotes(f)}</td><td>{_e(where)}</td></tr>"
            )
        out.append("</tbody></table>")
    out.append(f"<h2>{_e(t['phases'])}</h2><div class='cards'>")
    for phase in report["phases"]:
        b = phase["banner"]
        banner = (
            _e(t["no_banner"])
            if not b["found"]
            else _e(
                t["banner"].format(
                    kind=b["kind"],
                    reject=_yes_no(b["reject_on_first_layer"], t),
                    clicked=b["clicked"],
                )
            )
        )
        cats = ", ".join(f"{k} {v}" for k, v in phase["by_category"].items() if v)
        label = t.get(f"phase_{phase['phase']}", phase["phase"])
        out.append(
            f"<div class='card'><strong>{_e(label)}</strong><br>{len(phase['pages'])} "
            f"{t['pages']} · {phase['cookies_set']} "
            f"{_e(t['cookies_set'].format(n=phase['third_party']))}<br>"
            f"{_e(cats) or _e(t['none'])}<br>{banner}"
            + (
                f"<br><strong>{_e(t['error'])}</strong> {_e(phase['error'])}"
                if phase["error"]
                else ""
            )
            + (
                f"<br><strong>{_e(t['dropped'].format(n=dropped))}</strong>"
                if (dropped := sum(p.get("probe_records_dropped") or 0 for p in phase["pages"]))
                else ""
            )
            + "</div>"
        )
    out.append("</div>")
    out.extend(_screenshots(report, t))
    out.extend(_requests(report, t))
    out.append(f"<h2>{_e(t['cookies'])}</h2>")
    out.append(
        _table(
            [
                t["name"],
                t["domain"],
                t["party"],
                t["category"],
                t["by"],
                t["vendor"],
                t["lifetime_asked"],
                t["stored"],
                t["phases"],
                t["set_by"],
            ]
        )
    )
    for c in report["cookies"]:
        cls = c["classification"]
        set_by = ", ".join(c["setters"][:3]) or (t["jar_only"] if "jar" in c["sources"] else "")
        asked = c["requested_seconds"]
        # A persistent cookie seen only in the jar: nobody saw what lifetime it asked for.
        unseen = asked is None and c["lifetime_class"] == "persistent"
        out.append(
            f"<tr><td><code>{_e(c['name'])}</code></td><td>{_e(c['domain'])}</td>"
            f"<td>{_e(c['party'])}</td><td>{_e(cls['category'])}</td><td>{_e(cls['source'])}{_reason(cls)}</td>"
            f"<td>{_e(cls.get('vendor'))}</td>"
            f"<td data-v='{asked or 0}'>{t['not_seen'] if unseen else _days(asked, t)}</td>"
            f"<td data-v='{c['stored_seconds'] or 0}'>{_days(c['stored_seconds'], t)}</td>"
            f"<td>{_e(', '.join(c['phases']))}</td><td>{_e(', '.join(c['sources']))}: "
            f"{_e(set_by)}</td></tr>"
        )
    out.append("</tbody></table>")
    if report.get("refused_cookies"):
        out.append(f"<h2>{_e(t['refused'])}</h2>")
        out.append(_table([t["name"], t["domain"], t["phase"], t["reasons"], "Set-Cookie"]))
        for r in report["refused_cookies"]:
            out.append(
                f"<tr><td><code>{_e(r['name'])}</code></td><td>{_e(r['domain'])}</td>"
                f"<td>{_e(r['phase'])}</td><td>{_e('; '.join(r['reasons']))}</td>"
                f"<td><code>{_e(r['raw'])}</code></td></tr>"
            )
        out.append("</tbody></table>")
    if report.get("storage"):
        out.append(f"<h2>{_e(t['storage'])}</h2>")
        out.append(
            _table([t["key"], t["kind"], t["origin"], t["category"], t["phases"], t["set_by"]])
        )
        for item in report["storage"]:
            cls = item["classification"]
            # Reports of earlier versions have no setter.
            out.append(
                f"<tr><td><code>{_e(item['key'])}</code></td><td>{_e(item['kind'])}</td>"
                f"<td>{_e(item['origin'])}</td><td>{_e(cls['category'])}{_reason(cls)}</td>"
                f"<td>{_e(', '.join(item['phases']))}</td><td>{_e(item.get('setter'))}</td></tr>"
            )
        out.append("</tbody></table>")
    if report.get("blocked_requests"):
        out.append(f"<h2>{_e(t['blocked'])}</h2>")
        out.append(_table([t["url"], t["address"], t["phase"], t["reason"]]))
        for b in report["blocked_requests"]:
            out.append(
                f"<tr><td><code>{_e(b['url'])}</code></td><td>{_e(b['address'])}</td>"
                f"<td>{_e(b['phase'])}</td><td>{_e(b['reason'])}</td></tr>"
            )
        out.append("</tbody></table>")
    out.append(f"<script>{JS}</script></body></html>")
    return "".join(out)
