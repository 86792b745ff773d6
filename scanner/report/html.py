"""A self-contained HTML report: findings first, a summary per phase, a sortable cookie table."""

from __future__ import annotations

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


def _policy_quotes(finding: dict[str, Any]) -> str:
    quotes = _quotes((finding.get("evidence") or {}).get("policy"))[:3]
    return "".join(f"<blockquote>{_e(q)}</blockquote>" for q in quotes)


def _days(seconds: float | None) -> str:
    if seconds is None:
        return "session"
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


def render_html(report: dict[str, Any]) -> str:
    """The report as one HTML document with no external resource."""
    s = report["summary"]
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>Cookie scan: {_e(report['url'])}</title><style>{CSS}</style></head><body>",
        f"<h1>Cookie scan of {_e(report['url'])}</h1>",
        f"<p class='meta'>{_e(report['started_at'])} · {_e(report['engine'])} · "
        f"{s['pages']} page loads · {s['cookies']} cookies · {s['storage_items']} storage keys · "
        f"{s['refused']} refused by the browser · {report['elapsed_seconds']} s</p>",
        "<h2>Findings</h2>",
    ]
    if not report["findings"]:
        out.append("<p class='ok'>No findings.</p>")
    else:
        out.append(
            "<table class='sortable'><thead><tr><th>Severity</th><th>Type</th><th>Cookie</th>"
            "<th>Phase</th><th>What</th><th>Where</th></tr></thead><tbody>"
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
    out.append("<h2>Phases</h2><div class='cards'>")
    for phase in report["phases"]:
        b = phase["banner"]
        banner = (
            "no banner found"
            if not b["found"]
            else (
                f"banner: {_e(b['kind'])}; reject on first layer: {_e(b['reject_on_first_layer'])}; "
                f"clicked: {_e(b['clicked'])}"
            )
        )
        cats = ", ".join(f"{k} {v}" for k, v in phase["by_category"].items() if v)
        out.append(
            f"<div class='card'><strong>{_e(phase['phase'])}</strong><br>{len(phase['pages'])} "
            f"pages · {phase['cookies_set']} cookies set ({phase['third_party']} third party)<br>"
            f"{_e(cats) or 'none'}<br>{banner}"
            + (f"<br><strong>Error:</strong> {_e(phase['error'])}" if phase["error"] else "")
            + "</div>"
        )
    out.append("</div><h2>Cookies</h2>")
    out.append(
        "<table class='sortable'><thead><tr><th>Name</th><th>Domain</th><th>Party</th>"
        "<th>Category</th><th>By</th><th>Vendor</th><th>Lifetime asked</th><th>Stored</th>"
        "<th>Phases</th><th>Set by</th></tr></thead><tbody>"
    )
    for c in report["cookies"]:
        cls = c["classification"]
        out.append(
            f"<tr><td><code>{_e(c['name'])}</code></td><td>{_e(c['domain'])}</td>"
            f"<td>{_e(c['party'])}</td><td>{_e(cls['category'])}</td><td>{_e(cls['source'])}</td>"
            f"<td>{_e(cls.get('vendor'))}</td>"
            f"<td data-v='{c['requested_seconds'] or 0}'>{_days(c['requested_seconds'])}</td>"
            f"<td data-v='{c['stored_seconds'] or 0}'>{_days(c['stored_seconds'])}</td>"
            f"<td>{_e(', '.join(c['phases']))}</td><td>{_e(', '.join(c['sources']))}: "
            f"{_e(', '.join(c['setters'][:3]))}</td></tr>"
        )
    out.append("</tbody></table>")
    if report.get("refused_cookies"):
        out.append(
            "<h2>Refused by the browser</h2><table class='sortable'><thead><tr><th>Name</th>"
            "<th>Domain</th><th>Phase</th><th>Reasons</th><th>Set-Cookie</th></tr></thead><tbody>"
        )
        for r in report["refused_cookies"]:
            out.append(
                f"<tr><td><code>{_e(r['name'])}</code></td><td>{_e(r['domain'])}</td>"
                f"<td>{_e(r['phase'])}</td><td>{_e('; '.join(r['reasons']))}</td>"
                f"<td><code>{_e(r['raw'])}</code></td></tr>"
            )
        out.append("</tbody></table>")
    if report.get("storage"):
        out.append(
            "<h2>Local and session storage</h2><table class='sortable'><thead><tr>"
            "<th>Key</th><th>Kind</th><th>Origin</th><th>Category</th><th>Phases</th></tr>"
            "</thead><tbody>"
        )
        for item in report["storage"]:
            out.append(
                f"<tr><td><code>{_e(item['key'])}</code></td><td>{_e(item['kind'])}</td>"
                f"<td>{_e(item['origin'])}</td><td>{_e(item['classification']['category'])}</td>"
                f"<td>{_e(', '.join(item['phases']))}</td></tr>"
            )
        out.append("</tbody></table>")
    if report.get("blocked_requests"):
        out.append(
            "<h2>Blocked by the network guard</h2><table class='sortable'><thead><tr>"
            "<th>URL</th><th>Address</th><th>Phase</th><th>Reason</th></tr></thead><tbody>"
        )
        for b in report["blocked_requests"]:
            out.append(
                f"<tr><td><code>{_e(b['url'])}</code></td><td>{_e(b['address'])}</td>"
                f"<td>{_e(b['phase'])}</td><td>{_e(b['reason'])}</td></tr>"
            )
        out.append("</tbody></table>")
    out.append(f"<script>{JS}</script></body></html>")
    return "".join(out)
