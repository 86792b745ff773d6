"""Consent statistics: methods and per-category grant rates per day."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import case, func, select

from consent_server.consent_log.models import ConsentReceipt
from consent_server.consent_log.receipts import METHODS
from consent_server.extensions import db
from consent_server.sites.service import get_site_view


def site_stats(
    site_key: str, since: dt.datetime | None, until: dt.datetime | None
) -> dict[str, Any]:
    """Per-day counts of each method and of grants per category, computed in the database."""
    site = get_site_view(site_key)
    categories = list(site.current.categories) if site.current else []
    r = ConsentReceipt
    if db.session.get_bind().dialect.name == "postgresql":
        day = func.to_char(func.timezone("UTC", r.recorded_at), "YYYY-MM-DD")
    else:
        day = func.strftime("%Y-%m-%d", r.recorded_at)
    day = day.label("day")
    columns = [day, func.count().label("total")]
    columns += [func.sum(case((r.method == m, 1), else_=0)).label(f"m_{m}") for m in METHODS]
    columns += [
        func.sum(case((r.decisions[c].as_boolean(), 1), else_=0)).label(f"c_{i}")
        for i, c in enumerate(categories)
    ]
    query = select(*columns).where(r.site_id == site.id).group_by(day).order_by(day)
    if since is not None:
        query = query.where(r.recorded_at >= since)
    if until is not None:
        query = query.where(r.recorded_at < until)
    buckets = []
    for row in db.session.execute(query).mappings():
        total = int(row["total"])
        granted = {c: int(row[f"c_{i}"] or 0) for i, c in enumerate(categories)}
        buckets.append(
            {
                "date": row["day"],
                "total": total,
                "methods": {m: int(row[f"m_{m}"] or 0) for m in METHODS},
                "granted": granted,
                "grant_rate": {
                    c: round(n / total, 4) if total else 0.0 for c, n in granted.items()
                },
            }
        )
    return {"site": site_key, "interval": "day", "categories": categories, "buckets": buckets}
