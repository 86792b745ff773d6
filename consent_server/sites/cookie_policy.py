"""The cookie section of a site's privacy policy, written from its declaration and latest scan."""

from __future__ import annotations

from typing import Any

from declaration.policy_text import build_policy, render_html, render_markdown

FORMATS = ("html", "markdown")


def latest_scan_report(site_key: str) -> dict[str, Any] | None:
    """The report of the site's latest finished scan, when the server keeps scans."""
    from consent_server.scans.results import latest_report

    return latest_report(site_key)


def cookie_policy(
    declaration: dict[str, Any],
    lang: str,
    fmt: str,
    scan_report: dict[str, Any] | None = None,
) -> str:
    """Render the section in `lang` (sv or en) as `fmt` (html or markdown)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    policy = build_policy(declaration, lang, scan_report)
    return render_html(policy) if fmt == "html" else render_markdown(policy)
