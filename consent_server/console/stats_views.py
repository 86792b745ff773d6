"""The console's consent statistics page of a site and its CSV download."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
from typing import Any

from flask import Response, abort, render_template, request

from consent_server.consent_log.export import csv_cell
from consent_server.consent_log.receipts import METHODS
from consent_server.consent_log.stats import console_csv, console_stats
from consent_server.console import i18n
from consent_server.console.views import bp, signed_in, visible_site

DEFAULT_DAYS = 30
# One bar is drawn per day: a longer range would make the bars too thin to read.
MAX_DAYS = 366
# The methods' bar colours, each with at least 3:1 contrast against white.
COLOURS = {
    "accept_all": "#1d6b36",
    "reject_all": "#a4161a",
    "custom": "#0b5cad",
    "withdraw": "#6b4c9a",
    "gpc": "#8a5a00",
}
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 240, 44, 28, 12


def _day(name: str, default: dt.date) -> dt.date:
    """A YYYY-MM-DD query argument, else `default`; anything else is a 400."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        abort(400)


def _range() -> tuple[dt.date, dt.date]:
    """since and until (both whole UTC days, inclusive) from the form, default the last 30 days."""
    today = dt.datetime.now(dt.UTC).date()
    until = _day("until", today)
    since = _day("since", until - dt.timedelta(days=DEFAULT_DAYS - 1))
    if since > until or (until - since).days >= MAX_DAYS:
        abort(400)
    return since, until


def _report(key: str) -> tuple[dict[str, Any], dt.date, dt.date]:
    site = visible_site(key, "auditor")
    since, until = _range()
    start = dt.datetime.combine(since, dt.time(), dt.UTC)
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), dt.UTC)
    return console_stats(site.key, start, end), since, until


def _all_days(report: dict[str, Any], since: dt.date, until: dt.date) -> list[dict[str, Any]]:
    """Every day of the range, the days without choices as zero."""
    by_date = {d["date"]: d for d in report["days"]}
    days = []
    for n in range((until - since).days + 1):
        date = (since + dt.timedelta(days=n)).isoformat()
        item = by_date.get(date) or {"date": date, "total": 0, "methods": dict.fromkeys(METHODS, 0)}
        days.append(item)
    return days


def chart_svg(days: list[dict[str, Any]], title: str, desc: str, labels: dict[str, str]) -> str:
    """Stacked bars of choices per day and method, as escaped inline SVG."""
    peak = max([d["total"] for d in days] + [1])
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(days), 1)
    bar = max(step * 0.7, 1.0)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'aria-labelledby="chart-title chart-desc">',
        f'<title id="chart-title">{html.escape(title)}</title>',
        f'<desc id="chart-desc">{html.escape(desc)}</desc>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 8}" y2="{TOP + plot_h}" '
        'stroke="#4a5260"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" font-size="11" '
        f'fill="#1b1f24">{peak}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end" font-size="11" '
        'fill="#1b1f24">0</text>',
    ]
    for i, day in enumerate(days):
        x = LEFT + i * step + (step - bar) / 2
        y = TOP + plot_h
        for method in METHODS:
            n = day["methods"].get(method, 0)
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            tip = f"{day['date']} {labels[method]}: {n}"
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{COLOURS[method]}" data-method="{method}" data-n="{n}">'
                f"<title>{html.escape(tip)}</title></rect>"
            )
    # The first and last dates under the axis; the table holds each day's numbers.
    for anchor, x, day in (("start", LEFT, days[0]), ("end", WIDTH - 8, days[-1])):
        out.append(
            f'<text x="{x}" y="{HEIGHT - 8}" text-anchor="{anchor}" font-size="11" '
            f'fill="#1b1f24">{html.escape(day["date"])}</text>'
        )
    out.append("</svg>")
    # Every value from outside (dates, labels) went through html.escape() above: the template
    # outputs the SVG as it is.
    return "".join(out)


@bp.get("/sites/<string:key>/stats")
def site_stats_page(key: str) -> str:
    """A site's consent statistics over a date range: totals, shares, breakdowns and a chart."""
    user = signed_in()
    report, since, until = _report(key)
    labels = {m: i18n.translate(f"stats.method.{m}") for m in METHODS}
    days = _all_days(report, since, until)
    chart = chart_svg(
        days,
        i18n.translate("stats.chart_title"),
        i18n.translate(
            "stats.chart_desc",
            since=since.isoformat(),
            until=until.isoformat(),
            total=report["totals"]["total"],
        ),
        labels,
    )
    return render_template(
        "console/stats.html",
        user=user,
        key=key,
        report=report,
        since=since.isoformat(),
        until=until.isoformat(),
        days=days,
        methods=METHODS,
        labels=labels,
        colours=COLOURS,
        chart=chart,
    )


def neutralised(text: str) -> str:
    """CSV text with every cell a spreadsheet would run as a formula quoted (as the export)."""
    # console_csv writes language keys and category names as they are: text from outside.
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in csv.reader(io.StringIO(text)):
        writer.writerow([csv_cell(cell) for cell in row])
    return out.getvalue()


@bp.get("/sites/<string:key>/stats.csv")
def site_stats_csv(key: str) -> Response:
    """The same numbers as CSV, as an attachment."""
    report, since, until = _report(key)
    name = f"consent-stats-{key}-{since.isoformat()}-{until.isoformat()}.csv"
    return Response(
        neutralised(console_csv(report)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
