"""Consent statistics: kept per day in consent_stats_daily when receipts are sealed.

Every receipt is sealed exactly once (consent_log/seals.py), so the sealer adds its counts in
the seal's own transaction. A read takes the aggregates for whole days and, in the same SQL
statement (one snapshot), scans only what they do not hold yet: the receipts not sealed so far
(at most SEAL_INTERVAL old) and the receipts of a partial first or last day of the range.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import (
    String,
    Text,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    null,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select

from consent_server.consent_log.models import ConsentReceipt, ConsentStatsDaily
from consent_server.consent_log.receipts import METHODS
from consent_server.extensions import db
from consent_server.sites.models import Site, SiteRevision
from consent_server.sites.service import get_site_view
from consent_server.tx import transaction

SHARE_DIGITS = 4


@dataclass
class Counts:
    """Counts of one group of receipts."""

    total: int = 0
    methods: Counter[str] = field(default_factory=Counter)
    gpc: int = 0
    granted: Counter[str] = field(default_factory=Counter)

    def add(self, other: Counts) -> None:
        """Add another group's counts to these."""
        self.total += other.total
        self.gpc += other.gpc
        # Plain loops: Counter.update's generality costs more than the adding (the statistics
        # page adds a few thousand groups four times each).
        methods, granted = self.methods, self.granted
        for key, n in other.methods.items():
            methods[key] += n
        for key, n in other.granted.items():
            granted[key] += n


Key = tuple[str, int, str]  # (day "YYYY-MM-DD", revision number, language)


# -- writing: at seal time ---------------------------------------------------------------------


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; they were stored as UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def add_sealed(session: Session, site_id: int, rows: list[Any]) -> None:
    """Add receipts being sealed to the site's daily counts, in the seal's transaction.

    `rows` have revision_id, method, decisions, record and recorded_at. The caller holds the
    site's sealing lock, which is also what `rebuild_stats` takes: nothing else writes these
    rows of the site meanwhile, so a read-modify-write is safe on both databases.
    """
    if not rows:
        return
    numbers = dict(
        session.execute(
            select(SiteRevision.id, SiteRevision.number).where(SiteRevision.site_id == site_id)
        ).all()
    )
    deltas: dict[tuple[dt.date, int, str], Counts] = {}
    for row in rows:
        record = orjson.loads(row.record) if row.record is not None else {}
        day = _aware(row.recorded_at).astimezone(dt.UTC).date()
        key = (day, numbers[row.revision_id], record.get("language") or "")
        counts = deltas.setdefault(key, Counts())
        counts.total += 1
        counts.methods[row.method] += 1
        counts.gpc += 1 if record.get("gpc") else 0
        counts.granted.update(k for k, v in (row.decisions or {}).items() if v)
    s = ConsentStatsDaily
    existing = {
        (r.day, r.revision, r.language): r
        for r in session.execute(
            select(s).where(s.site_id == site_id, s.day.in_({k[0] for k in deltas}))
        ).scalars()
    }
    for (day, revision, language), d in deltas.items():
        row = existing.get((day, revision, language))
        if row is None:
            row = ConsentStatsDaily(
                site_id=site_id, day=day, revision=revision, language=language, total=0,
                method_accept_all=0, method_reject_all=0, method_custom=0, method_withdraw=0,
                method_gpc=0, gpc_signal=0, granted={},
            )  # fmt: skip
            session.add(row)
        row.total += d.total
        for m in METHODS:
            setattr(row, f"method_{m}", getattr(row, f"method_{m}") + d.methods[m])
        row.gpc_signal += d.gpc
        # A new dict, not an in-place change: the JSON column only notices reassignment.
        row.granted = dict(Counter(row.granted) + d.granted)


# -- the backfill ------------------------------------------------------------------------------

_REBUILD_PG = """
WITH base AS (
  SELECT (r.recorded_at AT TIME ZONE 'UTC')::date AS day, v.number AS revision,
         COALESCE(r.record::json ->> 'language', '') AS language,
         COALESCE((r.record::json ->> 'gpc')::boolean, false) AS gpc,
         r.method AS method, r.decisions AS decisions
  FROM consent_receipts r JOIN site_revisions v ON v.id = r.revision_id
  WHERE r.site_id = :site AND r.seal_id IS NOT NULL {keep}
), counts AS (
  SELECT day, revision, language, count(*) AS total,
         count(*) FILTER (WHERE method = 'accept_all') AS accept_all,
         count(*) FILTER (WHERE method = 'reject_all') AS reject_all,
         count(*) FILTER (WHERE method = 'custom') AS custom,
         count(*) FILTER (WHERE method = 'withdraw') AS withdraw,
         count(*) FILTER (WHERE method = 'gpc') AS gpc_method,
         count(*) FILTER (WHERE gpc) AS gpc_signal
  FROM base GROUP BY day, revision, language
), grants AS (
  SELECT day, revision, language, d.key AS category, count(*) AS n
  FROM base, json_each(base.decisions) AS d
  WHERE d.value::text = 'true' GROUP BY day, revision, language, d.key
), granted AS (
  SELECT day, revision, language, json_object_agg(category, n) AS granted
  FROM grants GROUP BY day, revision, language
)
INSERT INTO consent_stats_daily (site_id, day, revision, language, total, method_accept_all,
  method_reject_all, method_custom, method_withdraw, method_gpc, gpc_signal, granted)
SELECT :site, c.day, c.revision, c.language, c.total, c.accept_all, c.reject_all, c.custom,
       c.withdraw, c.gpc_method, c.gpc_signal, COALESCE(g.granted, '{{}}'::json)
FROM counts c LEFT JOIN granted g USING (day, revision, language)
"""

_REBUILD_SQLITE = """
WITH base AS (
  SELECT strftime('%Y-%m-%d', r.recorded_at) AS day, v.number AS revision,
         COALESCE(json_extract(r.record, '$.language'), '') AS language,
         COALESCE(json_extract(r.record, '$.gpc'), 0) AS gpc,
         r.method AS method, r.decisions AS decisions
  FROM consent_receipts r JOIN site_revisions v ON v.id = r.revision_id
  WHERE r.site_id = :site AND r.seal_id IS NOT NULL {keep}
), counts AS (
  SELECT day, revision, language, count(*) AS total,
         sum(method = 'accept_all') AS accept_all, sum(method = 'reject_all') AS reject_all,
         sum(method = 'custom') AS custom, sum(method = 'withdraw') AS withdraw,
         sum(method = 'gpc') AS gpc_method, sum(gpc = 1) AS gpc_signal
  FROM base GROUP BY day, revision, language
), grants AS (
  SELECT day, revision, language, d.key AS category, count(*) AS n
  FROM base, json_each(base.decisions) AS d
  WHERE d.type = 'true' GROUP BY day, revision, language, d.key
), granted AS (
  SELECT day, revision, language, json_group_object(category, n) AS granted
  FROM grants GROUP BY day, revision, language
)
INSERT INTO consent_stats_daily (site_id, day, revision, language, total, method_accept_all,
  method_reject_all, method_custom, method_withdraw, method_gpc, gpc_signal, granted)
SELECT :site, c.day, c.revision, c.language, c.total, c.accept_all, c.reject_all, c.custom,
       c.withdraw, c.gpc_method, c.gpc_signal, COALESCE(g.granted, '{{}}')
FROM counts c LEFT JOIN granted g
  ON g.day = c.day AND g.revision = c.revision AND g.language = c.language
"""


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _receipt_day(postgres: bool) -> ColumnElement[str]:
    r = ConsentReceipt.recorded_at
    if postgres:
        return func.to_char(func.timezone("UTC", r), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", r)


def _stats_day(postgres: bool) -> ColumnElement[str]:
    day = ConsentStatsDaily.day
    return func.to_char(day, "YYYY-MM-DD") if postgres else cast(day, String)


def rebuild_stats(site_key: str) -> int:
    """Recompute one site's daily counts from its sealed receipts; returns its rows after.

    One INSERT ... SELECT per site. A day holding purged receipts keeps the counts it already
    has: they were added at seal time, while the records still named language and GPC signal.
    Only a purged day with no counts at all is computed here, its purged receipts under
    language "" and without a GPC signal (the record that said both is gone).
    """
    from consent_server.consent_log.seals import _lock_site_for_sealing

    with transaction() as session:
        postgres = _is_postgres(session)
        site_id = session.execute(select(Site.id).where(Site.key == site_key)).scalar_one()
        _lock_site_for_sealing(site_id)
        r, s = ConsentReceipt, ConsentStatsDaily
        purged = set(
            session.execute(
                select(_receipt_day(postgres))
                .where(r.site_id == site_id, r.purged_at.is_not(None))
                .distinct()
            ).scalars()
        )
        counted = set(
            session.execute(
                select(_stats_day(postgres)).where(s.site_id == site_id).distinct()
            ).scalars()
        )
        kept = sorted(purged & counted)
        delete = "DELETE FROM consent_stats_daily WHERE site_id = :site"
        sql = _REBUILD_PG if postgres else _REBUILD_SQLITE
        day_text = "to_char(day, 'YYYY-MM-DD')" if postgres else "day"
        receipt_day = (
            "to_char(r.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
            if postgres
            else "strftime('%Y-%m-%d', r.recorded_at)"
        )
        params: dict[str, Any] = {"site": site_id}
        if kept:
            delete += f" AND {day_text} NOT IN :kept"
            sql = sql.format(keep=f"AND {receipt_day} NOT IN :kept")
            params["kept"] = kept
        else:
            sql = sql.format(keep="")
        expand = [bindparam("kept", expanding=True)] if kept else []
        session.execute(text(delete).bindparams(*expand), params)
        session.execute(text(sql).bindparams(*expand), params)
        # sqlite3 reports no row count for an INSERT that starts with WITH.
        return int(session.scalar(select(func.count()).where(s.site_id == site_id)) or 0)


# -- reading -----------------------------------------------------------------------------------


def _midnight(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _receipt_groups(postgres: bool, site_id: int, *conds: ColumnElement[bool]) -> Select:
    """Receipts grouped by what the daily counts are keyed by, plus method, signal, decisions."""
    r = ConsentReceipt
    # The columns when the writer filled them; the record for receipts from before they existed
    # (COALESCE stops at the first non-NULL, so a new receipt's record is never parsed).
    if postgres:
        as_json = cast(r.record, db.JSON)
        from_record = func.coalesce(func.json_extract_path_text(as_json, "language"), "")
        signal = func.coalesce(func.json_extract_path_text(as_json, "gpc"), "false") == "true"
    else:
        from_record = func.coalesce(func.json_extract(r.record, "$.language"), "")
        signal = func.coalesce(func.json_extract(r.record, "$.gpc"), 0) == 1
    language = func.coalesce(r.language, from_record)
    gpc = func.coalesce(r.gpc, signal)
    day = _receipt_day(postgres)
    decisions = cast(r.decisions, Text)
    zero = literal_column("0")
    return (
        select(
            day.label("day"),
            SiteRevision.number.label("revision"),
            language.label("language"),
            r.method.label("method"),
            func.count().label("total"),
            *[zero.label(f"m_{m}") for m in METHODS],
            func.sum(case((gpc, 1), else_=0)).label("gpc"),
            decisions.label("payload"),
        )
        .join(SiteRevision, SiteRevision.id == r.revision_id)
        .where(r.site_id == site_id, *conds)
        .group_by(day, SiteRevision.number, language, r.method, gpc, decisions)
    )


def _aggregate_rows(postgres: bool, site_id: int, first: dt.date | None, end: dt.date | None):
    s = ConsentStatsDaily
    query = select(
        _stats_day(postgres).label("day"),
        s.revision.label("revision"),
        s.language.label("language"),
        cast(null(), String).label("method"),
        s.total.label("total"),
        *[getattr(s, f"method_{m}").label(f"m_{m}") for m in METHODS],
        s.gpc_signal.label("gpc"),
        cast(s.granted, Text).label("payload"),
    ).where(s.site_id == site_id)
    if first is not None:
        query = query.where(s.day >= first)
    if end is not None:
        query = query.where(s.day < end)
    return query


def grouped_counts(
    site_id: int, since: dt.datetime | None, until: dt.datetime | None
) -> dict[Key, Counts]:
    """Counts per (day, revision, language) of the receipts recorded in [since, until)."""
    postgres = _is_postgres(db.session)
    r = ConsentReceipt
    # Whole days in the range come from the aggregates; a partial first or last day is counted
    # from its receipts, as are receipts not sealed yet.
    start = None if since is None else _midnight(since)
    if start is not None and start < since:  # type: ignore[operator]
        start += dt.timedelta(days=1)
    end = None if until is None else _midnight(until)
    parts: list[Select] = []
    if start is not None and end is not None and start >= end:
        parts.append(
            _receipt_groups(postgres, site_id, r.recorded_at >= since, r.recorded_at < until)
        )
    else:
        parts.append(
            _aggregate_rows(
                postgres, site_id, start.date() if start else None, end.date() if end else None
            )
        )
        pending = [r.seal_id.is_(None)]
        if start is not None:
            pending.append(r.recorded_at >= start)
        if end is not None:
            pending.append(r.recorded_at < end)
        parts.append(_receipt_groups(postgres, site_id, *pending))
        if since is not None and start is not None and since < start:
            parts.append(
                _receipt_groups(postgres, site_id, r.recorded_at >= since, r.recorded_at < start)
            )
        if until is not None and end is not None and end < until:
            parts.append(
                _receipt_groups(postgres, site_id, r.recorded_at >= end, r.recorded_at < until)
            )
    # One statement: one snapshot, so a receipt sealed meanwhile is counted exactly once.
    rows = db.session.execute(union_all(*parts)).mappings()
    groups: dict[Key, Counts] = {}
    for row in rows:
        counts = groups.setdefault(
            (str(row["day"]), int(row["revision"]), str(row["language"])), Counts()
        )
        total = int(row["total"])
        counts.total += total
        counts.gpc += int(row["gpc"] or 0)
        payload = orjson.loads(row["payload"]) if row["payload"] else {}
        if row["method"] is None:  # a row of the aggregates
            counts.methods.update({m: int(row[f"m_{m}"] or 0) for m in METHODS})
            counts.granted.update({k: int(v) for k, v in payload.items()})
        else:  # receipts with the same method and decisions
            counts.methods[row["method"]] += total
            counts.granted.update({k: total for k, v in payload.items() if v})
    return groups


def site_stats(
    site_key: str, since: dt.datetime | None, until: dt.datetime | None
) -> dict[str, Any]:
    """Per-day counts of each method and of grants per category (the admin API's stats)."""
    site = get_site_view(site_key)
    categories = list(site.current.categories) if site.current else []
    days: dict[str, Counts] = {}
    for (day, _rev, _lang), counts in grouped_counts(site.id, since, until).items():
        days.setdefault(day, Counts()).add(counts)
    buckets = []
    for day in sorted(days):
        counts = days[day]
        total = counts.total
        granted = {c: counts.granted[c] for c in categories}
        buckets.append(
            {
                "date": day,
                "total": total,
                "methods": {m: counts.methods[m] for m in METHODS},
                "granted": granted,
                "grant_rate": {
                    c: round(n / total, SHARE_DIGITS) if total else 0.0 for c, n in granted.items()
                },
            }
        )
    return {"site": site_key, "interval": "day", "categories": categories, "buckets": buckets}


# -- the console's report ----------------------------------------------------------------------


def _share(n: int, total: int) -> float:
    return round(n / total, SHARE_DIGITS) if total else 0.0


def _summary(counts: Counts, categories: list[str]) -> dict[str, Any]:
    total = counts.total
    return {
        "total": total,
        "methods": {m: counts.methods[m] for m in METHODS},
        "shares": {m: _share(counts.methods[m], total) for m in METHODS},
        "gpc": counts.gpc,
        "gpc_share": _share(counts.gpc, total),
        "granted": {c: counts.granted[c] for c in categories},
        "opt_in_rate": {c: _share(counts.granted[c], total) for c in categories},
    }


def console_stats(
    site_key: str, since: dt.datetime | None, until: dt.datetime | None
) -> dict[str, Any]:
    """A site's statistics over [since, until): totals, per day, per revision, per language."""
    site = get_site_view(site_key)
    groups = grouped_counts(site.id, since, until)
    categories = list(site.current.categories) if site.current else []
    # Categories of older revisions that the current one dropped still have their rates.
    seen = {c for counts in groups.values() for c in counts.granted}
    categories += sorted(seen - set(categories))
    overall, days, revisions, languages = Counts(), {}, {}, {}
    for (day, revision, language), counts in groups.items():
        overall.add(counts)
        days.setdefault(day, Counts()).add(counts)
        revisions.setdefault(revision, Counts()).add(counts)
        languages.setdefault(language, Counts()).add(counts)
    return {
        "site": site_key,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "categories": categories,
        "totals": _summary(overall, categories),
        "days": [{"date": d, **_summary(days[d], categories)} for d in sorted(days)],
        "revisions": [
            {"revision": n, **_summary(revisions[n], categories)} for n in sorted(revisions)
        ],
        "languages": [
            {"language": lang, **_summary(languages[lang], categories)}
            for lang in sorted(languages)
        ],
    }


def console_csv(report: dict[str, Any]) -> str:
    """The console report as CSV: one row for the range, then per day, revision and language."""
    categories = report["categories"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["scope", "key", "total", *METHODS, *(f"{m}_share" for m in METHODS), "gpc",
         "gpc_share", *(f"granted_{c}" for c in categories),
         *(f"opt_in_rate_{c}" for c in categories)]
    )  # fmt: skip

    def line(scope: str, key: Any, item: dict[str, Any]) -> None:
        writer.writerow(
            [scope, key, item["total"], *(item["methods"][m] for m in METHODS),
             *(item["shares"][m] for m in METHODS), item["gpc"], item["gpc_share"],
             *(item["granted"][c] for c in categories),
             *(item["opt_in_rate"][c] for c in categories)]
        )  # fmt: skip

    line("range", "", report["totals"])
    for item in report["days"]:
        line("day", item["date"], item)
    for item in report["revisions"]:
        line("revision", item["revision"], item)
    for item in report["languages"]:
        line("language", item["language"], item)
    return out.getvalue()


def receipt_counts(site_id: int) -> dict[Key, Counts]:
    """The same counts recomputed from every receipt of the site: the check of the aggregates."""
    postgres = _is_postgres(db.session)
    groups: dict[Key, Counts] = {}
    for row in db.session.execute(_receipt_groups(postgres, site_id)).mappings():
        counts = groups.setdefault(
            (str(row["day"]), int(row["revision"]), str(row["language"])), Counts()
        )
        total = int(row["total"])
        counts.total += total
        counts.gpc += int(row["gpc"] or 0)
        counts.methods[row["method"]] += total
        payload = orjson.loads(row["payload"]) if row["payload"] else {}
        counts.granted.update({k: total for k, v in payload.items() if v})
    return groups


def aggregate_counts(site_id: int) -> dict[Key, Counts]:
    """The site's stored daily counts, as they are (sealed receipts only)."""
    postgres = _is_postgres(db.session)
    groups: dict[Key, Counts] = {}
    for row in db.session.execute(_aggregate_rows(postgres, site_id, None, None)).mappings():
        counts = Counts(
            total=int(row["total"]),
            methods=Counter({m: int(row[f"m_{m}"]) for m in METHODS}),
            gpc=int(row["gpc"]),
            granted=Counter(orjson.loads(row["payload"])),
        )
        groups[(str(row["day"]), int(row["revision"]), str(row["language"]))] = counts
    return groups


__all__ = [
    "Counts",
    "add_sealed",
    "aggregate_counts",
    "console_csv",
    "console_stats",
    "grouped_counts",
    "rebuild_stats",
    "receipt_counts",
    "site_stats",
]
